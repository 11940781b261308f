package service

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/payhook/payhook"
)

// Users returns every dashboard user, in the order they were created.
func (s *Service) Users(ctx context.Context) ([]*payhook.User, error) {
	return s.store.ListUsers(ctx)
}

// User returns one dashboard user (ENOTFOUND when none).
func (s *Service) User(ctx context.Context, id int64) (*payhook.User, error) {
	return s.store.UserByID(ctx, id)
}

// SetRole changes a user's role. The last active admin cannot be demoted (ECONFLICT).
// The new role applies from the user's next request.
func (s *Service) SetRole(ctx context.Context, id int64, role payhook.Role) (*payhook.User, error) {
	if !role.Valid() {
		return nil, payhook.FieldErrors{"role": {"Choose admin, operator or viewer."}}.Err()
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Role == role {
		return u, nil
	}
	before := u.Role
	u.Role = role
	if err := s.store.UpdateUser(ctx, u, ""); err != nil {
		return nil, err
	}
	s.audit(ctx, "user.role", fmt.Sprintf("%s: %s → %s", u.Email, before, role))
	return u, nil
}

// ResetPassword sets another user's password (an admin's reset); their sessions end.
func (s *Service) ResetPassword(ctx context.Context, id int64, password string) (*payhook.User, error) {
	fe := payhook.FieldErrors{}
	checkPassword(fe, "password", password, MinPasswordLength)
	if err := fe.Err(); err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.PasswordHash, err = hashPassword(password); err != nil {
		return nil, err
	}
	if err := s.store.UpdateUser(ctx, u, ""); err != nil {
		return nil, err
	}
	s.audit(ctx, "user.password_reset", u.Email+": password reset, sessions ended")
	return u, nil
}

// SetActive deactivates a user (they cannot sign in, their sessions end) or activates
// them again. Nobody deactivates themselves, and the last active admin stays (ECONFLICT).
func (s *Service) SetActive(ctx context.Context, id int64, active bool) (*payhook.User, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if me := initiatorOf(ctx); me != nil && me.ID == id && !active {
		return nil, payhook.Errorf(payhook.ECONFLICT, "You cannot deactivate yourself: ask another admin.")
	}
	if u.Active() == active {
		return u, nil
	}
	action := "user.reactivate"
	if active {
		u.DeactivatedAt = time.Time{}
	} else {
		u.DeactivatedAt, action = s.clock.Now().UTC(), "user.deactivate"
	}
	if err := s.store.UpdateUser(ctx, u, ""); err != nil {
		return nil, err
	}
	s.audit(ctx, action, u.Email)
	return u, nil
}

// ChangePassword changes a user's own password after checking the current one; their
// other sessions end, the one with hash keepSession (the one asking) stays.
func (s *Service) ChangePassword(ctx context.Context, u *payhook.User, current, password, keepSession string) error {
	fe := payhook.FieldErrors{}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		fe.Add("current_password", "This is not your current password.")
	}
	checkPassword(fe, "password", password, MinPasswordLength)
	if err := fe.Err(); err != nil {
		return err
	}
	fresh, err := s.store.UserByID(ctx, u.ID)
	if err != nil {
		return err
	}
	if fresh.PasswordHash, err = hashPassword(password); err != nil {
		return err
	}
	if err := s.store.UpdateUser(ctx, fresh, keepSession); err != nil {
		return err
	}
	s.audit(ctx, "user.password_change", fresh.Email+": own password changed, other sessions ended")
	return nil
}

// SessionHash is the stored hash of a session token (to keep one session on a password
// change).
func SessionHash(token string) string { return hashKey(token) }

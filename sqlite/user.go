package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/payhook/payhook"
)

// CreateUser stores a new user.
func (s *Store) CreateUser(ctx context.Context, u *payhook.User) error {
	return s.do(ctx, func(w *writer) error {
		err := w.queryRow(`INSERT INTO users (email, username, first_name, last_name, password_hash, created_at, role, deactivated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, u.Email, u.Username, u.FirstName, u.LastName, u.PasswordHash, micros(u.CreatedAt),
			string(userRole(u)), micros(u.DeactivatedAt)).Scan(&u.ID)
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			return payhook.Errorf(payhook.ECONFLICT, "a user with email %q exists", u.Email)
		}
		return err
	})
}

const userColumns = `id, email, username, first_name, last_name, password_hash, created_at, role, deactivated_at`

// userRole is the role stored for u: admin when none is set (as before roles existed).
func userRole(u *payhook.User) payhook.Role {
	if u.Role == "" {
		return payhook.RoleAdmin
	}
	return u.Role
}

func scanUser(sc interface{ Scan(...any) error }) (*payhook.User, error) {
	var u payhook.User
	var created, deactivated int64
	var role string
	if err := sc.Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &u.PasswordHash, &created, &role, &deactivated); err != nil {
		return nil, err
	}
	u.Role, u.CreatedAt, u.DeactivatedAt = payhook.Role(role), fromMicros(created), fromMicros(deactivated)
	return &u, nil
}

func (s *Store) user(ctx context.Context, where string, arg any) (*payhook.User, error) {
	u, err := scanUser(s.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no such user")
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// ListUsers returns every user, in the order they were created.
func (s *Store) ListUsers(ctx context.Context) ([]*payhook.User, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*payhook.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser saves a user's names, role, password hash and deactivation; see
// payhook.Store. The single writer serializes it with every other change.
func (s *Store) UpdateUser(ctx context.Context, u *payhook.User, keepSession string) error {
	return s.do(ctx, func(w *writer) error {
		var oldHash, oldRole string
		var oldDeactivated int64
		err := w.queryRow(`SELECT password_hash, deactivated_at, role FROM users WHERE id = ?`, u.ID).Scan(&oldHash, &oldDeactivated, &oldRole)
		if errors.Is(err, sql.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no such user")
		}
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if _, err := w.exec(`UPDATE users SET first_name = ?, last_name = ?, password_hash = ?, role = ?, deactivated_at = ? WHERE id = ?`,
			u.FirstName, u.LastName, u.PasswordHash, string(userRole(u)), micros(u.DeactivatedAt), u.ID); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		var admins int
		if err := w.queryRow(`SELECT COUNT(*) FROM users WHERE role = 'admin' AND deactivated_at = 0`).Scan(&admins); err != nil {
			return fmt.Errorf("count admins: %w", err)
		}
		if admins == 0 && lostAdmin(oldRole, oldDeactivated, u) {
			return payhook.Errorf(payhook.ECONFLICT, "At least one active admin must remain: make another user an admin first.")
		}
		if oldHash != u.PasswordHash || (oldDeactivated == 0 && !u.DeactivatedAt.IsZero()) {
			if _, err := w.exec(`DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?`, u.ID, keepSession); err != nil {
				return fmt.Errorf("end sessions: %w", err)
			}
		}
		return nil
	})
}

// UserByEmail returns a user by email.
func (s *Store) UserByEmail(ctx context.Context, email string) (*payhook.User, error) {
	return s.user(ctx, "email = ?", email)
}

// UserByID returns a user by id.
func (s *Store) UserByID(ctx context.Context, id int64) (*payhook.User, error) {
	return s.user(ctx, "id = ?", id)
}

// CreateSession stores a dashboard session.
func (s *Store) CreateSession(ctx context.Context, ss *payhook.Session) error {
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			ss.TokenHash, ss.UserID, ss.CSRFToken, micros(ss.CreatedAt), micros(ss.ExpiresAt))
		return err
	})
}

// Session returns an unexpired session.
func (s *Store) Session(ctx context.Context, tokenHash string, now time.Time) (*payhook.Session, error) {
	var ss payhook.Session
	var created, expires int64
	err := s.read.QueryRowContext(ctx, `SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions
		WHERE token_hash = ? AND expires_at > ?`, tokenHash, micros(now)).Scan(&ss.TokenHash, &ss.UserID, &ss.CSRFToken, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	ss.CreatedAt, ss.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &ss, nil
}

// DeleteSession removes a session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
		return err
	})
}

// AddAudit appends to the audit log.
func (s *Store) AddAudit(ctx context.Context, e payhook.AuditEntry) error {
	return s.do(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)`, micros(e.At), e.Actor, e.Action, e.Detail)
		return err
	})
}

// auditWhere builds the WHERE clause of an audit filter (? placeholders).
func auditWhere(f payhook.AuditFilter) (string, []any) {
	var conds []string
	var args []any
	if f.Actor != "" {
		conds, args = append(conds, `instr(lower(actor), ?) > 0`), append(args, strings.ToLower(f.Actor))
	}
	if f.Query != "" {
		conds, args = append(conds, `instr(lower(detail), ?) > 0`), append(args, strings.ToLower(f.Query))
	}
	if strings.HasSuffix(f.Action, ".") {
		conds, args = append(conds, `substr(action, 1, ?) = ?`), append(args, len(f.Action), f.Action)
	} else if f.Action != "" {
		conds, args = append(conds, `action = ?`), append(args, f.Action)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, `at >= ?`), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, `at < ?`), append(args, micros(f.Until))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListAudit returns the matching audit entries, newest first, and how many match.
func (s *Store) ListAudit(ctx context.Context, f payhook.AuditFilter) ([]payhook.AuditEntry, int, error) {
	where, args := auditWhere(f)
	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, at, actor, action, detail FROM audit_log`+where+` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, limit, max(0, f.Offset))...)
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	var out []payhook.AuditEntry
	for rows.Next() {
		var e payhook.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Detail); err != nil {
			return nil, 0, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// ListAPIKeys returns every key, newest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]payhook.APIKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, name, prefix, hash, created_at, revoked_at FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	var out []payhook.APIKey
	for rows.Next() {
		var k payhook.APIKey
		var created, revoked int64
		if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &created, &revoked); err != nil {
			return nil, err
		}
		k.CreatedAt, k.RevokedAt = fromMicros(created), fromMicros(revoked)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes a key.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64, at time.Time) error {
	return s.do(ctx, func(w *writer) error {
		res, err := w.exec(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, micros(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return payhook.Errorf(payhook.ENOTFOUND, "no active API key with id %d", id)
		}
		return nil
	})
}

// lostAdmin reports whether an update takes an active admin away: the user was one
// (role and deactivation as stored before) and is not after.
func lostAdmin(oldRole string, oldDeactivated int64, u *payhook.User) bool {
	was := oldRole == string(payhook.RoleAdmin) && oldDeactivated == 0
	return was && !(userRole(u) == payhook.RoleAdmin && u.DeactivatedAt.IsZero())
}

package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/payhook/payhook"
)

// SessionLifetime is how long a dashboard sign-in lasts.
const SessionLifetime = 12 * time.Hour

// Sign-in throttle: after MaxFailedSignIns failures for one email from one client address
// within SignInWindow, that email is refused from that address until the window passes;
// after MaxFailedSignInsPerAddress failures from one address (whatever the emails), the
// address is. A successful sign-in clears its email's count from that address. So one
// person guessing cannot lock colleagues out, and a sweep of many emails still stops.
const (
	MaxFailedSignIns           = 5
	MaxFailedSignInsPerAddress = 50
	SignInWindow               = 15 * time.Minute
)

// MinPasswordLength is the shortest password the dashboard and "payhook user create"
// accept. A password the operator sets in PAYHOOK_ADMIN_PASSWORD is taken as given (a
// shorter one is logged as a warning at start).
const MinPasswordLength = 8

// CreateUser creates a dashboard user with a role and a bcrypt-hashed password. A person
// creating it (an admin in the dashboard) is recorded in the audit log.
func (s *Service) CreateUser(ctx context.Context, email, password string, role payhook.Role) (*payhook.User, error) {
	u, err := s.createUser(ctx, email, password, role, MinPasswordLength)
	if err == nil {
		s.audit(ctx, "user.create", fmt.Sprintf("%s as %s", u.Email, u.Role))
	}
	return u, err
}

// checkPassword names what is wrong with a new password (field "password").
func checkPassword(fe payhook.FieldErrors, field, password string, minLen int) {
	if len(password) < max(minLen, 1) {
		fe.Add(field, "Use at least %d characters.", max(minLen, 1))
	}
	if len(password) > 72 {
		fe.Add(field, "Use at most 72 characters.")
	}
}

func hashPassword(password string) (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(hash), nil
}

func (s *Service) createUser(ctx context.Context, email, password string, role payhook.Role, minLen int) (*payhook.User, error) {
	fe := payhook.FieldErrors{}
	email = strings.TrimSpace(strings.ToLower(email))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		fe.Add("email", "Enter a valid email address.")
	}
	checkPassword(fe, "password", password, minLen)
	if !role.Valid() {
		fe.Add("role", "Choose admin, operator or viewer.")
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return nil, err
	}
	// Ottu's schema: initiator.username matches ^[\w.@+-]+$.
	username := strings.Map(func(r rune) rune {
		if r == '.' || r == '@' || r == '+' || r == '-' || r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') {
			return r
		}
		return '_'
	}, email)
	u := &payhook.User{Email: email, Username: username, PasswordHash: hash, Role: role, CreatedAt: s.clock.Now().UTC()}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// EnsureUser creates the user unless one with that email exists (PAYHOOK_ADMIN_EMAIL and
// PAYHOOK_ADMIN_PASSWORD at start); it reports whether it created one. The operator's
// password is taken as given, however short (the caller warns).
func (s *Service) EnsureUser(ctx context.Context, email, password string) (bool, error) {
	if _, err := s.store.UserByEmail(ctx, strings.TrimSpace(strings.ToLower(email))); err == nil {
		return false, nil
	} else if payhook.ErrorCode(err) != payhook.ENOTFOUND {
		return false, err
	}
	_, err := s.createUser(ctx, email, password, payhook.RoleAdmin, 1)
	if payhook.ErrorCode(err) == payhook.ECONFLICT {
		return false, nil // another process starting at the same time created it
	}
	return err == nil, err
}

// throttleKeys are the counters of one sign-in attempt: the email from this address, and
// the address.
func throttleKeys(email, addr string) (pair, address string) {
	return "pair:" + email + "|" + addr, "addr:" + addr
}

// The sign-in throttle is kept in the store, so that every process sharing the database
// counts the same failures (a guesser cannot spread tries over processes).
func (s *Service) signInBlocked(ctx context.Context, now time.Time, email, addr string) (bool, error) {
	pair, address := throttleKeys(email, addr)
	since := now.Add(-SignInWindow)
	p, err := s.store.SignInFailures(ctx, pair, since)
	if err != nil {
		return false, err
	}
	if len(p) >= MaxFailedSignIns {
		return true, nil
	}
	a, err := s.store.SignInFailures(ctx, address, since)
	return len(a) >= MaxFailedSignInsPerAddress, err
}

func (s *Service) signInFailed(ctx context.Context, now time.Time, email, addr string) {
	pair, address := throttleKeys(email, addr)
	if err := s.store.AddSignInFailure(ctx, []string{pair, address}, now.UTC()); err != nil {
		s.log.Error("record sign-in failure", "err", err)
	}
}

func (s *Service) signInSucceeded(ctx context.Context, now time.Time, email, addr string) {
	pair, _ := throttleKeys(email, addr)
	if err := s.store.ClearSignInFailures(ctx, []string{pair}, now.Add(-SignInWindow).UTC()); err != nil {
		s.log.Error("clear sign-in failures", "err", err)
	}
}

// SignIn checks a user's email and password and starts a session. It returns the session
// token (for the cookie; only its hash is stored) and the session. Failures are
// throttled per email and client address, and per address (ETOOMANY; see MaxFailedSignIns).
func (s *Service) SignIn(ctx context.Context, email, password, clientAddr string) (string, *payhook.Session, *payhook.User, error) {
	now := s.clock.Now()
	email = strings.TrimSpace(strings.ToLower(email))
	if blocked, err := s.signInBlocked(ctx, now, email, clientAddr); err != nil {
		return "", nil, nil, err
	} else if blocked {
		return "", nil, nil, payhook.Errorf(payhook.ETOOMANY, "Too many failed sign-ins. Try again in %d minutes.", int(SignInWindow.Minutes()))
	}
	u, err := s.authenticate(ctx, email, password)
	if err != nil {
		if payhook.ErrorCode(err) == payhook.EUNAUTHORIZED {
			s.signInFailed(ctx, now, email, clientAddr)
			// Failures are throttled above, so they cannot flood the log.
			s.audit(WithActor(ctx, email), "sign_in.failed", "from "+clientAddr)
		}
		return "", nil, nil, err
	}
	s.signInSucceeded(ctx, now, email, clientAddr)
	s.audit(WithActor(ctx, u.Email), "sign_in", fmt.Sprintf("as %s, from %s", u.Role, clientAddr))
	token := randomToken()
	ss := &payhook.Session{TokenHash: hashKey(token), UserID: u.ID, CSRFToken: randomToken(), CreatedAt: now.UTC(), ExpiresAt: now.Add(SessionLifetime).UTC()}
	if err := s.store.CreateSession(ctx, ss); err != nil {
		return "", nil, nil, err
	}
	return token, ss, u, nil
}

// dummyHash is compared against when the email is unknown, so that timing does not tell
// which emails have accounts.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("payhook-dummy-password"), bcrypt.DefaultCost)

func (s *Service) authenticate(ctx context.Context, email, password string) (*payhook.User, error) {
	bad := payhook.Errorf(payhook.EUNAUTHORIZED, "Email or password is not right.")
	u, err := s.store.UserByEmail(ctx, email)
	if payhook.ErrorCode(err) == payhook.ENOTFOUND {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return nil, bad
	}
	if !u.Active() {
		// Said only to someone who knows the password.
		return nil, payhook.Errorf(payhook.EUNAUTHORIZED, "This user is deactivated: ask an admin.")
	}
	return u, nil
}

// AuthenticateBasic checks Basic-auth credentials of a dashboard user for the APIs
// (throttled like SignIn); the user becomes the initiator of what they do.
func (s *Service) AuthenticateBasic(ctx context.Context, email, password, clientAddr string) (*payhook.User, error) {
	now := s.clock.Now()
	email = strings.TrimSpace(strings.ToLower(email))
	if blocked, err := s.signInBlocked(ctx, now, email, clientAddr); err != nil {
		return nil, err
	} else if blocked {
		return nil, payhook.Errorf(payhook.ETOOMANY, "Too many failed sign-ins. Try again later.")
	}
	// bcrypt is slow on purpose; an API client sending the same credentials on every
	// request is checked once a minute, not each time.
	cacheKey := TokenHash(email + "\x00" + password)
	s.mu.Lock()
	c, ok := s.basic[cacheKey]
	s.mu.Unlock()
	if ok && now.Before(c.until) {
		// The user is read again (cheap): a role change, a deactivation or a new
		// password takes effect on the next request, in every process.
		u, err := s.store.UserByID(ctx, c.user.ID)
		if err == nil && u.Active() && u.PasswordHash == c.user.PasswordHash {
			return u, nil
		}
		if err != nil && payhook.ErrorCode(err) != payhook.ENOTFOUND {
			return nil, err
		}
	}
	u, err := s.authenticate(ctx, email, password)
	switch {
	case payhook.ErrorCode(err) == payhook.EUNAUTHORIZED:
		s.signInFailed(ctx, now, email, clientAddr)
		s.audit(WithActor(ctx, email), "sign_in.failed", "Basic auth on the API, from "+clientAddr)
	case err == nil:
		s.signInSucceeded(ctx, now, email, clientAddr)
		s.mu.Lock()
		if s.basic == nil || len(s.basic) > 10000 {
			s.basic = map[string]basicAuthEntry{}
		}
		s.basic[cacheKey] = basicAuthEntry{user: u, until: now.Add(basicAuthCacheTTL)}
		s.mu.Unlock()
	}
	return u, err
}

// basicAuthCacheTTL is how long checked Basic credentials are trusted without bcrypt.
const basicAuthCacheTTL = time.Minute

// basicAuthEntry is a Basic-auth check remembered (by a hash of the credentials).
type basicAuthEntry struct {
	user  *payhook.User
	until time.Time
}

// SessionUser returns the session and user of a session token (EUNAUTHORIZED when it is
// unknown or expired).
func (s *Service) SessionUser(ctx context.Context, token string) (*payhook.Session, *payhook.User, error) {
	if token == "" {
		return nil, nil, payhook.Errorf(payhook.EUNAUTHORIZED, "Sign in first.")
	}
	ss, err := s.store.Session(ctx, hashKey(token), s.clock.Now())
	if payhook.ErrorCode(err) == payhook.ENOTFOUND {
		return nil, nil, payhook.Errorf(payhook.EUNAUTHORIZED, "Your session has ended. Sign in again.")
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := s.store.UserByID(ctx, ss.UserID)
	if payhook.ErrorCode(err) == payhook.ENOTFOUND || (err == nil && !u.Active()) {
		return nil, nil, payhook.Errorf(payhook.EUNAUTHORIZED, "Your session has ended. Sign in again.")
	}
	if err != nil {
		return nil, nil, err
	}
	return ss, u, nil
}

// SignOut ends a session.
func (s *Service) SignOut(ctx context.Context, token string) error {
	return s.store.DeleteSession(ctx, hashKey(token))
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("payhook: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenHash hashes a token the way sessions and API keys are stored.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

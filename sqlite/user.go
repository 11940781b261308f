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
		err := w.queryRow(`INSERT INTO users (email, username, first_name, last_name, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, u.Email, u.Username, u.FirstName, u.LastName, u.PasswordHash, micros(u.CreatedAt)).Scan(&u.ID)
		if err != nil && strings.Contains(err.Error(), "UNIQUE") {
			return payhook.Errorf(payhook.ECONFLICT, "a user with email %q exists", u.Email)
		}
		return err
	})
}

const userColumns = `id, email, username, first_name, last_name, password_hash, created_at`

func (s *Store) user(ctx context.Context, where string, arg any) (*payhook.User, error) {
	var u payhook.User
	var created int64
	err := s.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg).
		Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &u.PasswordHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no such user")
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	u.CreatedAt = fromMicros(created)
	return &u, nil
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

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, limit, offset int) ([]payhook.AuditEntry, int, error) {
	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?`, limit, offset)
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

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// CreateUser stores a new user and sets its ID (ECONFLICT when the email is taken).
func (s *Store) CreateUser(ctx context.Context, u *payhook.User) error {
	var id int64
	err := s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO users (email, username, first_name, last_name, password_hash, created_at)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, u.Email, u.Username, u.FirstName, u.LastName, u.PasswordHash, micros(u.CreatedAt))
		},
		read: func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&id)
			if uniqueViolation(err, "users_email_key") {
				return payhook.Errorf(payhook.ECONFLICT, "a user with email %q exists", u.Email)
			}
			return wrap("insert user", err)
		},
	})
	if err == nil {
		u.ID = id
	}
	return err
}

const userColumns = `id, email, username, first_name, last_name, password_hash, created_at`

func (s *Store) user(ctx context.Context, where string, arg any) (*payhook.User, error) {
	var u payhook.User
	var created int64
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		err := c.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg).
			Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &u.PasswordHash, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no such user")
		}
		return wrap("load user", err)
	})
	if err != nil {
		return nil, err
	}
	u.CreatedAt = fromMicros(created)
	return &u, nil
}

// UserByEmail returns a user by email (ENOTFOUND when none).
func (s *Store) UserByEmail(ctx context.Context, email string) (*payhook.User, error) {
	return s.user(ctx, "email = $1", email)
}

// UserByID returns a user by id (ENOTFOUND when none).
func (s *Store) UserByID(ctx context.Context, id int64) (*payhook.User, error) {
	return s.user(ctx, "id = $1", id)
}

// CreateSession stores a dashboard session.
func (s *Store) CreateSession(ctx context.Context, ss *payhook.Session) error {
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
				ss.TokenHash, ss.UserID, ss.CSRFToken, micros(ss.CreatedAt), micros(ss.ExpiresAt))
		},
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("insert session", err)
		},
	})
}

// Session returns an unexpired session by token hash (ENOTFOUND when none).
func (s *Store) Session(ctx context.Context, tokenHash string, now time.Time) (*payhook.Session, error) {
	var ss payhook.Session
	var created, expires int64
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		err := c.QueryRow(ctx, `SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions
			WHERE token_hash = $1 AND expires_at > $2`, tokenHash, micros(now)).Scan(&ss.TokenHash, &ss.UserID, &ss.CSRFToken, &created, &expires)
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no such session")
		}
		return wrap("load session", err)
	})
	if err != nil {
		return nil, err
	}
	ss.CreatedAt, ss.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &ss, nil
}

// DeleteSession removes a session (signing out).
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) { b.Queue(`DELETE FROM sessions WHERE token_hash = $1`, tokenHash) },
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("delete session", err)
		},
	})
}

// AddAudit appends to the audit log.
func (s *Store) AddAudit(ctx context.Context, e payhook.AuditEntry) error {
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, $2, $3, $4)`, micros(e.At), e.Actor, e.Action, e.Detail)
		},
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("append to audit log", err)
		},
	})
}

// ListAudit returns audit entries, newest first, and how many there are.
func (s *Store) ListAudit(ctx context.Context, limit, offset int) ([]payhook.AuditEntry, int, error) {
	var total int
	var out []payhook.AuditEntry
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log`).Scan(&total); err != nil {
			return fmt.Errorf("count audit log: %w", err)
		}
		rows, err := c.Query(ctx, `SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT $1 OFFSET $2`, sqlLimit(limit), max(0, offset))
		if err != nil {
			return fmt.Errorf("list audit log: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e payhook.AuditEntry
			var at int64
			if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Detail); err != nil {
				return fmt.Errorf("list audit log: %w", err)
			}
			e.At = fromMicros(at)
			out = append(out, e)
		}
		return wrap("list audit log", rows.Err())
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

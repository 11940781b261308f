package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
			b.Queue(`INSERT INTO users (email, username, first_name, last_name, password_hash, created_at, role, deactivated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, u.Email, u.Username, u.FirstName, u.LastName, u.PasswordHash,
				micros(u.CreatedAt), string(userRole(u)), micros(u.DeactivatedAt))
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

const userColumns = `id, email, username, first_name, last_name, password_hash, created_at, role, deactivated_at`

// userRole is the role stored for u: admin when none is set (as before roles existed).
func userRole(u *payhook.User) payhook.Role {
	if u.Role == "" {
		return payhook.RoleAdmin
	}
	return u.Role
}

func scanUser(row pgx.Row) (*payhook.User, error) {
	var u payhook.User
	var created, deactivated int64
	var role string
	if err := row.Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &u.PasswordHash, &created, &role, &deactivated); err != nil {
		return nil, err
	}
	u.Role, u.CreatedAt, u.DeactivatedAt = payhook.Role(role), fromMicros(created), fromMicros(deactivated)
	return &u, nil
}

func (s *Store) user(ctx context.Context, where string, arg any) (*payhook.User, error) {
	var u *payhook.User
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		var err error
		u, err = scanUser(c.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg))
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no such user")
		}
		return wrap("load user", err)
	})
	return u, err
}

// ListUsers returns every user, in the order they were created.
func (s *Store) ListUsers(ctx context.Context) ([]*payhook.User, error) {
	var out []*payhook.User
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return fmt.Errorf("list users: %w", err)
			}
			out = append(out, u)
		}
		return wrap("list users", rows.Err())
	})
	return out, err
}

// UpdateUser saves a user's names, role, password hash and deactivation; see
// payhook.Store. The active admins' rows are locked first, so that two processes
// demoting the last two admins at once run one after the other and the second sees
// the first's change.
func (s *Store) UpdateUser(ctx context.Context, u *payhook.User, keepSession string) error {
	return s.inTx(ctx, func(conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, `BEGIN`); err != nil {
			return wrap("begin", err)
		}
		if _, err := conn.Exec(ctx, `SELECT id FROM users WHERE role = 'admin' AND deactivated_at = 0 ORDER BY id FOR UPDATE`); err != nil {
			return wrap("lock admins", err)
		}
		var oldHash, oldRole string
		var oldDeactivated int64
		err := conn.QueryRow(ctx, `SELECT password_hash, deactivated_at, role FROM users WHERE id = $1 FOR UPDATE`, u.ID).Scan(&oldHash, &oldDeactivated, &oldRole)
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no such user")
		}
		if err != nil {
			return wrap("load user", err)
		}
		if _, err := conn.Exec(ctx, `UPDATE users SET first_name = $1, last_name = $2, password_hash = $3, role = $4, deactivated_at = $5 WHERE id = $6`,
			u.FirstName, u.LastName, u.PasswordHash, string(userRole(u)), micros(u.DeactivatedAt), u.ID); err != nil {
			return wrap("update user", err)
		}
		var admins int
		if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM users WHERE role = 'admin' AND deactivated_at = 0`).Scan(&admins); err != nil {
			return wrap("count admins", err)
		}
		if admins == 0 && lostAdmin(oldRole, oldDeactivated, u) {
			return payhook.Errorf(payhook.ECONFLICT, "At least one active admin must remain: make another user an admin first.")
		}
		if oldHash != u.PasswordHash || (oldDeactivated == 0 && !u.DeactivatedAt.IsZero()) {
			if _, err := conn.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2`, u.ID, keepSession); err != nil {
				return wrap("end sessions", err)
			}
		}
		_, err = conn.Exec(ctx, `COMMIT`)
		return wrap("commit", err)
	})
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

// auditWhere builds the WHERE clause of an audit filter ($n placeholders).
func auditWhere(f payhook.AuditFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if f.Actor != "" {
		add(`strpos(lower(actor), $?) > 0`, strings.ToLower(f.Actor))
	}
	if f.Query != "" {
		add(`strpos(lower(detail), $?) > 0`, strings.ToLower(f.Query))
	}
	if strings.HasSuffix(f.Action, ".") {
		add(`starts_with(action, $?)`, f.Action)
	} else if f.Action != "" {
		add(`action = $?`, f.Action)
	}
	if !f.Since.IsZero() {
		add(`at >= $?`, micros(f.Since))
	}
	if !f.Until.IsZero() {
		add(`at < $?`, micros(f.Until))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListAudit returns the matching audit entries, newest first, and how many match.
func (s *Store) ListAudit(ctx context.Context, f payhook.AuditFilter) ([]payhook.AuditEntry, int, error) {
	var total int
	var out []payhook.AuditEntry
	where, args := auditWhere(f)
	limit := -1
	if f.Limit > 0 {
		limit = f.Limit
	}
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		if err := c.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log`+where, args...).Scan(&total); err != nil {
			return fmt.Errorf("count audit log: %w", err)
		}
		n := len(args)
		rows, err := c.Query(ctx, `SELECT id, at, actor, action, detail FROM audit_log`+where+fmt.Sprintf(` ORDER BY id DESC LIMIT $%d OFFSET $%d`, n+1, n+2),
			append(args, sqlLimit(limit), max(0, f.Offset))...)
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

// lostAdmin reports whether an update takes an active admin away: the user was one
// (role and deactivation as stored before) and is not after.
func lostAdmin(oldRole string, oldDeactivated int64, u *payhook.User) bool {
	was := oldRole == string(payhook.RoleAdmin) && oldDeactivated == 0
	return was && !(userRole(u) == payhook.RoleAdmin && u.DeactivatedAt.IsZero())
}

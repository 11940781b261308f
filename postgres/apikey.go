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

const insertAPIKey = `INSERT INTO api_keys (name, prefix, hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id`

// CreateAPIKey stores a new API key and sets its ID.
func (s *Store) CreateAPIKey(ctx context.Context, k *payhook.APIKey) error {
	var id int64
	err := s.do(ctx, &op{
		queue: func(b *pgx.Batch) { b.Queue(insertAPIKey, k.Name, k.Prefix, k.Hash, micros(k.CreatedAt)) },
		read: func(br pgx.BatchResults) error {
			return wrap("insert API key", br.QueryRow().Scan(&id))
		},
	})
	if err == nil {
		k.ID = id
	}
	return err
}

// firstKeyLock is the transaction-level advisory lock that serializes CreateFirstAPIKey
// across processes (pg_advisory_xact_lock; the text spells "payhook first API key").
const firstKeyLock = int64(0x7061796b65790001)

// CreateFirstAPIKey stores k only if no unrevoked key exists, and reports whether it
// did: two processes starting at once create one key, since the check and the insert
// run under an advisory lock that only one transaction holds at a time.
func (s *Store) CreateFirstAPIKey(ctx context.Context, k *payhook.APIKey) (bool, error) {
	var id int64
	var created bool
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		// One batch is one implicit transaction: the lock is held until it commits, and
		// the INSERT's snapshot, taken after the lock, sees a key committed before.
		b := &pgx.Batch{}
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, firstKeyLock)
		b.Queue(`INSERT INTO api_keys (name, prefix, hash, created_at)
			SELECT $1, $2, $3, $4::bigint WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at = 0) RETURNING id`,
			k.Name, k.Prefix, k.Hash, micros(k.CreatedAt))
		br := c.SendBatch(ctx, b)
		_, err := br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&id)
			created = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				err = nil
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return wrap("create first API key", err)
	})
	if err != nil {
		return false, err
	}
	if created {
		k.ID = id
	}
	return created, nil
}

// APIKeyByHash returns the unrevoked key with that hash (ENOTFOUND when none).
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*payhook.APIKey, error) {
	var k payhook.APIKey
	var created int64
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		err := c.QueryRow(ctx, `SELECT id, name, prefix, hash, created_at FROM api_keys WHERE hash = $1 AND revoked_at = 0`, hash).
			Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &created)
		if errors.Is(err, pgx.ErrNoRows) {
			return payhook.Errorf(payhook.ENOTFOUND, "no such API key")
		}
		return wrap("load API key", err)
	})
	if err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(created)
	return &k, nil
}

// CountAPIKeys returns how many unrevoked keys exist.
func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		return wrap("count API keys", c.QueryRow(ctx, `SELECT COUNT(*) FROM api_keys WHERE revoked_at = 0`).Scan(&n))
	})
	return n, err
}

// ListAPIKeys returns every key, revoked ones too, newest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]payhook.APIKey, error) {
	var out []payhook.APIKey
	err := s.withConn(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT id, name, prefix, hash, created_at, revoked_at FROM api_keys ORDER BY id DESC`)
		if err != nil {
			return fmt.Errorf("list API keys: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k payhook.APIKey
			var created, revoked int64
			if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &created, &revoked); err != nil {
				return fmt.Errorf("list API keys: %w", err)
			}
			k.CreatedAt, k.RevokedAt = fromMicros(created), fromMicros(revoked)
			out = append(out, k)
		}
		return wrap("list API keys", rows.Err())
	})
	return out, err
}

// RevokeAPIKey revokes a key (ENOTFOUND when there is no such unrevoked key).
func (s *Store) RevokeAPIKey(ctx context.Context, id int64, at time.Time) error {
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0`, micros(at), id)
		},
		read: func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil {
				return fmt.Errorf("revoke API key: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return payhook.Errorf(payhook.ENOTFOUND, "no active API key with id %d", id)
			}
			return nil
		},
	})
}

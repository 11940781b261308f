package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/payhook/payhook"
)

// CreateAPIKey stores a new API key.
func (s *Store) CreateAPIKey(ctx context.Context, k *payhook.APIKey) error {
	return s.do(ctx, func(w *writer) error {
		return w.queryRow(`INSERT INTO api_keys (name, prefix, hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
			k.Name, k.Prefix, k.Hash, micros(k.CreatedAt)).Scan(&k.ID)
	})
}

// APIKeyByHash returns the unrevoked key with that hash.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (*payhook.APIKey, error) {
	var k payhook.APIKey
	var created int64
	err := s.read.QueryRowContext(ctx, `SELECT id, name, prefix, hash, created_at FROM api_keys WHERE hash = ? AND revoked_at = 0`, hash).
		Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "no such API key")
	}
	if err != nil {
		return nil, fmt.Errorf("load API key: %w", err)
	}
	k.CreatedAt = fromMicros(created)
	return &k, nil
}

// CountAPIKeys returns how many unrevoked keys exist.
func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE revoked_at = 0`).Scan(&n)
	return n, err
}

var _ payhook.Store = (*Store)(nil)

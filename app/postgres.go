package app

import (
	"context"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/postgres"
)

func openPostgres(ctx context.Context, url string) (payhook.Store, <-chan struct{}, error) {
	s, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	return s, s.Wake(), nil
}

func migratePostgres(ctx context.Context, url string) (int, error) {
	return postgres.Migrate(ctx, url)
}

package app

import (
	"context"
	"errors"

	"github.com/payhook/payhook"
)

func openPostgres(ctx context.Context, url string) (payhook.Store, <-chan struct{}, error) {
	return nil, nil, errors.New("PostgreSQL store not built yet")
}

func migratePostgres(ctx context.Context, url string) (int, error) {
	return 0, errors.New("PostgreSQL store not built yet")
}

package postgres_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/pgtest"
	"github.com/payhook/payhook/internal/storetest"
)

// TestConformance runs the store conformance suite against the PostgreSQL store, with a
// second store on the same database standing for a second process.
func TestConformance(t *testing.T) {
	t.Parallel()
	var urls sync.Map // *postgres.Store → its database's URL
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) payhook.Store {
			url := pgtest.URL(t)
			s := open(t, url)
			urls.Store(s, url)
			return s
		},
		OpenAgain: func(t *testing.T, s payhook.Store) payhook.Store {
			url, ok := urls.Load(s)
			require.True(t, ok, "OpenAgain: the store was not opened by the harness")
			return open(t, url.(string))
		},
	})
}

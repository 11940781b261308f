package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/storetest"
	"github.com/payhook/payhook/sqlite"
)

// TestConformance runs the store conformance suite against the SQLite store. One SQLite
// file serves one process (Open locks it), so there is no OpenAgain.
func TestConformance(t *testing.T) {
	t.Parallel()
	// Migrating a new database costs about 0.1 s under the race detector and the suite
	// opens over a hundred: migrate one empty database, and open a copy of it for each
	// subtest (Open still runs the migrations, finding none left to apply).
	template := filepath.Join(t.TempDir(), "template.db")
	s, err := sqlite.Open(t.Context(), template)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoFileExists(t, template+"-wal", "Close checkpoints the WAL into the file")
	empty, err := os.ReadFile(template)
	require.NoError(t, err)

	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) payhook.Store {
			path := filepath.Join(t.TempDir(), "payhook.db")
			require.NoError(t, os.WriteFile(path, empty, 0o600))
			s, err := sqlite.Open(t.Context(), path)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
	})
}

package payload

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/<name>.golden, or rewrites that file when
// the tests run with -update (go test ./payload/ -update). Review the diff of
// rewritten files before committing them: they are the published format.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./payload/ -update to create it")
	require.Equal(t, string(want), string(got), "output differs from %s; if the change is intended, run go test ./payload/ -update", path)
}

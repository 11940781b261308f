package sqlite_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStore_CheckpointsOutsideTheWriter: the writer's automatic checkpoint is off, and the
// checkpointer copies committed pages into the database file while the store is open (the
// file grows and the WAL is checkpointed), so the WAL does not grow without end.
func TestStore_CheckpointsOutsideTheWriter(t *testing.T) {
	t.Parallel()
	s, path := setup(t)
	size := func() int64 {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return fi.Size()
	}
	before := size()
	for range 300 {
		require.NoError(t, s.CreateTransaction(context.Background(), newTxn()))
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() <= before {
		require.True(t, time.Now().Before(deadline), "the database file did not grow: nothing was checkpointed (still %d bytes)", before)
		time.Sleep(20 * time.Millisecond)
	}
	wal, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	require.Greater(t, wal.Size(), int64(0), "WAL mode")
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// checkpointEvery is how often the checkpointer copies the WAL back into the database
// file. SQLite's automatic checkpoint would run inside the writer's commit that crosses
// its threshold (a stall of every request in that batch, and a second fsync, now and
// then); payhook turns it off on the writer and runs PASSIVE checkpoints on a connection
// of their own instead: they never block the writer or the readers, and a commit is as
// durable as before (the WAL is synced at commit with synchronous=FULL; the checkpoint
// only moves committed pages).
const checkpointEvery = 250 * time.Millisecond

// startCheckpoints opens the checkpointer's connection and runs it until Close.
func (s *Store) startCheckpoints(ctx context.Context) error {
	if _, err := s.conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		return fmt.Errorf("turn off automatic checkpoints: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(s.path, false))
	if err != nil {
		return fmt.Errorf("open the checkpointer's connection: %w", err)
	}
	db.SetMaxOpenConns(1)
	s.ckpt = db
	s.ckptDone = make(chan struct{})
	go func() {
		defer close(s.ckptDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-s.closed:
				return
			case <-t.C:
				s.checkpoint()
			}
		}
	}()
	return nil
}

// checkpoint runs one PASSIVE checkpoint. A failure is left for the next tick (the WAL
// only grows meanwhile; nothing committed is at stake).
func (s *Store) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var busy, frames, done int
	s.ckpt.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
}

// stopCheckpoints waits for the checkpointer to stop (after s.closed) and closes its
// connection.
func (s *Store) stopCheckpoints() error {
	if s.ckpt == nil {
		return nil
	}
	<-s.ckptDone
	return s.ckpt.Close()
}

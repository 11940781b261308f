package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wake returns a channel that receives when notifications became due for any process:
// a NOTIFY on payhook_due arrived, from this process or another, or the LISTEN
// connection came back after a loss (what was notified meanwhile is unknown). Signals
// are coalesced (the channel holds one) and never block the store; a delivery engine
// sweeps the database on each, rather than waiting for its next tick.
//
// The NOTIFY is sent, with the commit, when pending notifications are stored without a
// lease, made pending again without one (re-sent), or released (ReleaseLease). A pending
// notification stored or re-sent under a lease is its lease owner's to deliver (handed
// over in memory), so it wakes nobody: no other process could claim it before the lease
// expires, and every NOTIFY serializes its transaction's commit with the others'.
func (s *Store) Wake() <-chan struct{} { return s.wake }

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startListening connects the LISTEN connection before Open returns, so that every
// NOTIFY committed after Open wakes this store; when that fails the listener keeps
// trying in the background (until then only the sweeps' ticks find due notifications).
func (s *Store) startListening(ctx context.Context, cfg *pgx.ConnConfig) {
	conn, err := connectListener(ctx, cfg)
	if err != nil {
		s.log.Warn("postgres: cannot LISTEN for due notifications yet; retrying in the background", "err", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stopListen = cancel
	go s.listen(lctx, cfg, conn)
}

// connectListener opens a connection of its own and listens on payhook_due.
func connectListener(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN payhook_due`); err != nil {
		closeQuietly(conn)
		return nil, err
	}
	return conn, nil
}

func closeQuietly(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// listen forwards notifications to Wake until ctx ends, reconnecting (with a backoff up
// to 5s) whenever the connection is lost. After a reconnection it signals once:
// notifications sent while nobody listened are lost, and a sweep finds what they
// announced. conn is the connection Open made, or nil.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, conn *pgx.Conn) {
	defer close(s.listenerDone)
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		if conn == nil {
			var err error
			if conn, err = connectListener(ctx, cfg); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("postgres: cannot LISTEN for due notifications; retrying", "err", err, "retry_in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			s.log.Info("postgres: listening for due notifications again")
			backoff = minBackoff
			s.signal()
		}
		err := forward(ctx, conn, s.signal)
		closeQuietly(conn)
		conn = nil
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("postgres: the LISTEN connection was lost; reconnecting", "err", err)
		t := time.NewTimer(minBackoff) // never a tight loop against a server that drops us at once
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// forward signals every notification conn receives until it fails or ctx ends.
func forward(ctx context.Context, conn *pgx.Conn, signal func()) error {
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		signal()
	}
}

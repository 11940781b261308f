// Package postgres is payhook's store for several processes sharing one PostgreSQL
// database (15 or later): the same semantics as the SQLite store, checked by the same
// conformance suite (internal/storetest), with coordination through the database.
//
// Processes coordinate only through rows: a delivery lease is claimed with
// FOR UPDATE SKIP LOCKED and fenced on its owner when an attempt is recorded; a claim on a
// transaction is taken under a row lock (SELECT … FOR UPDATE) in one database
// transaction with its intent. Opening a store never clears another process's leases or
// claims: they are recovered by expiry only, since the other process may be alive.
//
// Throughput comes from group commit, as in the SQLite store: one writer goroutine takes
// the writes queued by many callers and runs them in one database transaction, committed
// once (writer.go). Most writes are one conditional statement (an attempt recorded, due
// notifications claimed, a lease renewed); those that decide first (ApplyChange, Claim)
// lock and read what they decide on in a first pipelined round trip of the batch's
// transaction and write in the second. Two writes deciding on the same transaction,
// claim or Tracking-Key never share a batch; a statement that fails makes the batch run
// again write by write, so that only the failing one fails.
//
// When notifications become due for any process (stored without a lease, re-sent
// unleased, released), the store sends a NOTIFY on the channel payhook_due; Wake fires in
// every process listening, so that delivery engines sweep at once.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payhook/payhook"
)

// Store is the PostgreSQL implementation of payhook.Store.
type Store struct {
	pool           *pgxpool.Pool
	log            *slog.Logger
	acquireTimeout time.Duration

	// the writer goroutine (writer.go); unbatched bypasses it (benchmarks only)
	unbatched bool
	ops       chan *op
	closed    chan struct{}
	done      chan struct{}
	once      sync.Once

	// the LISTEN connection (notify.go)
	wake         chan struct{}
	stopListen   context.CancelFunc
	listenerDone chan struct{}
}

var _ payhook.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	logger         *slog.Logger
	acquireTimeout time.Duration
}

// WithLogger sets the logger of the store's background work (the LISTEN connection's
// losses and reconnections). The default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithAcquireTimeout bounds how long a call waits for a free connection of the pool
// before it fails with EUNAVAILABLE (default 10s). The pool's size comes from the URL's
// pool_max_conns (default: four per CPU, at least 8).
func WithAcquireTimeout(d time.Duration) Option { return func(o *options) { o.acquireTimeout = d } }

// errClosed is returned by calls made after Close.
var errClosed = errors.New("postgres: store closed")

// Open connects to the PostgreSQL database at url (postgres://user@host:port/db?…, any
// form pgx accepts, with pgxpool's pool_* parameters), applies the pending migrations and
// starts the writer and the LISTEN connection. Two processes may open the same database
// at once: migrations run under an advisory lock. A server that cannot be reached fails
// with EUNAVAILABLE.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{logger: slog.Default(), acquireTimeout: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{
		pool:           pool,
		log:            o.logger,
		acquireTimeout: o.acquireTimeout,
		ops:            make(chan *op, 4096),
		closed:         make(chan struct{}),
		done:           make(chan struct{}),
		wake:           make(chan struct{}, 1),
		listenerDone:   make(chan struct{}),
	}
	s.startListening(ctx, cfg.ConnConfig.Copy())
	go s.writeLoop()
	return s, nil
}

// poolConfig parses url and fills in what it leaves unset: the pool's size, a connect
// timeout and the application name seen in pg_stat_activity.
func poolConfig(rawURL string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	if !hasParam(rawURL, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 4*runtime.NumCPU()))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "payhook"
	}
	return cfg, nil
}

// hasParam reports whether a URL or keyword/value connection string sets name.
func hasParam(conn, name string) bool {
	if u, err := url.Parse(conn); err == nil && u.Scheme != "" {
		return u.Query().Has(name)
	}
	for _, f := range splitFields(conn) {
		if len(f) > len(name) && f[:len(name)+1] == name+"=" {
			return true
		}
	}
	return false
}

func splitFields(s string) []string {
	var out []string
	start := -1
	for i, r := range s {
		if r == ' ' || r == '\t' || r == '\n' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// Ping checks that the database answers a read.
func (s *Store) Ping(ctx context.Context) error {
	return s.withConn(ctx, func(c *pgxpool.Conn) error {
		var one int
		return c.QueryRow(ctx, `SELECT 1`).Scan(&one)
	})
}

// PingWrite checks that the database takes a write: it upserts the health row (through
// the writer, as every short write goes).
func (s *Store) PingWrite(ctx context.Context) error {
	at := micros(time.Now())
	return s.do(ctx, &op{
		queue: func(b *pgx.Batch) {
			b.Queue(`INSERT INTO health (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, at)
		},
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return wrap("write health row", err)
		},
	})
}

// Close stops the store: the writer finishes the writes queued before it, the LISTEN
// connection closes, then the pool.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.closed) })
	<-s.done
	s.stopListen()
	<-s.listenerDone
	s.pool.Close()
	return nil
}

// withConn runs fn on a connection of the pool, mapping the errors that mean the
// database is unavailable.
func (s *Store) withConn(ctx context.Context, fn func(c *pgxpool.Conn) error) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return unavailable(fn(c))
}

// acquire takes a connection of the pool, waiting at most acquireTimeout: a pool that
// stays exhausted (or a server that stopped answering) fails with EUNAVAILABLE, while the
// caller's own cancellation is returned as it is.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, s.acquireTimeout)
	defer cancel()
	c, err := s.pool.Acquire(actx)
	if err == nil {
		return c, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, &unavailableError{
			app: &payhook.Error{Code: payhook.EUNAVAILABLE, Message: fmt.Sprintf(
				"The database did not give payhook a connection within %s (every connection busy, or the server not answering): nothing was done. Retry later.", s.acquireTimeout)},
			cause: err,
		}
	}
	select {
	case <-s.closed:
		return nil, errClosed
	default:
	}
	return nil, unavailable(fmt.Errorf("connect: %w", err))
}

// micros converts a time to stored Unix microseconds (0 for the zero time).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros converts stored Unix microseconds back (the zero time for 0), in UTC.
func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// wrap adds context to a non-nil error.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

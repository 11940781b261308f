// Package sqlite is payhook's embedded store: one SQLite file in WAL mode with
// synchronous=FULL, so that a committed notification survives a power loss.
//
// Throughput comes from group commit: one writer goroutine owns the only write
// connection; every write is an operation sent to it; it runs whatever is queued (up to
// maxBatch operations) in one transaction, each in its own savepoint so that one failing
// operation does not fail the others, commits once, then releases the callers. Readers use
// their own pool of connections beside the writer, as WAL allows.
//
// One SQLite file belongs to one payhook process at a time: Open clears the delivery
// leases of a previous process, which is how a restart resumes what a crash interrupted.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"
)

// maxBatch bounds the operations of one commit.
const maxBatch = 256

// Store is the SQLite implementation of payhook.Store.
type Store struct {
	path   string
	read   *sql.DB
	write  *sql.DB
	conn   *sql.Conn
	stmts  map[string]*sql.Stmt
	ops    chan *op
	closed chan struct{}
	once   sync.Once
	done   chan struct{}
}

// op is one write operation and where its result goes.
type op struct {
	fn   func(w *writer) error
	done chan error
}

// writer is what an operation sees: the write connection inside the batch's transaction,
// with prepared statements cached across batches.
type writer struct {
	ctx context.Context
	s   *Store
}

func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.s.stmts[query]; ok {
		return st, nil
	}
	st, err := w.s.conn.PrepareContext(w.ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", query, err)
	}
	w.s.stmts[query] = st
	return st, nil
}

func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *writer) queryRow(query string, args ...any) *sql.Row {
	st, err := w.stmt(query)
	if err != nil {
		return w.s.conn.QueryRowContext(w.ctx, query, args...)
	}
	return st.QueryRowContext(w.ctx, args...)
}

func (w *writer) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(w.ctx, args...)
}

func dsn(path string, readOnly bool) string {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "journal_mode(WAL)")
	v.Add("_pragma", "synchronous(FULL)")
	v.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		v.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + v.Encode()
}

// Open opens (creating if needed) the SQLite database at path and applies pending
// migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	s := &Store{path: path, stmts: map[string]*sql.Stmt{}, ops: make(chan *op, 4096),
		closed: make(chan struct{}), done: make(chan struct{})}
	var err error
	if s.write, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.write.SetMaxOpenConns(1)
	if s.conn, err = s.write.Conn(ctx); err != nil {
		s.write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, s.conn); err != nil {
		s.conn.Close()
		s.write.Close()
		return nil, err
	}
	if _, err := s.conn.ExecContext(ctx, `UPDATE notifications SET lease_owner = '', lease_until = 0 WHERE status = 'pending'`); err != nil {
		s.conn.Close()
		s.write.Close()
		return nil, fmt.Errorf("release leases: %w", err)
	}
	if s.read, err = sql.Open("sqlite", dsn(path, true)); err != nil {
		s.conn.Close()
		s.write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.read.SetMaxOpenConns(8)
	s.read.SetMaxIdleConns(8)
	go s.loop()
	return s, nil
}

// Migrate applies pending migrations to the database at path and reports how many ran.
func Migrate(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	before, err := appliedCount(ctx, conn)
	if err != nil {
		return 0, err
	}
	if err := migrate(ctx, conn); err != nil {
		return 0, err
	}
	after, err := appliedCount(ctx, conn)
	return after - before, err
}

// do runs fn in the writer's next batch and waits for its commit.
func (s *Store) do(ctx context.Context, fn func(w *writer) error) error {
	o := &op{fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- o:
	case <-s.closed:
		return errors.New("sqlite: store closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the operation runs to its end: wait for it even if ctx ends, so that
	// the caller never believes a committed write failed. The send above can win its race
	// with Close after the writer's last drain: then nobody will run it, and the writer's
	// exit (done) says so. A result is always sent before done is closed.
	select {
	case err := <-o.done:
		return err
	case <-s.done:
		select {
		case err := <-o.done:
			return err
		default:
			return errors.New("sqlite: store closed")
		}
	}
}

func (s *Store) loop() {
	defer close(s.done)
	ctx := context.Background()
	batch := make([]*op, 0, maxBatch)
	errs := make([]error, 0, maxBatch)
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.closed:
			// Drain what was queued before Close.
			select {
			case first = <-s.ops:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		errs = errs[:0]
		commitErr := s.runBatch(ctx, batch, &errs)
		for i, o := range batch {
			if commitErr != nil {
				o.done <- commitErr
			} else {
				o.done <- errs[i]
			}
		}
	}
}

func (s *Store) runBatch(ctx context.Context, batch []*op, errs *[]error) error {
	w := &writer{ctx: ctx, s: s}
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	single := len(batch) == 1
	for _, o := range batch {
		if single {
			err := o.fn(w)
			*errs = append(*errs, err)
			if err != nil {
				s.conn.ExecContext(ctx, "ROLLBACK")
				return nil
			}
			continue
		}
		if _, err := s.conn.ExecContext(ctx, "SAVEPOINT op"); err != nil {
			s.conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("savepoint: %w", err)
		}
		err := o.fn(w)
		if err != nil {
			s.conn.ExecContext(ctx, "ROLLBACK TO op")
		}
		if _, rerr := s.conn.ExecContext(ctx, "RELEASE op"); rerr != nil {
			s.conn.ExecContext(ctx, "ROLLBACK")
			return fmt.Errorf("release savepoint: %w", rerr)
		}
		*errs = append(*errs, err)
	}
	if _, err := s.conn.ExecContext(ctx, "COMMIT"); err != nil {
		s.conn.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Ping checks that the database answers a read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close finishes the queued writes and closes the database.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.closed) })
	<-s.done
	for _, st := range s.stmts {
		st.Close()
	}
	s.conn.Close()
	err := s.write.Close()
	if rerr := s.read.Close(); err == nil {
		err = rerr
	}
	return err
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

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Package sqlite is payhook's embedded store: one SQLite file in WAL mode with
// synchronous=FULL, so that a committed notification survives a power loss.
//
// Throughput comes from group commit: one writer goroutine owns the only write
// connection; every write is an operation sent to it; it runs whatever is queued (up to
// maxBatch operations) in one transaction, each in its own savepoint so that one failing
// operation does not fail the others, commits once, then releases the callers. Readers use
// their own pool of connections beside the writer, as WAL allows.
//
// One SQLite file belongs to one payhook process at a time: Open takes an exclusive lock
// on it (a second process gets a clear error), then clears the delivery leases of the
// previous process and makes its claims stale, which is how a restart resumes at once
// what a crash interrupted. Several processes share a PostgreSQL database instead.
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

	sqlitedriver "modernc.org/sqlite" // the pure-Go driver, registered as "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/payhook/payhook"
)

// maxBatch bounds the operations of one commit.
const maxBatch = 256

// Store is the SQLite implementation of payhook.Store.
type Store struct {
	path   string
	lock   *fileLock
	read   *sql.DB
	write  *sql.DB
	conn   *sql.Conn
	stmts  map[string]*sql.Stmt
	ops    chan *op
	closed chan struct{}
	once   sync.Once
	done   chan struct{}
	// order is OrderBlocker's statement, prepared once on the readers (redelivery.go).
	order preparedRead
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
	if s.lock, err = lockFile(path); err != nil {
		return nil, err
	}
	if s.write, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		s.lock.release()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.write.SetMaxOpenConns(1)
	if s.conn, err = s.write.Conn(ctx); err != nil {
		s.write.Close()
		s.lock.release()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, s.conn); err != nil {
		s.conn.Close()
		s.write.Close()
		s.lock.release()
		return nil, err
	}
	if _, err := s.conn.ExecContext(ctx, `UPDATE notifications SET lease_owner = '', lease_until = 0 WHERE status = 'pending'`); err != nil {
		s.conn.Close()
		s.write.Close()
		s.lock.release()
		return nil, fmt.Errorf("release leases: %w", err)
	}
	if _, err := s.conn.ExecContext(ctx, `UPDATE error_emails SET lease_owner = '', lease_until = 0`); err != nil {
		s.conn.Close()
		s.write.Close()
		s.lock.release()
		return nil, fmt.Errorf("release error email leases: %w", err)
	}
	if _, err := s.conn.ExecContext(ctx, `UPDATE claims SET until = 0`); err != nil {
		s.conn.Close()
		s.write.Close()
		s.lock.release()
		return nil, fmt.Errorf("release claims: %w", err)
	}
	if s.read, err = sql.Open("sqlite", dsn(path, true)); err != nil {
		s.conn.Close()
		s.write.Close()
		s.lock.release()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.read.SetMaxOpenConns(8)
	s.read.SetMaxIdleConns(8)
	go s.loop()
	return s, nil
}

// Migrate applies pending migrations to the database at path and reports how many ran.
// Like Open, it refuses a file a running payhook process holds (which migrates at start).
func Migrate(ctx context.Context, path string) (int, error) {
	lock, err := lockFile(path)
	if err != nil {
		return 0, err
	}
	defer lock.release()
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
		return unavailable(err)
	case <-s.done:
		select {
		case err := <-o.done:
			return unavailable(err)
		default:
			return errors.New("sqlite: store closed")
		}
	}
}

// unavailable marks the errors that mean "the database cannot take writes now" (a full
// disk, a read-only file, an I/O error, a lock held too long) as EUNAVAILABLE, so that
// callers answer 503 and say so; the writer keeps going and recovers when they clear.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlitedriver.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return &payhook.Error{Code: payhook.EUNAVAILABLE, Message: "The database is full (no space left for writes): nothing was stored. Free disk space; payhook recovers by itself."}
	case sqlite3.SQLITE_READONLY:
		return &payhook.Error{Code: payhook.EUNAVAILABLE, Message: "The database is read-only: nothing was stored. Make it writable; payhook recovers by itself."}
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return &payhook.Error{Code: payhook.EUNAVAILABLE, Message: "The database cannot take writes now (" + sqlitedriver.ErrorCodeString[se.Code()] + "): nothing was stored. Retry later."}
	}
	return err
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

// DB returns the read-only connection pool, for inspection (tests and tools); writes go
// through the store's methods only.
func (s *Store) DB() *sql.DB { return s.read }

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
	s.lock.release()
	return err
}

// LimitSize caps the database at about maxBytes (SQLite's max_page_count): writes that
// would grow it further fail as on a full disk (503, nothing stored) until the cap is
// raised again. Operators can keep payhook from filling a shared disk; tests use it to
// rehearse a full disk. 0 lifts the cap.
func (s *Store) LimitSize(ctx context.Context, maxBytes int64) error {
	return s.do(ctx, func(w *writer) error {
		var pageSize int64
		if err := s.conn.QueryRowContext(w.ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
			return err
		}
		pages := int64(4294967294)
		if maxBytes > 0 {
			pages = max(1, maxBytes/pageSize)
		}
		var got int64
		return s.conn.QueryRowContext(w.ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)).Scan(&got)
	})
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

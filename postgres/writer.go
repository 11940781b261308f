package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxBatch bounds the operations of one batch.
const maxBatch = 256

// batchTimeout bounds a batch's round trips: a server that stops answering fails the
// queued writes (EUNAVAILABLE) instead of holding their callers forever.
const batchTimeout = 30 * time.Second

// notifyDue tells every listening process that notifications are due (see Store.Wake).
// PostgreSQL delivers it at commit, once per transaction however often it is sent.
const notifyDue = `SELECT pg_notify('payhook_due', '')`

// op is one write handed to the writer, which runs the ops of a batch in one database
// transaction, in two pipelined round trips when one of them needs to decide first:
//
//  1. lock: statements that read and lock (SELECT … FOR UPDATE) what the op decides on;
//     decide reads their results and returns an application error (ECONFLICT,
//     ErrClaimed, …) when the op must not apply: it then writes nothing.
//  2. queue: the op's writes; read reads their results, and returns an application
//     error (ErrLeaseLost, …) for a conditional statement that wrote nothing.
//
// Most ops are one conditional statement (no lock). An op is all or nothing by itself:
// a statement that fails as SQL fails the whole batch, which then runs again op by op.
// Keys name what an op decides on (a transaction, a claim, a Tracking-Key): two ops with
// a key in common never share a batch, so that no op decides on what another op of its
// batch changes before it writes.
type op struct {
	keys   []string
	lock   func(b *pgx.Batch)
	decide func(br pgx.BatchResults) error
	queue  func(b *pgx.Batch)
	read   func(br pgx.BatchResults) error
	// wake, when set, sends notifyDue with the commit of the op's writes.
	wake bool
	done chan error
}

// do hands o to the writer and waits for its commit. Once queued, the operation runs to
// its end: do waits for it even if ctx ends, so that the caller never believes a
// committed write failed (a batch is bounded by batchTimeout).
func (s *Store) do(ctx context.Context, o *op) error {
	if s.unbatched {
		return s.doAlone(ctx, o)
	}
	o.done = make(chan error, 1)
	select {
	case s.ops <- o:
	case <-s.closed:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// The send above can win its race with Close after the writer's last drain: then
	// nobody will run it, and the writer's exit (done) says so. A result is always sent
	// before done is closed.
	select {
	case err := <-o.done:
		return err
	case <-s.done:
		select {
		case err := <-o.done:
			return err
		default:
			return errClosed
		}
	}
}

// doAlone runs o in a transaction of its own on a connection of the pool, without the
// writer (the benchmarks' baseline).
func (s *Store) doAlone(ctx context.Context, o *op) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return runAlone(ctx, c.Conn(), o)
}

// writeLoop is the writer: it takes whatever is queued (up to maxBatch operations) and
// runs it as one database transaction (one commit for all), then releases the callers.
// While a batch is out, the next one queues up. An op sharing a key with an op of the
// batch waits for the next one, ahead of the queue.
func (s *Store) writeLoop() {
	defer close(s.done)
	var batch, held, next []*op
	keys := map[string]bool{}
	fits := func(o *op) bool {
		for _, k := range o.keys {
			if keys[k] {
				return false
			}
		}
		for _, k := range o.keys {
			keys[k] = true
		}
		return true
	}
	for {
		batch, next = batch[:0], next[:0]
		clear(keys)
		for _, o := range held {
			if fits(o) {
				batch = append(batch, o)
			} else {
				next = append(next, o)
			}
		}
		held, next = next, held
		if len(batch) == 0 {
			select {
			case o := <-s.ops:
				fits(o)
				batch = append(batch, o)
			case <-s.closed:
				// Drain what was queued before Close.
				select {
				case o := <-s.ops:
					fits(o)
					batch = append(batch, o)
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-s.ops:
				if fits(o) {
					batch = append(batch, o)
				} else {
					held = append(held, o)
				}
			default:
				break fill
			}
		}
		s.runBatch(batch)
	}
}

// runBatch runs ops in one transaction. When a statement fails, the server rolls the
// whole batch back; each op then runs alone, so that only the failing one fails. When
// the connection breaks instead, the outcome is unknown and nothing is run again.
func (s *Store) runBatch(ops []*op) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	c, err := s.acquire(ctx)
	if err != nil {
		for _, o := range ops {
			o.done <- err
		}
		return
	}
	defer c.Release()
	conn := c.Conn()
	// timedOut maps the failures that batchTimeout caused (the caller's context is not
	// the batch's).
	timedOut := func(err error) error {
		if err != nil && !isApp(err) && ctx.Err() != nil {
			return unavailableErr(fmt.Sprintf("The database did not answer within %s: what was being written may not have been stored. Retry later.", batchTimeout), err)
		}
		return err
	}
	if len(ops) > 1 {
		errs, failed := runOps(ctx, conn, ops)
		if failed == nil {
			for i, o := range ops {
				o.done <- errs[i]
			}
			return
		}
		if conn.IsClosed() || connectionLost(failed) {
			err := timedOut(unavailable(failed))
			for _, o := range ops {
				o.done <- err
			}
			return
		}
	}
	for _, o := range ops {
		o.done <- timedOut(runAlone(ctx, conn, o))
	}
}

// runAlone runs one op in its own transaction, again when the server broke a deadlock by
// aborting it.
func runAlone(ctx context.Context, conn *pgx.Conn, o *op) error {
	for try := 0; ; try++ {
		errs, failed := runOps(ctx, conn, []*op{o})
		switch {
		case failed == nil || isApp(errs[0]):
			return errs[0]
		case pgCode(failed) == "40P01" && try < 3: // deadlock_detected
			continue
		case errs[0] != nil:
			return unavailable(errs[0])
		default:
			return unavailable(failed)
		}
	}
}

// runOps runs ops as one transaction and reads their results: errs holds each op's
// result (nil, an application error, or the batch's failure), failed the failure of the
// batch (then nothing of it was committed, unless the connection broke at the commit).
// Ops that lock go first, in the order of their keys, so that two processes' batches
// lock rows in one order and never deadlock each other.
func runOps(ctx context.Context, conn *pgx.Conn, ops []*op) (errs []error, failed error) {
	errs = make([]error, len(ops))
	defer func() {
		if failed != nil && !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			conn.Exec(rctx, `ROLLBACK`) // a failed rollback closes the connection
			cancel()
		}
	}()

	var locking []int
	for i, o := range ops {
		if o.lock != nil {
			locking = append(locking, i)
		}
	}
	explicit := len(locking) > 0
	if explicit {
		slices.SortStableFunc(locking, func(a, b int) int { return compareKeys(ops[a].keys, ops[b].keys) })
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		for _, i := range locking {
			ops[i].lock(b)
		}
		br := conn.SendBatch(ctx, b)
		_, failed = br.Exec()
		failed = wrap("begin", failed)
		for _, i := range locking {
			if failed != nil {
				break
			}
			if err := ops[i].decide(br); isApp(err) {
				errs[i] = err // decided against: the op ends here, having written nothing
			} else {
				failed = err
			}
		}
		if err := br.Close(); failed == nil {
			failed = err
		}
		if failed != nil {
			return errs, failed
		}
	}

	b := &pgx.Batch{}
	wake := false
	for i, o := range ops {
		if errs[i] == nil {
			o.queue(b)
			wake = wake || o.wake
		}
	}
	if wake {
		b.Queue(notifyDue)
	}
	if explicit {
		b.Queue(`COMMIT`)
	}
	br := conn.SendBatch(ctx, b)
	for i, o := range ops {
		if errs[i] != nil {
			continue
		}
		err := o.read(br)
		errs[i] = err
		if err != nil && !isApp(err) {
			failed = err
			break
		}
	}
	if failed == nil && wake {
		_, err := br.Exec()
		failed = wrap("notify", err)
	}
	if failed == nil && explicit {
		_, err := br.Exec()
		failed = wrap("commit", err)
	}
	if err := br.Close(); failed == nil && err != nil {
		failed = wrap("commit", err)
	}
	return errs, failed
}

func compareKeys(a, b []string) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return -1
	case len(b) == 0:
		return 1
	}
	switch {
	case a[0] < b[0]:
		return -1
	case a[0] > b[0]:
		return 1
	}
	return 0
}

// Package delivery carries out the delivery of notifications (SPEC §4): it POSTs each
// notification, records every attempt, retries only attempts that got no answer after the
// constant backoff, and resumes after a restart whatever was not finished.
//
// New notifications are handed over in memory right after their commit (Deliver,
// Enqueue), so nothing polls in the hot path; a sweep at start and on a slow timer claims
// from the database what is due and not in memory (retries left by a crash, leases that
// expired). The database is the truth, the hand-off a shortcut.
//
// Per-URL limits (a semaphore per destination URL) keep one dead merchant endpoint from
// holding every attempt: the other URLs never wait behind it.
//
// Beyond Ottu's rules: extended redelivery keeps trying, on a schedule, a notification
// whose round failed while the merchant was down (extended.go, opt-in), and a transaction's
// notifications to one URL are attempted in the order of its events (order.go).
package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/payhook/payhook"
)

// Store is what the engine needs of the store.
type Store interface {
	RecordAttempt(ctx context.Context, id string, a payhook.Attempt, status payhook.Status, next time.Time, lease payhook.Lease) error
	ClaimDue(ctx context.Context, now time.Time, lease payhook.Lease, limit int) ([]*payhook.Notification, error)
	RenewLeases(ctx context.Context, owner string, until time.Time) (int, error)
	ReleaseLease(ctx context.Context, id, owner string) error
	// Extended redelivery and ordering per transaction (extended.go, order.go).
	RecordExtendedAttempt(ctx context.Context, id string, a payhook.Attempt, step payhook.ExtendedStep, entering bool, owner string) error
	OrderBlocker(ctx context.Context, id string) (string, time.Time, error)
	PostponeRedelivery(ctx context.Context, id, owner string, at time.Time) error
}

// Config configures an engine.
type Config struct {
	Store Store
	// Settings returns the current settings; they apply to each attempt as it starts.
	Settings func(ctx context.Context) (payhook.Settings, error)
	Sender   *Sender
	// Owner names this process in leases.
	Owner string
	// PerDestination bounds the concurrent attempts to one URL (default 64).
	PerDestination int
	// SweepInterval is how often the database is swept for due notifications (default 1s).
	SweepInterval time.Duration
	// LeaseTTL is how long a lease holds without renewal (default DefaultLeaseTTL). The
	// engine renews its leases every LeaseTTL/3 while it lives; when its process dies,
	// another process claims the notifications once LeaseTTL has passed.
	LeaseTTL time.Duration
	// Wake, when set, fires when another process made notifications due (PostgreSQL's
	// LISTEN/NOTIFY): the engine sweeps at once instead of on its next tick.
	Wake <-chan struct{}
	// Health, when set, tracks each URL's health (health.go): a disabled URL's
	// notifications are held instead of attempted.
	Health *Health
	// OnFinished, when set, is called once a notification's round ends delivered or
	// failed (error emails hang here).
	// When a failed round hands the notification over to extended redelivery, n.Redelivery
	// is set (the error email says until when it goes on). Extended attempts do not call it.
	OnFinished func(n *payhook.Notification, status payhook.Status, last payhook.Attempt)
	// Jitter changes each wait of extended redelivery (default ±10 %); tests inject their own.
	Jitter func(time.Duration) time.Duration
	// Unordered turns ordering per transaction off (order.go); only benchmarks measuring
	// its cost set it.
	Unordered bool
	// OrderPoll is how often a notification waiting behind an older one of its transaction
	// re-checks the store, for an older one in another process (default SweepInterval).
	OrderPoll time.Duration
	Clock     payhook.Clock
	Logger    *slog.Logger
}

// Result is how a notification's round of attempts ended.
type Result struct {
	Status     payhook.Status // delivered or failed; held (its URL is disabled); pending when the engine stopped first
	StatusCode int            // the last attempt's answer, 0 without one
}

// Engine delivers notifications.
type Engine struct {
	cfg      Config
	ctx      context.Context // lives until Shutdown; attempts are never tied to a request
	cancel   context.CancelFunc
	stopping chan struct{}
	kick     chan struct{}
	wg       sync.WaitGroup

	mu       sync.Mutex
	inflight map[string]bool
	// again holds re-sent notifications handed over while their previous round was still
	// finishing; they start as soon as it ends.
	again   map[string]*payhook.Notification
	dests   map[string]*destination
	stopped bool
	// unreleased holds leases to give back that the store did not take (it was down):
	// the renewal must not keep a notification leased that is no longer in memory, so
	// each renewal tries these first.
	unreleased map[string]bool
	// orderWait holds, per (session, URL), the channel closed when a notification of it
	// leaves memory: the ones waiting behind it re-check at once (order.go).
	orderWait map[orderKey]chan struct{}
}

type destination struct {
	slots chan struct{}
	users int
}

// DefaultLeaseTTL is Config.LeaseTTL's default.
const DefaultLeaseTTL = 30 * time.Second

// maxInflight bounds the notifications in memory beyond which the sweep claims no more:
// what is due stays unleased in the database for the other processes sharing it (and for
// this one once it has room), rather than leased here behind the per-URL limits.
const maxInflight = 2000

// New returns an engine; Start begins the sweeps.
func New(cfg Config) *Engine {
	if cfg.PerDestination <= 0 {
		cfg.PerDestination = 64
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.OrderPoll <= 0 {
		cfg.OrderPoll = cfg.SweepInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{cfg: cfg, ctx: ctx, cancel: cancel, stopping: make(chan struct{}), kick: make(chan struct{}, 1),
		inflight: map[string]bool{}, again: map[string]*payhook.Notification{}, dests: map[string]*destination{},
		unreleased: map[string]bool{}, orderWait: map[orderKey]chan struct{}{}}
}

// Lease returns the lease a newly stored pending notification should carry, so that the
// sweeps (of every process) leave it to this process's in-memory hand-off. The engine
// renews it while the notification is in its memory.
func (e *Engine) Lease(payhook.Settings) payhook.Lease {
	return e.lease()
}

func (e *Engine) lease() payhook.Lease {
	return payhook.Lease{Owner: e.cfg.Owner, Until: e.cfg.Clock.Now().Add(e.cfg.LeaseTTL)}
}

// Start sweeps the database now and then every SweepInterval (or when woken) until
// Shutdown, and renews this process's leases every LeaseTTL/3.
func (e *Engine) Start() {
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(e.cfg.SweepInterval)
		defer t.Stop()
		for {
			e.sweep()
			select {
			case <-t.C:
			case <-e.kick:
			case <-e.cfg.Wake:
			case <-e.stopping:
				return
			}
		}
	}()
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(e.cfg.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-e.stopping:
				return
			}
			if !e.releasePending() {
				continue // the store does not take writes: renewing would fail too
			}
			n, err := e.cfg.Store.RenewLeases(e.ctx, e.cfg.Owner, e.cfg.Clock.Now().Add(e.cfg.LeaseTTL))
			if err != nil {
				if e.ctx.Err() == nil {
					e.cfg.Logger.Error("renew leases", "err", err)
				}
				continue
			}
			leasesHeld.Set(float64(n))
		}
	}()
}

// Kick asks for a sweep now, for notifications made due in the database in bulk (a bulk
// re-send) rather than handed over one by one.
func (e *Engine) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Engine) sweep() {
	for {
		e.mu.Lock()
		room := maxInflight - len(e.inflight)
		e.mu.Unlock()
		if room <= 0 {
			return
		}
		batch := min(room, 500)
		notes, err := e.cfg.Store.ClaimDue(e.ctx, e.cfg.Clock.Now(), e.lease(), batch)
		if err != nil {
			if e.ctx.Err() == nil {
				e.cfg.Logger.Error("sweep: claim due notifications", "err", err)
			}
			return
		}
		for _, n := range notes {
			e.Enqueue(n)
		}
		if len(notes) < batch {
			return
		}
	}
}

// Deliver starts delivering n at once and returns a channel that receives how its round
// ended. The delivery goes on whatever the caller does with the channel.
func (e *Engine) Deliver(n *payhook.Notification) <-chan Result {
	done := make(chan Result, 1)
	if !e.start(n, done) {
		done <- Result{Status: payhook.StatusPending}
	}
	return done
}

// Enqueue starts delivering n in the background, unless it is in memory already (then
// the round in memory carries it).
func (e *Engine) Enqueue(n *payhook.Notification) { e.start(n, nil) }

// Resend starts a new round of n, just made pending again in the database. If its
// previous round is still finishing in memory (its last attempt recorded, its goroutine
// not yet gone), the new round starts right after it instead of being dropped.
func (e *Engine) Resend(n *payhook.Notification) {
	e.mu.Lock()
	if !e.stopped && e.inflight[n.ID] {
		e.again[n.ID] = n
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	e.start(n, nil)
}

func (e *Engine) start(n *payhook.Notification, done chan Result) bool {
	e.mu.Lock()
	if e.stopped || e.inflight[n.ID] {
		e.mu.Unlock()
		return false
	}
	e.inflight[n.ID] = true
	e.wg.Add(1)
	e.mu.Unlock()
	go e.run(n, done)
	return true
}

// Inflight returns how many notifications are in memory (attempting or waiting to retry).
func (e *Engine) Inflight() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.inflight)
}

func (e *Engine) run(n *payhook.Notification, done chan Result) {
	defer e.wg.Done()
	res := Result{Status: payhook.StatusPending}
	defer func() {
		e.mu.Lock()
		delete(e.inflight, n.ID)
		next := e.again[n.ID]
		delete(e.again, n.ID)
		e.mu.Unlock()
		e.wakeOrder(orderKey{n.SessionID, n.URL})
		if done != nil {
			done <- res
		}
		if next != nil {
			e.start(next, nil)
		}
	}()
	log := e.cfg.Logger.With("notification", n.ID, "url", n.URL)
	// A retry due later (claimed by the sweep early, or handed over after a resend) waits.
	if wait := n.NextAttemptAt.Sub(e.cfg.Clock.Now()); wait > 0 && !e.sleep(wait) {
		e.release(n.ID)
		return
	}
	if !e.waitForOlder(n) {
		e.release(n.ID)
		return
	}
	if e.followOlder(n) {
		return
	}
	for settingsWait := 100 * time.Millisecond; ; {
		st, err := e.cfg.Settings(e.ctx)
		if err != nil {
			// The database does not answer: keep the notification (leased and renewed) and
			// try again, rather than drop it from memory while its lease lives on.
			log.Error("load settings; retrying", "err", err)
			if !e.sleep(settingsWait) {
				e.release(n.ID)
				return
			}
			settingsWait = min(2*settingsWait, 5*time.Second)
			continue
		}
		if e.holdIfDisabled(n, &res) {
			return
		}
		release, ok := e.acquire(n.URL, done != nil)
		if !ok {
			e.release(n.ID)
			return
		}
		attemptsInFlight.Inc()
		a, outcome := e.cfg.Sender.Send(e.ctx, st, Message{ID: n.ID, URL: n.URL, Body: n.Body, ContentType: n.ContentType})
		attemptsInFlight.Dec()
		release()
		if e.ctx.Err() != nil {
			// Shutdown cut the attempt short: it does not count; the next process retries.
			e.release(n.ID)
			return
		}
		observe(outcome.StatusCode, outcome.NoAnswer, a.Duration.Seconds())
		if n.Redelivery != nil {
			res = e.extendedAttempt(n, st, a, outcome)
			return
		}
		round := n.RoundAttempts + 1
		step := payhook.NextStep(st, round, outcome)
		if entersExtended(n, step, outcome) {
			res = e.enterExtended(n, st, a, outcome, round)
			return
		}
		var next time.Time
		lease := e.lease()
		if step.Status == payhook.StatusPending {
			next = e.cfg.Clock.Now().Add(step.RetryAfter)
		}
		if err := e.record(n.ID, a, step.Status, next, lease); err != nil {
			if errors.Is(err, payhook.ErrLeaseLost) {
				// Our lease expired (a stall) and another process took the notification
				// over: its attempts count, not this one (fencing).
				log.Warn("attempt not recorded: the lease was taken over by another process", "err", err)
				return
			}
			// Not recorded before shutdown: the lease runs out and another process (or
			// this one after a restart) attempts again (at least once).
			log.Error("record attempt", "err", err)
			e.release(n.ID)
			return
		}
		e.observeHealth(n, a)
		n.RoundAttempts = round
		n.Attempts = append(n.Attempts, a)
		res = Result{Status: step.Status, StatusCode: a.StatusCode}
		log.Debug("attempt", "number", round, "status_code", a.StatusCode, "error", a.Error, "next", step.Status)
		if step.Status != payhook.StatusPending {
			finishedTotal.WithLabelValues(string(step.Status)).Inc()
			if e.cfg.OnFinished != nil {
				e.cfg.OnFinished(n, step.Status, a)
			}
			return
		}
		if !e.sleep(step.RetryAfter) {
			e.release(n.ID)
			return
		}
	}
}

// record stores an attempt, retrying while the store cannot take the write (a full disk,
// the database down) until it can or the engine stops: the attempt happened, and its
// notification stays leased (and in memory) meanwhile.
func (e *Engine) record(id string, a payhook.Attempt, status payhook.Status, next time.Time, lease payhook.Lease) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := e.cfg.Store.RecordAttempt(e.ctx, id, a, status, next, lease)
		if err == nil || payhook.ErrorCode(err) != payhook.EUNAVAILABLE {
			return err
		}
		e.cfg.Logger.Warn("record attempt: the store cannot take writes; retrying", "notification", id, "err", err)
		if !e.sleep(wait) {
			return err
		}
	}
}

// sleep waits d, or returns false when the engine stops first.
func (e *Engine) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.stopping:
		return false
	}
}

// release hands a notification back to the database for the next sweep (or process).
// When the store does not take it, the lease is remembered and given back before the
// next renewal, so that it is never renewed for a notification no longer in memory.
func (e *Engine) release(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.cfg.Store.ReleaseLease(ctx, id, e.cfg.Owner); err != nil {
		e.cfg.Logger.Error("release lease; retrying before the next renewal", "notification", id, "err", err)
		e.mu.Lock()
		e.unreleased[id] = true
		e.mu.Unlock()
	}
}

// releasePending gives back the leases release could not, and reports whether none is
// left (only then may the leases be renewed).
func (e *Engine) releasePending() bool {
	e.mu.Lock()
	ids := make([]string, 0, len(e.unreleased))
	for id := range e.unreleased {
		if !e.inflight[id] { // started again meanwhile: its round holds the lease now
			ids = append(ids, id)
		} else {
			delete(e.unreleased, id)
		}
	}
	e.mu.Unlock()
	ok := true
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		err := e.cfg.Store.ReleaseLease(ctx, id, e.cfg.Owner)
		cancel()
		if err != nil {
			ok = false
			continue
		}
		e.mu.Lock()
		delete(e.unreleased, id)
		e.mu.Unlock()
	}
	return ok
}

// The unit of the limit is the URL: one merchant endpoint that hangs holds at most
// PerDestination attempts and delays nothing else, not even other URLs on its host. A
// payment notification whose answer decides a customer's redirect never waits for a slot:
// a customer is waiting on it (waited), and customers are few beside background
// notifications.
func (e *Engine) acquire(key string, waited bool) (func(), bool) {
	if waited {
		return func() {}, true
	}
	e.mu.Lock()
	d := e.dests[key]
	if d == nil {
		d = &destination{slots: make(chan struct{}, e.cfg.PerDestination)}
		e.dests[key] = d
	}
	d.users++
	e.mu.Unlock()
	drop := func() {
		e.mu.Lock()
		if d.users--; d.users == 0 {
			delete(e.dests, key)
		}
		e.mu.Unlock()
	}
	select {
	case d.slots <- struct{}{}:
		return func() { <-d.slots; drop() }, true
	case <-e.stopping:
		drop()
		return nil, false
	}
}

// ErrShutdownTimeout is returned by Shutdown when attempts were still running at its
// deadline; they were canceled and handed back to the database.
var ErrShutdownTimeout = errors.New("delivery: attempts canceled at shutdown deadline")

// Shutdown stops the sweeps and the waits between attempts (those notifications stay due
// in the database), lets the attempts in flight finish until ctx ends, then cancels them.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if !e.stopped {
		e.stopped = true
		close(e.stopping)
	}
	e.mu.Unlock()
	finished := make(chan struct{})
	go func() { e.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		e.cancel()
		return nil
	case <-ctx.Done():
		e.cancel()
		<-finished
		return ErrShutdownTimeout
	}
}

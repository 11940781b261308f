package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/payhook/payhook"
)

// ResumeStore is what a Resumer needs of the store.
type ResumeStore interface {
	Lead(ctx context.Context, name, owner string, until, now time.Time) (bool, error)
	ResumingEndpoints(ctx context.Context) ([]string, error)
	ReleaseHeld(ctx context.Context, url string, now time.Time, lease payhook.Lease, limit int) ([]*payhook.Notification, error)
}

// ResumeRole is the name of the role (Store.Lead) whose holder sends the held backlogs:
// one process at a time, so that the rate holds across processes.
const ResumeRole = "endpoint-resume"

// ResumerConfig configures a Resumer.
type ResumerConfig struct {
	Store  ResumeStore
	Engine *Engine
	// Health, when set, is told that a URL whose backlog is sent is not disabled (the
	// store said so), so that its released notifications are not held again on a stale
	// view.
	Health *Health
	// Settings returns the current settings (endpoint_resume_rate, timeout).
	Settings func(ctx context.Context) (payhook.Settings, error)
	Owner    string
	// Interval is how often the store is looked at for backlogs to send and the role is
	// renewed (default 1s).
	Interval time.Duration
	Clock    payhook.Clock
	Logger   *slog.Logger
}

// Resumer sends the held notifications of resumed URLs (those with held notifications
// that are not disabled), oldest first, one after the other per URL, at most
// endpoint_resume_rate a second per URL: each is released (made pending under this
// process's lease) and handed to the engine, and the next waits for its round to end
// (at most one attempt's timeout), so that they arrive in order while the merchant
// answers. A URL disabled again stops its backlog; what was released is delivered (or
// held again) by the engine like any pending notification.
type Resumer struct {
	cfg  ResumerConfig
	kick chan struct{}

	mu       sync.Mutex
	draining map[string]bool
	leading  bool
	wg       sync.WaitGroup
}

// NewResumer returns a Resumer; Run runs it.
func NewResumer(cfg ResumerConfig) *Resumer {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Resumer{cfg: cfg, kick: make(chan struct{}, 1), draining: map[string]bool{}}
}

// Kick asks for a look at the backlogs now (a resume was just recorded).
func (r *Resumer) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run looks for backlogs every Interval (or when kicked) while this process holds the
// role, until ctx ends; then it waits for its backlogs to stop.
func (r *Resumer) Run(ctx context.Context) {
	defer r.wg.Wait()
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		r.look(ctx)
		select {
		case <-t.C:
		case <-r.kick:
		case <-ctx.Done():
			return
		}
	}
}

func (r *Resumer) look(ctx context.Context) {
	now := r.cfg.Clock.Now()
	lead, err := r.cfg.Store.Lead(ctx, ResumeRole, r.cfg.Owner, now.Add(3*r.cfg.Interval), now)
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Warn("resume: take the role", "err", err)
		}
		lead = false
	}
	r.mu.Lock()
	r.leading = lead
	r.mu.Unlock()
	if !lead {
		return
	}
	urls, err := r.cfg.Store.ResumingEndpoints(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Warn("resume: list the backlogs", "err", err)
		}
		return
	}
	for _, url := range urls {
		r.mu.Lock()
		if r.draining[url] {
			r.mu.Unlock()
			continue
		}
		r.draining[url] = true
		r.wg.Add(1)
		r.mu.Unlock()
		go r.drain(ctx, url)
	}
}

func (r *Resumer) stillLeading() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leading
}

// drain sends url's backlog until none is left, url is disabled again, the role is lost
// or ctx ends.
func (r *Resumer) drain(ctx context.Context, url string) {
	defer func() {
		r.mu.Lock()
		delete(r.draining, url)
		r.mu.Unlock()
		r.wg.Done()
	}()
	log := r.cfg.Logger.With("url", url)
	log.Info("resume: sending the held notifications")
	sent := 0
	next := r.cfg.Clock.Now()
	for ctx.Err() == nil && r.stillLeading() {
		st, err := r.cfg.Settings(ctx)
		if err != nil {
			log.Warn("resume: load settings", "err", err)
			return
		}
		gap := st.ResumeInterval()
		batch := max(1, min(100, int(time.Second/max(gap, time.Microsecond))))
		now := r.cfg.Clock.Now()
		notes, err := r.cfg.Store.ReleaseHeld(ctx, url, now, r.cfg.Engine.lease(), batch)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("resume: release held notifications", "err", err)
			}
			return
		}
		if len(notes) == 0 {
			log.Info("resume: backlog sent", "sent", sent)
			return
		}
		if r.cfg.Health != nil {
			r.cfg.Health.Resumed(url)
		}
		for i, n := range notes {
			if wait := next.Sub(r.cfg.Clock.Now()); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
			}
			if ctx.Err() != nil || r.cfg.Engine.isStopped() {
				// Released but not handed over: given back, the sweeps (of any process)
				// deliver them.
				for _, left := range notes[i:] {
					r.cfg.Engine.release(left.ID)
				}
				return
			}
			next = r.cfg.Clock.Now().Add(gap)
			done := r.cfg.Engine.Deliver(n)
			select {
			case <-done:
			case <-time.After(st.TimeoutDuration() + time.Second):
			case <-ctx.Done():
			}
			sent++
		}
	}
}

func (e *Engine) isStopped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopped
}

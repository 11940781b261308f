package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payhook/payhook"
)

// Endpoint health (docs/endpoint-health.md): the engine's hook is two calls, one before
// an attempt (a disabled URL's notification is held instead) and one after (the outcome
// goes to the Health tracker). The store is the truth; Health keeps what it last read or
// wrote of each URL, so that an attempt costs no extra write unless it may change the
// URL's state (a first failure, a span crossed, a success after failures) or the URL was
// not written for Touch (its last success and failure times stay roughly current).

// HealthStore is what endpoint health needs of the store.
type HealthStore interface {
	ObserveEndpoint(ctx context.Context, url string, failed bool, at time.Time, p payhook.EndpointPolicy) (payhook.EndpointHealth, payhook.EndpointChange, error)
	UnhealthyEndpoints(ctx context.Context) ([]payhook.EndpointHealth, error)
	HoldNotification(ctx context.Context, id, owner string, now time.Time) error
}

// HealthConfig configures a Health tracker.
type HealthConfig struct {
	Store HealthStore
	// Settings returns the current settings (the spans of endpoint health).
	Settings func(ctx context.Context) (payhook.Settings, error)
	// OnChange, when set, is called (from Health's goroutine) once per change of a URL's
	// state that this process made in the store: emails and notices hang here.
	OnChange func(h payhook.EndpointHealth, change payhook.EndpointChange)
	// Refresh is how often the URLs that are not healthy are read again from the store,
	// so that a state another process set (or a resume) applies here, and the spans from
	// the settings (default 1s).
	Refresh time.Duration
	// Touch is how long an outcome that changes nothing may go unwritten (default 5s).
	Touch time.Duration
	// QueueSize bounds the outcomes waiting to be applied (default 10000); beyond it they
	// are dropped with a warning, never waited for.
	QueueSize int
	Clock     payhook.Clock
	Logger    *slog.Logger
}

// Health tracks the webhook URLs' health for the engine. Make one with NewHealth, set it
// as Config.Health, Start it, Close it after the engine's Shutdown.
type Health struct {
	cfg    HealthConfig
	events chan healthEvent
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	// disabled is the set of disabled URLs, read on every attempt without a lock and
	// replaced whole (under mu) when it changes, which is rare.
	disabled atomic.Pointer[map[string]bool]
	mu       sync.Mutex
	// resumed is when each URL was last resumed here: a refresh that read the store before
	// then does not disable it again.
	resumed map[string]time.Time

	known  map[string]knownHealth  // Health's goroutine only
	policy *payhook.EndpointPolicy // Health's goroutine only: read at each refresh
	// troubled are the URLs the last refresh found not healthy or in a streak of failures
	// (Health's goroutine only). A success to any other URL that is not known changes
	// nothing in the store and is not written: most URLs never fail, and a merchant may
	// give every transaction a URL of its own (a write per notification, a row per URL).
	troubled map[string]bool
}

type healthEvent struct {
	url    string
	failed bool
	at     time.Time
}

type knownHealth struct {
	h      payhook.EndpointHealth
	synced time.Time
}

// NewHealth returns a Health tracker; nothing runs until Start.
func NewHealth(cfg HealthConfig) *Health {
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	if cfg.Touch <= 0 {
		cfg.Touch = 5 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Health{cfg: cfg, events: make(chan healthEvent, cfg.QueueSize), stop: make(chan struct{}),
		done: make(chan struct{}), resumed: map[string]time.Time{}, known: map[string]knownHealth{}, troubled: map[string]bool{}}
	h.disabled.Store(&map[string]bool{})
	return h
}

// Start reads the disabled URLs and starts applying outcomes.
func (h *Health) Start() {
	h.refresh()
	go h.loop()
}

// Close applies the outcomes handed over so far and stops.
func (h *Health) Close() {
	h.once.Do(func() { close(h.stop) })
	<-h.done
}

// Disabled reports whether url is disabled (as this process last read or set it).
func (h *Health) Disabled(url string) bool {
	return (*h.disabled.Load())[url]
}

// setDisabled changes one URL in the disabled set; the caller holds mu.
func (h *Health) setDisabled(url string, on bool) {
	cur := *h.disabled.Load()
	if cur[url] == on {
		return
	}
	next := make(map[string]bool, len(cur)+1)
	for u := range cur {
		next[u] = true
	}
	if on {
		next[url] = true
	} else {
		delete(next, url)
	}
	h.disabled.Store(&next)
}

// Resumed tells Health that url was resumed in the store (or that the store released its
// held notifications, so it is not disabled): it is attempted again at once.
func (h *Health) Resumed(url string) {
	h.mu.Lock()
	h.setDisabled(url, false)
	h.resumed[url] = h.cfg.Clock.Now()
	h.mu.Unlock()
	h.Observe(url, false, time.Time{}) // forget what is known of it (see apply)
}

// Observe hands over an attempt's outcome (failed: no answer, or an answer other than
// 200/201), the attempt ending at at. It never blocks.
func (h *Health) Observe(url string, failed bool, at time.Time) {
	select {
	case h.events <- healthEvent{url: url, failed: failed, at: at}:
	default:
		healthDropped.Inc()
	}
}

func (h *Health) loop() {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case ev := <-h.events:
			h.apply(ev)
		case <-t.C:
			h.refresh()
		case <-h.stop:
			for {
				select {
				case ev := <-h.events:
					h.apply(ev)
				default:
					return
				}
			}
		}
	}
}

// loadPolicy reads the spans from the settings (at each refresh, not per outcome: the
// settings' own cache has a lock and a copy per call).
func (h *Health) loadPolicy(ctx context.Context) {
	st, err := h.cfg.Settings(ctx)
	if err != nil {
		h.cfg.Logger.Warn("endpoint health: load settings", "err", err)
		return
	}
	p := st.EndpointPolicy()
	h.policy = &p
}

// refresh reads the spans and the URLs that are not healthy: the disabled set follows
// the store.
func (h *Health) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.loadPolicy(ctx)
	start := h.cfg.Clock.Now()
	list, err := h.cfg.Store.UnhealthyEndpoints(ctx)
	if err != nil {
		h.cfg.Logger.Warn("endpoint health: read the unhealthy URLs", "err", err)
		return
	}
	disabled, troubled := map[string]bool{}, make(map[string]bool, len(list))
	for _, e := range list {
		troubled[e.URL] = true
		if e.State == payhook.EndpointDisabled {
			disabled[e.URL] = true
		}
	}
	h.troubled = troubled
	h.mu.Lock()
	for url, at := range h.resumed {
		switch {
		case at.After(start): // resumed since the read began: the read is stale for it
			delete(disabled, url)
		case start.Sub(at) > time.Minute:
			delete(h.resumed, url)
		}
	}
	h.disabled.Store(&disabled)
	h.mu.Unlock()
	now := h.cfg.Clock.Now()
	for url, k := range h.known { // what is known goes stale: the next outcome is written
		if now.Sub(k.synced) >= h.cfg.Touch {
			delete(h.known, url)
		}
	}
}

// apply writes an outcome to the store when it may change something there.
func (h *Health) apply(ev healthEvent) {
	if ev.at.IsZero() { // Resumed: forget
		delete(h.known, ev.url)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if h.policy == nil {
		if h.loadPolicy(ctx); h.policy == nil {
			return
		}
	}
	p := *h.policy
	now := h.cfg.Clock.Now()
	k, ok := h.known[ev.url]
	if !ok && !ev.failed && !h.troubled[ev.url] {
		// Healthy with no streak as of the last refresh (at most Refresh ago): a success
		// changes nothing. A streak another process began since is cleared by the next
		// success after the refresh that finds it.
		return
	}
	if ok && now.Sub(k.synced) < h.cfg.Touch {
		if next, change := k.h.Observe(ev.failed, ev.at, p); change == "" &&
			next.FirstFailureAt.Equal(k.h.FirstFailureAt) && next.State == k.h.State {
			return // nothing to change in the store
		}
	}
	stored, change, err := h.cfg.Store.ObserveEndpoint(ctx, ev.url, ev.failed, ev.at, p)
	if err != nil {
		h.cfg.Logger.Warn("endpoint health: record an outcome", "url", ev.url, "err", err)
		delete(h.known, ev.url)
		return
	}
	healthWrites.Inc()
	h.known[ev.url] = knownHealth{h: stored, synced: now}
	if stored.State != payhook.EndpointHealthy || !stored.FirstFailureAt.IsZero() {
		h.troubled[ev.url] = true
	} else {
		delete(h.troubled, ev.url)
	}
	h.mu.Lock()
	h.setDisabled(ev.url, stored.State == payhook.EndpointDisabled)
	h.mu.Unlock()
	if change != "" {
		endpointChanges.WithLabelValues(string(change)).Inc()
		h.cfg.Logger.Warn("endpoint health changed", "url", ev.url, "change", change, "first_failure_at", stored.FirstFailureAt)
		if h.cfg.OnChange != nil {
			h.cfg.OnChange(stored, change)
		}
	}
}

// holdIfDisabled holds n instead of attempting it when its URL is disabled (see
// holdable), and reports whether it did; res is then held. A notification whose
// lease was lost is left to its new owner.
func (e *Engine) holdIfDisabled(n *payhook.Notification, res *Result) bool {
	h := e.cfg.Health
	if h == nil || !holdable(n) || !h.Disabled(n.URL) {
		return false
	}
	err := h.cfg.Store.HoldNotification(e.ctx, n.ID, e.cfg.Owner, e.cfg.Clock.Now())
	switch {
	case err == nil:
		heldTotal.Inc()
		*res = Result{Status: payhook.StatusHeld}
		e.cfg.Logger.Debug("notification held: its URL is disabled", "notification", n.ID, "url", n.URL)
	case errors.Is(err, payhook.ErrLeaseLost):
	default:
		e.cfg.Logger.Error("hold notification", "notification", n.ID, "err", err)
		e.release(n.ID)
	}
	return true
}

// testReference is the reference_number of a test notification (service.TestOrderNo).
const testReference = "payhook-test"

// holdable reports whether n is held while its URL is disabled: operator notices never
// are (they tell of the disabling), nor test notifications (someone asked for them, often
// to see whether the merchant is back: a success clears the URL's state).
func holdable(n *payhook.Notification) bool {
	return n.Kind != payhook.KindNotice && n.ReferenceNumber != testReference
}

// observeHealth hands an attempt's outcome to the Health tracker (notices' attempts do
// not count: a notice about a URL never changes its health).
func (e *Engine) observeHealth(n *payhook.Notification, a payhook.Attempt) {
	if h := e.cfg.Health; h != nil && n.Kind != payhook.KindNotice {
		h.Observe(n.URL, !(payhook.AttemptOutcome{StatusCode: a.StatusCode}).Delivered(), a.StartedAt.Add(a.Duration))
	}
}

var (
	heldTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "payhook_notifications_held_total",
		Help: "Notifications held instead of attempted because their URL was disabled (this process).",
	})
	healthWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "payhook_endpoint_health_writes_total",
		Help: "Attempt outcomes written to the store's endpoint health (the others changed nothing).",
	})
	healthDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "payhook_endpoint_health_dropped_total",
		Help: "Attempt outcomes not applied to endpoint health because its queue was full.",
	})
	endpointChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "payhook_endpoint_changes_total",
		Help: "Changes of a URL's health made by this process, by change (endpoint.failing, endpoint.disabled, endpoint.recovered).",
	}, []string{"change"})
)

// HealthStatsStore is what the endpoint health collector reads.
type HealthStatsStore interface {
	ListEndpointHealth(ctx context.Context) ([]payhook.EndpointHealth, error)
}

// HealthCollectors returns the endpoint health metrics: this process's counters, and at
// each scrape the store's URLs by state (payhook_endpoints) and the held notifications
// (payhook_held_notifications), for every process sharing the database.
func HealthCollectors(st HealthStatsStore) []prometheus.Collector {
	return []prometheus.Collector{heldTotal, healthWrites, healthDropped, endpointChanges, &healthCollector{st: st}}
}

type healthCollector struct{ st HealthStatsStore }

var (
	endpointsDesc = prometheus.NewDesc("payhook_endpoints", "Webhook URLs by health state (all processes).", []string{"state"}, nil)
	heldDesc      = prometheus.NewDesc("payhook_held_notifications", "Notifications held for disabled or resuming URLs (all processes).", nil, nil)
)

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- endpointsDesc
	ch <- heldDesc
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := c.st.ListEndpointHealth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(endpointsDesc, err)
		return
	}
	byState := map[payhook.EndpointState]int{payhook.EndpointHealthy: 0, payhook.EndpointFailing: 0, payhook.EndpointDisabled: 0}
	held := 0
	for _, e := range list {
		byState[e.State]++
		held += e.Held
	}
	for state, n := range byState {
		ch <- prometheus.MustNewConstMetric(endpointsDesc, prometheus.GaugeValue, float64(n), string(state))
	}
	ch <- prometheus.MustNewConstMetric(heldDesc, prometheus.GaugeValue, float64(held))
}

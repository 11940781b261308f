package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/signature"
	"github.com/payhook/payhook/sqlite"
)

// harness is an engine on a real SQLite file, with settings the test can change.
type harness struct {
	t      *testing.T
	store  *sqlite.Store
	engine *delivery.Engine

	mu       sync.Mutex
	settings payhook.Settings
	finished []payhook.Status
}

type harnessOptions struct {
	denyPrivate    bool
	perDestination int
	noStart        bool
	path           string // reuse a database file
	settings       func(*payhook.Settings)
	onFinished     func(n *payhook.Notification, st payhook.Status) // besides h.finished
	jitter         func(time.Duration) time.Duration
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "payhook.db")
	}
	store, err := sqlite.Open(context.Background(), o.path)
	require.NoError(t, err)
	h := &harness{t: t, store: store, settings: testSettings()}
	if o.settings != nil {
		o.settings(&h.settings)
	}
	h.engine = delivery.New(delivery.Config{
		Store:          store,
		Settings:       func(context.Context) (payhook.Settings, error) { return h.currentSettings(), nil },
		Sender:         delivery.NewSender(!o.denyPrivate, nil),
		Owner:          "engine-test",
		PerDestination: o.perDestination,
		SweepInterval:  50 * time.Millisecond,
		Jitter:         o.jitter,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnFinished: func(n *payhook.Notification, st payhook.Status, _ payhook.Attempt) {
			h.mu.Lock()
			h.finished = append(h.finished, st)
			h.mu.Unlock()
			if o.onFinished != nil {
				o.onFinished(n, st)
			}
		},
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.engine.Shutdown(ctx)
		store.Close()
	})
	if !o.noStart {
		h.engine.Start()
	}
	return h
}

func (h *harness) currentSettings() payhook.Settings {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.settings
}

// save stores a paid transaction with one pending notification to url, leased to the
// engine (as the service does before handing it over), and returns it.
func (h *harness) save(url string) *payhook.Notification {
	h.t.Helper()
	return h.storeWithLease(url, h.engine.Lease(h.currentSettings()))
}

func (h *harness) storeWithLease(url string, lease payhook.Lease) *payhook.Notification {
	h.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	txn := &payhook.Transaction{SessionID: payhook.NewSessionID(), ReferenceNumber: payhook.NewReferenceNumber(),
		Type: payhook.PluginECommerce, Origin: payhook.OriginAPI, State: payhook.StateCreated, Amount: 86000,
		Currency: "KWD", PGCodes: []string{"credit-card"}, WebhookURL: url, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(time.Hour)}
	require.NoError(h.t, h.store.CreateTransaction(ctx, txn))
	n := &payhook.Notification{ID: payhook.NewNotificationID(), Kind: payhook.KindPayment, SessionID: txn.SessionID,
		ReferenceNumber: txn.ReferenceNumber, URL: url, Status: payhook.StatusPending, RedirectDecider: true,
		CreatedAt: now, UpdatedAt: now, Body: []byte(`{"reference_number":"` + txn.ReferenceNumber + `","state":"paid"}`),
		ContentType: "application/json", NextAttemptAt: now}
	txn.State = payhook.StatePaid
	require.NoError(h.t, h.store.ApplyChange(ctx, payhook.Change{Transaction: txn, From: []payhook.State{payhook.StateCreated},
		Notifications: []*payhook.Notification{n}, Lease: lease}))
	return n
}

func (h *harness) deliver(url string) (*payhook.Notification, delivery.Result) {
	h.t.Helper()
	n := h.save(url)
	select {
	case r := <-h.engine.Deliver(n):
		return n, r
	case <-time.After(10 * time.Second):
		h.t.Fatalf("Deliver %s: no result after 10s", url)
		return nil, delivery.Result{}
	}
}

func (h *harness) notification(id string) *payhook.Notification {
	h.t.Helper()
	n, err := h.store.Notification(context.Background(), id)
	require.NoError(h.t, err)
	return n
}

// waitStatus waits until the stored notification has the status.
func (h *harness) waitStatus(id string, want payhook.Status, timeout time.Duration) *payhook.Notification {
	h.t.Helper()
	var n *payhook.Notification
	eventually(h.t, timeout, func() bool { n = h.notification(id); return n.Status == want },
		fmt.Sprintf("notification %s to become %s", id, want))
	return n
}

func errorsOf(n *payhook.Notification) []string {
	out := make([]string, len(n.Attempts))
	for i, a := range n.Attempts {
		if a.Error != "" {
			out[i] = a.Error
		} else {
			out[i] = fmt.Sprint(a.StatusCode)
		}
	}
	return out
}

func TestEngine_DeliverReturnsTheFinalResult(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	tests := []struct {
		name   string
		code   int
		status payhook.Status
	}{
		{"200 delivered", 200, payhook.StatusDelivered},
		{"201 delivered", 201, payhook.StatusDelivered},
		{"202 failed", 202, payhook.StatusFailed},
		{"404 failed", 404, payhook.StatusFailed},
		{"500 failed, not retried", 500, payhook.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.code)
				io.WriteString(w, "answer")
			})
			n, res := h.deliver(rc.URL)
			require.Equal(t, delivery.Result{Status: tt.status, StatusCode: tt.code}, res)
			got := h.notification(n.ID)
			require.Equal(t, tt.status, got.Status)
			require.Len(t, got.Attempts, 1, "an answer is never retried")
			require.Equal(t, tt.code, got.Attempts[0].StatusCode)
			require.Equal(t, "answer", got.Attempts[0].ResponseExcerpt)
			require.Len(t, rc.Requests(), 1)
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Len(t, h.finished, len(tests), "OnFinished once per round")
}

// TestEngine_DocumentsScenario replays SPEC §4 scaled down: the merchant hangs through the
// first attempt and answers the second; delivered after 2 attempts, no third, the same
// webhook-id on both.
func TestEngine_DocumentsScenario(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) { s.Timeout, s.BackoffFactor = 0.3, 0.1 }})
	release := make(chan struct{})
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if i == 0 {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		time.Sleep(50 * time.Millisecond) // "answered at 30 s"
		w.WriteHeader(http.StatusOK)
	})
	t.Cleanup(func() { close(release) })
	start := time.Now()
	n, res := h.deliver(rc.URL)
	elapsed := time.Since(start)
	require.Equal(t, delivery.Result{Status: payhook.StatusDelivered, StatusCode: 200}, res)
	got := h.notification(n.ID)
	require.Equal(t, []string{"timeout after 0.3s", "200"}, errorsOf(got))
	require.Equal(t, []int{1, 2}, []int{got.Attempts[0].Number, got.Attempts[1].Number})
	gap := got.Attempts[1].StartedAt.Sub(got.Attempts[0].StartedAt)
	require.GreaterOrEqual(t, gap, 400*time.Millisecond, "timeout + backoff between the starts")
	require.GreaterOrEqual(t, elapsed, 450*time.Millisecond)
	reqs := rc.Requests()
	require.Len(t, reqs, 2, "no third attempt")
	require.Equal(t, n.ID, reqs[0].Header.Get("webhook-id"))
	require.Equal(t, n.ID, reqs[1].Header.Get("webhook-id"))
}

func TestEngine_NoAnswerRetriedUntilMaxAttempts(t *testing.T) {
	t.Parallel()
	reset, resetHits := resettingServer(t, true)
	tests := []struct {
		name     string
		url      string
		settings func(*payhook.Settings)
		want     []string
	}{
		{"refused, 3 attempts", closedURL(t), nil,
			[]string{"connection refused", "connection refused", "connection refused"}},
		{"refused, retry off", closedURL(t), func(s *payhook.Settings) { s.RetryEnabled = false },
			[]string{"connection refused"}},
		{"refused, 5 attempts", closedURL(t), func(s *payhook.Settings) { s.Retries = 5; s.BackoffFactor = 0 },
			[]string{"connection refused", "connection refused", "connection refused", "connection refused", "connection refused"}},
		{"reset, 3 attempts", reset.URL + "/webhook", nil,
			[]string{"connection reset", "connection reset", "connection reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{settings: tt.settings})
			n, res := h.deliver(tt.url)
			require.Equal(t, delivery.Result{Status: payhook.StatusFailed}, res)
			got := h.notification(n.ID)
			require.Equal(t, payhook.StatusFailed, got.Status)
			require.Equal(t, tt.want, errorsOf(got))
			for i := 1; i < len(got.Attempts); i++ {
				require.GreaterOrEqual(t, got.Attempts[i].StartedAt.Sub(got.Attempts[i-1].StartedAt), h.settings.Backoff())
			}
		})
	}
	require.EqualValues(t, 3, resetHits.Load())
}

func TestEngine_FailuresThatAreNotRetried(t *testing.T) {
	t.Parallel()
	t.Run("private address refused", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{denyPrivate: true})
		rc := newReceiver(t, nil)
		n, res := h.deliver(rc.URL)
		require.Equal(t, delivery.Result{Status: payhook.StatusFailed}, res)
		require.Equal(t, []string{"private address refused"}, errorsOf(h.notification(n.ID)))
		require.Empty(t, rc.Requests())
	})
	t.Run("redirect", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{})
		target := newReceiver(t, nil)
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL, http.StatusMovedPermanently)
		})
		n, res := h.deliver(rc.URL)
		require.Equal(t, delivery.Result{Status: payhook.StatusFailed, StatusCode: 301}, res)
		require.Equal(t, []string{"301"}, errorsOf(h.notification(n.ID)))
		require.Empty(t, target.Requests())
	})
	t.Run("ignore_ssl off against a self-signed certificate", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) { s.IgnoreSSL, s.Timeout = false, 5 }})
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		t.Cleanup(srv.Close)
		n, res := h.deliver(srv.URL + "/webhook")
		require.Equal(t, delivery.Result{Status: payhook.StatusFailed}, res)
		got := h.notification(n.ID)
		require.Len(t, got.Attempts, 1, "not retried")
		require.Contains(t, got.Attempts[0].Error, "TLS")
	})
	t.Run("ignore_ssl on against a self-signed certificate", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) { s.IgnoreSSL, s.Timeout = true, 5 }})
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		t.Cleanup(srv.Close)
		n, res := h.deliver(srv.URL + "/webhook")
		require.Equal(t, delivery.Result{Status: payhook.StatusDelivered, StatusCode: 200}, res)
		require.Equal(t, []string{"200"}, errorsOf(h.notification(n.ID)))
	})
}

func TestEngine_StandardWebhooksOnEveryAttempt(t *testing.T) {
	t.Parallel()
	secret, err := signature.NewStandardWebhooksSecret()
	require.NoError(t, err)
	h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) {
		s.StandardWebhooks, s.StandardWebhooksSecret, s.BackoffFactor = true, secret, 0
	}})
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if i == 0 {
			c, _, _ := w.(http.Hijacker).Hijack() // closed without an answer: retried
			c.Close()
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	n, res := h.deliver(rc.URL)
	require.Equal(t, payhook.StatusDelivered, res.Status)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	reqs := rc.Requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		require.Equal(t, n.ID, r.Header.Get("webhook-id"))
		require.NoError(t, wh.Verify(r.Body, r.Header))
		require.Equal(t, n.Body, r.Body)
	}
}

// TestEngine_SlowDestinationDoesNotDelayOthers: one URL hangs with 200 notifications,
// another answers; all of the answering URL's are delivered long before the hanging ones
// time out.
func TestEngine_SlowDestinationDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	const timeout = 10 * time.Second
	const perDestination = 64 // the default
	h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) { s.Timeout = timeout.Seconds() }})
	slow := hangingReceiver(t)
	fast := newReceiver(t, nil)
	const n = 200
	// Everything is stored first, so that only delivery is timed.
	var slowNotes, fastNotes []*payhook.Notification
	for range n {
		slowNotes = append(slowNotes, h.save(slow.URL))
		fastNotes = append(fastNotes, h.save(fast.URL))
	}
	for _, s := range slowNotes {
		h.engine.Enqueue(s)
	}
	slow.Wait(t, perDestination, 5*time.Second) // the hanging URL holds all its slots
	start := time.Now()
	for _, f := range fastNotes {
		h.engine.Enqueue(f)
	}
	fast.Wait(t, n, timeout/3)
	elapsed := time.Since(start)
	require.Less(t, elapsed, timeout/3, "the answering URL never waited behind the hanging one")
	require.Len(t, fast.Requests(), n)

	// Meanwhile the hanging URL's notifications are all still waiting for an answer: none
	// has timed out yet, and none was let past the per-destination limit.
	list, total, err := h.store.ListNotifications(context.Background(), payhook.NotificationFilter{URL: slow.URL, Limit: n})
	require.NoError(t, err)
	require.Equal(t, n, total)
	for _, s := range list {
		require.Equal(t, payhook.StatusPending, s.Status)
		require.Empty(t, s.Attempts)
	}
	require.Len(t, slow.Requests(), perDestination, "per-URL limit")
	t.Logf("%d notifications to the answering URL delivered in %v beside %d hanging ones", n, elapsed, n)
}

// TestEngine_SweepDeliversLeftoverRows: a pending notification left in the database (no
// lease, no hand-off: as after a crash) is delivered by a newly started engine.
func TestEngine_SweepDeliversLeftoverRows(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{noStart: true})
	rc := newReceiver(t, nil)
	n := h.storeWithLease(rc.URL, payhook.Lease{})
	leased := h.storeWithLease(rc.URL, payhook.Lease{Owner: "someone-else", Until: time.Now().Add(time.Hour)})
	time.Sleep(100 * time.Millisecond)
	require.Empty(t, rc.Requests(), "nothing is sent before Start")
	h.engine.Start()
	got := h.waitStatus(n.ID, payhook.StatusDelivered, 5*time.Second)
	require.Len(t, got.Attempts, 1)
	reqs := rc.Requests()
	require.Len(t, reqs, 1, "a row leased by another process is left alone")
	require.Equal(t, n.ID, reqs[0].Header.Get("webhook-id"))
	require.Equal(t, n.Body, reqs[0].Body)
	require.Equal(t, payhook.StatusPending, h.notification(leased.ID).Status)
}

// TestEngine_SweepResumesAfterRestart: the first engine records a failed attempt and is
// stopped while it waits to retry; a new process on the same file delivers it.
func TestEngine_SweepResumesAfterRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "payhook.db")
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if i == 0 {
			c, _, _ := w.(http.Hijacker).Hijack() // closed without an answer
			c.Close()
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// The first process waits 1 s before its retry: long enough to be stopped first.
	first := newHarness(t, harnessOptions{path: path, settings: func(s *payhook.Settings) { s.BackoffFactor = 1 }})
	n := first.save(rc.URL)
	first.engine.Deliver(n)
	first.waitStatus(n.ID, payhook.StatusPending, 5*time.Second)
	eventually(t, 5*time.Second, func() bool { return len(first.notification(n.ID).Attempts) == 1 }, "first attempt recorded")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, first.engine.Shutdown(ctx))
	require.Len(t, first.notification(n.ID).Attempts, 1, "stopped before its retry")
	require.NoError(t, first.store.Close())

	second := newHarness(t, harnessOptions{path: path})
	got := second.waitStatus(n.ID, payhook.StatusDelivered, 5*time.Second)
	require.Equal(t, []string{"connection reset", "200"}, errorsOf(got))
	require.Equal(t, 2, got.RoundAttempts, "the retry counts in the same round")
	reqs := rc.Requests()
	require.Len(t, reqs, 2)
	require.Equal(t, reqs[0].Header.Get("webhook-id"), reqs[1].Header.Get("webhook-id"))
}

// TestEngine_ShutdownHandsBackWaitingRetries: a notification waiting for its next attempt
// is handed back to the database at Shutdown (still pending, not leased), at once.
func TestEngine_ShutdownHandsBackWaitingRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) { s.BackoffFactor = 30 }})
	n := h.save(closedURL(t))
	res := h.engine.Deliver(n)
	eventually(t, 5*time.Second, func() bool { return len(h.notification(n.ID).Attempts) == 1 }, "first attempt recorded")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, h.engine.Shutdown(ctx))
	require.Less(t, time.Since(start), 2*time.Second, "Shutdown does not wait out the backoff")
	require.Equal(t, delivery.Result{Status: payhook.StatusPending}, <-res)

	got := h.notification(n.ID)
	require.Equal(t, payhook.StatusPending, got.Status)
	require.Equal(t, 1, got.RoundAttempts)
	// Released: another process claims it as soon as it is due, not a lease later.
	claimed, err := h.store.ClaimDue(context.Background(), got.NextAttemptAt.Add(time.Millisecond),
		payhook.Lease{Owner: "next-process", Until: time.Now().Add(time.Hour)}, 10)
	require.NoError(t, err)
	require.Equal(t, []string{n.ID}, ids(claimed))

	// A stopped engine takes nothing new.
	r := <-h.engine.Deliver(h.save(closedURL(t)))
	require.Equal(t, payhook.StatusPending, r.Status)
}

// TestEngine_ShutdownLetsAttemptsInFlightFinish: an attempt under way when Shutdown
// starts is answered and recorded.
func TestEngine_ShutdownLetsAttemptsInFlightFinish(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) { s.Timeout = 5 }})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusCreated)
	})
	n := h.save(rc.URL)
	res := h.engine.Deliver(n)
	rc.Wait(t, 1, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.engine.Shutdown(ctx))
	require.Equal(t, delivery.Result{Status: payhook.StatusDelivered, StatusCode: 201}, <-res)
	got := h.notification(n.ID)
	require.Equal(t, payhook.StatusDelivered, got.Status)
	require.Len(t, got.Attempts, 1)
}

// TestEngine_ShutdownDeadlineCancelsAndHandsBack: an attempt still hanging at the
// deadline is canceled, not counted, and handed back.
func TestEngine_ShutdownDeadlineCancelsAndHandsBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) { s.Timeout = 10 }})
	rc := hangingReceiver(t)
	n := h.save(rc.URL)
	res := h.engine.Deliver(n)
	rc.Wait(t, 1, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := h.engine.Shutdown(ctx)
	require.True(t, errors.Is(err, delivery.ErrShutdownTimeout), "%v", err)
	require.Equal(t, payhook.StatusPending, (<-res).Status)
	got := h.notification(n.ID)
	require.Equal(t, payhook.StatusPending, got.Status)
	require.Empty(t, got.Attempts, "a canceled attempt does not count")
	claimed, err := h.store.ClaimDue(context.Background(), time.Now(), payhook.Lease{Owner: "next", Until: time.Now().Add(time.Hour)}, 10)
	require.NoError(t, err)
	require.Equal(t, []string{n.ID}, ids(claimed))
}

// TestEngine_DeliverOnceInMemory: the same notification handed over twice (Deliver and a
// sweep racing) is attempted once.
func TestEngine_DeliverOnceInMemory(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	var calls atomic.Int32
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		time.Sleep(100 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	n := h.save(rc.URL)
	first := h.engine.Deliver(n)
	second := h.engine.Deliver(n)
	require.Equal(t, payhook.StatusPending, (<-second).Status, "already in flight: not started twice")
	require.Equal(t, payhook.StatusDelivered, (<-first).Status)
	require.EqualValues(t, 1, calls.Load())
}

func ids(ns []*payhook.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

// TestEngine_CustomerWaitNeverQueuesBehindBackground: a URL's slots are all held by
// background attempts that hang; a payment notification a customer waits on (Deliver) to
// that same URL is attempted at once, not after them.
func TestEngine_CustomerWaitNeverQueuesBehindBackground(t *testing.T) {
	t.Parallel()
	const perDestination = 64 // the default
	release := make(chan struct{})
	rc := newReceiver(t, func(i int, w http.ResponseWriter, r *http.Request) {
		if i < perDestination { // the background ones hang
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t, harnessOptions{settings: func(s *payhook.Settings) { s.Timeout = 10 }})
	t.Cleanup(func() { close(release) }) // before the harness stops the engine
	for range perDestination + 36 {
		h.engine.Enqueue(h.save(rc.URL))
	}
	rc.Wait(t, perDestination, 5*time.Second)
	select {
	case r := <-h.engine.Deliver(h.save(rc.URL)):
		require.Equal(t, payhook.StatusDelivered, r.Status)
	case <-time.After(3 * time.Second):
		t.Fatal("the notification a customer waits on queued behind background attempts")
	}
}

package delivery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/merchant"
)

// extendedSettings turns extended redelivery on with a scaled-down schedule: Ottu's round
// is 2 attempts 50 ms apart, then attempts after 0.2 s and 0.4 s steps.
func extendedSettings(schedule ...float64) func(*payhook.Settings) {
	return func(s *payhook.Settings) {
		s.Retries, s.BackoffFactor, s.Timeout = 2, 0.05, 1
		s.ExtendedRedelivery, s.ExtendedSchedule = true, schedule
	}
}

type sentBody struct {
	Note    string `json:"note"`
	Session string `json:"session"`
	Seq     int    `json:"seq"`
}

// addSession stores a transaction with a payment notification (seq 0, deciding the
// redirect) and ops operation notifications (seq 1…), each created a millisecond after
// the one before, to url, leased to the engine; extended sets their Extended flag.
func (h *harness) addSession(url string, ops int, extended bool) []*payhook.Notification {
	h.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	txn := &payhook.Transaction{SessionID: payhook.NewSessionID(), ReferenceNumber: payhook.NewReferenceNumber(),
		Type: payhook.PluginECommerce, Origin: payhook.OriginAPI, State: payhook.StatePaid, Amount: 86000,
		Currency: "KWD", PGCodes: []string{"credit-card"}, WebhookURL: url, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(time.Hour)}
	require.NoError(h.t, h.store.CreateTransaction(ctx, txn))
	notes := make([]*payhook.Notification, ops+1)
	for i := range notes {
		id := payhook.NewNotificationID()
		at := now.Add(time.Duration(i) * time.Millisecond)
		body, err := json.Marshal(sentBody{Note: id, Session: txn.SessionID, Seq: i})
		require.NoError(h.t, err)
		n := &payhook.Notification{ID: id, Kind: payhook.KindOperation, SessionID: txn.SessionID,
			ReferenceNumber: txn.ReferenceNumber, URL: url, Status: payhook.StatusPending, CreatedAt: at, UpdatedAt: at,
			Body: body, ContentType: "application/json", NextAttemptAt: at, Extended: extended}
		if i == 0 {
			n.Kind, n.RedirectDecider = payhook.KindPayment, true
		}
		notes[i] = n
	}
	require.NoError(h.t, h.store.AddNotifications(ctx, notes, h.engine.Lease(h.currentSettings())))
	return notes
}

// outageReceiver answers 503 while down, else 200, and logs the notifications it
// accepted, in arrival order.
type outageReceiver struct {
	down     atomic.Bool
	mu       sync.Mutex
	accepted []sentBody
	tries    map[string]int
	url      string
}

func newOutageReceiver(t *testing.T) *outageReceiver {
	o := &outageReceiver{tries: map[string]int{}}
	var rc *merchant.Receiver
	rc = newReceiver(t, func(i int, w http.ResponseWriter, _ *http.Request) {
		var b sentBody
		_ = json.Unmarshal(rc.Requests()[i].Body, &b)
		o.mu.Lock()
		defer o.mu.Unlock()
		o.tries[b.Note]++
		if o.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		o.accepted = append(o.accepted, b)
		w.WriteHeader(http.StatusOK)
	})
	o.url = rc.URL
	return o
}

func (o *outageReceiver) acceptedLog() []sentBody {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.accepted)
}

// A merchant down for longer than Ottu's attempts, then back: with extended redelivery
// every notification is delivered once it is back, exactly once, in the order of the
// events per transaction (the payment before its operations), and the error email hook
// fired once per notification, when Ottu's round ended, with the schedule's end.
func TestEngine_ExtendedRedelivery_OutlastsAnOutageInOrder(t *testing.T) {
	t.Parallel()
	rc := newOutageReceiver(t)
	rc.down.Store(true)
	var mu sync.Mutex
	var failedRounds []*payhook.Redelivery
	var statuses []payhook.Status
	schedule := []float64{0.2} // then 0.3 s steps: long enough for a loaded machine
	for len(schedule) < payhook.MaxExtendedSteps {
		schedule = append(schedule, 0.3)
	}
	h := newHarness(t, harnessOptions{settings: extendedSettings(schedule...),
		onFinished: func(n *payhook.Notification, st payhook.Status) {
			mu.Lock()
			defer mu.Unlock()
			statuses = append(statuses, st)
			failedRounds = append(failedRounds, n.Redelivery)
		}})

	const sessions, ops = 4, 3
	var all []*payhook.Notification
	for range sessions {
		notes := h.addSession(rc.url, ops, true)
		all = append(all, notes...)
		for i := len(notes) - 1; i >= 0; i-- { // handed over newest first: order is the store's doing
			h.engine.Enqueue(notes[i])
		}
	}
	// Ottu's round of each ends failed; each moves to extended redelivery.
	for _, n := range all {
		got := h.waitStatus(n.ID, payhook.StatusFailed, 5*time.Second)
		eventually(t, 5*time.Second, func() bool { got = h.notification(n.ID); return got.Redelivery != nil },
			"in extended redelivery")
	}
	time.Sleep(300 * time.Millisecond) // longer than Ottu's round: still down
	rc.down.Store(false)

	deadline := time.Now().Add(10 * time.Second)
	for _, n := range all {
		for h.notification(n.ID).Status != payhook.StatusDelivered && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := h.notification(n.ID); got.Status != payhook.StatusDelivered {
			for _, m := range all {
				m = h.notification(m.ID)
				t.Logf("%s %s %s redelivery=%+v next=%s attempts=%d", m.SessionID, m.ID, m.Status, m.Redelivery, m.NextAttemptAt.Format("15:04:05.000"), len(m.Attempts))
			}
			t.Fatalf("notification %s not delivered: %s (now %s)", n.ID, got.Status, time.Now().Format("15:04:05.000"))
		}
	}
	log := rc.acceptedLog()
	require.Len(t, log, len(all), "each delivered exactly once")
	last := map[string]int{}
	for _, b := range log {
		prev, seen := last[b.Session]
		if seen {
			require.Greater(t, b.Seq, prev, "session %s: notification %d arrived after %d", b.Session, b.Seq, prev)
		} else {
			require.Zero(t, b.Seq, "session %s: the payment notification arrives first", b.Session)
		}
		last[b.Session] = b.Seq
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, failedRounds, len(all), "one end of Ottu's round per notification, none for extended attempts")
	for _, st := range statuses {
		require.Equal(t, payhook.StatusFailed, st)
	}
	for _, r := range failedRounds {
		require.NotNil(t, r, "the failure tells the schedule")
		require.True(t, r.EndsAt.After(r.NextAttemptAt) || r.EndsAt.Equal(r.NextAttemptAt))
	}
}

// Within Ottu's round the order holds too: the operations of a transaction are not sent
// while its payment notification is still being attempted (here, a slow answer).
func TestEngine_OrderPerTransaction_NewerWaitsForTheOlderRound(t *testing.T) {
	t.Parallel()
	var rc *merchant.Receiver
	var answered atomic.Int64 // when the payment's answer went out (unix nanos)
	rc = newReceiver(t, func(i int, w http.ResponseWriter, _ *http.Request) {
		var b sentBody
		_ = json.Unmarshal(rc.Requests()[i].Body, &b)
		if b.Seq == 0 {
			time.Sleep(300 * time.Millisecond)
			answered.Store(time.Now().UnixNano())
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t, harnessOptions{})
	notes := h.addSession(rc.URL, 3, false)
	for i := len(notes) - 1; i >= 0; i-- {
		h.engine.Enqueue(notes[i])
	}
	for _, n := range notes {
		h.waitStatus(n.ID, payhook.StatusDelivered, 5*time.Second)
	}
	reqs := rc.Requests()
	require.Len(t, reqs, len(notes))
	var first sentBody
	require.NoError(t, json.Unmarshal(reqs[0].Body, &first))
	require.Zero(t, first.Seq, "the payment notification first")
	for _, r := range reqs[1:] {
		require.False(t, r.At.UnixNano() < answered.Load(), "an operation arrived before the payment's round ended")
	}
}

// A 4xx (or 3xx) after Ottu's round is final: extended redelivery does not go on.
func TestEngine_ExtendedRedelivery_4xxIsFinal(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	rc := newReceiver(t, func(i int, w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		if i == 0 {
			w.WriteHeader(http.StatusBadGateway) // Ottu's round: a 502 fails it at once
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	h := newHarness(t, harnessOptions{settings: extendedSettings(0.1, 0.1, 0.1)})
	n := h.addSession(rc.URL, 0, true)[0]
	h.engine.Enqueue(n)
	eventually(t, 5*time.Second, func() bool { return calls.Load() >= 2 }, "the first extended attempt")
	eventually(t, 5*time.Second, func() bool { got := h.notification(n.ID); return got.Redelivery == nil && len(got.Attempts) == 2 },
		"the 404 recorded")
	time.Sleep(400 * time.Millisecond) // the rest of the schedule
	got := h.notification(n.ID)
	require.Equal(t, payhook.StatusFailed, got.Status)
	require.Nil(t, got.Redelivery, "the schedule stopped")
	require.Len(t, got.Attempts, 2)
	require.EqualValues(t, 2, calls.Load())
}

// Off by default: a notification created without extended redelivery fails after Ottu's
// round, as today, and is never tried again.
func TestEngine_ExtendedRedelivery_OffByDefault(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	h := newHarness(t, harnessOptions{})
	require.False(t, h.currentSettings().ExtendedRedelivery)
	n := h.addSession(rc.URL, 0, false)[0]
	h.engine.Enqueue(n)
	got := h.waitStatus(n.ID, payhook.StatusFailed, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	got = h.notification(n.ID)
	require.Nil(t, got.Redelivery)
	require.Len(t, got.Attempts, 1, "a 503 fails at once under Ottu's rules")
	require.EqualValues(t, 1, calls.Load())
}

// A Retry-After sent with a 429 is honoured: the next extended attempt waits for it
// (here 1 s instead of the schedule's 0.1 s; never less than half the step).
func TestEngine_ExtendedRedelivery_HonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var times []time.Time
	var mu sync.Mutex
	rc := newReceiver(t, func(i int, w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if i < 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t, harnessOptions{settings: extendedSettings(0.1, 0.1, 0.1), jitter: func(d time.Duration) time.Duration { return d }})
	n := h.addSession(rc.URL, 0, true)[0]
	h.engine.Enqueue(n)
	got := h.waitStatus(n.ID, payhook.StatusDelivered, 5*time.Second)
	require.Len(t, got.Attempts, 3)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, times[1].Sub(times[0]), 900*time.Millisecond, "Retry-After: 1 on the round's 429")
	require.GreaterOrEqual(t, times[2].Sub(times[1]), 900*time.Millisecond, "Retry-After: 1 on the extended 429")
}

// Extended redelivery lives in the store: a process that stops while it runs (the store
// closed and reopened, another engine) goes on with it, and a manual re-send stops it.
func TestEngine_ExtendedRedelivery_SurvivesARestart(t *testing.T) {
	t.Parallel()
	rc := newOutageReceiver(t)
	rc.down.Store(true)
	path := t.TempDir() + "/payhook.db"
	first := newHarness(t, harnessOptions{path: path, settings: extendedSettings(0.3, 0.3, 0.3, 0.3, 0.3, 0.3)})
	notes := first.addSession(rc.url, 1, true)
	for _, n := range notes {
		first.engine.Enqueue(n)
	}
	for _, n := range notes {
		eventually(t, 5*time.Second, func() bool { return first.notification(n.ID).Redelivery != nil }, "in extended redelivery")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, first.engine.Shutdown(ctx))
	require.NoError(t, first.store.Close())

	rc.down.Store(false)
	second := newHarness(t, harnessOptions{path: path, settings: extendedSettings(0.3, 0.3, 0.3, 0.3, 0.3, 0.3)})
	for _, n := range notes {
		got := second.waitStatus(n.ID, payhook.StatusDelivered, 5*time.Second)
		require.Nil(t, got.Redelivery)
	}
	log := rc.acceptedLog()
	require.Len(t, log, 2)
	require.Equal(t, []int{0, 1}, []int{log[0].Seq, log[1].Seq}, "in order after the restart")
}

// After a crash the sweep claims a transaction's notifications together (their leases
// expired): the newer ones still wait for the older one's round.
func TestEngine_OrderPerTransaction_HoldsForWhatTheSweepClaims(t *testing.T) {
	t.Parallel()
	var rc *merchant.Receiver
	var answered atomic.Int64
	rc = newReceiver(t, func(i int, w http.ResponseWriter, _ *http.Request) {
		var b sentBody
		_ = json.Unmarshal(rc.Requests()[i].Body, &b)
		if b.Seq == 0 {
			time.Sleep(300 * time.Millisecond)
			answered.Store(time.Now().UnixNano())
		}
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t, harnessOptions{noStart: true})
	notes := h.addSession(rc.URL, 2, false)
	for _, n := range notes {
		require.NoError(t, h.store.ReleaseLease(context.Background(), n.ID, "engine-test")) // as after a crash
	}
	h.engine.Start()
	for _, n := range notes {
		h.waitStatus(n.ID, payhook.StatusDelivered, 5*time.Second)
	}
	reqs := rc.Requests()
	require.Len(t, reqs, len(notes))
	for _, r := range reqs[1:] {
		require.False(t, r.At.UnixNano() < answered.Load(), "an operation arrived before the payment's round ended")
	}
}

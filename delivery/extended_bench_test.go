package delivery_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/sqlite"
)

// BenchmarkEngine_ExtendedRedelivery measures, on a real SQLite file and loopback
// merchants, how many notifications to healthy URLs are delivered per second and their
// p99 (stored → received), while 10 % of the URLs answer 503 and their notifications are
// in extended redelivery (a 0.1 s schedule, so that they are retried all along), and
// what ordering per transaction costs: "ordered" checks the store before the first
// attempt of each notification that does not decide a redirect, "unordered" does not;
// one notification per transaction is a payment deciding the redirect (never checked),
// unless every-one-checked; "sessions of 3" sends a payment and two operations per
// transaction to one URL, which ordering serializes. One op is a batch of 2,000
// notifications handed over as the service does (stored leased, in batches of 20).
//
//	go test ./delivery -run '^$' -bench ExtendedRedelivery -benchtime 3x -count 3
func BenchmarkEngine_ExtendedRedelivery(b *testing.B) {
	for _, c := range []struct {
		name       string
		failing    bool
		unordered  bool
		perSession int
		checkAll   bool // no notification decides a redirect: every one is checked
	}{
		{"healthy/unordered", false, true, 1, false},
		{"healthy/ordered", false, false, 1, false},
		{"healthy/ordered-every-one-checked", false, false, 1, true},
		{"10pct-extended/unordered", true, true, 1, false},
		{"10pct-extended/ordered", true, false, 1, false},
		{"sessions-of-3/unordered", false, true, 3, false},
		{"sessions-of-3/ordered", false, false, 3, false},
	} {
		b.Run(c.name, func(b *testing.B) { benchExtended(b, c.failing, c.unordered, c.perSession, c.checkAll) })
	}
}

func benchExtended(b *testing.B, failing, unordered bool, perSession int, checkAll bool) {
	const batch, urls, failingURLs = 2000, 50, 5
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "payhook.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	got := make(chan struct{}, batch*2)
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		arrived[r.Header.Get("webhook-id")] = time.Now()
		mu.Unlock()
		got <- struct{}{}
	}))
	defer healthy.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()

	st := testSettings()
	st.Retries, st.BackoffFactor = 3, 0.05
	st.ExtendedRedelivery = true
	st.ExtendedSchedule = slices.Repeat([]float64{0.1}, 20)
	engine := delivery.New(delivery.Config{Store: store, Owner: "bench", SweepInterval: 50 * time.Millisecond,
		Settings: func(context.Context) (payhook.Settings, error) { return st, nil }, Sender: delivery.NewSender(true, nil),
		Unordered: unordered, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	engine.Start()
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		engine.Shutdown(sctx)
	}()
	body := []byte(`{"amount":"86.000","currency_code":"KWD","state":"paid","reference_number":"PH-BENCH","signature":"` + strings.Repeat("a", 64) + `"}`)

	var healthyTotal int
	var elapsed time.Duration
	var lat []time.Duration
	seq := 0
	b.ResetTimer()
	for range b.N {
		created := map[string]time.Time{}
		want := 0
		start := time.Now()
		for sent := 0; sent < batch; {
			var notes []*payhook.Notification
			for len(notes) < 20 && sent < batch {
				session := payhook.NewSessionID()
				u := seq % urls
				url := fmt.Sprintf("%s/h/%d", healthy.URL, u)
				isDown := failing && u < failingURLs
				if isDown {
					url = fmt.Sprintf("%s/f/%d", down.URL, u)
				}
				seq++
				now := time.Now().UTC()
				for k := 0; k < perSession && sent < batch; k++ {
					at := now.Add(time.Duration(k) * time.Microsecond)
					n := &payhook.Notification{ID: payhook.NewNotificationID(), Kind: payhook.KindOperation, SessionID: session,
						ReferenceNumber: "PH-BENCH", URL: url, Status: payhook.StatusPending, CreatedAt: at, UpdatedAt: at,
						Body: body, ContentType: "application/json", NextAttemptAt: at, Extended: true}
					if k == 0 { // the payment notification, to the transaction's URL: it decides the redirect
						n.Kind, n.RedirectDecider = payhook.KindPayment, !checkAll
					}
					notes = append(notes, n)
					sent++
					if !isDown {
						created[n.ID] = at
						want++
					}
				}
			}
			if err := store.AddNotifications(ctx, notes, engine.Lease(st)); err != nil {
				b.Fatal(err)
			}
			for _, n := range notes {
				engine.Enqueue(n)
			}
		}
		for range want {
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				b.Fatalf("healthy notifications not delivered within 30 s")
			}
		}
		elapsed += time.Since(start)
		healthyTotal += want
		mu.Lock()
		for id, at := range created {
			lat = append(lat, arrived[id].Sub(at))
		}
		mu.Unlock()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(healthyTotal)/elapsed.Seconds(), "delivered/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(0, "ns/op")
}

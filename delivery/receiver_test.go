package delivery_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// These helpers mirror internal/phtest's receiver, kept here so that the delivery tests
// build without the HTTP layer.

// request is one request a receiver got.
type request struct {
	Header http.Header
	Body   []byte
}

// receiver is a merchant's webhook endpoint on loopback that records every request and
// answers with what respond returns (200 "ok" by default).
type receiver struct {
	URL     string
	mu      sync.Mutex
	reqs    []request
	got     chan struct{}
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

// newReceiver starts a receiver, closed when the test ends; respond may be nil.
func newReceiver(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{got: make(chan struct{}, 1<<16), respond: respond}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	rc.URL = srv.URL + "/webhook"
	t.Cleanup(srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, request{Header: r.Header.Clone(), Body: b})
	rc.mu.Unlock()
	rc.got <- struct{}{}
	if rc.respond != nil {
		rc.respond(n, w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "ok")
}

// Requests returns what the receiver got so far.
func (rc *receiver) Requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// Wait waits until the receiver got n requests in all, or fails after timeout.
func (rc *receiver) Wait(t testing.TB, n int, timeout time.Duration) []request {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if r := rc.Requests(); len(r) >= n {
			return r
		}
		select {
		case <-rc.got:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d within %v", len(rc.Requests()), n, timeout)
		}
	}
}

// eventually polls cond every 10ms until it is true or timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

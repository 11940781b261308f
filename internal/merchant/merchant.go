// Package merchant is a merchant's webhook endpoint for tests: a real HTTP server on
// loopback that records every request it gets and answers as the test says. It imports
// nothing of payhook, so that every package's tests can use it.
package merchant

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Request is one request a Receiver got.
type Request struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

// Receiver is a merchant's webhook endpoint on loopback that records every request and
// answers with what Respond returns (200 by default).
type Receiver struct {
	URL    string
	Server *httptest.Server
	mu     sync.Mutex
	reqs   []Request
	got    chan struct{}
	// Respond decides the answer to the nth request (0-based); nil answers 200.
	Respond func(n int, w http.ResponseWriter, r *http.Request)
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	rc := &Receiver{got: make(chan struct{}, 1<<16)}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	rc.URL = rc.Server.URL + "/webhook"
	t.Cleanup(rc.Server.Close)
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, Request{At: time.Now(), Header: r.Header.Clone(), Body: b})
	respond := rc.Respond
	rc.mu.Unlock()
	rc.got <- struct{}{}
	if respond != nil {
		respond(n, w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "ok")
}

// Requests returns what the receiver got so far.
func (rc *Receiver) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.reqs...)
}

// Wait waits until the receiver got n requests in all, or fails after timeout.
func (rc *Receiver) Wait(t testing.TB, n int, timeout time.Duration) []Request {
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

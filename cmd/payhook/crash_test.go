package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests run the real binary: "never lost" means across a SIGKILL, which no
// in-process test can show.

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// payhookBinary builds payhook once per test run, as it ships (CGO_ENABLED=0).
func payhookBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the payhook binary")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "payhook-crash-test-")
		if buildErr != nil {
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		buildPath = filepath.Join(buildDir, "payhook")
		cmd := exec.Command(goTool, "build", "-o", buildPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

const crashAPIKey = "crash-test-api-key-0123456789"

// server is one running "payhook serve" process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	logs *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe starts payhook serve on a free loopback port with the database at db, and
// waits until it is ready. The process is killed when the test ends, if still running;
// its log is shown when the test failed.
func startServe(t *testing.T, db string, args ...string) *server {
	t.Helper()
	bin := payhookBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s := &server{t: t, base: "http://" + addr, logs: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--database", db, "--allow-private-urls"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PAYHOOK_") {
			env = append(env, kv)
		}
	}
	s.cmd.Env = append(env, "PAYHOOK_API_KEY="+crashAPIKey, "PAYHOOK_LOG_LEVEL=debug")
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	require.NoError(t, s.cmd.Start())
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("payhook serve at %s logged:\n%s", s.base, s.logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("payhook serve exited before it was ready (%v):\n%s", s.err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("payhook serve not ready after 10s:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// api sends an authenticated API request and decodes the JSON answer.
func (s *server) api(method, path string, body any, wantStatus int) map[string]any {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Api-Key "+crashAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	require.Equal(s.t, wantStatus, resp.StatusCode, "%s %s: %s", method, path, b)
	var m map[string]any
	require.NoError(s.t, json.Unmarshal(b, &m), "%s", b)
	return m
}

// configure turns notifications on with the timings of these tests.
func (s *server) configure(patch map[string]any) {
	s.t.Helper()
	p := map[string]any{"enabled": true, "api_transactions_enabled": true, "timeout": 2, "backoff_factor": 0.2}
	for k, v := range patch {
		p[k] = v
	}
	s.api("PATCH", "/b/webhook/v1/config/", p, http.StatusOK)
}

// checkout creates a checkout whose notifications go to webhookURL and returns its
// session id and checkout URL.
func (s *server) checkout(webhookURL string) (string, string) {
	s.t.Helper()
	m := s.api("POST", "/b/checkout/v1/pymt-txn/", map[string]any{"type": "e_commerce", "amount": "86.000",
		"currency_code": "KWD", "pg_codes": []string{"credit-card"}, "webhook_url": webhookURL,
		"redirect_url": "https://merchant.example/back"}, http.StatusCreated)
	return m["session_id"].(string), m["checkout_url"].(string)
}

// notifications returns the delivery log of a session.
func (s *server) notifications(sessionID string) []map[string]any {
	s.t.Helper()
	m := s.api("GET", "/b/webhook/v1/notifications/?session_id="+url.QueryEscape(sessionID), nil, http.StatusOK)
	var out []map[string]any
	for _, r := range m["results"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

// waitDelivered polls the delivery log until the session's one notification is
// delivered, and returns it.
func (s *server) waitDelivered(sessionID string, timeout time.Duration) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		list := s.notifications(sessionID)
		if len(list) == 1 && list[0]["status"] == "delivered" {
			return list[0]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("notification of %s not delivered after %v: %v", sessionID, timeout, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pay POSTs the card form as a browser would, with the given client timeout, and
// reports how the request ended.
func pay(checkoutURL string, timeout time.Duration) <-chan error {
	return payWith(checkoutURL, "4111111111111111", timeout)
}

// payWith is pay with another card.
func payWith(checkoutURL, card string, timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(checkoutURL, url.Values{"card_number": {card}, "card_expiry": {"12/39"},
			"card_cvv": {"123"}, "card_holder": {"Jane Doe"}})
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				err = fmt.Errorf("pay: status %d", resp.StatusCode)
			}
		}
		done <- err
	}()
	return done
}

// merchant is a loopback webhook receiver whose answer to the nth request (0-based) is
// decided by answer; it records every webhook-id.
type merchant struct {
	URL     string
	mu      sync.Mutex
	ids     []string
	arrived chan int
}

func newMerchant(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *merchant {
	t.Helper()
	m := &merchant{arrived: make(chan int, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		m.mu.Lock()
		n := len(m.ids)
		m.ids = append(m.ids, r.Header.Get("webhook-id"))
		m.mu.Unlock()
		m.arrived <- n
		answer(n, w, r)
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL + "/webhook"
	return m
}

func (m *merchant) webhookIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ids...)
}

func (m *merchant) waitRequest(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case got := <-m.arrived:
			if got == n {
				return
			}
		case <-deadline:
			t.Fatalf("merchant got %d requests, waited for request %d for %v", len(m.webhookIDs()), n+1, timeout)
		}
	}
}

// TestServe_NotificationSurvivesSIGKILL: payhook is killed while the merchant holds the
// first attempt; the restarted process delivers the stored notification, with the same
// webhook-id.
func TestServe_NotificationSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "payhook.db")
	release := make(chan struct{})
	m := newMerchant(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 { // hang: payhook dies while waiting for this answer
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	t.Cleanup(func() { close(release) })

	first := startServe(t, db)
	first.configure(nil)
	session, checkoutURL := first.checkout(m.URL)
	paid := pay(checkoutURL, 30*time.Second)
	m.waitRequest(t, 0, 10*time.Second)
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	<-first.done
	require.Error(t, <-paid, "the customer's request died with the process")

	second := startServe(t, db)
	m.waitRequest(t, 1, 10*time.Second)
	ids := m.webhookIDs()
	require.Len(t, ids, 2)
	require.NotEmpty(t, ids[0])
	require.Equal(t, ids[0], ids[1], "the same webhook-id, so that the merchant can drop a duplicate")

	n := second.waitDelivered(session, 10*time.Second)
	require.Equal(t, ids[0], n["id"])
	require.Equal(t, m.URL, n["url"])
	attempts := n["attempts"].([]any)
	require.NotEmpty(t, attempts)
	last := attempts[len(attempts)-1].(map[string]any)
	require.EqualValues(t, 200, last["status_code"])

	got := second.api("GET", "/b/checkout/v1/pymt-txn/"+session+"/", nil, http.StatusOK)
	require.Equal(t, "paid", got["state"])
}

// TestServe_DeliveryOutlivesTheCustomersRequest: the customer's browser gives up while the
// merchant is slow; the delivery goes on and is recorded delivered.
func TestServe_DeliveryOutlivesTheCustomersRequest(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "payhook.db")
	m := newMerchant(t, func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second) // slow, but within the 2 s timeout
		w.WriteHeader(http.StatusOK)
	})
	s := startServe(t, db)
	s.configure(nil)
	session, checkoutURL := s.checkout(m.URL)
	err := <-pay(checkoutURL, 200*time.Millisecond)
	require.Error(t, err, "the browser gave up first")
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	require.True(t, ue.Timeout(), "%v", err)

	n := s.waitDelivered(session, 10*time.Second)
	attempts := n["attempts"].([]any)
	require.Len(t, attempts, 1)
	require.EqualValues(t, 200, attempts[0].(map[string]any)["status_code"])
	require.Len(t, m.webhookIDs(), 1)
	require.Equal(t, true, n["redirect_decider"])
}

// TestServe_SIGTERMExitsCleanly: a graceful stop exits 0 within a few seconds, and a
// notification waiting for its retry is handed back to the database, not lost.
func TestServe_SIGTERMExitsCleanly(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "payhook.db")
	s := startServe(t, db)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
		require.NoError(t, s.err, "exit status 0")
	case <-time.After(5 * time.Second):
		t.Fatal("payhook serve still running 5s after SIGTERM")
	}
	require.Contains(t, s.logs.String(), "stopped")
}

// TestServe_SIGTERMWithACustomerWaitingOnARetry: the merchant does not answer and the next
// attempt is far away; a graceful stop does not wait for it, and the restarted process
// still delivers it.
func TestServe_SIGTERMWithACustomerWaitingOnARetry(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "payhook.db")
	m := newMerchant(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			c, _, _ := w.(http.Hijacker).Hijack() // no answer: retried after the backoff
			c.Close()
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s := startServe(t, db)
	s.configure(map[string]any{"backoff_factor": 2})
	session, checkoutURL := s.checkout(m.URL)
	paid := pay(checkoutURL, 30*time.Second)
	m.waitRequest(t, 0, 10*time.Second)
	time.Sleep(100 * time.Millisecond) // the attempt is recorded; the retry waits
	start := time.Now()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
		require.NoError(t, s.err, "exit status 0")
	case <-time.After(10 * time.Second):
		t.Fatal("payhook serve still running 10s after SIGTERM")
	}
	require.Less(t, time.Since(start), 1500*time.Millisecond, "the stop did not wait out the backoff")
	require.NoError(t, <-paid, "the waiting customer was sent on (to the summary page)")
	require.Len(t, m.webhookIDs(), 1)

	again := startServe(t, db)
	n := again.waitDelivered(session, 10*time.Second)
	ids := m.webhookIDs()
	require.Len(t, ids, 2)
	require.Equal(t, ids[0], ids[1])
	require.Equal(t, ids[0], n["id"])
	require.Len(t, n["attempts"].([]any), 2)
}

func TestMigrate_FreshFileThenIdempotent(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../sqlite/migration/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	db := filepath.Join(t.TempDir(), "payhook.db")

	var stdout, stderr bytes.Buffer
	code := run([]string{"migrate", "--database", db}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	// Every SQL migration, and the one written in Go (children moved to rows).
	require.Contains(t, stdout.String(), fmt.Sprintf("%d migration(s) applied", len(files)+1))

	stdout.Reset()
	code = run([]string{"migrate", "--database", db}, strings.NewReader(""), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stdout.String(), "0 migration(s) applied")

	// The binary says the same; serve then starts on the migrated file.
	bin := payhookBinary(t)
	out, err := exec.Command(bin, "migrate", "--database", db).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "0 migration(s) applied")
	s := startServe(t, db)
	s.api("GET", "/b/webhook/v1/config/", nil, http.StatusOK)
}

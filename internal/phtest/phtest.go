// Package phtest starts real payhook parts for tests: a SQLite file in a temporary
// directory, the delivery engine, the service and the HTTP server on loopback, and
// merchant receivers that record what they get. Nothing is mocked.
package phtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/app"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/internal/merchant"
	"github.com/payhook/payhook/mail"
	"github.com/payhook/payhook/service"
	"github.com/payhook/payhook/sqlite"
)

// APIKey is the API key every Env accepts.
const APIKey = "test-api-key-0123456789"

// Env is a running payhook, assembled by package app as "payhook serve" assembles it:
// store, engine, service, background loops and the HTTP server on loopback.
type Env struct {
	T       testing.TB
	URL     string // base URL of the server
	DBPath  string
	App     *app.App
	Store   *sqlite.Store
	Engine  *delivery.Engine
	Service *service.Service
	Client  *http.Client // never follows redirects
}

// Options tune an Env.
type Options struct {
	// AllowPrivate defaults to true (tests deliver to loopback); set DenyPrivate to test
	// the SSRF guard.
	DenyPrivate   bool
	SweepInterval time.Duration
	Clock         payhook.Clock
	// OnFinished, when set, is called when a notification's round ends (after the error
	// mailer, which is off unless SMTP is set).
	OnFinished func(n *payhook.Notification, status payhook.Status, last payhook.Attempt)
	// SMTP turns error emails on.
	SMTP *mail.SMTPConfig
	// ErrorEmailInterval is the error emails' flood-control window.
	ErrorEmailInterval time.Duration
	// ClaimTimeout and LeaseTTL scale the recovery of cut-off payments and of
	// deliveries down (see app.Config).
	ClaimTimeout, LeaseTTL time.Duration
	// DBPath, when set, is the SQLite file to use (else a new one in a temporary directory).
	DBPath string
	// HealthRefresh and ResumeInterval scale endpoint health's looks down (see app.Config).
	HealthRefresh, ResumeInterval time.Duration
}

// New starts an Env and stops it when the test ends.
func New(t testing.TB, opts ...Options) *Env {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	path := o.DBPath
	if path == "" {
		path = filepath.Join(t.TempDir(), "payhook.db")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("PHTEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	base := "http://" + ln.Addr().String()
	a, err := app.Open(ctx, app.Config{Database: path, BaseURL: base, AllowPrivate: !o.DenyPrivate, APIKey: APIKey,
		SweepInterval: o.SweepInterval, Clock: o.Clock, OnFinished: o.OnFinished, SMTP: o.SMTP, ErrorEmailInterval: o.ErrorEmailInterval,
		ClaimTimeout: o.ClaimTimeout, LeaseTTL: o.LeaseTTL, Owner: "test", Logger: log,
		HealthRefresh: o.HealthRefresh, ResumeInterval: o.ResumeInterval})
	if err != nil {
		ln.Close()
		t.Fatalf("open payhook: %v", err)
	}
	a.Start()
	go a.Serve(ln)
	e := &Env{T: t, URL: base, DBPath: path, App: a, Store: a.Store.(*sqlite.Store), Engine: a.Engine, Service: a.Service,
		Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	t.Cleanup(func() {
		// The production shutdown order, with a short grace: a test's hanging merchant
		// must not hold the suite.
		sctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		a.Shutdown(sctx)
	})
	return e
}

// Do sends an API request with the Env's API key; body, when not nil, is JSON-encoded
// (a string or []byte is sent as is). It returns the status and the body.
func (e *Env) Do(method, path string, body any) (int, []byte) {
	e.T.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.T.Fatalf("encode body: %v", err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		e.T.Fatalf("request: %v", err)
	}
	req.Header.Set("Authorization", "Api-Key "+APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// JSON is Do that decodes the answer into a map and checks the status.
func (e *Env) JSON(method, path string, body any, wantStatus int) map[string]any {
	e.T.Helper()
	code, b := e.Do(method, path, body)
	if code != wantStatus {
		e.T.Fatalf("%s %s: status %d, want %d; body %s", method, path, code, wantStatus, b)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			e.T.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return m
}

// Configure PATCHes the global settings and fails the test on an error.
func (e *Env) Configure(patch map[string]any) map[string]any {
	e.T.Helper()
	return e.JSON("PATCH", "/b/webhook/v1/config/", patch, http.StatusOK)
}

// Checkout creates a checkout with sensible defaults (86.000 KWD, credit-card,
// e_commerce), overridden by fields, and returns the answer.
func (e *Env) Checkout(fields map[string]any) map[string]any {
	e.T.Helper()
	body := map[string]any{"type": "e_commerce", "amount": "86.000", "currency_code": "KWD", "pg_codes": []string{"credit-card"}}
	for k, v := range fields {
		body[k] = v
	}
	return e.JSON("POST", "/b/checkout/v1/pymt-txn/", body, http.StatusCreated)
}

// Pay POSTs the card form to checkoutURL as curl would and returns the status and
// the Location header.
func (e *Env) Pay(checkoutURL, card string) (int, string) {
	e.T.Helper()
	return e.PostForm(checkoutURL, url.Values{"card_number": {card}, "card_expiry": {"12/39"}, "card_cvv": {"123"}, "card_holder": {"Jane Doe"}})
}

// PostForm POSTs a form and returns the status and Location header.
func (e *Env) PostForm(u string, form url.Values) (int, string) {
	e.T.Helper()
	resp, err := e.Client.PostForm(u, form)
	if err != nil {
		e.T.Fatalf("POST %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// Request is one request a Receiver got.
type Request = merchant.Request

// Receiver is a merchant's webhook endpoint on loopback (see package merchant).
type Receiver = merchant.Receiver

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver { return merchant.NewReceiver(t) }

// Eventually polls cond every 10ms until it is true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ValidatePath is the path of Ottu's schema checker, ../shared/ottu-schemas/validate.py
// from the module root.
func ValidatePath(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, "..", "shared", "ottu-schemas", "validate.py")
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("Ottu's schema checker is missing at %s: the project expects ../shared beside the checkout", p)
			}
			return p
		}
	}
	t.Fatalf("module root not found from %s", dir)
	return ""
}

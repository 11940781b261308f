package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/payhook/payhook/internal/merchant"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/signature"
)

// testSettings are the documents' defaults scaled down: 2 s timeout (tests of timeouts
// set a shorter one), 3 attempts, 0.05 s backoff, notifications on.
func testSettings() payhook.Settings {
	st := payhook.DefaultSettings("pu9MpX3yPR")
	st.Enabled, st.APITransactionsEnabled = true, true
	st.Timeout, st.BackoffFactor, st.Retries = 2, 0.05, 3
	st.UserAgent = "payhook-test/1.0 (+https://payhook.example)"
	return st
}

func message(url string) delivery.Message {
	return delivery.Message{ID: payhook.NewNotificationID(), URL: url, Body: []byte(`{"amount":"86.000","state":"paid"}`), ContentType: "application/json"}
}

// send makes one attempt with a sender that may reach loopback.
func send(t *testing.T, st payhook.Settings, m delivery.Message) (payhook.Attempt, payhook.AttemptOutcome) {
	t.Helper()
	return delivery.NewSender(true, nil).Send(context.Background(), st, m)
}

// closedURL returns a loopback URL on which nothing listens: connection refused.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/webhook"
}

// hangingReceiver never answers until the client gives up or the test ends.
func hangingReceiver(t *testing.T) *merchant.Receiver {
	t.Helper()
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	return rc
}

// resettingServer hijacks each connection and closes it without an answer; with rst
// it makes the kernel send a TCP reset instead of a FIN.
func resettingServer(t *testing.T, rst bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok && rst {
			tc.SetLinger(0)
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestSender_SetsHeadersAndBody(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	st := testSettings()
	m := message(rc.URL)
	a, o := send(t, st, m)
	require.Equal(t, payhook.AttemptOutcome{StatusCode: 200}, o)
	require.Equal(t, 200, a.StatusCode)
	require.Empty(t, a.Error)
	require.Equal(t, "ok", a.ResponseExcerpt)
	require.False(t, a.StartedAt.IsZero())
	require.Equal(t, time.UTC, a.StartedAt.Location())
	require.Positive(t, a.Duration)

	reqs := rc.Requests()
	require.Len(t, reqs, 1)
	h := reqs[0].Header
	require.Equal(t, m.ID, h.Get("webhook-id"), "webhook-id is sent whether or not standard_webhooks is on")
	require.Equal(t, st.UserAgent, h.Get("User-Agent"))
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Empty(t, h.Get("webhook-signature"), "no Standard Webhooks signature while it is off")
	require.Empty(t, h.Get("webhook-timestamp"))
	require.Equal(t, m.Body, reqs[0].Body)

	// XML bodies keep their content type.
	m = message(rc.URL)
	m.Body, m.ContentType = []byte(`<payload><state>paid</state></payload>`), "application/xml"
	_, o = send(t, st, m)
	require.Equal(t, 200, o.StatusCode)
	reqs = rc.Requests()
	require.Equal(t, "application/xml", reqs[1].Header.Get("Content-Type"))
	require.Equal(t, m.Body, reqs[1].Body)
}

func TestSender_StandardWebhooksHeadersVerify(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	secret, err := signature.NewStandardWebhooksSecret()
	require.NoError(t, err)
	st := testSettings()
	st.StandardWebhooks, st.StandardWebhooksSecret = true, secret
	m := message(rc.URL)
	_, o := send(t, st, m)
	require.Equal(t, 200, o.StatusCode)

	req := rc.Requests()[0]
	require.Equal(t, m.ID, req.Header.Get("webhook-id"))
	require.NotEmpty(t, req.Header.Get("webhook-timestamp"))
	require.True(t, strings.HasPrefix(req.Header.Get("webhook-signature"), "v1,"))
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(req.Body, req.Header), "the reference library accepts our headers")

	// Another secret does not verify: the signature is really over this message.
	other, err := signature.NewStandardWebhooksSecret()
	require.NoError(t, err)
	wh2, err := standardwebhooks.NewWebhook(other)
	require.NoError(t, err)
	require.Error(t, wh2.Verify(req.Body, req.Header))
	tampered := bytes.Replace(req.Body, []byte("paid"), []byte("fail"), 1)
	require.Error(t, wh.Verify(tampered, req.Header))
}

func TestSender_NeverFollowsRedirects(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			t.Parallel()
			target := newReceiver(t, nil)
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", target.URL)
				w.WriteHeader(code)
				io.WriteString(w, "moved")
			})
			a, o := send(t, testSettings(), message(rc.URL))
			require.Equal(t, code, a.StatusCode)
			require.Equal(t, payhook.AttemptOutcome{StatusCode: code}, o)
			require.False(t, o.Delivered())
			require.Equal(t, "moved", a.ResponseExcerpt)
			require.Empty(t, target.Requests(), "the Location is never requested")
			require.Equal(t, payhook.StatusFailed, payhook.NextStep(testSettings(), 1, o).Status)
		})
	}
}

func TestSender_RecordsFirst2KBOfAnswer(t *testing.T) {
	t.Parallel()
	answer := strings.Repeat("0123456789abcdef", 64<<10/16) // 64 KiB
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, answer)
	})
	a, o := send(t, testSettings(), message(rc.URL))
	require.Equal(t, 500, o.StatusCode)
	require.False(t, o.NoAnswer)
	require.Len(t, a.ResponseExcerpt, payhook.ResponseExcerptLimit)
	require.Equal(t, answer[:payhook.ResponseExcerptLimit], a.ResponseExcerpt)

	// Invalid UTF-8 is made valid, so that the log's JSON stays readable.
	rc2 := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\xff\xfe")) })
	a, _ = send(t, testSettings(), message(rc2.URL))
	require.Equal(t, "ok\uFFFD", a.ResponseExcerpt)
}

func TestSender_ClassifiesFailures(t *testing.T) {
	t.Parallel()
	reset, _ := resettingServer(t, false)
	rst, _ := resettingServer(t, true)
	tests := []struct {
		name     string
		url      string
		wantErr  string
		noAnswer bool
	}{
		{"timeout", hangingReceiver(t).URL, "timeout after 0.3s", true},
		{"connection refused", closedURL(t), "connection refused", true},
		{"connection closed without an answer", reset.URL + "/webhook", "connection reset", true},
		{"connection reset", rst.URL + "/webhook", "connection reset", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := testSettings()
			st.Timeout = 0.3
			a, o := send(t, st, message(tt.url))
			require.Contains(t, a.Error, tt.wantErr)
			require.Zero(t, a.StatusCode)
			require.Equal(t, payhook.AttemptOutcome{NoAnswer: tt.noAnswer}, o)
			if tt.name == "timeout" {
				require.Equal(t, "timeout after 0.3s", a.Error)
				require.GreaterOrEqual(t, a.Duration, 300*time.Millisecond)
				require.Less(t, a.Duration, 2*time.Second)
			}
		})
	}
}

func TestSender_RefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, nil)
	s := delivery.NewSender(false, nil)
	for _, u := range []string{rc.URL, strings.Replace(rc.URL, "127.0.0.1", "localhost", 1)} {
		a, o := s.Send(context.Background(), testSettings(), message(u))
		require.Equal(t, "private address refused", a.Error, u)
		require.Equal(t, payhook.AttemptOutcome{}, o, "refused is not 'no answer': never retried")
	}
	require.Empty(t, rc.Requests())
}

func TestSender_IgnoreSSL(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	st := testSettings()
	st.Timeout = 5 // a TLS handshake under the race detector and a busy box can take a while

	st.IgnoreSSL = true
	a, o := send(t, st, message(srv.URL+"/webhook"))
	require.Equal(t, 200, a.StatusCode, a.Error)
	require.True(t, o.Delivered())
	require.EqualValues(t, 1, hits.Load())

	st.IgnoreSSL = false
	a, o = send(t, st, message(srv.URL+"/webhook"))
	require.Zero(t, a.StatusCode)
	require.Contains(t, a.Error, "TLS")
	require.Contains(t, a.Error, "x509")
	require.Equal(t, payhook.AttemptOutcome{}, o, "an untrusted certificate will not mend by retrying")
	require.EqualValues(t, 1, hits.Load())
}

// listenBacklog calls listen(2) again on a listening socket, which sets its backlog
// (Linux and the BSDs allow it). syscall.Listen takes an int on unix and a Handle on
// Windows: the type parameter lets one line compile on both.
func listenBacklog[FD ~int | ~uintptr](listen func(FD, int) error, fd uintptr, backlog int) error {
	return listen(FD(fd), backlog)
}

// fullBacklogURL returns a loopback URL whose listener never accepts and whose accept
// queue is full, so that a further connect hangs: the kernel drops the SYN (Linux's
// default, net.ipv4.tcp_abort_on_overflow=0) and the client keeps retransmitting it.
// It skips the test where the kernel refuses such a connect instead.
func fullBacklogURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	rc, err := ln.(*net.TCPListener).SyscallConn()
	require.NoError(t, err)
	var lerr error
	require.NoError(t, rc.Control(func(fd uintptr) { lerr = listenBacklog(syscall.Listen, fd, 0) }))
	require.NoError(t, lerr)
	addr := ln.Addr().String()
	// Fill the queue with idle connections (the kernel completes them without Accept)
	// until a connect hangs; with backlog 0 the second one does.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "http://" + addr + "/webhook"
		}
		t.Skipf("a connect to a full accept queue on loopback does not hang here (%v): the kernel answers it", err)
	}
	t.Skip("the accept queue did not fill after 8 connections")
	return ""
}

// A server that accepts no connection uses up the whole configured timeout, no less
// and no more (no separate dial limit), and the attempt says that no connection was
// accepted, which tells a merchant's engineer where to look.
func TestSender_ConnectTimeoutIsTheConfiguredTimeout(t *testing.T) {
	t.Parallel()
	u := fullBacklogURL(t)
	st := testSettings()
	st.Timeout = 0.4
	a, o := send(t, st, message(u))
	require.True(t, strings.HasPrefix(a.Error, "timeout after 0.4s"), a.Error)
	require.Contains(t, a.Error, "no connection", a.Error)
	require.Zero(t, a.StatusCode)
	require.Equal(t, payhook.AttemptOutcome{NoAnswer: true}, o, "no answer: retried")
	require.GreaterOrEqual(t, a.Duration, 400*time.Millisecond)
	require.Less(t, a.Duration, 2*time.Second)
}

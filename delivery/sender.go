package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/signature"
)

// Sender POSTs one attempt of a notification. It never follows redirects, sends the
// configured User-Agent and the webhook-id header, honours ignore_ssl, and refuses
// private addresses at dial time unless allowed.
type Sender struct {
	verified   *http.Client
	unverified *http.Client
	now        payhook.Clock
}

// NewSender returns a sender. allowPrivate lets webhook URLs reach loopback and private
// addresses (tests and local development).
func NewSender(allowPrivate bool, now payhook.Clock) *Sender {
	mk := func(insecure bool) *http.Client {
		tr := &http.Transport{
			Proxy: nil, // the SSRF guard checks the address dialled: never a proxy
			// No fixed dial or TLS limit: the attempt's context carries the configured
			// timeout, and bounds connecting, the handshake and the answer together.
			DialContext:           NewDialer(allowPrivate, 0).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       &tls.Config{InsecureSkipVerify: insecure}, //nolint:gosec // ignore_ssl is the merchant's setting
		}
		return &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Sender{verified: mk(false), unverified: mk(true), now: now}
}

// Message is what one attempt sends.
type Message struct {
	ID          string // the webhook-id header
	URL         string
	Body        []byte
	ContentType string
}

// Send makes one attempt under the settings and returns its record and outcome.
func (s *Sender) Send(ctx context.Context, st payhook.Settings, m Message) (payhook.Attempt, payhook.AttemptOutcome) {
	start := s.now.Now()
	a := payhook.Attempt{StartedAt: start.UTC()}
	timeout := st.TimeoutDuration()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		a.Error = "invalid URL: " + err.Error()
		return a, payhook.AttemptOutcome{}
	}
	req.ContentLength = int64(len(m.Body))
	req.Header.Set("Content-Type", m.ContentType)
	req.Header.Set("User-Agent", st.UserAgent)
	req.Header.Set("webhook-id", m.ID)
	if st.StandardWebhooks && st.StandardWebhooksSecret != "" {
		ts := start
		sig, err := signature.StandardWebhooksSign(st.StandardWebhooksSecret, m.ID, ts, m.Body)
		if err == nil {
			req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
			req.Header.Set("webhook-signature", sig)
		}
	}
	client := s.verified
	if st.IgnoreSSL {
		client = s.unverified
	}
	var connected atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }}))
	resp, err := client.Do(req)
	if err != nil {
		a.Duration = s.now.Now().Sub(start)
		var noAnswer bool
		a.Error, noAnswer = describe(err, ctx, timeout)
		if noAnswer && strings.HasPrefix(a.Error, "timeout after") && !connected.Load() {
			a.Error += " (no connection: the server did not accept one)"
		}
		return a, payhook.AttemptOutcome{NoAnswer: noAnswer}
	}
	excerpt, rerr := io.ReadAll(io.LimitReader(resp.Body, payhook.ResponseExcerptLimit))
	if rerr == nil {
		io.CopyN(io.Discard, resp.Body, 64<<10) // let the connection be reused
	}
	resp.Body.Close()
	a.Duration = s.now.Now().Sub(start)
	a.StatusCode = resp.StatusCode
	a.ResponseExcerpt = strings.ToValidUTF8(string(excerpt), "\uFFFD")
	return a, payhook.AttemptOutcome{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp, s.now.Now())}
}

// describe turns a transport error into the attempt's error text, and says whether it
// counts as no answer (retried) or as a failure that retrying cannot mend.
func describe(err error, ctx context.Context, timeout time.Duration) (string, bool) {
	var netErr net.Error
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, ErrPrivateAddress):
		return "private address refused", false
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout after " + strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64) + "s", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection reset", true
	case errors.As(err, &dnsErr):
		return "DNS lookup failed: " + dnsErr.Err, true
	case errors.As(err, &certErr):
		return "TLS certificate not trusted: " + certErr.Err.Error(), false
	case errors.Is(err, context.Canceled):
		return "canceled", true
	}
	msg := err.Error()
	if strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") {
		return "TLS error: " + msg, false
	}
	return "connection failed: " + msg, true
}

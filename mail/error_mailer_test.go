package mail_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/mail"
	"github.com/payhook/payhook/sqlite"
)

// opsEmails are the addresses the tests configure for error emails.
var opsEmails = []string{"ops@example.com", "dev@example.com"}

// fakeClock is a clock the test moves by hand; once Run, it also goes on in real time
// (for the retries of an email), and Advance still jumps.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	running time.Time // when Run was called; zero while stopped
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running.IsZero() {
		return c.now
	}
	return c.now.Add(time.Since(c.running))
}

// Run makes the clock go on in real time from now on.
func (c *fakeClock) Run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running.IsZero() {
		c.running = time.Now()
	}
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testLogger logs to the test's log, shown with -v or on failure.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// requireText checks that text contains want, whatever the line breaks and spaces.
func requireText(t *testing.T, text, want string) {
	t.Helper()
	flat := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	require.Contains(t, flat(text), flat(want))
}

// fixture is a running payhook whose failed notifications go to ErrorMailers (several
// stand for several processes sharing the store).
type fixture struct {
	env      *phtest.Env
	mailer   *mail.ErrorMailer // the first of mailers
	clock    *fakeClock
	merchant *phtest.Receiver // answers 500

	mu      sync.Mutex
	mailers []*mail.ErrorMailer
	turn    int
}

// setup starts payhook with notifications on, notify_on_error on and opsEmails (patch
// overrides them), a merchant answering 500, and an ErrorMailer on payhook's store
// sending through smtpCfg with cfg's timings (flood control on a fake clock; the store
// looked at every 10ms).
func setup(t *testing.T, smtpCfg mail.SMTPConfig, cfg mail.Config, patch map[string]any) *fixture {
	t.Helper()
	f := &fixture{clock: newFakeClock()}
	f.env = phtest.New(t, phtest.Options{OnFinished: f.onFinished})
	settings := map[string]any{"enabled": true, "api_transactions_enabled": true, "notify_on_error": true,
		"emails": opsEmails, "timeout": 2, "backoff_factor": 0.1}
	for k, v := range patch {
		settings[k] = v
	}
	f.env.Configure(settings)
	f.merchant = phtest.NewReceiver(t)
	f.merchant.Respond = func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "database is down")
	}
	f.mailer = f.addMailer(t, smtpCfg, cfg)
	return f
}

// addMailer starts another ErrorMailer (a process) on the fixture's store; failures are
// handed to the mailers in turn.
func (f *fixture) addMailer(t *testing.T, smtpCfg mail.SMTPConfig, cfg mail.Config) *mail.ErrorMailer {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = f.env.Store
	}
	m := newMailer(t, f.env, f.clock, smtpCfg, cfg)
	f.mu.Lock()
	f.mailers = append(f.mailers, m)
	f.mu.Unlock()
	return m
}

// newMailer makes and starts an ErrorMailer reading env's service, with the tests'
// timings, closed when the test ends.
func newMailer(t *testing.T, env *phtest.Env, clock *fakeClock, smtpCfg mail.SMTPConfig, cfg mail.Config) *mail.ErrorMailer {
	t.Helper()
	svc := env.Service
	cfg.SMTP = smtpCfg
	cfg.BaseURL = env.URL
	cfg.Settings, cfg.Transaction, cfg.Notification = svc.Settings, svc.Transaction, svc.Notification
	cfg.Clock = clock.Now
	cfg.Logger = testLogger(t)
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = 10 * time.Millisecond
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 20 * time.Millisecond
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = 3 * time.Second
	}
	m, err := mail.New(cfg)
	require.NoError(t, err)
	m.Start()
	t.Cleanup(func() { closeMailer(t, m) })
	return m
}

// onFinished hands a finished notification to the next mailer.
func (f *fixture) onFinished(n *payhook.Notification, st payhook.Status, a payhook.Attempt) {
	f.mu.Lock()
	if len(f.mailers) == 0 {
		f.mu.Unlock()
		return
	}
	m := f.mailers[f.turn%len(f.mailers)]
	f.turn++
	f.mu.Unlock()
	m.OnFinished(n, st, a)
}

// close closes the mailers, recording all that is left and sending what is due.
func (f *fixture) close(t *testing.T) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.mailers {
		closeMailer(t, m)
	}
}

func closeMailer(t *testing.T, m *mail.ErrorMailer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, m.Close(ctx))
}

// pay creates a checkout notifying url (the failing merchant when "") and pays it; it
// returns the session id and checks that the customer was sent to the summary page, as
// for any failed payment notification.
func (f *fixture) pay(t *testing.T, url, orderNo string) string {
	t.Helper()
	if url == "" {
		url = f.merchant.URL
	}
	c := f.env.Checkout(map[string]any{"webhook_url": url, "order_no": orderNo,
		"redirect_url": "https://shop.example/return"})
	sid := c["session_id"].(string)
	code, loc := f.env.Pay(c["checkout_url"].(string), sandbox.CardSuccess)
	require.Equal(t, http.StatusSeeOther, code)
	require.Contains(t, loc, "/b/checkout/"+sid+"/summary/", "a failed notification lands on the summary page")
	return sid
}

// smtpConfig points at srv, trusting its certificate.
func smtpConfig(srv *smtpServer, user, pass string) mail.SMTPConfig {
	c := mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Username: user, Password: pass,
		ImplicitTLS: srv.opts.ImplicitTLS}
	if srv.Roots != nil {
		c.TLSConfig = &tls.Config{RootCAs: srv.Roots, MinVersion: tls.VersionTLS12}
	}
	return c
}

// to returns the messages addressed to addr.
func to(msgs []received, addr string) []received {
	var out []received
	for _, m := range msgs {
		for _, r := range m.To {
			if r == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

func TestErrorEmail_EachAddressGetsOneClearEmail(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{STARTTLS: true, Username: "payhook", Password: "s3cret"})
	f := setup(t, smtpConfig(srv, "payhook", "s3cret"), mail.Config{}, nil)

	sid := f.pay(t, "", "ORDER-1001")
	srv.Wait(t, 2, 5*time.Second)
	f.close(t) // sends whatever is left: nothing more may come

	txn, err := f.env.Service.Transaction(context.Background(), sid)
	require.NoError(t, err)
	notes, _, err := f.env.Service.Notifications(context.Background(), payhook.NotificationFilter{SessionID: sid})
	require.NoError(t, err)
	require.Len(t, notes, 1)
	n := notes[0]
	require.Equal(t, payhook.StatusFailed, n.Status)
	require.Len(t, n.Attempts, 1)
	host := strings.TrimPrefix(f.env.URL, "http://")
	merchantHost := strings.TrimPrefix(strings.TrimSuffix(f.merchant.URL, "/webhook"), "http://")

	msgs := srv.Messages()
	require.Len(t, msgs, 2)
	for _, addr := range opsEmails {
		got := to(msgs, addr)
		require.Len(t, got, 1, "emails to %s", addr)
		m := got[0]
		require.Equal(t, []string{addr}, m.To, "one message per address")
		require.True(t, m.TLS, "sent after STARTTLS")
		require.Equal(t, "payhook", m.User, "sent after AUTH")
		require.Equal(t, "payhook@localhost", m.From, "default sender for an IP base URL")

		e := parseEmail(t, m.Data)
		// Readable as it travels, too: the links are whole in the raw message.
		require.Contains(t, string(m.Data), "http://"+host+"/dashboard/transactions/"+sid)
		require.Contains(t, string(m.Data), "http://"+host+"/dashboard/notifications/"+n.ID)
		require.Equal(t, fmt.Sprintf("[payhook] Payment notification failed: %s (order ORDER-1001)", merchantHost), e.Subject)
		require.Equal(t, addr, strings.Trim(e.Header.Get("To"), "<>"))
		require.Equal(t, "auto-generated", e.Header.Get("Auto-Submitted"))
		for _, want := range []string{
			"session_id:        " + sid,
			"order_no:          ORDER-1001",
			"reference_number:  " + txn.ReferenceNumber,
			"kind:              payment",
			"URL:               " + f.merchant.URL,
			"id (webhook-id):   " + n.ID,
			"the server answered HTTP 500 Internal Server Error",
			fmt.Sprintf("#1  %s  ", n.Attempts[0].StartedAt.UTC().Format(time.RFC3339)),
			"HTTP 500",
			"answer: database is down",
			"http://" + host + "/dashboard/transactions/" + sid,
			"http://" + host + "/b/webhook/v1/notifications/" + n.ID + "/resend/",
			"Fix the endpoint",
		} {
			requireText(t, e.Text, want)
		}
		require.NotContains(t, e.Text, "more failure", "nothing was held back")
		require.Contains(t, e.HTML, `<a href="http://`+host+`/dashboard/transactions/`+sid+`">`)
		require.Contains(t, e.HTML, "ORDER-1001")
	}
	st := f.mailer.Stats()
	require.Equal(t, mail.Stats{Failures: 1, Sent: 2}, st)
}

func TestErrorEmail_SentThroughEverySMTPSetup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts smtpOptions
		user string
	}{
		{"plain, no auth", smtpOptions{}, ""},
		{"plain, auth on loopback", smtpOptions{Username: "u", Password: "p", AllowInsecureAuth: true}, "u"},
		{"STARTTLS offered, no auth", smtpOptions{STARTTLS: true}, ""},
		{"STARTTLS and auth", smtpOptions{STARTTLS: true, Username: "u", Password: "p"}, "u"},
		{"implicit TLS (smtps) and auth", smtpOptions{ImplicitTLS: true, Username: "u", Password: "p"}, "u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tt.opts)
			f := setup(t, smtpConfig(srv, tt.opts.Username, tt.opts.Password), mail.Config{},
				map[string]any{"emails": []string{"ops@example.com"}})
			sid := f.pay(t, "", "ORDER-7")
			msgs := srv.Wait(t, 1, 5*time.Second)
			require.Equal(t, tt.opts.STARTTLS || tt.opts.ImplicitTLS, msgs[0].TLS)
			require.Equal(t, tt.user, msgs[0].User)
			require.Contains(t, parseEmail(t, msgs[0].Data).Text, sid)
		})
	}
}

func TestErrorEmail_UntrustedCertificateIsNotBypassed(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{STARTTLS: true, Username: "u", Password: "p"})
	cfg := smtpConfig(srv, "u", "p")
	cfg.TLSConfig = nil // the system roots do not know the test's certificate
	f := setup(t, cfg, mail.Config{SendAttempts: 2}, nil)
	f.clock.Run() // the retry comes after RetryBackoff

	f.pay(t, "", "ORDER-8")
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().GivenUp == 2 },
		"the email given up for both addresses")
	require.Empty(t, srv.Messages(), "never sent without the TLS the server offered")
	require.EqualValues(t, 2, f.mailer.Stats().SendErrors)
	phtest.Eventually(t, 5*time.Second, func() bool {
		st, err := f.env.Store.ErrorEmailStats(context.Background())
		return err == nil && st == payhook.ErrorEmailStats{HeldBack: 1}
	}, "nobody got it: its failure is counted into the next email to the URL")
}

func TestErrorEmail_FloodControlSumsUpFailuresPerURL(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	f := setup(t, smtpConfig(srv, "", ""), mail.Config{Interval: 10 * time.Minute},
		map[string]any{"emails": []string{"ops@example.com"}})
	start := f.clock.Now()

	first := f.pay(t, "", "ORDER-1")
	for i := 2; i <= 5; i++ {
		f.pay(t, "", fmt.Sprintf("ORDER-%d", i))
	}
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().Held == 4 }, "4 failures held back")
	msgs := srv.Wait(t, 1, 5*time.Second)
	e := parseEmail(t, msgs[0].Data)
	require.Contains(t, e.Subject, "(order ORDER-1)")
	require.Contains(t, e.Text, first)

	// Another URL is not held back by the first one's window.
	other := phtest.NewReceiver(t)
	other.Respond = f.merchant.Respond
	f.pay(t, other.URL, "ORDER-OTHER")
	msgs = srv.Wait(t, 2, 5*time.Second)
	require.Contains(t, parseEmail(t, msgs[1].Data).Text, other.URL)

	// Within the window nothing more comes; past it, the held-back failures are summed
	// up without waiting for a new one.
	time.Sleep(50 * time.Millisecond)
	require.Len(t, srv.Messages(), 2)
	f.clock.Advance(10*time.Minute + time.Second)
	msgs = srv.Wait(t, 3, 5*time.Second)
	e = parseEmail(t, msgs[2].Data)
	merchantHost := strings.TrimPrefix(strings.TrimSuffix(f.merchant.URL, "/webhook"), "http://")
	require.Equal(t, fmt.Sprintf("[payhook] Notifications still failing: %s (4 more failures, latest order ORDER-5)", merchantHost), e.Subject)
	requireText(t, e.Text, "4 more failures to this URL since "+start.Format(time.RFC3339))
	requireText(t, e.Text, "at most one email per URL every 10 minutes")
	require.Contains(t, e.Text, "order_no:          ORDER-5", "the latest failure is shown")

	// Summed up once: the window starts again, and a later failure is emailed alone.
	time.Sleep(50 * time.Millisecond)
	require.Len(t, srv.Messages(), 3)
	f.clock.Advance(10*time.Minute + time.Second)
	f.pay(t, "", "ORDER-6")
	msgs = srv.Wait(t, 4, 5*time.Second)
	e = parseEmail(t, msgs[3].Data)
	require.Contains(t, e.Subject, "Payment notification failed")
	require.NotContains(t, e.Text, "more failure")
	f.close(t)
	require.Equal(t, mail.Stats{Failures: 7, Held: 4, Sent: 4}, f.mailer.Stats())
}

func TestErrorEmail_CloseKeepsWhatIsHeldBackInTheStore(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	f := setup(t, smtpConfig(srv, "", ""), mail.Config{}, map[string]any{"emails": []string{"ops@example.com"}})
	f.pay(t, "", "ORDER-1")
	f.pay(t, "", "ORDER-2")
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().Held == 1 }, "1 failure held back")
	srv.Wait(t, 1, 5*time.Second)

	// The window has not passed: shutting down neither sends nor loses the held one.
	f.close(t)
	require.Len(t, srv.Messages(), 1)
	st, err := f.env.Store.ErrorEmailStats(context.Background())
	require.NoError(t, err)
	require.Equal(t, payhook.ErrorEmailStats{HeldBack: 1}, st)

	// The next start sums it up once its window has passed.
	f.clock.Advance(10*time.Minute + time.Second)
	newMailer(t, f.env, f.clock, smtpConfig(srv, "", ""), mail.Config{Store: f.env.Store})
	msgs := srv.Wait(t, 2, 5*time.Second)
	e := parseEmail(t, msgs[1].Data)
	requireText(t, e.Text, "1 more failure to this URL since")
	require.Contains(t, e.Text, "order_no:          ORDER-2")
}

func TestErrorEmail_NoneWhenNotifyOnErrorIsOff(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	f := setup(t, smtpConfig(srv, "", ""), mail.Config{}, map[string]any{"notify_on_error": false})
	f.pay(t, "", "ORDER-1")
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().Skipped == 1 }, "failure skipped")

	// Nor when it is on but nobody is listed.
	f.env.Configure(map[string]any{"notify_on_error": true, "emails": []string{}})
	f.pay(t, "", "ORDER-2")
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().Skipped == 2 }, "failure skipped")

	f.close(t)
	require.Empty(t, srv.Messages())
}

func TestErrorEmail_SMTPOutageIsRetriedAndNeverDelaysDelivery(t *testing.T) {
	t.Parallel()
	// A port with nobody listening: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().(*net.TCPAddr)
	require.NoError(t, ln.Close())
	f := setup(t, mail.SMTPConfig{Host: "127.0.0.1", Port: addr.Port},
		mail.Config{SendAttempts: 50, RetryBackoff: 50 * time.Millisecond, SendTimeout: 200 * time.Millisecond},
		map[string]any{"emails": []string{"ops@example.com"}})
	f.clock.Run() // retries come after RetryBackoff

	began := time.Now()
	sid := f.pay(t, "", "ORDER-1")
	require.Less(t, time.Since(began), 2*time.Second, "the payment redirect did not wait for SMTP")
	require.Len(t, f.merchant.Requests(), 1, "the notification was delivered (and failed) before the redirect")
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().SendErrors >= 1 }, "a refused try")

	// Then a server that accepts and never answers: the tries time out.
	hang, err := net.Listen("tcp", addr.String())
	require.NoError(t, err)
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	errs := f.mailer.Stats().SendErrors
	began = time.Now()
	f.pay(t, "", "ORDER-2")
	require.Less(t, time.Since(began), 2*time.Second, "the payment redirect did not wait for SMTP")
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().SendErrors >= errs+2 }, "timed-out tries")
	hang.Close()

	// The server comes back: the email arrives.
	srv := startSMTPAt(t, addr.String(), smtpOptions{})
	msgs := srv.Wait(t, 1, 5*time.Second)
	require.Contains(t, parseEmail(t, msgs[0].Data).Text, sid)

	// The second failure, held back by flood control meanwhile, is not lost either.
	f.clock.Advance(10*time.Minute + time.Second)
	msgs = srv.Wait(t, 2, 5*time.Second)
	requireText(t, parseEmail(t, msgs[1].Data).Text, "1 more failure to this URL since")
	f.close(t)
	require.Len(t, srv.Messages(), 2)
	require.Zero(t, f.mailer.Stats().GivenUp)
}

func TestErrorMailer_QueueFullDropsWithoutWaiting(t *testing.T) {
	t.Parallel()
	never := func(context.Context, string) (*payhook.Transaction, error) { panic("not started") }
	m, err := mail.New(mail.Config{
		SMTP:         mail.SMTPConfig{Host: "127.0.0.1", Port: 25},
		Settings:     func(context.Context) (payhook.Settings, error) { return payhook.Settings{}, nil },
		Transaction:  never,
		Notification: func(context.Context, string) (*payhook.Notification, error) { panic("not started") },
		Store:        openStore(t),
		QueueSize:    2,
		Logger:       testLogger(t),
	})
	require.NoError(t, err)
	n := &payhook.Notification{ID: "msg_1", URL: "https://shop.example/hook", Kind: payhook.KindPayment}
	began := time.Now()
	for range 5 {
		m.NotifyFailure(n, payhook.Attempt{Number: 1, StatusCode: 500})
	}
	require.Less(t, time.Since(began), 100*time.Millisecond)
	require.Equal(t, mail.Stats{Failures: 5, Dropped: 3}, m.Stats())
	require.NoError(t, m.Close(context.Background()))
	m.NotifyFailure(n, payhook.Attempt{Number: 1}) // after Close: ignored, never blocks
	require.EqualValues(t, 5, m.Stats().Failures)
}

func TestNew_RefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	_, err := mail.New(mail.Config{SMTP: mail.SMTPConfig{Host: "smtp.example", Port: 587}})
	require.ErrorContains(t, err, "required")
	ok := mail.Config{
		SMTP:         mail.SMTPConfig{Host: "smtp.example", Port: 587},
		Settings:     func(context.Context) (payhook.Settings, error) { return payhook.Settings{}, nil },
		Transaction:  func(context.Context, string) (*payhook.Transaction, error) { return nil, nil },
		Notification: func(context.Context, string) (*payhook.Notification, error) { return nil, nil },
		Store:        openStore(t),
	}
	for base, from := range map[string]string{
		"https://pay.shop.example": "payhook@pay.shop.example",
		"http://127.0.0.1:8080":    "payhook@localhost",
		"":                         "payhook@localhost",
	} {
		c := ok
		c.BaseURL = base
		m, err := mail.New(c)
		require.NoError(t, err)
		require.Equal(t, from, m.From(), "base URL %q", base)
	}
	c := ok
	c.SMTP.From = "not an address"
	_, err = mail.New(c)
	require.ErrorContains(t, err, "not an email address")
}

func TestErrorEmail_RestartLosesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The SMTP server is down: a port with nobody listening (connection refused).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	// The mailer's store is a file of its own, so that the test can close and reopen it
	// beside the running payhook (as a process restarting on its database would).
	path := filepath.Join(t.TempDir(), "mail.db")
	before, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	f := setup(t, mail.SMTPConfig{Host: "127.0.0.1", Port: port},
		mail.Config{Store: before, Owner: "before", SendAttempts: 50, RetryBackoff: 50 * time.Millisecond,
			SendTimeout: 200 * time.Millisecond},
		map[string]any{"emails": []string{"ops@example.com"}})
	f.clock.Run() // retries come after RetryBackoff

	first := f.pay(t, "", "ORDER-1")
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().SendErrors >= 1 }, "a refused try")
	f.pay(t, "", "ORDER-2")
	phtest.Eventually(t, 5*time.Second, func() bool { return f.mailer.Stats().Held == 1 }, "1 failure held back")

	// Restart: the mailer and its store stop, and start again on the same file.
	f.close(t)
	require.NoError(t, before.Close())
	after, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { after.Close() })
	st, err := after.ErrorEmailStats(ctx)
	require.NoError(t, err)
	require.Equal(t, payhook.ErrorEmailStats{Queued: 1, HeldBack: 1}, st, "nothing lost by the restart")

	// The SMTP server comes back: the queued email goes out, then, once the window has
	// passed, the summary of the held-back failure.
	srv := startSMTPAt(t, addr, smtpOptions{})
	m := newMailer(t, f.env, f.clock, smtpConfig(srv, "", ""), mail.Config{Store: after, Owner: "after"})
	msgs := srv.Wait(t, 1, 5*time.Second)
	e := parseEmail(t, msgs[0].Data)
	require.Contains(t, e.Subject, "Payment notification failed")
	require.Contains(t, e.Subject, "(order ORDER-1)")
	require.Contains(t, e.Text, first)

	f.clock.Advance(10*time.Minute + time.Second)
	msgs = srv.Wait(t, 2, 5*time.Second)
	e = parseEmail(t, msgs[1].Data)
	require.Contains(t, e.Subject, "Notifications still failing")
	requireText(t, e.Text, "1 more failure to this URL since")
	require.Contains(t, e.Text, "order_no:          ORDER-2")

	closeMailer(t, m)
	require.Len(t, srv.Messages(), 2)
	st, err = after.ErrorEmailStats(ctx)
	require.NoError(t, err)
	require.Equal(t, payhook.ErrorEmailStats{}, st)
	require.Equal(t, mail.Stats{Sent: 2}, m.Stats())
}

func TestErrorEmail_ProcessesShareOneWindowPerURL(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	// Two mailers on one store stand for two payhook processes on one database; the
	// failures are handed to them in turn.
	f := setup(t, smtpConfig(srv, "", ""), mail.Config{Owner: "process-a"},
		map[string]any{"emails": []string{"ops@example.com"}})
	b := f.addMailer(t, smtpConfig(srv, "", ""), mail.Config{Owner: "process-b"})
	a := f.mailer

	for i := 1; i <= 6; i++ {
		f.pay(t, "", fmt.Sprintf("ORDER-%d", i))
	}
	var others []string
	for i := 1; i <= 3; i++ {
		r := phtest.NewReceiver(t)
		r.Respond = f.merchant.Respond
		f.pay(t, r.URL, fmt.Sprintf("OTHER-%d", i))
		others = append(others, r.URL)
	}
	phtest.Eventually(t, 5*time.Second, func() bool { return a.Stats().Held+b.Stats().Held == 5 },
		"5 failures held back between the two")
	require.NotZero(t, a.Stats().Held, "both processes recorded failures")
	require.NotZero(t, b.Stats().Held, "both processes recorded failures")

	// One email per URL, whichever process recorded or sent it.
	srv.Wait(t, 4, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	msgs := srv.Messages()
	require.Len(t, msgs, 4)
	for _, u := range append([]string{f.merchant.URL}, others...) {
		n := 0
		for _, m := range msgs {
			if strings.Contains(parseEmail(t, m.Data).Text, "URL:               "+u+"\n") {
				n++
			}
		}
		require.Equal(t, 1, n, "emails about %s", u)
	}

	// Past the window, both look for summaries: one is sent.
	f.clock.Advance(10*time.Minute + time.Second)
	srv.Wait(t, 5, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	msgs = srv.Messages()
	require.Len(t, msgs, 5)
	requireText(t, parseEmail(t, msgs[4].Data).Text, "5 more failures to this URL since")

	f.close(t)
	require.EqualValues(t, 9, a.Stats().Failures+b.Stats().Failures)
	require.EqualValues(t, 5, a.Stats().Sent+b.Stats().Sent)
	require.Len(t, srv.Messages(), 5)
}

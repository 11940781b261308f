package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/mail"
	"github.com/payhook/payhook/service"
	"github.com/payhook/payhook/sqlite"
	"github.com/payhook/payhook/web"
)

// options are the flags of serve and migrate, each with its PAYHOOK_* twin.
type options struct {
	addr           string
	database       string
	baseURL        string
	smtpURL        string
	smtp           *mail.SMTPConfig // smtpURL parsed; nil: error emails off
	errorEmailGap  time.Duration    // flood control: one error email per URL per this long
	allowPrivate   bool
	perDestination int
	logFormat      string
	logLevel       string
	cpuProfile     string
}

// envString returns the environment variable's value, or def when it is unset.
func envString(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string, def bool) (bool, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

func envInt(name string, def int) (int, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a whole number", name, v)
	}
	return n, nil
}

func envDuration(name string, def time.Duration) (time.Duration, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 10m or 1h", name, v)
	}
	return d, nil
}

func parseOptions(name string, args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("payhook "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	allow, err := envBool("PAYHOOK_ALLOW_PRIVATE_URLS", false)
	if err != nil {
		return nil, err
	}
	per, err := envInt("PAYHOOK_PER_DESTINATION", 64)
	if err != nil {
		return nil, err
	}
	gap, err := envDuration("PAYHOOK_ERROR_EMAIL_INTERVAL", mail.DefaultInterval)
	if err != nil {
		return nil, err
	}
	fs.StringVar(&o.addr, "addr", envString("PAYHOOK_ADDR", "127.0.0.1:8080"), "address to listen on (PAYHOOK_ADDR)")
	fs.StringVar(&o.database, "database", envString("PAYHOOK_DATABASE", "payhook.db"), "SQLite file, or a postgres:// URL (PAYHOOK_DATABASE)")
	fs.StringVar(&o.baseURL, "base-url", envString("PAYHOOK_BASE_URL", ""), "how customers reach the checkout pages (PAYHOOK_BASE_URL; default http:// + the address)")
	fs.StringVar(&o.smtpURL, "smtp-url", envString("PAYHOOK_SMTP_URL", ""), "SMTP server for error emails: smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (implicit TLS), optional ?from=sender (PAYHOOK_SMTP_URL)")
	fs.DurationVar(&o.errorEmailGap, "error-email-interval", gap, "at most one error email per webhook URL per this long; the failures in between are summed up (PAYHOOK_ERROR_EMAIL_INTERVAL)")
	fs.BoolVar(&o.allowPrivate, "allow-private-urls", allow, "let webhook URLs reach loopback and private addresses (PAYHOOK_ALLOW_PRIVATE_URLS)")
	fs.IntVar(&o.perDestination, "per-destination", per, "concurrent background attempts to one webhook URL at most (PAYHOOK_PER_DESTINATION)")
	fs.StringVar(&o.logFormat, "log-format", envString("PAYHOOK_LOG_FORMAT", "text"), "log format: text or json (PAYHOOK_LOG_FORMAT)")
	fs.StringVar(&o.logLevel, "log-level", envString("PAYHOOK_LOG_LEVEL", "info"), "log level: debug, info, warn, error (PAYHOOK_LOG_LEVEL)")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.baseURL == "" {
		o.baseURL = "http://" + o.addr
	}
	o.baseURL = strings.TrimSuffix(o.baseURL, "/")
	if err := payhook.ValidateWebhookURL(o.baseURL, 2000); err != nil {
		return nil, fmt.Errorf("--base-url %q: %v", o.baseURL, err)
	}
	if o.perDestination < 1 {
		return nil, fmt.Errorf("--per-destination must be at least 1")
	}
	if o.errorEmailGap <= 0 {
		return nil, fmt.Errorf("--error-email-interval must be more than 0")
	}
	if o.smtpURL != "" {
		c, err := mail.ParseSMTPURL(o.smtpURL)
		if err != nil {
			return nil, fmt.Errorf("--smtp-url (PAYHOOK_SMTP_URL): %v", err)
		}
		o.smtp = &c
	}
	return o, nil
}

func newLogger(o *options, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func openStore(ctx context.Context, database string) (*sqlite.Store, error) {
	if strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://") {
		return nil, errors.New("PostgreSQL is not supported by this build yet: use a SQLite file path")
	}
	return sqlite.Open(ctx, database)
}

func runMigrate(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions("migrate", args, stderr)
	if err != nil {
		return usageExit(err, stderr)
	}
	if strings.HasPrefix(o.database, "postgres") {
		fmt.Fprintln(stderr, "payhook migrate: PostgreSQL is not supported by this build yet")
		return 1
	}
	n, err := sqlite.Migrate(context.Background(), o.database)
	if err != nil {
		fmt.Fprintf(stderr, "payhook migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "payhook migrate: %d migration(s) applied to %s\n", n, o.database)
	return 0
}

func usageExit(err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "payhook: %v\n", err)
	return 2
}

func runServe(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions("serve", args, stderr)
	if err != nil {
		return usageExit(err, stderr)
	}
	log := newLogger(o, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return usageExit(err, stderr)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usageExit(err, stderr)
		}
		defer pprof.StopCPUProfile()
	}
	if err := serve(ctx, o, log, stdout); err != nil {
		log.Error("payhook serve stopped", "err", err)
		return 1
	}
	return 0
}

// serve runs the service until ctx ends, then shuts down gracefully: no new requests,
// requests in flight finish, attempts in flight finish (or are handed back), writes are
// committed.
func serve(ctx context.Context, o *options, log *slog.Logger, stdout io.Writer) error {
	store, err := openStore(ctx, o.database)
	if err != nil {
		return err
	}
	defer store.Close()
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), payhook.NewSessionID()[:8])

	var svc *service.Service
	// Error emails (SPEC §8): the engine hands each failed notification to the mailer,
	// which never makes it wait.
	var mailer *mail.ErrorMailer
	var onFinished func(*payhook.Notification, payhook.Status, payhook.Attempt)
	if o.smtp != nil {
		mailer, err = mail.New(mail.Config{SMTP: *o.smtp, BaseURL: o.baseURL, Interval: o.errorEmailGap, Logger: log,
			Settings:     func(ctx context.Context) (payhook.Settings, error) { return svc.Settings(ctx) },
			Transaction:  func(ctx context.Context, id string) (*payhook.Transaction, error) { return svc.Transaction(ctx, id) },
			Notification: func(ctx context.Context, id string) (*payhook.Notification, error) { return svc.Notification(ctx, id) },
		})
		if err != nil {
			return err
		}
		onFinished = mailer.OnFinished
		log.Info("error emails on", "smtp", o.smtp.String(), "from", mailer.From(), "interval", o.errorEmailGap)
	} else {
		log.Info("error emails off: no --smtp-url (PAYHOOK_SMTP_URL) is set; failed notifications show only in the delivery log")
	}
	engine := delivery.New(delivery.Config{
		Store:          store,
		Settings:       func(ctx context.Context) (payhook.Settings, error) { return svc.Settings(ctx) },
		Sender:         delivery.NewSender(o.allowPrivate, nil),
		Owner:          owner,
		PerDestination: o.perDestination,
		OnFinished:     onFinished,
		Logger:         log,
	})
	svc = service.New(service.Config{Store: store, Engine: engine,
		Gateways: gateway.NewRegistry(sandbox.Defaults()...), Logger: log, BaseURL: o.baseURL})
	newKey, err := svc.Bootstrap(ctx, os.Getenv("PAYHOOK_API_KEY"))
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if email, password := os.Getenv("PAYHOOK_ADMIN_EMAIL"), os.Getenv("PAYHOOK_ADMIN_PASSWORD"); email != "" || password != "" {
		created, err := svc.EnsureUser(ctx, email, password)
		if err != nil {
			return fmt.Errorf("PAYHOOK_ADMIN_EMAIL/PAYHOOK_ADMIN_PASSWORD: %w", err)
		}
		if created {
			log.Info("created the dashboard user", "email", email)
			if len(password) < service.MinPasswordLength {
				log.Warn("PAYHOOK_ADMIN_PASSWORD is short: use at least 8 characters outside tests", "length", len(password))
			}
		}
	}
	if newKey != "" {
		fmt.Fprintf(stdout, "payhook: created an API key (shown only this once; keep it):\n\n    %s\n\n", newKey)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(delivery.Collectors()...)
	handler, err := web.New(web.Config{Service: svc, Logger: log, Metrics: reg})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	engine.Start()
	if mailer != nil {
		mailer.Start()
	}
	expiryCtx, stopExpiry := context.WithCancel(context.Background())
	defer stopExpiry()
	go svc.RunExpiry(expiryCtx, time.Second)
	log.Info("payhook listening", "addr", ln.Addr().String(), "base_url", o.baseURL, "database", o.database,
		"allow_private_urls", o.allowPrivate)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests and attempts in flight")
	// The engine stops beside the HTTP server, not after it: a customer's request waiting
	// on a retry's backoff gets its answer (the summary page) as soon as the engine hands
	// the retry back to the database, instead of holding the HTTP shutdown for the round.
	ectx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Shutdown(ectx) }()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := <-engineDone; err != nil {
		log.Warn("delivery shutdown", "err", err)
	}
	if mailer != nil {
		// After the engine: its last failures are emailed (or given up, and logged).
		mctx, cancel3 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel3()
		if err := mailer.Close(mctx); err != nil {
			log.Warn("error email shutdown", "err", err)
		}
	}
	log.Info("stopped")
	return nil
}

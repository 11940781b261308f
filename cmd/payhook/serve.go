package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/app"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/mail"
	"github.com/payhook/payhook/service"
	"github.com/payhook/payhook/web"
)

// options are the flags of serve, each with its PAYHOOK_* twin.
type options struct {
	addr           string
	database       string
	baseURL        string
	smtpURL        string
	smtp           *mail.SMTPConfig // smtpURL parsed; nil: error emails off
	errorEmailGap  time.Duration    // flood control: one error email per URL per this long
	allowPrivate   bool
	perDestination int
	leaseTTL       time.Duration // delivery leases (another process takes over after it)
	claimTimeout   time.Duration // gateway call + commit bound; claims stale after three times it
	logFormat      string
	logLevel       string
	bodyTimeout    time.Duration // a request body must arrive within this
	maxBodyReads   int           // request bodies read at once at most
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

// dbFlag registers --database with its PAYHOOK_DATABASE twin.
func dbFlag(fs *flag.FlagSet, database *string) {
	fs.StringVar(database, "database", envString("PAYHOOK_DATABASE", "payhook.db"), "SQLite file, or a postgres:// URL (PAYHOOK_DATABASE)")
}

// newFlagSet returns the flag set of one command; its -h shows usage then the command's
// own flags only.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("payhook "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: payhook %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// logLevels are the names --log-level accepts.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// source names where a flag's value came from, for error messages: the flag when it was
// given, else its environment twin.
func source(fs *flag.FlagSet, name, env string) string {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	if given {
		return "--" + name
	}
	return env
}

// parseOptions parses the flags of "payhook serve".
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet("serve", "[flags]", stderr)
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
	bodyTimeout, err := envDuration("PAYHOOK_BODY_TIMEOUT", web.DefaultBodyTimeout)
	if err != nil {
		return nil, err
	}
	bodyReads, err := envInt("PAYHOOK_MAX_BODY_READS", web.DefaultMaxBodyReads)
	if err != nil {
		return nil, err
	}
	fs.StringVar(&o.addr, "addr", envString("PAYHOOK_ADDR", "127.0.0.1:8080"), "address to listen on (PAYHOOK_ADDR)")
	dbFlag(fs, &o.database)
	fs.StringVar(&o.baseURL, "base-url", envString("PAYHOOK_BASE_URL", ""), "how customers reach the checkout pages (PAYHOOK_BASE_URL; default http:// + the address)")
	fs.StringVar(&o.smtpURL, "smtp-url", envString("PAYHOOK_SMTP_URL", ""), "SMTP server for error emails: smtp://user:pass@host:port (STARTTLS when offered) or smtps://… (implicit TLS), optional ?from=sender (PAYHOOK_SMTP_URL)")
	fs.DurationVar(&o.errorEmailGap, "error-email-interval", gap, "at most one error email per webhook URL per this long; the failures in between are summed up (PAYHOOK_ERROR_EMAIL_INTERVAL)")
	fs.BoolVar(&o.allowPrivate, "allow-private-urls", allow, "let webhook URLs reach loopback and private addresses (PAYHOOK_ALLOW_PRIVATE_URLS)")
	fs.IntVar(&o.perDestination, "per-destination", per, "concurrent background attempts to one webhook URL at most (PAYHOOK_PER_DESTINATION)")
	lease, err := envDuration("PAYHOOK_LEASE_TTL", delivery.DefaultLeaseTTL)
	if err != nil {
		return nil, err
	}
	claim, err := envDuration("PAYHOOK_CLAIM_TIMEOUT", service.DefaultClaimTimeout)
	if err != nil {
		return nil, err
	}
	fs.DurationVar(&o.leaseTTL, "lease-ttl", lease, "how long a delivery lease holds without renewal; after a process dies, others take its notifications over after this (PAYHOOK_LEASE_TTL)")
	fs.DurationVar(&o.claimTimeout, "claim-timeout", claim, "bound of a gateway call and the commit after it; a payment or refund cut off is resolved from the gateway's record after three times this (PAYHOOK_CLAIM_TIMEOUT)")
	fs.DurationVar(&o.bodyTimeout, "body-timeout", bodyTimeout, "a request body must arrive whole within this long, else 408 (PAYHOOK_BODY_TIMEOUT)")
	fs.IntVar(&o.maxBodyReads, "max-body-reads", bodyReads, "request bodies read at once at most; beyond, 503 with Retry-After (PAYHOOK_MAX_BODY_READS)")
	fs.StringVar(&o.logFormat, "log-format", envString("PAYHOOK_LOG_FORMAT", "text"), "log format: text or json (PAYHOOK_LOG_FORMAT)")
	fs.StringVar(&o.logLevel, "log-level", envString("PAYHOOK_LOG_LEVEL", "info"), "log level: debug, info, warn or error (PAYHOOK_LOG_LEVEL)")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, ok := logLevels[strings.ToLower(o.logLevel)]; !ok {
		return nil, fmt.Errorf("%s %q: want debug, info, warn or error", source(fs, "log-level", "PAYHOOK_LOG_LEVEL"), o.logLevel)
	}
	if f := strings.ToLower(o.logFormat); f != "text" && f != "json" {
		return nil, fmt.Errorf("%s %q: want text or json", source(fs, "log-format", "PAYHOOK_LOG_FORMAT"), o.logFormat)
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
	if o.leaseTTL < 300*time.Millisecond {
		return nil, fmt.Errorf("--lease-ttl must be at least 300ms")
	}
	if o.claimTimeout < 100*time.Millisecond {
		return nil, fmt.Errorf("--claim-timeout must be at least 100ms")
	}
	if o.errorEmailGap <= 0 {
		return nil, fmt.Errorf("--error-email-interval must be more than 0")
	}
	if o.bodyTimeout < 100*time.Millisecond {
		return nil, fmt.Errorf("--body-timeout must be at least 100ms")
	}
	if o.maxBodyReads < 1 {
		return nil, fmt.Errorf("--max-body-reads must be at least 1")
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
	opts := &slog.HandlerOptions{Level: logLevels[strings.ToLower(o.logLevel)]}
	if strings.ToLower(o.logFormat) == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func runMigrate(args []string, stdout, stderr io.Writer) int {
	var database string
	fs := newFlagSet("migrate", "[--database FILE|URL]", stderr)
	dbFlag(fs, &database)
	if err := fs.Parse(args); err != nil {
		return usageExit(err, stderr)
	}
	if fs.NArg() > 0 {
		return usageExit(fmt.Errorf("unexpected argument %q", fs.Arg(0)), stderr)
	}
	n, err := app.Migrate(context.Background(), database)
	if err != nil {
		fmt.Fprintf(stderr, "payhook migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "payhook migrate: %d migration(s) applied to %s\n", n, redactURL(database))
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
	o, err := parseOptions(args, stderr)
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
		if strings.ToLower(o.logFormat) == "json" {
			log.Error("payhook serve stopped", "err", err)
		} else {
			fmt.Fprintf(stderr, "payhook serve: %v\n", err)
		}
		return 1
	}
	return 0
}

// serve runs the service until ctx ends, then shuts down gracefully (app.Shutdown): no
// new requests, requests in flight finish, attempts in flight finish (or are handed
// back), writes are committed. The address is bound first: a start that fails there
// (address in use) opens no database and so creates no API key, whose only display
// would be lost.
func serve(ctx context.Context, o *options, log *slog.Logger, stdout io.Writer) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on --addr %s: %w (nothing was created; choose a free address with --addr or PAYHOOK_ADDR)", o.addr, err)
	}
	a, err := app.Open(ctx, app.Config{
		Database: o.database, BaseURL: o.baseURL, SMTP: o.smtp, ErrorEmailInterval: o.errorEmailGap,
		AllowPrivate: o.allowPrivate, PerDestination: o.perDestination,
		APIKey: os.Getenv("PAYHOOK_API_KEY"), AdminEmail: os.Getenv("PAYHOOK_ADMIN_EMAIL"), AdminPassword: os.Getenv("PAYHOOK_ADMIN_PASSWORD"),
		LeaseTTL: o.leaseTTL, ClaimTimeout: o.claimTimeout, BodyTimeout: o.bodyTimeout, MaxBodyReads: o.maxBodyReads, Logger: log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	if a.NewAPIKey != "" {
		fmt.Fprintf(stdout, "payhook: created an API key (shown only this once; keep it):\n\n    %s\n\n", a.NewAPIKey)
	}
	a.Start()
	log.Info("payhook listening", "addr", ln.Addr().String(), "base_url", o.baseURL, "database", redactURL(o.database),
		"allow_private_urls", o.allowPrivate, "owner", a.Config.Owner)
	errc := make(chan error, 1)
	go func() { errc <- a.Serve(ln) }()
	select {
	case err := <-errc:
		a.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests and attempts in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

// redactURL hides the password of a database URL in logs.
func redactURL(database string) string {
	if u, err := url.Parse(database); err == nil && u.User != nil {
		return u.Redacted()
	}
	return database
}

// Package app is payhook's one assembly: it opens the store, wires the delivery engine,
// the error mailer, the service, the background loops (expiry, claim recovery) and the
// HTTP handler, and owns their start and stop order. "payhook serve" and the tests build
// the service through it, so tests run the production wiring and shutdown order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
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

// Config configures an App. Zero values take the production defaults.
type Config struct {
	// Database is a SQLite file path, or a postgres:// URL.
	Database string
	// BaseURL is how customers reach the checkout pages (required).
	BaseURL string
	// SMTP, when set, turns error emails on; ErrorEmailInterval is their flood-control
	// window (default mail.DefaultInterval).
	SMTP               *mail.SMTPConfig
	ErrorEmailInterval time.Duration
	// AllowPrivate lets webhook URLs reach loopback and private addresses.
	AllowPrivate bool
	// PerDestination bounds concurrent background attempts to one URL, per process.
	PerDestination int
	// APIKey, AdminEmail and AdminPassword are PAYHOOK_API_KEY, PAYHOOK_ADMIN_EMAIL and
	// PAYHOOK_ADMIN_PASSWORD.
	APIKey, AdminEmail, AdminPassword string
	// Owner names this process in leases, claims and roles (default host/pid/random).
	Owner string
	// LeaseTTL (delivery leases), ClaimTimeout (gateway call and commit), SweepInterval
	// (due notifications), ExpiryInterval (expired checkouts) and RecoveryInterval
	// (stale claims): defaults suit production; tests scale them down.
	LeaseTTL, ClaimTimeout, SweepInterval, ExpiryInterval, RecoveryInterval time.Duration
	// HealthRefresh (how often each process reads the URLs that are not healthy) and
	// ResumeInterval (how often the held backlogs are looked for): endpoint health
	// (default 1s each; tests scale them down).
	HealthRefresh, ResumeInterval time.Duration
	// BodyTimeout bounds how long a request body may take to arrive (default
	// web.DefaultBodyTimeout); MaxBodyReads bounds the bodies read at once (default
	// web.DefaultMaxBodyReads). Tests scale the timeout down.
	BodyTimeout  time.Duration
	MaxBodyReads int
	// DigestInterval is how often a process checks whether the previous UTC day's
	// digest notifications are due (default a minute; see Service.RunDigests).
	DigestInterval time.Duration
	// OnFinished, when set, is called after the error mailer when a notification's round
	// ends delivered or failed (tests watch deliveries end).
	OnFinished func(n *payhook.Notification, status payhook.Status, last payhook.Attempt)
	Clock      payhook.Clock
	Logger     *slog.Logger
}

// App is a wired payhook: open it, Start it, Serve HTTP, Shutdown.
type App struct {
	Config Config
	Store  payhook.Store
	Engine *delivery.Engine
	// Health tracks the webhook URLs' health; Resumer sends held backlogs.
	Health  *delivery.Health
	Resumer *delivery.Resumer
	Service *service.Service
	Mailer  *mail.ErrorMailer // nil without SMTP
	Handler http.Handler
	Metrics *prometheus.Registry
	// NewAPIKey is the API key created at first start ("" otherwise), to print once.
	NewAPIKey string

	loops    sync.WaitGroup
	stop     context.CancelFunc
	srv      *http.Server
	shutOnce sync.Once
}

// DefaultOwner names this process: host, pid and a random part.
func DefaultOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), payhook.NewSessionID()[:8])
}

// IsPostgres reports whether database names a PostgreSQL database.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// OpenStore opens the store database names; wake, when not nil, fires when another
// process made notifications due.
func OpenStore(ctx context.Context, database string) (st payhook.Store, wake <-chan struct{}, err error) {
	if IsPostgres(database) {
		return openPostgres(ctx, database)
	}
	s, err := sqlite.Open(ctx, database)
	if err != nil {
		return nil, nil, err
	}
	return s, nil, nil
}

// Open opens the store and wires everything; nothing runs until Start.
func Open(ctx context.Context, c Config) (*App, error) {
	if c.BaseURL == "" {
		return nil, errors.New("app: BaseURL is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Owner == "" {
		c.Owner = DefaultOwner()
	}
	if c.ErrorEmailInterval <= 0 {
		c.ErrorEmailInterval = mail.DefaultInterval
	}
	if c.ExpiryInterval <= 0 {
		c.ExpiryInterval = time.Second
	}
	if c.RecoveryInterval <= 0 {
		c.RecoveryInterval = time.Second
	}
	if c.DigestInterval <= 0 {
		c.DigestInterval = time.Minute
	}
	store, wake, err := OpenStore(ctx, c.Database)
	if err != nil {
		return nil, err
	}
	a := &App{Config: c, Store: store}
	if err := a.wire(ctx, wake); err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) wire(ctx context.Context, wake <-chan struct{}) error {
	c, log := a.Config, a.Config.Logger
	var svc *service.Service
	settings := func(ctx context.Context) (payhook.Settings, error) { return svc.Settings(ctx) }
	var err error
	if c.SMTP != nil {
		a.Mailer, err = mail.New(mail.Config{SMTP: *c.SMTP, BaseURL: c.BaseURL, Interval: c.ErrorEmailInterval, Logger: log, Clock: c.Clock,
			Store: a.Store, Owner: c.Owner,
			Settings:     settings,
			Transaction:  func(ctx context.Context, id string) (*payhook.Transaction, error) { return svc.Transaction(ctx, id) },
			Notification: func(ctx context.Context, id string) (*payhook.Notification, error) { return svc.Notification(ctx, id) },
		})
		if err != nil {
			return err
		}
		log.Info("error emails on", "smtp", c.SMTP.String(), "from", a.Mailer.From(), "interval", c.ErrorEmailInterval)
	} else {
		log.Info("error emails off: no --smtp-url (PAYHOOK_SMTP_URL) is set; failed notifications show only in the delivery log")
	}
	onFinished := func(n *payhook.Notification, status payhook.Status, last payhook.Attempt) {
		if a.Mailer != nil {
			a.Mailer.OnFinished(n, status, last)
		}
		if c.OnFinished != nil {
			c.OnFinished(n, status, last)
		}
	}
	a.Health = delivery.NewHealth(delivery.HealthConfig{Store: a.Store, Settings: settings, Refresh: c.HealthRefresh,
		Clock: c.Clock, Logger: log, OnChange: a.endpointChanged})
	a.Engine = delivery.New(delivery.Config{
		Health:         a.Health,
		Store:          a.Store,
		Settings:       settings,
		Sender:         delivery.NewSender(c.AllowPrivate, c.Clock),
		Owner:          c.Owner,
		PerDestination: c.PerDestination,
		SweepInterval:  c.SweepInterval,
		LeaseTTL:       c.LeaseTTL,
		Wake:           wake,
		OnFinished:     onFinished,
		Clock:          c.Clock,
		Logger:         log,
	})
	svc = service.New(service.Config{Store: a.Store, Engine: a.Engine, Gateways: gateway.NewRegistry(sandbox.Defaults(a.Store)...),
		Clock: c.Clock, Logger: log, BaseURL: c.BaseURL, Owner: c.Owner, ClaimTimeout: c.ClaimTimeout,
		ErrorEmails: a.Mailer != nil, Health: a.Health, ResumeKick: func() { a.Resumer.Kick() }})
	a.Service = svc
	a.Resumer = delivery.NewResumer(delivery.ResumerConfig{Store: a.Store, Engine: a.Engine, Health: a.Health, Settings: settings,
		Owner: c.Owner, Interval: c.ResumeInterval, Clock: c.Clock, Logger: log})
	if a.NewAPIKey, err = svc.Bootstrap(ctx, c.APIKey); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if c.AdminEmail != "" || c.AdminPassword != "" {
		created, err := svc.EnsureUser(ctx, c.AdminEmail, c.AdminPassword)
		if err != nil {
			return fmt.Errorf("PAYHOOK_ADMIN_EMAIL/PAYHOOK_ADMIN_PASSWORD: %w", err)
		}
		if created {
			log.Info("created the dashboard user", "email", c.AdminEmail)
			if len(c.AdminPassword) < service.MinPasswordLength {
				log.Warn("PAYHOOK_ADMIN_PASSWORD is short: use at least 8 characters outside tests", "length", len(c.AdminPassword))
			}
		}
	}
	a.Metrics = prometheus.NewRegistry()
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Metrics.MustRegister(delivery.Collectors()...)
	a.Metrics.MustRegister(delivery.QueueCollector(a.Store, c.Clock))
	a.Metrics.MustRegister(delivery.HealthCollectors(a.Store)...)
	if a.Mailer != nil {
		a.Metrics.MustRegister(mail.Collectors(a.Mailer)...)
	}
	h, err := web.New(web.Config{Service: svc, Logger: log, Metrics: a.Metrics,
		BodyTimeout: c.BodyTimeout, MaxBodyReads: c.MaxBodyReads})
	if err != nil {
		return err
	}
	a.Handler = h
	a.srv = &http.Server{Handler: a.Handler, ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(a.Config.Logger.Handler(), slog.LevelWarn)}
	return nil
}

// endpointChanged tells of a URL's change of health: an email to the error list
// (failing, disabled) and an operator notice.
func (a *App) endpointChanged(h payhook.EndpointHealth, change payhook.EndpointChange) {
	if a.Mailer != nil {
		a.Mailer.NotifyEndpoint(h, change)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Service.SendNotice(ctx, h, change); err != nil {
		a.Config.Logger.Error("operator notice not stored", "url", h.URL, "change", change, "err", err)
	}
}

// Start starts the background work: the engine's sweeps and lease renewals, the error
// mailer, the expiry sweep (in one process across those sharing the database) and the
// recovery of claims cut off between a gateway call and its commit.
func (a *App) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	a.stop = cancel
	a.Health.Start()
	a.Engine.Start()
	if a.Mailer != nil {
		a.Mailer.Start()
	}
	a.loops.Add(3)
	go func() { defer a.loops.Done(); a.Resumer.Run(ctx) }()
	go func() { defer a.loops.Done(); a.Service.RunExpiry(ctx, a.Config.ExpiryInterval) }()
	go func() { defer a.loops.Done(); a.Service.RunRecovery(ctx, a.Config.RecoveryInterval) }()
	a.loops.Add(1)
	go func() { defer a.loops.Done(); a.Service.RunDigests(ctx, a.Config.DigestInterval) }()
}

// ReadHeaderTimeout bounds how long a request's headers may take to arrive.
const ReadHeaderTimeout = 10 * time.Second

// Serve serves HTTP on ln until Shutdown (http.ErrServerClosed is not an error).
//
// Headers must arrive within ReadHeaderTimeout; the body's bound (Config.BodyTimeout) is
// set per request by the web handler, which also caps the bodies read at once. There is
// no write timeout: a payment's answer waits for the merchant's webhook, whose worst case
// (timeout × attempts + backoff) can be minutes.
//
// The server exists from Open on, so that a Shutdown racing a Serve that has not begun
// yet still stops it (Serve then returns at once).
func (a *App) Serve(ln net.Listener) error {
	if err := a.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops gracefully, in order: no new requests, and at the same time the engine
// stops its sweeps and waits (a customer waiting on a retry's backoff gets the summary
// page as soon as the engine hands the retry back to the database); requests in flight
// finish; the background loops stop; the mailer sends what it can; the store commits
// what is queued and closes. ctx bounds the whole.
func (a *App) Shutdown(ctx context.Context) error {
	var err error
	a.shutOnce.Do(func() { err = a.shutdown(ctx) })
	return err
}

func (a *App) shutdown(ctx context.Context) error {
	log := a.Config.Logger
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	engineDone := make(chan error, 1)
	go func() { engineDone <- a.Engine.Shutdown(ectx) }()
	if a.srv != nil {
		if err := a.srv.Shutdown(ctx); err != nil {
			log.Warn("http shutdown", "err", err)
			a.srv.Close()
		}
	}
	if err := <-engineDone; err != nil {
		log.Warn("delivery shutdown", "err", err)
	}
	if a.stop != nil {
		a.stop()
		a.loops.Wait()
		a.Health.Close()
	}
	if a.Mailer != nil {
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.Mailer.Close(mctx); err != nil {
			log.Warn("error email shutdown", "err", err)
		}
	}
	return a.Store.Close()
}

// Migrate applies pending migrations to the database (SQLite file or postgres:// URL)
// and reports how many ran.
func Migrate(ctx context.Context, database string) (int, error) {
	if IsPostgres(database) {
		return migratePostgres(ctx, database)
	}
	return sqlite.Migrate(ctx, database)
}

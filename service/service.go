// Package service is payhook's one service layer: the APIs, the hosted checkout pages
// and (later) the dashboard call the same methods, so a button and its API do the same
// thing through the same code.
package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/signature"
)

// Service carries out payhook's use cases.
type Service struct {
	store    payhook.Store
	engine   *delivery.Engine
	gateways *gateway.Registry
	clock    payhook.Clock
	log      *slog.Logger
	baseURL  string

	health     HealthHooks // optional (endpoint_health.go)
	resumeKick func()      // optional: wakes the resume of held notifications

	payLocks sync.Map // session id → *sessionLock: one payment or operation at a time per session

	mu       sync.Mutex
	cfg      *config // cached settings and plugin settings
	cfgUntil time.Time
	cfgGen   uint64               // bumped by dropConfig, so that a load begun before a change is not cached
	keys     map[string]time.Time // API key hash → cached until
	// lastNotify rate-limits notify-again per transaction.
	lastNotify map[string]time.Time
	basic      map[string]basicAuthEntry // checked Basic credentials, by hash

	owner    string        // names this process in claims and roles
	claimTTL time.Duration // how long a claim holds before another process may resolve it

	errorEmails bool // an SMTP server is configured (see ErrorEmailsConfigured)
}

// config is a snapshot of the webhook configuration.
type config struct {
	settings payhook.Settings
	plugins  map[payhook.Plugin]payhook.PluginSettings
}

// configTTL bounds how long a process trusts its cached configuration; a change made in
// this process applies at once (the cache is dropped), one made by another process sharing
// the database within configTTL.
const configTTL = time.Second

// Config configures a service.
type Config struct {
	Store    payhook.Store
	Engine   *delivery.Engine
	Gateways *gateway.Registry
	Clock    payhook.Clock
	Logger   *slog.Logger
	// BaseURL is how customers reach the checkout pages, e.g. "http://127.0.0.1:8080".
	BaseURL string
	// Owner names this process in claims and roles (default: a random name).
	Owner string
	// ClaimTimeout bounds a gateway call and the commit that follows it, on a context
	// detached from the customer's or client's request; a claim older than three times that is
	// stale and resolved by any process (default DefaultClaimTimeout).
	ClaimTimeout time.Duration
	// ErrorEmails is true when an SMTP server is configured, so that notify_on_error can
	// send its emails (see ErrorEmailsConfigured).
	ErrorEmails bool
	// Health and ResumeKick, when set, are told of a resume (endpoint_health.go): the
	// engine's health tracker attempts the URL again at once, and the resume of held
	// notifications starts without waiting for its next look.
	Health     HealthHooks
	ResumeKick func()
}

// DefaultClaimTimeout is Config.ClaimTimeout's default.
const DefaultClaimTimeout = 30 * time.Second

// New returns a service.
func New(c Config) *Service {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Owner == "" {
		c.Owner = "payhook-" + payhook.NewSessionID()[:8]
	}
	if c.ClaimTimeout <= 0 {
		c.ClaimTimeout = DefaultClaimTimeout
	}
	return &Service{store: c.Store, engine: c.Engine, gateways: c.Gateways, clock: c.Clock,
		log: c.Logger, baseURL: c.BaseURL, keys: map[string]time.Time{}, owner: c.Owner, claimTTL: c.ClaimTimeout,
		errorEmails: c.ErrorEmails, health: c.Health, resumeKick: c.ResumeKick}
}

// BaseURL is how customers reach the checkout pages.
func (s *Service) BaseURL() string { return s.baseURL }

// Gateways returns the gateway registry.
func (s *Service) Gateways() *gateway.Registry { return s.gateways }

// Bootstrap makes sure the settings exist (generating the HMAC key at first start) and
// that an API key exists: apiKey, when given, is accepted from now on; otherwise, when
// there is none yet, one is created and returned (to be printed once).
func (s *Service) Bootstrap(ctx context.Context, apiKey string) (newKey string, err error) {
	if _, ok, err := s.store.Settings(ctx); err != nil {
		return "", err
	} else if !ok {
		// Revision 0 saves only if nobody did: of two processes starting at once on one
		// database, one HMAC key wins and both use it.
		st := payhook.DefaultSettings(payhook.NewHMACKey())
		if err := s.store.SaveSettings(ctx, &st); err != nil && payhook.ErrorCode(err) != payhook.ECONFLICT {
			return "", fmt.Errorf("save default settings: %w", err)
		}
	}
	if apiKey != "" {
		keys, err := s.store.ListAPIKeys(ctx)
		if err != nil {
			return "", err
		}
		for _, k := range keys {
			if k.Hash != hashKey(apiKey) {
				continue
			}
			if !k.RevokedAt.IsZero() {
				// Revoked on purpose (dashboard or API): it stays revoked.
				s.log.Warn("PAYHOOK_API_KEY was revoked; it is not accepted. Set a new key or unset the variable.",
					"revoked_at", k.RevokedAt)
			}
			return "", nil
		}
		err = s.store.CreateAPIKey(ctx, &payhook.APIKey{Name: "PAYHOOK_API_KEY", Prefix: prefix(apiKey),
			Hash: hashKey(apiKey), CreatedAt: s.clock.Now().UTC()})
		if err != nil {
			// Another process starting at the same time may have stored it first.
			if _, lerr := s.store.APIKeyByHash(ctx, hashKey(apiKey)); lerr == nil {
				return "", nil
			}
		}
		return "", err
	}
	key := "ph_" + payhook.NewHMACKey()
	created, err := s.store.CreateFirstAPIKey(ctx, &payhook.APIKey{Name: "first start", Prefix: prefix(key), Hash: hashKey(key), CreatedAt: s.clock.Now().UTC()})
	if err != nil || !created {
		return "", err
	}
	s.audit(ctx, "api_key.create", fmt.Sprintf("%q (%s…)", "first start", prefix(key)))
	return key, nil
}

// CreateAPIKey creates a new API key and returns it; it is never shown again. The name
// (1 to 100 characters) says what the key is for.
func (s *Service) CreateAPIKey(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := len([]rune(name)); n < 1 || n > 100 {
		return "", &payhook.Error{Code: payhook.EINVALID, Message: "invalid input",
			Fields: map[string][]string{"name": {"Give the key a name of 1 to 100 characters, such as \"shop backend\"."}}}
	}
	key := "ph_" + payhook.NewHMACKey()
	err := s.store.CreateAPIKey(ctx, &payhook.APIKey{Name: name, Prefix: prefix(key), Hash: hashKey(key), CreatedAt: s.clock.Now().UTC()})
	if err != nil {
		return "", fmt.Errorf("create API key: %w", err)
	}
	s.audit(ctx, "api_key.create", fmt.Sprintf("%q (%s…)", name, prefix(key)))
	return key, nil
}

// APIKeys lists the API keys (never the keys themselves: name, prefix, dates).
func (s *Service) APIKeys(ctx context.Context) ([]payhook.APIKey, error) {
	return s.store.ListAPIKeys(ctx)
}

// RevokeAPIKey revokes an API key; it stops working at once in this process.
func (s *Service) RevokeAPIKey(ctx context.Context, id int64) error {
	keys, err := s.store.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	if err := s.store.RevokeAPIKey(ctx, id, s.clock.Now().UTC()); err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id {
			s.mu.Lock()
			delete(s.keys, k.Hash)
			s.mu.Unlock()
			s.audit(ctx, "api_key.revoke", fmt.Sprintf("%q (%s…)", k.Name, k.Prefix))
		}
	}
	return nil
}

// Transactions lists transactions for the dashboard, newest first.
func (s *Service) Transactions(ctx context.Context, f payhook.TransactionFilter) ([]*payhook.Transaction, int, error) {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		f.Limit = 50
	}
	return s.store.ListTransactions(ctx, f)
}

func hashKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:])
}

// prefix is what lists show of a key: at most 7 characters, and never more than a quarter
// of it (a short key chosen by an operator must not be shown nearly whole).
func prefix(k string) string {
	return k[:min(7, len(k)/4)]
}

// apiKeyCacheTTL bounds how long a validated key is trusted without asking the store.
const apiKeyCacheTTL = 10 * time.Second

// AuthenticateAPIKey checks an API key (EUNAUTHORIZED when it is not valid).
func (s *Service) AuthenticateAPIKey(ctx context.Context, key string) error {
	if key == "" {
		return payhook.Errorf(payhook.EUNAUTHORIZED, "Authentication credentials were not provided.")
	}
	h := hashKey(key)
	now := s.clock.Now()
	s.mu.Lock()
	until, ok := s.keys[h]
	s.mu.Unlock()
	if ok && now.Before(until) {
		return nil
	}
	if _, err := s.store.APIKeyByHash(ctx, h); err != nil {
		if payhook.ErrorCode(err) == payhook.ENOTFOUND {
			return payhook.Errorf(payhook.EUNAUTHORIZED, "Invalid API key.")
		}
		return err
	}
	s.mu.Lock()
	s.keys[h] = now.Add(apiKeyCacheTTL)
	s.mu.Unlock()
	return nil
}

// config returns the cached configuration, loading it when stale.
func (s *Service) config(ctx context.Context) (*config, error) {
	now := s.clock.Now()
	s.mu.Lock()
	c := s.cfg
	fresh := c != nil && now.Before(s.cfgUntil)
	gen := s.cfgGen
	s.mu.Unlock()
	if fresh {
		return c, nil
	}
	st, ok, err := s.store.Settings(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("settings missing: the service was not bootstrapped")
	}
	list, err := s.store.ListPluginSettings(ctx)
	if err != nil {
		return nil, err
	}
	c = &config{settings: st, plugins: map[payhook.Plugin]payhook.PluginSettings{}}
	for _, p := range list {
		c.plugins[p.Plugin] = p
	}
	s.mu.Lock()
	if s.cfgGen == gen { // else the configuration changed while it loaded: c may be stale
		s.cfg, s.cfgUntil = c, now.Add(configTTL)
	}
	s.mu.Unlock()
	return c, nil
}

func (s *Service) dropConfig() {
	s.mu.Lock()
	s.cfg = nil
	s.cfgGen++
	s.mu.Unlock()
}

// Settings returns the current global settings, unmasked (callers mask what they show).
func (s *Service) Settings(ctx context.Context) (payhook.Settings, error) {
	c, err := s.config(ctx)
	if err != nil {
		return payhook.Settings{}, err
	}
	return c.settings, nil
}

// UpdateSettings applies a patch (SPEC §3). On a bad value nothing changes. Two
// concurrent changes (the dashboard and the API, or two processes) are merged: each
// patch applies to the settings as the other left them, never to a stale copy, so
// neither is lost.
func (s *Service) UpdateSettings(ctx context.Context, p payhook.SettingsPatch) (payhook.Settings, payhook.Rotations, error) {
	return s.updateSettings(ctx, p, 0)
}

// UpdateSettingsFrom applies a patch made from the settings at revision rev (a form
// shown earlier): ECONFLICT when they changed since, so that a form does not silently
// undo a change it never showed. rev 0 merges like UpdateSettings.
func (s *Service) UpdateSettingsFrom(ctx context.Context, p payhook.SettingsPatch, rev int64) (payhook.Settings, payhook.Rotations, error) {
	return s.updateSettings(ctx, p, rev)
}

func (s *Service) updateSettings(ctx context.Context, p payhook.SettingsPatch, rev int64) (payhook.Settings, payhook.Rotations, error) {
	defer s.dropConfig()
	for try := 0; ; try++ {
		cur, ok, err := s.store.Settings(ctx)
		if err != nil {
			return payhook.Settings{}, payhook.Rotations{}, err
		}
		if !ok {
			return payhook.Settings{}, payhook.Rotations{}, fmt.Errorf("settings missing: the service was not bootstrapped")
		}
		if rev != 0 && cur.Revision != rev {
			return payhook.Settings{}, payhook.Rotations{}, payhook.Errorf(payhook.ECONFLICT,
				"The webhook settings were changed by someone else since this page was loaded: reload it and apply your change again.")
		}
		next, rot, err := cur.Apply(p, signature.NewStandardWebhooksSecret)
		if err != nil {
			return payhook.Settings{}, payhook.Rotations{}, err
		}
		next.Revision = cur.Revision
		err = s.store.SaveSettings(ctx, &next)
		if payhook.ErrorCode(err) == payhook.ECONFLICT && rev == 0 && try < 200 {
			// Changed meanwhile: apply the patch again to what is there now, after a short
			// random wait so that concurrent changes do not keep colliding.
			time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) << min(try, 5))))
			continue
		}
		if err != nil {
			return payhook.Settings{}, payhook.Rotations{}, err
		}
		s.dropConfig()
		s.audit(ctx, "webhook.config.update", settingsDiff(cur, next, rot))
		return next, rot, nil
	}
}

// PluginSettings returns a plugin's webhook settings (zero settings when it has none).
func (s *Service) PluginSettings(ctx context.Context, p payhook.Plugin) (payhook.PluginSettings, bool, error) {
	if !p.Valid() {
		return payhook.PluginSettings{}, false, payhook.Errorf(payhook.ENOTFOUND, "no plugin %q: use e_commerce or payment_request", p)
	}
	return s.store.PluginSettings(ctx, p)
}

// ListPluginSettings returns every plugin's settings.
func (s *Service) ListPluginSettings(ctx context.Context) ([]payhook.PluginSettings, error) {
	return s.store.ListPluginSettings(ctx)
}

// PutPluginSettings validates and saves a plugin's settings.
func (s *Service) PutPluginSettings(ctx context.Context, ps payhook.PluginSettings) error {
	if !ps.Plugin.Valid() {
		return payhook.Errorf(payhook.ENOTFOUND, "no plugin %q: use e_commerce or payment_request", ps.Plugin)
	}
	if err := ps.Validate(); err != nil {
		return err
	}
	if ps.States == nil {
		ps.States = []payhook.State{}
	}
	defer s.dropConfig()
	if err := s.store.PutPluginSettings(ctx, ps); err != nil {
		return err
	}
	extended := "null"
	if ps.ExtendedRedelivery != nil {
		extended = fmt.Sprint(*ps.ExtendedRedelivery)
	}
	s.audit(ctx, "webhook.plugin.put", fmt.Sprintf("%s: webhook_url %q, state_filter_enabled %t, states %v, extended_redelivery %s",
		ps.Plugin, ps.WebhookURL, ps.StateFilterEnabled, ps.States, extended))
	return nil
}

// DeletePluginSettings removes a plugin's settings.
func (s *Service) DeletePluginSettings(ctx context.Context, p payhook.Plugin) error {
	if !p.Valid() {
		return payhook.Errorf(payhook.ENOTFOUND, "no plugin %q: use e_commerce or payment_request", p)
	}
	defer s.dropConfig()
	if err := s.store.DeletePluginSettings(ctx, p); err != nil {
		return err
	}
	s.audit(ctx, "webhook.plugin.delete", string(p))
	return nil
}

// Ping checks that the database answers a read.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// Ready checks that the database takes a write (readiness).
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	return s.store.PingWrite(ctx)
}

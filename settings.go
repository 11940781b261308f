package payhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultUserAgent is the User-Agent sent with notifications unless configured otherwise:
// a current desktop Chrome, as Ottu sends.
const DefaultUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"

// Payload formats.
const (
	FormatJSON = "json"
	FormatXML  = "xml"
)

// Settings is the global webhook configuration (Administration → Webhook → General). The
// JSON names are the API's (SPEC §3).
type Settings struct {
	HMACKey                string   `json:"hmac_key"`
	Enabled                bool     `json:"enabled"`
	APITransactionsEnabled bool     `json:"api_transactions_enabled"`
	OperationsWebhookURL   string   `json:"operations_webhook_url"`
	IgnoreSSL              bool     `json:"ignore_ssl"`
	NotifyOnError          bool     `json:"notify_on_error"`
	Emails                 []string `json:"emails"`
	Timeout                float64  `json:"timeout"`
	RetryEnabled           bool     `json:"retry_enabled"`
	Retries                int      `json:"retries"`
	BackoffFactor          float64  `json:"backoff_factor"`
	Version                string   `json:"version"`
	Format                 string   `json:"format"`
	UserAgent              string   `json:"user_agent"`
	StandardWebhooks       bool     `json:"standard_webhooks"`
	StandardWebhooksSecret string   `json:"standard_webhooks_secret"`

	// Reconciliation (docs/reconciliation.md).
	// DigestNotifications sends, once each UTC day has ended, a signed digest of the
	// notifications delivered that day to every URL that had one (kind "digest"); off by
	// default. Digests are available from the API either way.
	DigestNotifications bool `json:"digest_notifications"`

	// Endpoint health and operator notices (settings_health.go).
	EndpointHealthSettings
	// Extended redelivery (redelivery.go): off by default, so that Ottu's rules stay exact.
	RedeliverySettings
	// Revision counts the saves of the settings (never shown): a save applies only to the
	// revision it was made from, so that two concurrent changes never lose one.
	Revision int64 `json:"-"`
}

// DefaultSettings returns the documents' defaults with the given HMAC key.
func DefaultSettings(hmacKey string) Settings {
	return Settings{
		HMACKey:       hmacKey,
		IgnoreSSL:     true,
		NotifyOnError: true,
		Emails:        []string{},
		Timeout:       15,
		RetryEnabled:  true,
		Retries:       3,
		BackoffFactor: 5,
		Version:       "v1",
		Format:        FormatJSON,
		UserAgent:     DefaultUserAgent,

		EndpointHealthSettings: DefaultEndpointHealthSettings(),
	}
}

// NewHMACKey returns a new random HMAC key (40 characters).
func NewHMACKey() string { return randomBase32(40) }

// TimeoutDuration is the per-attempt timeout.
func (s Settings) TimeoutDuration() time.Duration { return seconds(s.Timeout) }

// Backoff is the constant wait between two attempts.
func (s Settings) Backoff() time.Duration { return seconds(s.BackoffFactor) }

// MaxAttempts is the number of attempts in total: retries, or 1 when retries are off.
func (s Settings) MaxAttempts() int {
	if !s.RetryEnabled || s.Retries < 1 {
		return 1
	}
	return s.Retries
}

// WorstCase is the longest a delivery can take: attempts × timeout + (attempts−1) × backoff.
func (s Settings) WorstCase() time.Duration {
	n := s.MaxAttempts()
	return time.Duration(n)*s.TimeoutDuration() + time.Duration(n-1)*s.Backoff()
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// Mask hides a secret but its first characters: "pu9M********".
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	show := 2
	if len(secret) >= 16 {
		show = 4
	}
	if strings.HasPrefix(secret, "whsec_") {
		show = len("whsec_") + 2
	}
	if len(secret) <= show {
		return strings.Repeat("*", 8)
	}
	return secret[:show] + strings.Repeat("*", 8)
}

// Masked returns a copy with the HMAC key and the Standard Webhooks secret masked, the
// shape the config API answers with.
func (s Settings) Masked() Settings {
	s.HMACKey = Mask(s.HMACKey)
	s.StandardWebhooksSecret = Mask(s.StandardWebhooksSecret)
	if s.Emails == nil {
		s.Emails = []string{}
	}
	if len(s.ExtendedSchedule) == 0 {
		s.ExtendedSchedule = slices.Clone(DefaultExtendedSchedule) // the schedule in force
	}
	return s
}

// SettingsPatch is a partial change to the settings, as the config API's PATCH body
// carries it: field name → raw JSON value. Two actions sit beside the fields:
// "rotate_hmac_key" and "rotate_standard_webhooks_secret" (true generates a new one).
type SettingsPatch map[string]json.RawMessage

// Rotations reports which secrets a patch asks to rotate.
type Rotations struct {
	HMACKey                bool
	StandardWebhooksSecret bool
}

// Apply validates a patch against s and returns the changed settings. Every bad value is
// reported under its field's name; on any error s is returned unchanged with the error.
// newSecret generates a Standard Webhooks secret when one is first needed or rotated.
func (s Settings) Apply(p SettingsPatch, newSecret func() (string, error)) (Settings, Rotations, error) {
	out := s
	out.Emails = slices.Clone(s.Emails)
	out.ExtendedSchedule = slices.Clone(s.ExtendedSchedule)
	var rot Rotations
	fe := FieldErrors{}
	for name, raw := range p {
		var err error
		switch name {
		case "hmac_key":
			var v string
			if err = decodeField(raw, &v); err == nil {
				if v == Mask(s.HMACKey) {
					break // the masked key read back from GET: unchanged
				}
				if n := len([]rune(v)); strings.Contains(v, "********") {
					err = fmt.Errorf("looks like a masked key: send the new key in full, or leave hmac_key out to keep the current one")
				} else if n < 8 || n > 256 {
					err = fmt.Errorf("must be 8 to 256 characters (got %d)", n)
				} else if strings.TrimSpace(v) != v {
					err = fmt.Errorf("must not start or end with spaces")
				} else {
					out.HMACKey = v
				}
			}
		case "enabled":
			err = decodeField(raw, &out.Enabled)
		case "api_transactions_enabled":
			err = decodeField(raw, &out.APITransactionsEnabled)
		case "operations_webhook_url":
			var v string
			if err = decodeField(raw, &v); err == nil {
				if v != "" {
					err = ValidateWebhookURL(v, 2000)
				}
				out.OperationsWebhookURL = v
			}
		case "ignore_ssl":
			err = decodeField(raw, &out.IgnoreSSL)
		case "notify_on_error":
			err = decodeField(raw, &out.NotifyOnError)
		case "emails":
			var v []string
			if err = decodeField(raw, &v); err == nil {
				err = validateEmails(v)
				if v == nil {
					v = []string{}
				}
				out.Emails = v
			}
		case "timeout":
			if err = decodeField(raw, &out.Timeout); err == nil && (out.Timeout <= 0 || out.Timeout > 60) {
				err = fmt.Errorf("must be more than 0 and at most 60 seconds")
			}
		case "retry_enabled":
			err = decodeField(raw, &out.RetryEnabled)
		case "retries":
			if err = decodeField(raw, &out.Retries); err == nil && (out.Retries < 1 || out.Retries > 10) {
				err = fmt.Errorf("must be 1 to 10 (attempts in total)")
			}
		case "backoff_factor":
			if err = decodeField(raw, &out.BackoffFactor); err == nil && (out.BackoffFactor < 0 || out.BackoffFactor > 3600) {
				err = fmt.Errorf("must be 0 to 3600 seconds")
			}
		case "version":
			if err = decodeField(raw, &out.Version); err == nil && out.Version != "v1" && out.Version != "v2" {
				err = fmt.Errorf(`must be "v1" or "v2"`)
			}
		case "format":
			if err = decodeField(raw, &out.Format); err == nil && out.Format != FormatJSON && out.Format != FormatXML {
				err = fmt.Errorf(`must be "json" or "xml"`)
			}
		case "user_agent":
			if err = decodeField(raw, &out.UserAgent); err == nil {
				if out.UserAgent == "" || len(out.UserAgent) > 512 || strings.ContainsAny(out.UserAgent, "\r\n") {
					err = fmt.Errorf("must be 1 to 512 characters on one line")
				}
			}
		case "standard_webhooks":
			err = decodeField(raw, &out.StandardWebhooks)
		case "standard_webhooks_secret":
			var v string
			if err = decodeField(raw, &v); err == nil && v != "" && v != Mask(s.StandardWebhooksSecret) {
				err = fmt.Errorf("is generated by payhook; send \"rotate_standard_webhooks_secret\": true for a new one")
			}
		case "rotate_standard_webhooks_secret":
			err = decodeField(raw, &rot.StandardWebhooksSecret)
		case "rotate_hmac_key":
			err = decodeField(raw, &rot.HMACKey)
		case "digest_notifications": // reconciliation
			err = decodeField(raw, &out.DigestNotifications)
		default:
			var known bool
			known, err = out.EndpointHealthSettings.apply(name, raw)
			if !known {
				known, err = out.RedeliverySettings.apply(name, raw)
			}
			if !known {
				err = fmt.Errorf("unknown field")
			}
		}
		if err != nil {
			fe.Add(name, "%s", err.Error())
		}
	}
	if out.HMACKey != s.HMACKey && rot.HMACKey {
		fe.Add("rotate_hmac_key", "cannot be combined with hmac_key")
	}
	out.EndpointHealthSettings.check(p, fe)
	if err := fe.Err(); err != nil {
		return s, Rotations{}, err
	}
	if rot.HMACKey {
		out.HMACKey = NewHMACKey()
	}
	if rot.StandardWebhooksSecret || (out.StandardWebhooks && out.StandardWebhooksSecret == "") {
		sec, err := newSecret()
		if err != nil {
			return s, Rotations{}, fmt.Errorf("new standard webhooks secret: %w", err)
		}
		out.StandardWebhooksSecret = sec
		rot.StandardWebhooksSecret = true
	}
	return out, rot, nil
}

// decodeField decodes one JSON value strictly: the type must match (no "15" for 15).
func decodeField(raw json.RawMessage, v any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return fmt.Errorf("may not be null")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("must be %s", jsonTypeName(v))
	}
	return nil
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case *bool:
		return "true or false"
	case *int:
		return "a whole number"
	case *float64:
		return "a number of seconds"
	case *string:
		return "a string"
	case *[]string:
		return "a list of strings"
	}
	return "a valid value"
}

func validateEmails(v []string) error {
	if len(v) > 50 {
		return fmt.Errorf("at most 50 addresses")
	}
	for _, e := range v {
		a, err := mail.ParseAddress(e)
		if err != nil || a.Address != e {
			return fmt.Errorf("%q is not an email address", e)
		}
	}
	return nil
}

// ValidateWebhookURL checks that u is an absolute http(s) URL with a host, of at most
// maxLen characters. Whether its address is allowed is decided at dial time.
func ValidateWebhookURL(u string, maxLen int) error {
	if len(u) > maxLen {
		return fmt.Errorf("must be at most %d characters", maxLen)
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Hostname() == "" {
		return fmt.Errorf("must be an absolute http or https URL")
	}
	if p.User != nil {
		return fmt.Errorf("must not carry a user name or password")
	}
	return nil
}

// PluginSettings is one plugin's webhook configuration (Webhook → Plugin configs).
type PluginSettings struct {
	Plugin             Plugin  `json:"plugin"`
	WebhookURL         string  `json:"webhook_url"`
	StateFilterEnabled bool    `json:"state_filter_enabled"`
	States             []State `json:"states"`
	// ExtendedRedelivery overrides the global extended_redelivery for the notifications
	// this plugin's transactions send to their webhook URLs; nil follows the global one.
	ExtendedRedelivery *bool `json:"extended_redelivery"`
}

// FilterableStates are the states a plugin's state filter may name: SPEC §3's paid,
// failed, authorized and canceled, and expired (a checkout that expired sends a payment
// notification too, and a merchant may want it filtered in or out like canceled).
var FilterableStates = []State{StatePaid, StateFailed, StateAuthorized, StateCanceled, StateExpired}

// Validate checks a plugin configuration.
func (p PluginSettings) Validate() error {
	fe := FieldErrors{}
	if !p.Plugin.Valid() {
		fe.Add("plugin", "must be %q or %q", PluginECommerce, PluginPaymentRequest)
	}
	if p.WebhookURL != "" {
		if err := ValidateWebhookURL(p.WebhookURL, 2000); err != nil {
			fe.Add("webhook_url", "%s", err.Error())
		}
	}
	seen := map[State]bool{}
	for _, s := range p.States {
		if !slices.Contains(FilterableStates, s) {
			fe.Add("states", "%q is not one of paid, failed, authorized, canceled, expired", s)
		} else if seen[s] {
			fe.Add("states", "%q is listed twice", s)
		}
		seen[s] = true
	}
	return fe.Err()
}

// Passes reports whether a payment notification in state s passes the state filter.
// A declined or errored try leaves the checkout attempted (SPEC §7): Ottu's filter has no
// such state, and such a try is what its "failed" names, so failed lets attempted through.
func (p PluginSettings) Passes(s State) bool {
	if s == StateAttempted {
		s = StateFailed
	}
	return !p.StateFilterEnabled || slices.Contains(p.States, s)
}

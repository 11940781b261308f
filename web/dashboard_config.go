package web

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/payhook/payhook"
)

// configForm is the General tab's form as the user sees it: what was saved, or what was
// typed when it did not validate.
type configForm struct {
	Enabled, APITransactionsEnabled, IgnoreSSL, NotifyOnError, RetryEnabled, StandardWebhooks bool
	// Reconciliation.
	DigestNotifications bool

	OperationsWebhookURL, Emails, Timeout, Retries, BackoffFactor, Version, Format, UserAgent string

	healthForm // endpoint health and operator notices (dashboard_config_health.go)
	// Extended redelivery (redelivery.go): the schedule as "60, 300, …" and the operations
	// URL's override as "" (follow), "true" or "false".
	ExtendedRedelivery                             bool
	ExtendedSchedule, OperationsExtendedRedelivery string
}

func configFormOf(st payhook.Settings) configForm {
	return configForm{
		Enabled: st.Enabled, APITransactionsEnabled: st.APITransactionsEnabled, IgnoreSSL: st.IgnoreSSL,
		NotifyOnError: st.NotifyOnError, RetryEnabled: st.RetryEnabled, StandardWebhooks: st.StandardWebhooks,
		OperationsWebhookURL: st.OperationsWebhookURL, Emails: strings.Join(st.Emails, "\n"),
		Timeout: formatSeconds(st.Timeout), Retries: strconv.Itoa(st.Retries), BackoffFactor: formatSeconds(st.BackoffFactor),
		Version: st.Version, Format: st.Format, UserAgent: st.UserAgent,
		DigestNotifications: st.DigestNotifications,
		healthForm:          healthFormOf(st.EndpointHealthSettings),
		ExtendedRedelivery:  st.ExtendedRedelivery, ExtendedSchedule: formatSchedule(st.Masked().ExtendedSchedule),
		OperationsExtendedRedelivery: formatOverride(st.OperationsExtendedRedelivery),
	}
}

// formatSchedule shows an extended schedule as the form takes it: "60, 300, 1800".
func formatSchedule(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = formatSeconds(x)
	}
	return strings.Join(parts, ", ")
}

// formatOverride shows a nil/true/false override as the form's select values.
func formatOverride(v *bool) string {
	if v == nil {
		return ""
	}
	return strconv.FormatBool(*v)
}

// schedulePatch reads the schedule field: numbers separated by commas or spaces. A part
// that is not a number is passed on as a string, for Apply to name the field.
func schedulePatch(v string) json.RawMessage {
	out := []float64{}
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == ';' || r == '\n' }) {
		x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			b, _ := json.Marshal(v)
			return b
		}
		out = append(out, x)
	}
	b, _ := json.Marshal(out)
	return b
}

// configCheckboxes are the General tab's checkboxes: an unchecked box is not posted at
// all, so a missing one means off.
var configCheckboxes = []string{"enabled", "api_transactions_enabled", "ignore_ssl", "notify_on_error", "retry_enabled", "standard_webhooks",
	"digest_notifications", "extended_redelivery"}

// configPatch turns the posted General tab into the config API's PATCH body, so that the
// page and the API validate and save through the same UpdateSettings. Checkboxes are
// always set (missing = off); a text field missing from the form is left unchanged. A
// number that does not parse is passed on as a string, for Apply to name the field.
func configPatch(f url.Values) (payhook.SettingsPatch, configForm) {
	p := payhook.SettingsPatch{}
	set := func(name string, v any) {
		b, _ := json.Marshal(v)
		p[name] = b
	}
	checked := func(name string) bool {
		v := strings.ToLower(strings.TrimSpace(f.Get(name)))
		return f.Has(name) && v != "false" && v != "0" && v != "off"
	}
	var typed configForm
	for _, name := range configCheckboxes {
		on := checked(name)
		set(name, on)
		switch name {
		case "enabled":
			typed.Enabled = on
		case "api_transactions_enabled":
			typed.APITransactionsEnabled = on
		case "ignore_ssl":
			typed.IgnoreSSL = on
		case "notify_on_error":
			typed.NotifyOnError = on
		case "retry_enabled":
			typed.RetryEnabled = on
		case "standard_webhooks":
			typed.StandardWebhooks = on
		case "digest_notifications":
			typed.DigestNotifications = on
		case "extended_redelivery":
			typed.ExtendedRedelivery = on
		}
	}
	text := func(name string, dst *string, patch func(string)) {
		if !f.Has(name) {
			*dst = "\x00" // marks "not posted": filled from the saved settings
			return
		}
		*dst = f.Get(name)
		patch(strings.TrimSpace(*dst))
	}
	number := func(name string) func(string) {
		return func(v string) {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				set(name, v)
				return
			}
			p[name] = json.RawMessage(strconv.FormatFloat(x, 'f', -1, 64))
		}
	}
	text("operations_webhook_url", &typed.OperationsWebhookURL, func(v string) { set("operations_webhook_url", v) })
	text("emails", &typed.Emails, func(v string) { set("emails", splitEmails(v)) })
	text("timeout", &typed.Timeout, number("timeout"))
	text("backoff_factor", &typed.BackoffFactor, number("backoff_factor"))
	text("retries", &typed.Retries, func(v string) {
		if n, err := strconv.Atoi(v); err == nil {
			set("retries", n)
		} else {
			set("retries", v)
		}
	})
	text("version", &typed.Version, func(v string) { set("version", v) })
	text("format", &typed.Format, func(v string) { set("format", v) })
	text("user_agent", &typed.UserAgent, func(v string) { set("user_agent", v) })
	typed.healthForm.patch(text, number, set)
	text("extended_schedule", &typed.ExtendedSchedule, func(v string) { p["extended_schedule"] = schedulePatch(v) })
	text("operations_extended_redelivery", &typed.OperationsExtendedRedelivery, func(v string) {
		switch v {
		case "":
			p["operations_extended_redelivery"] = json.RawMessage("null")
		case "true", "false":
			p["operations_extended_redelivery"] = json.RawMessage(v)
		default:
			set("operations_extended_redelivery", v)
		}
	})
	return p, typed
}

// splitEmails reads the Email List textarea: one address per line, or comma-separated.
func splitEmails(v string) []string {
	out := []string{}
	for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ';' }) {
		if e := strings.TrimSpace(line); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// mergeTyped fills the fields that were not posted from the saved settings.
func mergeTyped(typed, saved configForm) configForm {
	for _, p := range []struct{ dst, src *string }{
		{&typed.OperationsWebhookURL, &saved.OperationsWebhookURL}, {&typed.Emails, &saved.Emails},
		{&typed.Timeout, &saved.Timeout}, {&typed.Retries, &saved.Retries}, {&typed.BackoffFactor, &saved.BackoffFactor},
		{&typed.Version, &saved.Version}, {&typed.Format, &saved.Format}, {&typed.UserAgent, &saved.UserAgent},
		{&typed.ExtendedSchedule, &saved.ExtendedSchedule}, {&typed.OperationsExtendedRedelivery, &saved.OperationsExtendedRedelivery},
	} {
		if *p.dst == "\x00" {
			*p.dst = *p.src
		}
	}
	typed.healthForm = typed.healthForm.merge(saved.healthForm)
	return typed
}

// worstCase explains the retry timing with the merchant's own numbers.
type worstCase struct {
	Attempts      int
	Waits         int
	Timeout       string
	Backoff       string
	Total         string
	RetryEnabled  bool
	NotifyOnError bool
	Steps         []attemptStep
}

// attemptStep is one attempt of the worst case: when it starts and when it gives up.
type attemptStep struct {
	Number     int
	Start, End string
	Last       bool
}

func worstCaseOf(st payhook.Settings) worstCase {
	n := st.MaxAttempts()
	w := worstCase{Attempts: n, Waits: n - 1, Timeout: formatSeconds(st.Timeout), Backoff: formatSeconds(st.BackoffFactor),
		Total: formatSeconds(st.WorstCase().Seconds()), RetryEnabled: st.RetryEnabled, NotifyOnError: st.NotifyOnError}
	for i := 0; i < n; i++ {
		start := float64(i) * (st.Timeout + st.BackoffFactor)
		w.Steps = append(w.Steps, attemptStep{Number: i + 1, Start: formatSeconds(start), End: formatSeconds(start + st.Timeout), Last: i == n-1})
	}
	return w
}

// configPage is the data of the General tab.
type configPage struct {
	Form configForm
	// Revision is the revision of the settings the form was filled from, posted back in a
	// hidden field so that a save made from a stale form is refused (see formRevision).
	Revision     int64
	Errors       payhook.FieldErrors
	HMACKey      string // masked
	SWSecret     string // masked
	Worst        worstCase
	NewSWSecret  string // a Standard Webhooks secret just generated, shown this once
	SSLWarning   string
	DefaultAgent string
	Versions     []string
	Formats      []string
	// Warnings are what the settings, as saved or typed, keep from working as one would
	// expect (see configWarnings).
	Warnings []configWarning
	// TimeoutWarning and WorstCaseWarning are the timing warnings' texts ({s}: seconds),
	// for the page's script.
	TimeoutWarning, WorstCaseWarning string
}

const sslWarning = "SSL certificate verification is off: payhook calls your webhook URLs without checking their certificates, so anyone who can intercept the traffic could read or fake your notifications. Turn “Ignore SSL” off in production."

func (s *Server) configPageData(ctx context.Context, st payhook.Settings, form configForm, errs payhook.FieldErrors) (configPage, error) {
	worst := st
	// The explanation follows what was typed when it parses, so that it matches the form.
	if v, err := strconv.ParseFloat(strings.TrimSpace(form.Timeout), 64); err == nil && v > 0 && v <= 60 {
		worst.Timeout = v
	}
	if v, err := strconv.ParseFloat(strings.TrimSpace(form.BackoffFactor), 64); err == nil && v >= 0 && v <= 3600 {
		worst.BackoffFactor = v
	}
	if v, err := strconv.Atoi(strings.TrimSpace(form.Retries)); err == nil && v >= 1 && v <= 10 {
		worst.Retries = v
	}
	worst.RetryEnabled, worst.NotifyOnError = form.RetryEnabled, form.NotifyOnError
	plugins, err := s.svc.ListPluginSettings(ctx)
	if err != nil {
		return configPage{}, err
	}
	return configPage{Form: form, Revision: st.Revision, Errors: errs, HMACKey: payhook.Mask(st.HMACKey), SWSecret: payhook.Mask(st.StandardWebhooksSecret),
		Worst: worstCaseOf(worst), SSLWarning: sslWarning, DefaultAgent: payhook.DefaultUserAgent,
		Versions: []string{"v1", "v2"}, Formats: []string{payhook.FormatJSON, payhook.FormatXML},
		Warnings:       configWarnings(worst, form, plugins, s.svc.ErrorEmailsConfigured()),
		TimeoutWarning: timeoutWarning, WorstCaseWarning: worstCaseWarning}, nil
}

// configGet is GET /dashboard/webhook/config: the General tab.
func (s *Server) configGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	st, err := s.svc.Settings(r.Context())
	if err != nil {
		return err
	}
	p, err := s.configPageData(r.Context(), st, configFormOf(st), nil)
	if err != nil {
		return err
	}
	s.renderDash(w, http.StatusOK, "dash_config", d.view(r, "Webhook Config", "webhook", p))
	return nil
}

// configPost is POST /dashboard/webhook/config: saves the General tab through
// UpdateSettingsFrom, from the revision the form was filled from. On a bad value nothing
// is saved and the form comes back (400) with the messages next to their fields. When
// the settings changed since the form was loaded (the API, another tab or user), nothing
// is saved either (409): the page comes back filled from the settings as they are now,
// so that the change is made again on top of the other one, never over it unseen.
func (s *Server) configPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	patch, typed := configPatch(r.PostForm)
	rev, ok := formRevision(r)
	if !ok {
		return s.configConflict(w, r, d)
	}
	next, rot, err := s.svc.UpdateSettingsFrom(r.Context(), patch, rev)
	if errs := fieldErrors(err); errs != nil {
		st, err := s.svc.Settings(r.Context())
		if err != nil {
			return err
		}
		p, err := s.configPageData(r.Context(), st, mergeTyped(typed, configFormOf(st)), errs)
		if err != nil {
			return err
		}
		if rev != 0 {
			p.Revision = rev // what was typed is still based on the posted revision
		}
		v := d.view(r, "Webhook Config", "webhook", p)
		v.Flash = ""
		v.Problem = "Nothing was saved: correct the fields marked below."
		s.renderDash(w, http.StatusBadRequest, "dash_config", v)
		return nil
	}
	if payhook.ErrorCode(err) == payhook.ECONFLICT {
		return s.configConflict(w, r, d)
	}
	if err != nil {
		return err
	}
	if rot.StandardWebhooksSecret {
		// The secret was just generated: show it this once, as the PATCH answer does.
		p, err := s.configPageData(r.Context(), next, configFormOf(next), nil)
		if err != nil {
			return err
		}
		p.NewSWSecret = next.StandardWebhooksSecret
		v := d.view(r, "Webhook Config", "webhook", p)
		v.Flash = flashes["config"]
		s.renderDash(w, http.StatusOK, "dash_config", v)
		return nil
	}
	seeOther(w, r, DashboardPath+"/webhook/config", "config")
	return nil
}

// configConflict answers a General tab saved from a stale form: 409, nothing saved, and
// the form filled from the settings as they are now (with their revision), as a reload
// would show it.
func (s *Server) configConflict(w http.ResponseWriter, r *http.Request, d *dash) error {
	st, err := s.svc.Settings(r.Context())
	if err != nil {
		return err
	}
	p, err := s.configPageData(r.Context(), st, configFormOf(st), nil)
	if err != nil {
		return err
	}
	v := d.view(r, "Webhook Config", "webhook", p)
	v.Flash = ""
	v.Problem = "Nothing was saved: the webhook settings were changed by someone else since this page was loaded. " +
		"The page was reloaded with them as they are now: make your change again and save."
	s.renderDash(w, http.StatusConflict, "dash_config", v)
	return nil
}

// formRevision reads the settings revision a form was filled from. A form without the
// field (a script posting the fields it means to change) gets 0, which merges its
// change like the API's PATCH; ok is false when the field is there but is not a
// revision, which is refused like a stale form.
func formRevision(r *http.Request) (rev int64, ok bool) {
	if !r.PostForm.Has("revision") {
		return 0, true
	}
	rev, err := strconv.ParseInt(strings.TrimSpace(r.PostForm.Get("revision")), 10, 64)
	return rev, err == nil && rev > 0
}

// rotation is one secret that the dashboard can rotate.
type rotation struct {
	Slug    string // the path segment
	Name    string
	Patch   string // the PATCH field that rotates it
	ID      string // the element that shows the new secret once
	Explain string
	// Settable is the settings field through which a secret of the merchant's choosing may
	// replace the current one ("" when the secret is generated only).
	Settable string
}

var rotations = map[string]rotation{
	"rotate-hmac-key": {Slug: "rotate-hmac-key", Name: "HMAC key", Patch: "rotate_hmac_key", ID: "new-hmac-key", Settable: "hmac_key",
		Explain: "The HMAC key signs every notification. After rotating, notifications are signed with the new key at once: update the key on your server, or it will reject them. Notifications already stored keep the signature they were sent with."},
	"rotate-standard-webhooks-secret": {Slug: "rotate-standard-webhooks-secret", Name: "Standard Webhooks secret", Patch: "rotate_standard_webhooks_secret", ID: "new-standard-webhooks-secret",
		Explain: "The Standard Webhooks secret signs the webhook-signature header. After rotating, update it on your server."},
}

// rotatePage is the data of a rotation's confirmation and result.
type rotatePage struct {
	rotation
	Current  string // masked
	Revision int64  // of the settings the confirmation showed (see formRevision)
	NewKey   string // shown once, after the POST
	Replaced bool   // a key of the merchant's choosing was set (not shown again)
	Error    string // why the chosen key was refused
}

// rotateGet is GET /dashboard/webhook/config/rotate-…: asks for a confirmation.
func (s *Server) rotateGet(rot rotation) func(http.ResponseWriter, *http.Request, *dash) error {
	return func(w http.ResponseWriter, r *http.Request, d *dash) error {
		st, err := s.svc.Settings(r.Context())
		if err != nil {
			return err
		}
		s.renderDash(w, http.StatusOK, "dash_rotate", d.view(r, "Rotate the "+rot.Name, "webhook", rotateConfirmation(rot, st)))
		return nil
	}
}

// rotateConfirmation is the confirmation page of a rotation, from the current settings.
func rotateConfirmation(rot rotation, st payhook.Settings) rotatePage {
	cur := st.HMACKey
	if rot.Patch == "rotate_standard_webhooks_secret" {
		cur = st.StandardWebhooksSecret
	}
	return rotatePage{rotation: rot, Current: payhook.Mask(cur), Revision: st.Revision}
}

// updateSecret saves a rotation's patch from the revision its form was loaded at; when
// the settings changed since (the secret may have been rotated already), nothing is
// saved and the confirmation comes back (409) with the secret as it is now. done is
// true when the answer was written.
func (s *Server) updateSecret(w http.ResponseWriter, r *http.Request, d *dash, rot rotation, p payhook.SettingsPatch) (st payhook.Settings, done bool, err error) {
	rev, ok := formRevision(r)
	if ok {
		st, _, err = s.svc.UpdateSettingsFrom(r.Context(), p, rev)
		if payhook.ErrorCode(err) != payhook.ECONFLICT {
			return st, false, err
		}
	}
	cur, err := s.svc.Settings(r.Context())
	if err != nil {
		return st, false, err
	}
	v := d.view(r, "Rotate the "+rot.Name, "webhook", rotateConfirmation(rot, cur))
	v.Flash = ""
	v.Problem = "Nothing was changed: the webhook settings were changed by someone else since this page was loaded (the " + rot.Name +
		" may have been changed already). The page was reloaded: check the " + rot.Name + " shown below before you change it."
	s.renderDash(w, http.StatusConflict, "dash_rotate", v)
	return st, true, nil
}

// rotatePost is POST /dashboard/webhook/config/rotate-…: rotates through
// UpdateSettingsFrom and shows the new secret this once.
func (s *Server) rotatePost(rot rotation) func(http.ResponseWriter, *http.Request, *dash) error {
	return func(w http.ResponseWriter, r *http.Request, d *dash) error {
		if chosen := r.PostForm.Get("hmac_key"); rot.Settable != "" && chosen != "" {
			return s.replaceSecret(w, r, d, rot, chosen)
		}
		st, done, err := s.updateSecret(w, r, d, rot, payhook.SettingsPatch{rot.Patch: json.RawMessage("true")})
		if done || err != nil {
			return err
		}
		key := st.HMACKey
		if rot.Patch == "rotate_standard_webhooks_secret" {
			key = st.StandardWebhooksSecret
		}
		s.renderDash(w, http.StatusOK, "dash_rotate", d.view(r, "New "+rot.Name, "webhook", rotatePage{rotation: rot, NewKey: key}))
		return nil
	}
}

// replaceSecret sets a secret of the merchant's choosing (the key their servers already
// verify with, when moving from Ottu), through the same settings update as the API.
func (s *Server) replaceSecret(w http.ResponseWriter, r *http.Request, d *dash, rot rotation, chosen string) error {
	raw, err := json.Marshal(chosen)
	if err != nil {
		return err
	}
	st, done, err := s.updateSecret(w, r, d, rot, payhook.SettingsPatch{rot.Settable: raw})
	if done {
		return nil
	}
	page := rotatePage{rotation: rot, Current: payhook.Mask(st.HMACKey), Replaced: err == nil}
	code := http.StatusOK
	if err != nil {
		var e *payhook.Error
		if !errors.As(err, &e) || len(e.Fields[rot.Settable]) == 0 {
			return err
		}
		cur, serr := s.svc.Settings(r.Context())
		if serr != nil {
			return serr
		}
		page.Current, page.Error, code = payhook.Mask(cur.HMACKey), strings.Join(e.Fields[rot.Settable], " "), http.StatusBadRequest
		if page.Revision, _ = formRevision(r); page.Revision == 0 {
			page.Revision = cur.Revision
		}
	}
	s.renderDash(w, code, "dash_rotate", d.view(r, "Replace the "+rot.Name, "webhook", page))
	return nil
}

// pluginRow is one plugin on the Plugin configs tab.
type pluginRow struct {
	Plugin     payhook.Plugin
	Configured bool
	Settings   payhook.PluginSettings
	Warnings   []configWarning
}

// pluginsGet is GET /dashboard/webhook/plugins: the Plugin configs tab.
func (s *Server) pluginsGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	list, err := s.svc.ListPluginSettings(r.Context())
	if err != nil {
		return err
	}
	byPlugin := map[payhook.Plugin]payhook.PluginSettings{}
	for _, p := range list {
		byPlugin[p.Plugin] = p
	}
	rows := make([]pluginRow, 0, len(payhook.Plugins))
	for _, p := range payhook.Plugins {
		ps, ok := byPlugin[p]
		row := pluginRow{Plugin: p, Configured: ok, Settings: ps}
		if ok {
			row.Warnings = pluginWarnings([]payhook.PluginSettings{ps}, false)
		}
		rows = append(rows, row)
	}
	s.renderDash(w, http.StatusOK, "dash_plugins", d.view(r, "Plugin configs", "webhook", rows))
	return nil
}

// pluginPage is the data of a plugin's form.
type pluginPage struct {
	Plugin     payhook.Plugin
	Configured bool
	Form       payhook.PluginSettings
	States     []payhook.State
	Errors     payhook.FieldErrors
	Warnings   []configWarning // of the config as saved (or as typed, when it did not validate)
}

func pluginOf(r *http.Request) (payhook.Plugin, error) {
	p := payhook.Plugin(r.PathValue("plugin"))
	if !p.Valid() {
		return "", payhook.Errorf(payhook.ENOTFOUND, "There is no plugin %q: use e_commerce or payment_request.", p)
	}
	return p, nil
}

// pluginGet is GET /dashboard/webhook/plugins/{plugin}: the plugin's form (empty when it
// has no configuration yet: saving adds it).
func (s *Server) pluginGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	p, err := pluginOf(r)
	if err != nil {
		return err
	}
	ps, ok, err := s.svc.PluginSettings(r.Context(), p)
	if err != nil {
		return err
	}
	ps.Plugin = p
	s.renderDash(w, http.StatusOK, "dash_plugin", d.view(r, pluginLabel(p)+" webhook", "webhook",
		pluginPage{Plugin: p, Configured: ok, Form: ps, States: payhook.FilterableStates, Warnings: pluginWarnings([]payhook.PluginSettings{ps}, false)}))
	return nil
}

// pluginPost is POST /dashboard/webhook/plugins/{plugin}: saves it through
// PutPluginSettings, as the API's PUT does.
func (s *Server) pluginPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	p, err := pluginOf(r)
	if err != nil {
		return err
	}
	ps := payhook.PluginSettings{Plugin: p, WebhookURL: strings.TrimSpace(r.PostForm.Get("webhook_url")),
		StateFilterEnabled: r.PostForm.Get("state_filter_enabled") != "", States: []payhook.State{}}
	for _, st := range r.PostForm["states"] {
		ps.States = append(ps.States, payhook.State(st))
	}
	switch v := r.PostForm.Get("extended_redelivery"); v {
	case "true", "false":
		on := v == "true"
		ps.ExtendedRedelivery = &on
	}
	err = s.svc.PutPluginSettings(r.Context(), ps)
	if errs := fieldErrors(err); errs != nil {
		_, ok, lerr := s.svc.PluginSettings(r.Context(), p)
		if lerr != nil {
			return lerr
		}
		v := d.view(r, pluginLabel(p)+" webhook", "webhook", pluginPage{Plugin: p, Configured: ok, Form: ps, States: payhook.FilterableStates, Errors: errs,
			Warnings: pluginWarnings([]payhook.PluginSettings{ps}, false)})
		v.Flash, v.Problem = "", "Nothing was saved: correct the fields marked below."
		s.renderDash(w, http.StatusBadRequest, "dash_plugin", v)
		return nil
	}
	if err != nil {
		return err
	}
	seeOther(w, r, DashboardPath+"/webhook/plugins", "plugin_saved")
	return nil
}

// pluginDelete is POST /dashboard/webhook/plugins/{plugin}/delete: the list's button
// answers a confirmation page naming the plugin and its URL (nothing done); its
// confirmation (confirm=1) deletes. A config already deleted (a confirmation sent twice)
// is left as it is.
func (s *Server) pluginDelete(w http.ResponseWriter, r *http.Request, d *dash) error {
	p, err := pluginOf(r)
	if err != nil {
		return err
	}
	ps, ok, err := s.svc.PluginSettings(r.Context(), p)
	if err != nil {
		return err
	}
	if !ok {
		seeOther(w, r, DashboardPath+"/webhook/plugins", "plugin_already_deleted")
		return nil
	}
	if !confirmed(r) {
		ps.Plugin = p
		return s.renderConfirm(w, r, d, "webhook", pluginDeleteConfirmation(ps))
	}
	if err := s.svc.DeletePluginSettings(r.Context(), p); err != nil {
		if payhook.ErrorCode(err) == payhook.ENOTFOUND {
			seeOther(w, r, DashboardPath+"/webhook/plugins", "plugin_already_deleted")
			return nil
		}
		return err
	}
	seeOther(w, r, DashboardPath+"/webhook/plugins", "plugin_deleted")
	return nil
}

// ExtendedChoice is the plugin's extended-redelivery override as the form's select
// value: "" (follow the global setting), "true" or "false".
func (p pluginPage) ExtendedChoice() string { return formatOverride(p.Form.ExtendedRedelivery) }

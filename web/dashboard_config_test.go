package web_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/phtest"
)

const configPage = "/dashboard/webhook/config"

// apiConfig is the configuration as the config API shows it, decoded.
func apiConfig(t *testing.T, env *phtest.Env) map[string]any {
	t.Helper()
	return decodeBody(t, getConfig(t, env))
}

func TestDashboardConfig_ShowsEveryFieldWithItsHelp(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	body := b.getOK(configPage)

	for _, name := range []string{"enabled", "api_transactions_enabled", "operations_webhook_url", "ignore_ssl", "notify_on_error",
		"emails", "timeout", "retry_enabled", "retries", "backoff_factor", "version", "format", "user_agent", "standard_webhooks",
		"digest_notifications"} {
		require.Contains(t, body, `name="`+name+`"`, name)
		labelled := strings.Contains(body, `<label for="`+name+`"`) ||
			strings.Contains(body, `<label class="check"><input type="checkbox" id="`+name+`"`)
		require.True(t, labelled, "%s has a label", name)
		require.Contains(t, body, `id="`+name+`-help"`, "%s has help text", name)
	}
	require.Contains(t, body, "The amount of time that payhook will wait for a response from the merchant server.")
	require.Contains(t, body, "If checked, the SSL certificate will not be verified when calling the webhook URL.")
	require.Contains(t, body, "Specify the list of email addresses where the webhook URL error notification should be sent.")
	require.Contains(t, body, `aria-current="page">General</a>`)
	require.Contains(t, body, `href="/dashboard/webhook/plugins"`, "the Plugin configs tab")
	require.True(t, hasID(body, "save-config"))
	require.Contains(t, body, `<script src="/static/dashboard.js" defer></script>`)

	// The HMAC key is shown masked only.
	key := realSettingsKey(t, env)
	require.NotContains(t, body, key)
	require.Equal(t, key[:4]+"********", textOf(t, body, "hmac-key"))

	// Defaults: 3 × 15 s + 2 × 5 s, and the SSL warning, since ignore_ssl is on.
	require.Equal(t, "55 s", textOf(t, body, "worst-case"))
	require.Contains(t, body, `class="warning" id="ssl-warning"`)
}

func TestDashboardConfig_StaticFilesAreServed(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	for path, ctype := range map[string]string{"/static/dashboard.js": "javascript", "/static/dashboard.css": "text/css"} {
		resp, err := env.Client.Get(env.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, resp.Header.Get("Content-Type"), ctype, path)
	}
}

func TestDashboardConfig_SaveAppliesThroughTheConfigAPI(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	form := configFormOf(t, b.getOK(configPage))
	require.Equal(t, "15", form.Get("timeout"))
	require.Equal(t, "true", form.Get("ignore_ssl"))

	form.Set("enabled", "true")
	form.Del("ignore_ssl") // unchecked: not posted
	form.Del("notify_on_error")
	form.Set("timeout", "7.5")
	form.Set("retries", "4")
	form.Set("backoff_factor", "2")
	form.Set("emails", "ops@shop.example\r\nsre@shop.example, cto@shop.example")
	form.Set("operations_webhook_url", "https://shop.example/ops")
	form.Set("version", "v2")
	form.Set("format", "xml")
	page := b.postRedirect(configPage, form, configPage+"?done=config")
	require.Equal(t, "Webhook configuration saved. It applies from the next notification.", flashOf(page))

	cfg := apiConfig(t, env)
	require.Equal(t, true, cfg["enabled"])
	require.Equal(t, false, cfg["ignore_ssl"])
	require.Equal(t, false, cfg["notify_on_error"])
	require.Equal(t, false, cfg["api_transactions_enabled"])
	require.Equal(t, true, cfg["retry_enabled"])
	require.Equal(t, 7.5, cfg["timeout"])
	require.Equal(t, 4.0, cfg["retries"])
	require.Equal(t, 2.0, cfg["backoff_factor"])
	require.Equal(t, []any{"ops@shop.example", "sre@shop.example", "cto@shop.example"}, cfg["emails"])
	require.Equal(t, "https://shop.example/ops", cfg["operations_webhook_url"])
	require.Equal(t, "v2", cfg["version"])
	require.Equal(t, "xml", cfg["format"])

	// The page shows what was saved: the same form round-trips, checkboxes included.
	again := configFormOf(t, page)
	require.Equal(t, form.Get("timeout"), again.Get("timeout"))
	require.False(t, again.Has("ignore_ssl"))
	require.Equal(t, "true", again.Get("enabled"))
	require.Equal(t, "ops@shop.example\nsre@shop.example\ncto@shop.example", again.Get("emails"))
	require.NotContains(t, page, `class="warning"`, "no SSL warning once ignore_ssl is off")
	// 4 × 7.5 s + 3 × 2 s.
	require.Equal(t, "36 s", textOf(t, page, "worst-case"))

	// Saving the same form again changes nothing.
	b.postRedirect(configPage, again, configPage+"?done=config")
	require.Equal(t, cfg, apiConfig(t, env))
}

func TestDashboardConfig_WorstCaseWithRetriesOffIsOneAttempt(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	form := configFormOf(t, b.getOK(configPage))
	form.Del("retry_enabled")
	form.Set("timeout", "20")
	page := b.postRedirect(configPage, form, configPage+"?done=config")
	require.Equal(t, "20 s", textOf(t, page, "worst-case"))
	require.Equal(t, false, apiConfig(t, env)["retry_enabled"])

	// The documents' scenario: timeout 20 s, 3 attempts, backoff 5 s → 3 × 20 + 2 × 5.
	form.Set("retry_enabled", "true")
	form.Set("retries", "3")
	form.Set("backoff_factor", "5")
	page = b.postRedirect(configPage, form, configPage+"?done=config")
	require.Equal(t, "70 s", textOf(t, page, "worst-case"))
	require.Contains(t, page, "Attempt 2 starts at 25 s")
	require.Contains(t, page, "Attempt 3 starts at 50 s and waits up to 20 s for an answer (until 70 s); with none, the notification is marked failed.")
}

func TestDashboardConfig_BadValuesShowTheirErrorsAndSaveNothing(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	before := getConfig(t, env)
	form := configFormOf(t, b.getOK(configPage))

	for _, tc := range []struct{ field, value, msg string }{
		{"timeout", "0", "Must be more than 0 and at most 60 seconds"},
		{"timeout", "61", "Must be more than 0 and at most 60 seconds"},
		{"timeout", "fast", "Must be a number of seconds"},
		{"timeout", "", "Must be a number of seconds"},
		{"retries", "11", "Must be 1 to 10"},
		{"retries", "2.5", "Must be a whole number"},
		{"backoff_factor", "-1", "Must be 0 to 3600 seconds"},
		{"emails", "ops@shop.example\nnot-an-address", `"not-an-address" is not an email address`},
		{"operations_webhook_url", "ftp://shop.example/x", "Must be an absolute http or https URL"},
		{"version", "v3", `Must be "v1" or "v2"`},
		{"format", "yaml", `Must be "json" or "xml"`},
		{"user_agent", "", "Must be 1 to 512 characters on one line"},
	} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("enabled", "true") // would change, were anything saved
		bad.Set(tc.field, tc.value)
		p := b.post(configPage, bad)
		require.Equal(t, http.StatusBadRequest, p.Code, "%s=%q", tc.field, tc.value)
		require.Contains(t, fieldError(p.Body, tc.field), tc.msg, "%s=%q", tc.field, tc.value)
		require.Contains(t, p.Body, "Nothing was saved")
		require.Contains(t, p.Body, `aria-invalid="true"`)
		// What was typed stays in the form, to be corrected.
		if tc.field != "emails" && tc.field != "version" && tc.field != "format" && tc.value != "" {
			require.Equal(t, tc.value, configFormOf(t, p.Body).Get(tc.field))
		}
		require.JSONEq(t, string(before), string(getConfig(t, env)), "%s=%q saved something", tc.field, tc.value)
	}

	// Several at once: each next to its field.
	form.Set("timeout", "0")
	form.Set("retries", "0")
	p := b.post(configPage, form)
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.NotEmpty(t, fieldError(p.Body, "timeout"))
	require.NotEmpty(t, fieldError(p.Body, "retries"))
	require.Empty(t, fieldError(p.Body, "backoff_factor"))
	require.JSONEq(t, string(before), string(getConfig(t, env)))
	require.Equal(t, 0, countChanges(t, env))
}

func TestDashboardConfig_RotateHMACKeyShowsTheNewKeyOnce(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	old := realSettingsKey(t, env)

	confirm := b.getOK(configPage + "/rotate-hmac-key")
	require.Contains(t, confirm, "Rotate the HMAC key?")
	require.True(t, hasID(confirm, "confirm-rotate"))
	require.NotContains(t, confirm, old)
	require.Equal(t, old, realSettingsKey(t, env), "the confirmation page rotates nothing")

	p := b.post(configPage+"/rotate-hmac-key", nil)
	require.Equal(t, http.StatusOK, p.Code, "%s", p.Body)
	shown := textOf(t, p.Body, "new-hmac-key")
	require.NotEqual(t, old, shown)
	require.Equal(t, realSettingsKey(t, env), shown, "the page shows the key payhook now signs with")

	// Never again in full: the config page and the API show it masked.
	page := b.getOK(configPage)
	require.NotContains(t, page, shown)
	require.Equal(t, shown[:4]+"********", textOf(t, page, "hmac-key"))
	require.NotContains(t, string(getConfig(t, env)), shown)

	audit := b.getOK("/dashboard/audit")
	require.Contains(t, audit, "hmac_key rotated")
	require.Contains(t, audit, staffEmail)
	require.NotContains(t, audit, shown)
}

func TestDashboardConfig_StandardWebhooksSecretShownOnceWhenGenerated(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	form := configFormOf(t, b.getOK(configPage))
	form.Set("standard_webhooks", "true")
	p := b.post(configPage, form)
	require.Equal(t, http.StatusOK, p.Code, "%s", p.Body)
	secret := textOf(t, p.Body, "new-standard-webhooks-secret")
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	cfg := apiConfig(t, env)
	require.Equal(t, true, cfg["standard_webhooks"])
	require.NotContains(t, b.getOK(configPage), secret)

	rotated := b.post(configPage+"/rotate-standard-webhooks-secret", nil)
	require.Equal(t, http.StatusOK, rotated.Code)
	require.NotEqual(t, secret, textOf(t, rotated.Body, "new-standard-webhooks-secret"))
}

func TestDashboardConfig_PagesAreNotCachedOrFramed(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	req, err := http.NewRequest("GET", env.URL+configPage, nil)
	require.NoError(t, err)
	resp, err := b.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
}

func TestDashboardPlugins_AddEditDelete(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	list := b.getOK("/dashboard/webhook/plugins")
	require.Contains(t, list, `aria-current="page">Plugin configs</a>`)
	require.True(t, hasID(list, "add-e_commerce"))
	require.True(t, hasID(list, "add-payment_request"))

	// Add.
	form := b.getOK("/dashboard/webhook/plugins/e_commerce")
	require.True(t, hasID(form, "save-plugin"))
	for _, s := range []string{"paid", "failed", "authorized", "canceled"} {
		require.Contains(t, form, `name="states" value="`+s+`"`)
	}
	list = b.postRedirect("/dashboard/webhook/plugins/e_commerce", url.Values{"webhook_url": {"https://shop.example/hook"},
		"state_filter_enabled": {"true"}, "states": {"paid", "failed"}}, "/dashboard/webhook/plugins?done=plugin_saved")
	require.Equal(t, "Plugin configuration saved.", flashOf(list))
	require.Contains(t, list, "https://shop.example/hook")
	require.True(t, hasID(list, "delete-e_commerce"))
	got := env.JSON("GET", "/b/webhook/v1/plugins/e_commerce/", nil, http.StatusOK)
	require.Equal(t, map[string]any{"plugin": "e_commerce", "webhook_url": "https://shop.example/hook",
		"state_filter_enabled": true, "states": []any{"paid", "failed"}, "extended_redelivery": nil}, got)

	// The form shows what was saved.
	form = b.getOK("/dashboard/webhook/plugins/e_commerce")
	require.Contains(t, form, `value="https://shop.example/hook"`)
	require.Contains(t, form, `name="states" value="paid" checked>`)
	require.Contains(t, form, `name="states" value="authorized" >`)

	// Edit: the filter off, no state (unchecked boxes are not posted).
	b.postRedirect("/dashboard/webhook/plugins/e_commerce", url.Values{"webhook_url": {"https://shop.example/hook2"}},
		"/dashboard/webhook/plugins?done=plugin_saved")
	got = env.JSON("GET", "/b/webhook/v1/plugins/e_commerce/", nil, http.StatusOK)
	require.Equal(t, false, got["state_filter_enabled"])
	require.Equal(t, []any{}, got["states"])
	require.Equal(t, "https://shop.example/hook2", got["webhook_url"])

	// A bad value: shown next to its field, nothing saved.
	for _, tc := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"webhook_url": {"not a url"}}, "webhook_url"},
		{url.Values{"webhook_url": {"https://shop.example/x"}, "states": {"refunded"}}, "states"},
	} {
		p := b.post("/dashboard/webhook/plugins/e_commerce", tc.form)
		require.Equal(t, http.StatusBadRequest, p.Code)
		require.NotEmpty(t, fieldError(p.Body, tc.field), "%s", p.Body)
		require.Contains(t, p.Body, "Nothing was saved")
	}
	require.Equal(t, "https://shop.example/hook2", env.JSON("GET", "/b/webhook/v1/plugins/e_commerce/", nil, http.StatusOK)["webhook_url"])

	// Delete.
	list = b.postConfirmed("/dashboard/webhook/plugins/e_commerce/delete", nil, "/dashboard/webhook/plugins?done=plugin_deleted")
	require.Equal(t, "Plugin configuration deleted.", flashOf(list))
	require.True(t, hasID(list, "add-e_commerce"))
	require.Equal(t, 0.0, env.JSON("GET", "/b/webhook/v1/plugins/", nil, http.StatusOK)["count"], "deleted")

	// An unknown plugin has no page.
	require.Equal(t, http.StatusNotFound, b.get("/dashboard/webhook/plugins/marketplace").Code)
	require.Equal(t, http.StatusNotFound, b.post("/dashboard/webhook/plugins/marketplace", url.Values{"webhook_url": {"https://a.example"}}).Code)

	// Each change is in the audit log, by the user.
	audit := b.getOK("/dashboard/audit")
	require.Equal(t, 2, strings.Count(audit, "webhook.plugin.put"), "two saves")
	require.Contains(t, audit, "webhook.plugin.delete")
	require.Contains(t, audit, staffEmail)
}

func TestDashboardConfig_ChangeTakesEffectOnTheNextPayment(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	b := signIn(t, env)
	rc := phtest.NewReceiver(t)
	form := configFormOf(t, b.getOK(configPage))
	form.Set("format", "xml")
	b.postRedirect(configPage, form, configPage+"?done=config")

	paidCheckout(t, env, rc, nil)
	reqs := rc.Wait(t, 1, 5*time.Second)
	require.Equal(t, "application/xml", reqs[0].Header.Get("Content-Type"))
	require.False(t, json.Valid(reqs[0].Body))
}

// A merchant moving from Ottu sets the key their servers already verify with; it is then
// never shown again, and a bad one is refused by name with nothing changed.
func TestDashboardConfig_SetAChosenHMACKey(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	old := realSettingsKey(t, env)

	p := b.post(configPage+"/rotate-hmac-key", url.Values{"hmac_key": {"short"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, textOf(t, p.Body, "hmac_key-err"), "8 to 256")
	require.Equal(t, old, realSettingsKey(t, env), "nothing changed")

	p = b.post(configPage+"/rotate-hmac-key", url.Values{"hmac_key": {"pu9MpX3yPR-from-ottu"}})
	require.Equal(t, http.StatusOK, p.Code, "%s", p.Body)
	require.True(t, hasID(p.Body, "hmac-key-replaced"))
	require.NotContains(t, p.Body, "pu9MpX3yPR-from-ottu", "not shown back")
	require.Equal(t, "pu9MpX3yPR-from-ottu", realSettingsKey(t, env))
}

// revisionOf reads the settings revision a page's forms carry (a hidden field).
func revisionOf(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="revision" value="([0-9]+)">`).FindStringSubmatch(body)
	require.NotNil(t, m, "no revision field in %s", body)
	return m[1]
}

// A form loaded before another change (here the API's PATCH; another tab or user alike)
// must not save over it: it would silently undo a change the user never saw.
func TestDashboardConfig_StaleFormIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	page := b.getOK(configPage)
	form := configFormOf(t, page)
	form.Set("revision", revisionOf(t, page))

	env.Configure(map[string]any{"timeout": 9})
	after := getConfig(t, env)

	form.Set("retries", "5")
	p := b.post(configPage, form)
	require.Equal(t, http.StatusConflict, p.Code, "%s", p.Body)
	require.Contains(t, p.Body, `role="alert">Nothing was saved: the webhook settings were changed by someone else since this page was loaded.`)
	require.Contains(t, p.Body, "reload")
	require.Contains(t, p.Body, `aria-current="page">Webhook Config</a>`, "inside the dashboard")
	require.JSONEq(t, string(after), string(getConfig(t, env)), "nothing saved; the API's change intact")
	// The answer is the page reloaded: the other change shown, with its revision.
	require.Equal(t, "9", configFormOf(t, p.Body).Get("timeout"))
	require.Equal(t, "3", configFormOf(t, p.Body).Get("retries"))
	require.NotEqual(t, form.Get("revision"), revisionOf(t, p.Body))

	// A revision that is not one is refused the same way.
	form.Set("revision", "latest")
	require.Equal(t, http.StatusConflict, b.post(configPage, form).Code)
	require.JSONEq(t, string(after), string(getConfig(t, env)))

	// Reloaded, the same change saves, on top of the API's.
	page = b.getOK(configPage)
	require.Equal(t, revisionOf(t, p.Body), revisionOf(t, page))
	form = configFormOf(t, page)
	form.Set("revision", revisionOf(t, page))
	form.Set("retries", "5")
	b.postRedirect(configPage, form, configPage+"?done=config")
	cfg := apiConfig(t, env)
	require.Equal(t, 9.0, cfg["timeout"])
	require.Equal(t, 5.0, cfg["retries"])

	// Two tabs: the one saved second was loaded before the first saved.
	tab1, tab2 := b.getOK(configPage), b.getOK(configPage)
	f1, f2 := configFormOf(t, tab1), configFormOf(t, tab2)
	f1.Set("revision", revisionOf(t, tab1))
	f2.Set("revision", revisionOf(t, tab2))
	f1.Set("backoff_factor", "1")
	f2.Set("timeout", "20")
	b.postRedirect(configPage, f1, configPage+"?done=config")
	require.Equal(t, http.StatusConflict, b.post(configPage, f2).Code)
	cfg = apiConfig(t, env)
	require.Equal(t, 1.0, cfg["backoff_factor"])
	require.Equal(t, 9.0, cfg["timeout"], "the second tab saved nothing")
}

// The HMAC key's forms save settings too: confirming a rotation shown before the key (or
// anything else) changed must not rotate a key the user never saw.
func TestDashboardConfig_StaleRotationFormsAreRefused(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	confirm := b.getOK(configPage + "/rotate-hmac-key")
	rev := revisionOf(t, confirm)

	env.Configure(map[string]any{"rotate_hmac_key": true})
	rotated := realSettingsKey(t, env)

	for _, form := range []url.Values{{"revision": {rev}}, {"revision": {rev}, "hmac_key": {"pu9MpX3yPR-from-ottu"}}} {
		p := b.post(configPage+"/rotate-hmac-key", form)
		require.Equal(t, http.StatusConflict, p.Code, "%v: %s", form, p.Body)
		require.Contains(t, p.Body, "changed by someone else since this page was loaded")
		require.False(t, hasID(p.Body, "new-hmac-key"), "no new key")
		require.Equal(t, rotated, realSettingsKey(t, env), "%v changed the key", form)
		// The confirmation again, with the key as it is now.
		require.True(t, hasID(p.Body, "confirm-rotate"))
		m := regexp.MustCompile(`Current: <code>([^<]*)</code>`).FindStringSubmatch(p.Body)
		require.NotNil(t, m, "%s", p.Body)
		require.Equal(t, payhook.Mask(rotated), html.UnescapeString(m[1]))
	}

	// Reloaded, the confirmation rotates.
	confirm = b.getOK(configPage + "/rotate-hmac-key")
	p := b.post(configPage+"/rotate-hmac-key", url.Values{"revision": {revisionOf(t, confirm)}})
	require.Equal(t, http.StatusOK, p.Code, "%s", p.Body)
	require.Equal(t, realSettingsKey(t, env), textOf(t, p.Body, "new-hmac-key"))
	require.NotEqual(t, rotated, realSettingsKey(t, env))
}

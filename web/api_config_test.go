package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

const configPath = "/b/webhook/v1/config/"

// realSettingsKey returns the HMAC key payhook signs with, straight from the service.
func realSettingsKey(t *testing.T, env *phtest.Env) string {
	t.Helper()
	st, err := env.Service.Settings(context.Background())
	require.NoError(t, err)
	return st.HMACKey
}

// getConfig returns the configuration as GET shows it, raw.
func getConfig(t *testing.T, env *phtest.Env) []byte {
	t.Helper()
	code, b := env.Do("GET", configPath, nil)
	require.Equal(t, http.StatusOK, code, "%s", b)
	return b
}

func TestConfig_DefaultsAreTheDocuments(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := getConfig(t, env)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))

	key := realSettingsKey(t, env)
	require.GreaterOrEqual(t, len(key), 8, "an HMAC key is generated at first start")
	masked := strField(got, "hmac_key")
	require.NotEmpty(t, masked)
	require.NotEqual(t, key, masked)
	require.Contains(t, masked, "*")
	require.NotContains(t, string(b), key)
	ua := strField(got, "user_agent")
	require.True(t, strings.HasPrefix(ua, "Mozilla/5.0 ("), ua)
	require.Contains(t, ua, "Chrome/")

	delete(got, "hmac_key")
	delete(got, "user_agent")
	// Endpoint health's block (an extension, docs/endpoint-health.md).
	require.Equal(t, map[string]any{"endpoint_failing_after": 3600.0, "endpoint_disable_after": 432000.0,
		"endpoint_resume_rate": 10.0, "operations_notices_url": ""}, map[string]any{
		"endpoint_failing_after": got["endpoint_failing_after"], "endpoint_disable_after": got["endpoint_disable_after"],
		"endpoint_resume_rate": got["endpoint_resume_rate"], "operations_notices_url": got["operations_notices_url"]})
	for _, k := range []string{"endpoint_failing_after", "endpoint_disable_after", "endpoint_resume_rate", "operations_notices_url"} {
		delete(got, k)
	}
	// extended redelivery (payhook's own, issue 10): off, the default schedule
	require.Equal(t, false, got["extended_redelivery"])
	require.Equal(t, []any{60.0, 300.0, 1800.0, 7200.0, 21600.0, 43200.0, 86400.0}, got["extended_schedule"])
	require.Nil(t, got["operations_extended_redelivery"])
	require.Contains(t, got, "operations_extended_redelivery")
	delete(got, "extended_redelivery")
	delete(got, "extended_schedule")
	delete(got, "operations_extended_redelivery")
	require.Equal(t, map[string]any{
		"enabled":                  false,
		"api_transactions_enabled": false,
		"operations_webhook_url":   "",
		"ignore_ssl":               true,
		"notify_on_error":          true,
		"emails":                   []any{},
		"timeout":                  15.0,
		"retry_enabled":            true,
		"retries":                  3.0,
		"backoff_factor":           5.0,
		"version":                  "v1",
		"format":                   "json",
		"standard_webhooks":        false,
		"standard_webhooks_secret": "",
		// Reconciliation.
		"digest_notifications": false,
	}, got)

	code, _, _ := sendRaw(t, env, "GET", configPath, nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestConfig_PatchChangesAndPersists(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	patch := map[string]any{
		"enabled": true, "api_transactions_enabled": true, "operations_webhook_url": "https://merchant.example/ops",
		"ignore_ssl": false, "notify_on_error": false, "emails": []string{"ops@merchant.example", "dev@merchant.example"},
		"timeout": 2.5, "retry_enabled": false, "retries": 5, "backoff_factor": 0.25, "version": "v2", "format": "xml",
		"user_agent": "Merchant-Test/2.0", "hmac_key": "a-new-hmac-key-for-tests",
	}
	answer := env.Configure(patch)
	require.NotEqual(t, "a-new-hmac-key-for-tests", answer["hmac_key"], "PATCH answers with the key masked")
	require.Contains(t, answer["hmac_key"], "*")
	require.Equal(t, "a-new-hmac-key-for-tests", realSettingsKey(t, env))

	var got map[string]any
	require.NoError(t, json.Unmarshal(getConfig(t, env), &got))
	require.Equal(t, answer, got, "GET shows what PATCH answered")
	want, _ := json.Marshal(patch)
	var wantMap map[string]any
	require.NoError(t, json.Unmarshal(want, &wantMap))
	for k, v := range wantMap {
		if k == "hmac_key" {
			continue
		}
		require.Equal(t, v, got[k], k)
	}

	// A PATCH changes only what it names; the path without its slash is routed too.
	code, b := env.Do("PATCH", strings.TrimSuffix(configPath, "/"), map[string]any{"retries": 7})
	require.Equal(t, http.StatusOK, code, "%s", b)
	require.NoError(t, json.Unmarshal(getConfig(t, env), &got))
	require.Equal(t, 7.0, got["retries"])
	require.Equal(t, 2.5, got["timeout"])
	require.Equal(t, "xml", got["format"])
}

func TestConfig_BadValueChangesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		patch string
		field string
		not   []string // fields the answer must not blame
	}{
		{"timeout zero beside a good value", `{"timeout": 0, "retries": 2}`, "timeout", []string{"retries"}},
		{"timeout over 60", `{"timeout": 60.5}`, "timeout", nil},
		{"timeout negative", `{"timeout": -1}`, "timeout", nil},
		{"timeout as a string", `{"timeout": "15"}`, "timeout", nil},
		{"retries zero", `{"retries": 0}`, "retries", nil},
		{"retries over 10", `{"retries": 11}`, "retries", nil},
		{"retries with decimals", `{"retries": 2.5}`, "retries", nil},
		{"backoff negative", `{"backoff_factor": -0.1}`, "backoff_factor", nil},
		{"backoff over an hour", `{"backoff_factor": 3600.5}`, "backoff_factor", nil},
		{"unknown version", `{"version": "v3"}`, "version", nil},
		{"unknown format", `{"format": "yaml", "enabled": true}`, "format", []string{"enabled"}},
		{"hmac_key of 7 characters", `{"hmac_key": "1234567"}`, "hmac_key", nil},
		{"hmac_key over 256 characters", `{"hmac_key": "` + strings.Repeat("k", 257) + `"}`, "hmac_key", nil},
		{"hmac_key null", `{"hmac_key": null}`, "hmac_key", nil},
		{"emails with a non-address", `{"emails": ["ops@merchant.example", "not-an-email"]}`, "emails", nil},
		{"emails as a string", `{"emails": "ops@merchant.example"}`, "emails", nil},
		{"operations_webhook_url not http", `{"operations_webhook_url": "ftp://merchant.example/ops"}`, "operations_webhook_url", nil},
		{"empty user_agent", `{"user_agent": ""}`, "user_agent", nil},
		{"user_agent on two lines", `{"user_agent": "a\r\nX-Injected: 1"}`, "user_agent", nil},
		{"enabled as a string", `{"enabled": "yes"}`, "enabled", nil},
		{"enabled null", `{"enabled": null}`, "enabled", nil},
		{"unknown field", `{"colour": "blue"}`, "colour", nil},
		{"secret set by hand", `{"standard_webhooks_secret": "whsec_bWFkZSBieSBoYW5k"}`, "standard_webhooks_secret", nil},
		{"rotate and set the key at once", `{"rotate_hmac_key": true, "hmac_key": "abcdefghijk"}`, "rotate_hmac_key", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := phtest.New(t)
			key := realSettingsKey(t, env)
			before := getConfig(t, env)

			code, b := env.Do("PATCH", configPath, tt.patch)
			require.Equal(t, http.StatusBadRequest, code, "%s", b)
			m := requireFieldErrors(t, b, tt.field)
			for _, f := range tt.not {
				require.NotContains(t, m, f, "%s is valid", f)
			}
			require.JSONEq(t, string(before), string(getConfig(t, env)), "nothing changed")
			require.Equal(t, key, realSettingsKey(t, env))
		})
	}
}

func TestConfig_RefusesMalformedJSON(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	before := getConfig(t, env)
	for _, body := range []string{`{"enabled": true`, `[{"enabled": true}]`, `true`} {
		code, b := env.Do("PATCH", configPath, body)
		require.Equal(t, http.StatusBadRequest, code, "%s", b)
		requireDetail(t, b)
	}
	require.JSONEq(t, string(before), string(getConfig(t, env)))
}

func TestConfig_TimeoutTakesDecimalSeconds(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	for _, v := range []float64{0.5, 60, 0.01} {
		answer := env.Configure(map[string]any{"timeout": v})
		require.Equal(t, v, answer["timeout"])
		var got map[string]any
		require.NoError(t, json.Unmarshal(getConfig(t, env), &got))
		require.Equal(t, v, got["timeout"])
	}
	code, b := env.Do("PATCH", configPath, map[string]any{"timeout": 60.5})
	require.Equal(t, http.StatusBadRequest, code)
	requireFieldErrors(t, b, "timeout")

	answer := env.Configure(map[string]any{"backoff_factor": 0})
	require.Equal(t, 0.0, answer["backoff_factor"])
	answer = env.Configure(map[string]any{"backoff_factor": 3600})
	require.Equal(t, 3600.0, answer["backoff_factor"])
}

func TestConfig_HMACKeyIsNeverShownOnceSaved(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	const key = "exactly8"
	answer := env.Configure(map[string]any{"hmac_key": key})
	require.Equal(t, key, realSettingsKey(t, env), "8 characters are enough")
	require.NotEqual(t, key, answer["hmac_key"])
	require.NotContains(t, string(getConfig(t, env)), key)

	// Rotating shows the new key in full, in that answer only.
	rotated := env.Configure(map[string]any{"rotate_hmac_key": true})
	newKey := realSettingsKey(t, env)
	require.NotEqual(t, key, newKey)
	require.Equal(t, newKey, rotated["hmac_key"])
	require.NotContains(t, string(getConfig(t, env)), newKey)
}

func TestConfig_StandardWebhooksSecretShownOnlyWhenRotated(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	answer := env.Configure(map[string]any{"rotate_standard_webhooks_secret": true})
	secret := strField(answer, "standard_webhooks_secret")
	require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	require.NotContains(t, secret, "*")
	require.Greater(t, len(secret), len("whsec_")+16)

	get := getConfig(t, env)
	var got map[string]any
	require.NoError(t, json.Unmarshal(get, &got))
	masked := strField(got, "standard_webhooks_secret")
	require.True(t, strings.HasPrefix(masked, "whsec_"), masked)
	require.Contains(t, masked, "*")
	require.NotContains(t, string(get), secret)

	// Another PATCH does not show it again; another rotation makes a new one.
	other := env.Configure(map[string]any{"standard_webhooks": true})
	require.Equal(t, masked, other["standard_webhooks_secret"])
	again := env.Configure(map[string]any{"rotate_standard_webhooks_secret": true})
	require.True(t, strings.HasPrefix(strField(again, "standard_webhooks_secret"), "whsec_"))
	require.NotEqual(t, secret, again["standard_webhooks_secret"])
}

const pluginsPath = "/b/webhook/v1/plugins/"

func TestPlugins_PutGetListDelete(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	list := env.JSON("GET", pluginsPath, nil, http.StatusOK)
	require.Equal(t, 0.0, list["count"])
	require.Equal(t, []any{}, list["results"])

	cfg := map[string]any{"webhook_url": "https://merchant.example/hook", "state_filter_enabled": true, "states": []any{"paid", "failed"}}
	put := env.JSON("PUT", pluginsPath+"e_commerce/", cfg, http.StatusOK)
	want := map[string]any{"plugin": "e_commerce", "webhook_url": "https://merchant.example/hook",
		"state_filter_enabled": true, "states": []any{"paid", "failed"}, "extended_redelivery": nil}
	require.Equal(t, want, put)
	require.Equal(t, want, env.JSON("GET", pluginsPath+"e_commerce/", nil, http.StatusOK))
	require.Equal(t, want, env.JSON("GET", pluginsPath+"e_commerce", nil, http.StatusOK))

	list = env.JSON("GET", pluginsPath, nil, http.StatusOK)
	require.Equal(t, 1.0, list["count"])
	require.Equal(t, []any{want}, list["results"])

	// PUT replaces the whole configuration.
	env.JSON("PUT", pluginsPath+"e_commerce", map[string]any{"webhook_url": "https://merchant.example/other"}, http.StatusOK)
	require.Equal(t, map[string]any{"plugin": "e_commerce", "webhook_url": "https://merchant.example/other",
		"state_filter_enabled": false, "states": []any{}, "extended_redelivery": nil}, env.JSON("GET", pluginsPath+"e_commerce/", nil, http.StatusOK))

	env.JSON("PUT", pluginsPath+"payment_request/", map[string]any{"plugin": "payment_request", "states": []any{"canceled", "authorized"}}, http.StatusOK)
	require.Equal(t, 2.0, env.JSON("GET", pluginsPath, nil, http.StatusOK)["count"])

	code, b := env.Do("DELETE", pluginsPath+"e_commerce/", nil)
	require.Equal(t, http.StatusNoContent, code, "%s", b)
	// Deleted: GET answers what applies now, the defaults.
	got := env.JSON("GET", pluginsPath+"e_commerce/", nil, http.StatusOK)
	require.Equal(t, "", got["webhook_url"])
	require.Equal(t, false, got["state_filter_enabled"])
	require.Empty(t, got["states"])
	code, b = env.Do("DELETE", pluginsPath+"e_commerce/", nil)
	require.Equal(t, http.StatusNotFound, code)
	requireDetail(t, b)
	list = env.JSON("GET", pluginsPath, nil, http.StatusOK)
	require.Equal(t, 1.0, list["count"])

	code, _, _ = sendRaw(t, env, "GET", pluginsPath, nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestPlugins_BadValueChangesNothing(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	good := map[string]any{"webhook_url": "https://merchant.example/hook", "state_filter_enabled": true, "states": []any{"paid"}}
	saved := env.JSON("PUT", pluginsPath+"e_commerce/", good, http.StatusOK)

	tests := []struct {
		body  string
		field string
	}{
		{`{"states": ["pending"]}`, "states"},
		{`{"states": ["paid", "paid"]}`, "states"},
		{`{"states": "paid"}`, "states"},
		{`{"webhook_url": "ftp://merchant.example/hook"}`, "webhook_url"},
		{`{"webhook_url": "https://merchant.example/` + strings.Repeat("a", 2000) + `"}`, "webhook_url"},
		{`{"state_filter_enabled": "yes"}`, "state_filter_enabled"},
		{`{"plugin": "payment_request"}`, "plugin"},
		{`{"colour": "blue"}`, "colour"},
	}
	for _, tt := range tests {
		code, b := env.Do("PUT", pluginsPath+"e_commerce/", tt.body)
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", tt.body, b)
		requireFieldErrors(t, b, tt.field)
		require.Equal(t, saved, env.JSON("GET", pluginsPath+"e_commerce/", nil, http.StatusOK), "%s changed nothing", tt.body)
	}
	code, b := env.Do("PUT", pluginsPath+"e_commerce/", `{"states": `)
	require.Equal(t, http.StatusBadRequest, code)
	requireDetail(t, b)
}

func TestPlugins_UnknownPluginIsNotFound(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		var body any
		if method == "PUT" {
			body = map[string]any{"webhook_url": "https://merchant.example/hook"}
		}
		code, b := env.Do(method, pluginsPath+"subscriptions/", body)
		require.Equal(t, http.StatusNotFound, code, "%s: %s", method, b)
		requireDetail(t, b)
	}
	require.Equal(t, 0.0, env.JSON("GET", pluginsPath, nil, http.StatusOK)["count"])
}

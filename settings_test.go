package payhook

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func patch(t *testing.T, fields map[string]any) SettingsPatch {
	t.Helper()
	p := SettingsPatch{}
	for k, v := range fields {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		p[k] = b
	}
	return p
}

var errNoSecret = errors.New("no secret expected")

func noSecret() (string, error) { return "", errNoSecret }

func fixedSecret() (string, error) { return "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", nil }

func TestSettingsApply_GoodValues(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")
	got, rot, err := s.Apply(patch(t, map[string]any{
		"hmac_key": "a-new-key-0123", "enabled": true, "api_transactions_enabled": true,
		"operations_webhook_url": "https://merchant.example/ops", "ignore_ssl": false, "notify_on_error": false,
		"emails": []string{"ops@merchant.example", "dev@merchant.example"}, "timeout": 0.5, "retry_enabled": false,
		"retries": 10, "backoff_factor": 0, "version": "v2", "format": "xml", "user_agent": "payhook-test/1",
	}), noSecret)
	require.NoError(t, err)
	require.Equal(t, Rotations{}, rot)
	require.Equal(t, Settings{
		HMACKey: "a-new-key-0123", Enabled: true, APITransactionsEnabled: true,
		OperationsWebhookURL: "https://merchant.example/ops", IgnoreSSL: false, NotifyOnError: false,
		Emails: []string{"ops@merchant.example", "dev@merchant.example"}, Timeout: 0.5, RetryEnabled: false,
		Retries: 10, BackoffFactor: 0, Version: "v2", Format: FormatXML, UserAgent: "payhook-test/1",
		EndpointHealthSettings: DefaultEndpointHealthSettings(),
	}, got)

	// Limits are inclusive where SPEC §3 says so.
	got, _, err = s.Apply(patch(t, map[string]any{"timeout": 60, "backoff_factor": 3600, "retries": 1,
		"hmac_key": strings.Repeat("k", 256), "operations_webhook_url": "", "emails": []string{}}), noSecret)
	require.NoError(t, err)
	require.Equal(t, 60.0, got.Timeout)
	require.Equal(t, 3600.0, got.BackoffFactor)
	require.Equal(t, 1, got.Retries)
	require.Empty(t, got.OperationsWebhookURL)
	require.NotNil(t, got.Emails)
}

func TestSettingsApply_EachBadFieldNamedNothingChanged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		field string
		value any
	}{
		{"hmac_key", "short"},
		{"hmac_key", strings.Repeat("k", 257)},
		{"hmac_key", " padded-key "},
		{"hmac_key", 12345678},
		{"enabled", "true"},
		{"enabled", nil},
		{"api_transactions_enabled", 1},
		{"operations_webhook_url", "ftp://merchant.example/ops"},
		{"operations_webhook_url", "not a url"},
		{"operations_webhook_url", "https://user:pass@merchant.example/"},
		{"operations_webhook_url", "https://merchant.example/" + strings.Repeat("a", 2000)},
		{"ignore_ssl", "no"},
		{"notify_on_error", nil},
		{"emails", "ops@merchant.example"},
		{"emails", []string{"not-an-address"}},
		{"emails", []string{"Ops <ops@merchant.example>"}},
		{"timeout", 0},
		{"timeout", -1},
		{"timeout", 60.5},
		{"timeout", "15"},
		{"retry_enabled", "yes"},
		{"retries", 0},
		{"retries", 11},
		{"retries", 2.5},
		{"backoff_factor", -0.1},
		{"backoff_factor", 3601},
		{"backoff_factor", "5"},
		{"version", "v3"},
		{"format", "yaml"},
		{"user_agent", ""},
		{"user_agent", "evil\r\nX-Injected: 1"},
		{"user_agent", strings.Repeat("u", 513)},
		{"standard_webhooks", "on"},
		{"standard_webhooks_secret", "whsec_c2VjcmV0"},
		{"rotate_standard_webhooks_secret", "yes"},
		{"rotate_hmac_key", 1},
		{"no_such_field", true},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			t.Parallel()
			s := DefaultSettings("pu9MpX3yPR")
			s.Emails = []string{"keep@merchant.example"}
			before := s
			before.Emails = []string{"keep@merchant.example"}
			// A good change beside the bad one must not be applied either.
			p := patch(t, map[string]any{tt.field: tt.value, "enabled": true, "timeout": 2})
			if tt.field == "enabled" || tt.field == "timeout" {
				p = patch(t, map[string]any{tt.field: tt.value, "retries": 5})
			}
			got, rot, err := s.Apply(p, noSecret)
			require.Error(t, err)
			require.Equal(t, EINVALID, ErrorCode(err))
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Contains(t, e.Fields, tt.field, "the bad field is named: %v", e.Fields)
			require.Len(t, e.Fields, 1, "only the bad field is named: %v", e.Fields)
			require.NotEmpty(t, e.Fields[tt.field][0])
			require.Equal(t, before, got, "nothing changes on error")
			require.Equal(t, before, s, "the receiver is untouched")
			require.Equal(t, Rotations{}, rot)
		})
	}
}

func TestSettingsApply_SeveralBadFieldsAllNamed(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")
	_, _, err := s.Apply(patch(t, map[string]any{"timeout": 0, "retries": 99, "version": "v9", "enabled": true}), noSecret)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.ElementsMatch(t, []string{"timeout", "retries", "version"}, keys(e.Fields))
}

func TestSettingsApply_DoesNotAliasEmails(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")
	s.Emails = []string{"a@merchant.example"}
	got, _, err := s.Apply(patch(t, map[string]any{"enabled": true}), noSecret)
	require.NoError(t, err)
	got.Emails[0] = "changed@merchant.example"
	require.Equal(t, "a@merchant.example", s.Emails[0])
}

func TestSettingsApply_RotateHMACKey(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")
	got, rot, err := s.Apply(patch(t, map[string]any{"rotate_hmac_key": true}), noSecret)
	require.NoError(t, err)
	require.True(t, rot.HMACKey)
	require.False(t, rot.StandardWebhooksSecret)
	require.NotEqual(t, s.HMACKey, got.HMACKey)
	require.Len(t, got.HMACKey, 40)

	got, rot, err = s.Apply(patch(t, map[string]any{"rotate_hmac_key": false}), noSecret)
	require.NoError(t, err)
	require.False(t, rot.HMACKey)
	require.Equal(t, s.HMACKey, got.HMACKey)

	// Setting a key and asking for a new one at once is ambiguous.
	got, _, err = s.Apply(patch(t, map[string]any{"rotate_hmac_key": true, "hmac_key": "another-key-123"}), noSecret)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Contains(t, e.Fields, "rotate_hmac_key")
	require.Equal(t, s, got)
}

func TestSettingsApply_StandardWebhooksSecret(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")

	// Turning the headers on generates the secret once.
	on, rot, err := s.Apply(patch(t, map[string]any{"standard_webhooks": true}), fixedSecret)
	require.NoError(t, err)
	require.True(t, rot.StandardWebhooksSecret, "a new secret is shown in full once")
	sec, _ := fixedSecret()
	require.Equal(t, sec, on.StandardWebhooksSecret)

	// Later patches keep it.
	again, rot, err := on.Apply(patch(t, map[string]any{"timeout": 3}), noSecret)
	require.NoError(t, err)
	require.False(t, rot.StandardWebhooksSecret)
	require.Equal(t, sec, again.StandardWebhooksSecret)

	// Turning them off keeps the secret for when they come back.
	off, _, err := on.Apply(patch(t, map[string]any{"standard_webhooks": false}), noSecret)
	require.NoError(t, err)
	require.Equal(t, sec, off.StandardWebhooksSecret)

	// Rotation makes a new one.
	n := 0
	counter := func() (string, error) { n++; return "whsec_bmV3LXNlY3JldA==", nil }
	rotated, rot, err := on.Apply(patch(t, map[string]any{"rotate_standard_webhooks_secret": true}), counter)
	require.NoError(t, err)
	require.True(t, rot.StandardWebhooksSecret)
	require.Equal(t, 1, n)
	require.Equal(t, "whsec_bmV3LXNlY3JldA==", rotated.StandardWebhooksSecret)

	// A failing generator changes nothing.
	got, _, err := s.Apply(patch(t, map[string]any{"standard_webhooks": true, "timeout": 3}), noSecret)
	require.ErrorIs(t, err, errNoSecret)
	require.Equal(t, s, got)
}

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"ab", "********"},
		{"pu9MpX3yPR", "pu********"},
		{"0123456789abcdefXYZ", "0123********"},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_Mf********"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Mask(tt.in), tt.in)
	}
}

func TestSettingsMasked(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("0123456789abcdefXYZ")
	s.StandardWebhooksSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	s.Emails = nil
	m := s.Masked()
	require.Equal(t, "0123********", m.HMACKey)
	require.Equal(t, "whsec_Mf********", m.StandardWebhooksSecret)
	require.NotNil(t, m.Emails, "emails is a list in the answer, never null")
	require.NotContains(t, m.HMACKey, "XYZ")
	// The original is untouched.
	require.Equal(t, "0123456789abcdefXYZ", s.HMACKey)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	require.NotContains(t, string(b), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.Contains(t, string(b), `"emails":[]`)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A merchant's tooling reads the configuration and PATCHes it back whole: the masked
// secrets it read must change nothing.
func TestApply_MaskedSecretsReadBackChangeNothing(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR-my-secret")
	s.StandardWebhooks, s.StandardWebhooksSecret = true, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	masked := s.Masked()
	patch := SettingsPatch{}
	b, _ := json.Marshal(masked)
	require.NoError(t, json.Unmarshal(b, &patch))
	got, _, err := s.Apply(patch, nil)
	require.NoError(t, err)
	require.Equal(t, s, got)

	_, _, err = s.Apply(SettingsPatch{"hmac_key": json.RawMessage(`"abcd********"`)}, nil)
	require.ErrorContains(t, err, "masked")
	_, _, err = s.Apply(SettingsPatch{"standard_webhooks_secret": json.RawMessage(`"whsec_other"`)}, nil)
	require.Error(t, err)
}

func TestPluginStateFilter_FailedLetsAttemptedTriesThrough(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		states []State
		on     bool
		state  State
		passes bool
	}{
		{nil, false, StateAttempted, true},
		{[]State{StateFailed}, true, StateAttempted, true},
		{[]State{StateFailed}, true, StateFailed, true},
		{[]State{StatePaid}, true, StateAttempted, false},
		{[]State{StatePaid, StateExpired}, true, StateExpired, true},
		{[]State{}, true, StatePaid, false},
	} {
		p := PluginSettings{StateFilterEnabled: tc.on, States: tc.states}
		if got := p.Passes(tc.state); got != tc.passes {
			t.Errorf("filter %v (on %v), state %s: passes %v, want %v", tc.states, tc.on, tc.state, got, tc.passes)
		}
	}
}

package payhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEndpointHealthSettings_DefaultsAndGoodValues(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")
	require.Equal(t, EndpointPolicy{FailingAfter: time.Hour, DisableAfter: 5 * 24 * time.Hour}, s.EndpointPolicy())
	require.Equal(t, 100*time.Millisecond, s.ResumeInterval())

	got, _, err := s.Apply(patch(t, map[string]any{"endpoint_failing_after": 0.3, "endpoint_disable_after": 0.8,
		"endpoint_resume_rate": 5000, "operations_notices_url": "https://ops.example/notices"}), noSecret)
	require.NoError(t, err)
	require.Equal(t, EndpointPolicy{FailingAfter: 300 * time.Millisecond, DisableAfter: 800 * time.Millisecond}, got.EndpointPolicy())
	require.Equal(t, 200*time.Microsecond, got.ResumeInterval())
	require.Equal(t, "https://ops.example/notices", got.OperationsNoticesURL)

	never, _, err := got.Apply(patch(t, map[string]any{"endpoint_disable_after": 0, "operations_notices_url": ""}), noSecret)
	require.NoError(t, err, "0 never disables, even below endpoint_failing_after")
	require.Zero(t, never.EndpointPolicy().DisableAfter)
	require.Empty(t, never.OperationsNoticesURL)
}

func TestEndpointHealthSettings_EachBadFieldNamedNothingChanged(t *testing.T) {
	t.Parallel()
	s := DefaultSettings("pu9MpX3yPR")
	for _, c := range []struct {
		field string
		value any
		want  string
	}{
		{"endpoint_failing_after", -1, "must be 0 to 7776000 seconds (90 days)"},
		{"endpoint_failing_after", "60", "must be a number of seconds"},
		{"endpoint_disable_after", 7776001, "must be 0 (never) to 7776000 seconds (90 days)"},
		{"endpoint_disable_after", 10, "endpoint_disable_after (10 s) must be 0 (never) or at least endpoint_failing_after (3600 s)"},
		{"endpoint_resume_rate", 0, "must be more than 0 and at most 10000 notifications a second"},
		{"endpoint_resume_rate", 10001, "must be more than 0 and at most 10000 notifications a second"},
		{"operations_notices_url", "ftp://ops.example", "must be an absolute http or https URL"},
		{"operations_notices_url", nil, "may not be null"},
	} {
		got, _, err := s.Apply(patch(t, map[string]any{c.field: c.value}), noSecret)
		require.Error(t, err, "%s = %v", c.field, c.value)
		require.Equal(t, map[string][]string{c.field: {c.want}}, map[string][]string(err.(*Error).Fields), "%s = %v", c.field, c.value)
		require.Equal(t, s.EndpointHealthSettings, got.EndpointHealthSettings)
	}
	// A failing span raised above the disable span is named on the field that changed.
	_, _, err := s.Apply(patch(t, map[string]any{"endpoint_failing_after": 500000}), noSecret)
	require.Contains(t, err.(*Error).Fields, "endpoint_failing_after")
}

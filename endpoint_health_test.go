package payhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEndpointHealth_Observe(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := EndpointPolicy{FailingAfter: time.Minute, DisableAfter: time.Hour}
	type step struct {
		failed bool
		at     time.Duration
		state  EndpointState
		change EndpointChange
	}
	tests := []struct {
		name   string
		policy EndpointPolicy
		steps  []step
	}{
		{"a success keeps a URL healthy", p, []step{{false, 0, EndpointHealthy, ""}}},
		{"failures turn it failing then disabled, each told once", p, []step{
			{true, 0, EndpointHealthy, ""}, {true, 59 * time.Second, EndpointHealthy, ""},
			{true, time.Minute, EndpointFailing, EndpointBecameFailing}, {true, 2 * time.Minute, EndpointFailing, ""},
			{true, time.Hour, EndpointDisabled, EndpointBecameDisabled}, {true, 2 * time.Hour, EndpointDisabled, ""}}},
		{"a success clears failing", p, []step{
			{true, 0, EndpointHealthy, ""}, {true, time.Minute, EndpointFailing, EndpointBecameFailing},
			{false, 2 * time.Minute, EndpointHealthy, EndpointRecovered}, {true, 3 * time.Minute, EndpointHealthy, ""}}},
		{"a success clears a streak before it is failing", p, []step{
			{true, 0, EndpointHealthy, ""}, {false, 30 * time.Second, EndpointHealthy, ""},
			{true, 61 * time.Second, EndpointHealthy, ""}}},
		{"a span past both goes straight to disabled", p, []step{
			{true, 0, EndpointHealthy, ""}, {true, 2 * time.Hour, EndpointDisabled, EndpointBecameDisabled}}},
		{"disable span 0 never disables", EndpointPolicy{FailingAfter: time.Minute}, []step{
			{true, 0, EndpointHealthy, ""}, {true, 100 * time.Hour, EndpointFailing, EndpointBecameFailing}}},
		{"failing span 0: the first failure", EndpointPolicy{}, []step{{true, 0, EndpointFailing, EndpointBecameFailing}}},
		{"a success older than the streak does not clear it", p, []step{
			{true, time.Minute, EndpointHealthy, ""}, {false, 0, EndpointHealthy, ""},
			{true, 2 * time.Minute, EndpointFailing, EndpointBecameFailing}}},
		{"a failure older than the last success starts no streak", p, []step{
			{false, time.Hour, EndpointHealthy, ""}, {true, 0, EndpointHealthy, ""},
			{true, time.Hour + 30*time.Second, EndpointHealthy, ""}, {true, time.Hour + 89*time.Second, EndpointHealthy, ""},
			{true, time.Hour + 90*time.Second, EndpointFailing, EndpointBecameFailing}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := EndpointHealth{URL: "https://shop.example/webhook"}
			for i, s := range tt.steps {
				var change EndpointChange
				h, change = h.Observe(s.failed, t0.Add(s.at), tt.policy)
				require.Equal(t, s.state, h.State, "step %d", i)
				require.Equal(t, s.change, change, "step %d", i)
			}
		})
	}
}

func TestEndpointHealth_ResumeForgetsTheStreak(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := EndpointHealth{URL: "https://shop.example/webhook", State: EndpointDisabled, FirstFailureAt: t0, ChangedAt: t0}
	r := h.Resume("ops@shop.example", t0.Add(time.Hour))
	require.Equal(t, EndpointHealthy, r.State)
	require.True(t, r.FirstFailureAt.IsZero())
	require.Equal(t, t0.Add(time.Hour), r.ChangedAt)
	require.Equal(t, "ops@shop.example", r.ResumedBy)
	// After a resume, failures start a new streak: it takes the full span again.
	r, change := r.Observe(true, t0.Add(2*time.Hour), EndpointPolicy{FailingAfter: time.Minute, DisableAfter: time.Hour})
	require.Empty(t, change)
	require.Equal(t, EndpointHealthy, r.State)
}

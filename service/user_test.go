package service

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/sqlite"
)

// One person's wrong passwords lock out that email from that address, not colleagues on
// the same address (an office behind one proxy); a sweep of many emails from one address
// still stops; a successful sign-in clears the count.
func TestSignInThrottle_PerEmailAndAddress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/payhook.db")
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	// Two services on one store: two processes share the count.
	th := New(Config{Store: st, Clock: clock})
	other := New(Config{Store: st, Clock: clock})
	blocked := func(s *Service, at time.Time, email, addr string) bool {
		t.Helper()
		b, err := s.signInBlocked(ctx, at, email, addr)
		require.NoError(t, err)
		return b
	}
	for i := range MaxFailedSignIns {
		require.False(t, blocked(th, now, "mallory@example.com", "10.0.0.1"))
		s := th
		if i%2 == 1 {
			s = other
		}
		s.signInFailed(ctx, now, "mallory@example.com", "10.0.0.1")
	}
	require.True(t, blocked(th, now, "mallory@example.com", "10.0.0.1"))
	require.True(t, blocked(other, now, "mallory@example.com", "10.0.0.1"), "failures in one process count in the other")
	require.False(t, blocked(th, now, "alice@example.com", "10.0.0.1"), "a colleague on the same address")
	require.False(t, blocked(th, now, "mallory@example.com", "10.0.0.2"), "another address")
	require.False(t, blocked(th, now.Add(SignInWindow+time.Second), "mallory@example.com", "10.0.0.1"), "the window passes")

	th.signInFailed(ctx, now, "bob@example.com", "10.0.0.3")
	other.signInSucceeded(ctx, now, "bob@example.com", "10.0.0.3")
	for range MaxFailedSignIns - 1 {
		th.signInFailed(ctx, now, "bob@example.com", "10.0.0.3")
	}
	require.False(t, blocked(th, now, "bob@example.com", "10.0.0.3"), "a success cleared the earlier failure")

	for i := range MaxFailedSignInsPerAddress {
		th.signInFailed(ctx, now, string(rune('a'+i%26))+"@sweep.example", "10.0.0.9")
	}
	require.True(t, blocked(th, now, "anyone@example.com", "10.0.0.9"), "a sweep of many emails from one address stops")
}

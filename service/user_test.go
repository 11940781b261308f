package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// One person's wrong passwords lock out that email from that address, not colleagues on
// the same address (an office behind one proxy); a sweep of many emails from one address
// still stops; a successful sign-in clears the count.
func TestSignInThrottle_PerEmailAndAddress(t *testing.T) {
	t.Parallel()
	var th signInThrottle
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for range MaxFailedSignIns {
		require.False(t, th.blocked(now, "mallory@example.com", "10.0.0.1"))
		th.fail(now, "mallory@example.com", "10.0.0.1")
	}
	require.True(t, th.blocked(now, "mallory@example.com", "10.0.0.1"))
	require.False(t, th.blocked(now, "alice@example.com", "10.0.0.1"), "a colleague on the same address")
	require.False(t, th.blocked(now, "mallory@example.com", "10.0.0.2"), "another address")
	require.False(t, th.blocked(now.Add(SignInWindow+time.Second), "mallory@example.com", "10.0.0.1"), "the window passes")

	th.fail(now, "bob@example.com", "10.0.0.3")
	th.succeed("bob@example.com", "10.0.0.3")
	for range MaxFailedSignIns - 1 {
		th.fail(now, "bob@example.com", "10.0.0.3")
	}
	require.False(t, th.blocked(now, "bob@example.com", "10.0.0.3"), "a success cleared the earlier failure")

	for i := range MaxFailedSignInsPerAddress {
		th.fail(now, string(rune('a'+i%26))+"@sweep.example", "10.0.0.9")
	}
	require.True(t, th.blocked(now, "anyone@example.com", "10.0.0.9"), "a sweep of many emails from one address stops")
}

package mail

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func TestFailureEmail_SaysUntilWhenExtendedRedeliveryGoesOn(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	n := &payhook.Notification{ID: "wh_1", Kind: payhook.KindPayment, SessionID: "s1", URL: "https://shop.example/hook",
		Status: payhook.StatusFailed, RoundAttempts: 1,
		Attempts:   []payhook.Attempt{{Number: 1, StartedAt: at, StatusCode: 503}},
		Redelivery: &payhook.Redelivery{NextAttemptAt: at.Add(time.Minute), EndsAt: at.Add(45 * time.Hour)}}
	letter, err := FailureEmail{Notification: n, Interval: time.Hour, BaseURL: "https://payhook.example"}.Render()
	require.NoError(t, err)
	for _, body := range []string{letter.Text, letter.HTML} {
		require.Contains(t, body, "Extended redelivery is on")
		require.Contains(t, body, "2026-12-07T07:00:00Z", "the schedule's end")
		require.Contains(t, body, "2026-12-05T10:01:00Z", "the next attempt")
	}

	n.Redelivery = nil
	letter, err = FailureEmail{Notification: n, Interval: time.Hour}.Render()
	require.NoError(t, err)
	require.NotContains(t, letter.Text, "Extended redelivery", "without it, the email is as before")
}

package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func testEndpointStats(t *testing.T, h Harness) {
	t.Run("FiguresPerURLOverTheWindow", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		const a, b = "https://a.example/hook", "https://b.example/hook"
		session := payhook.NewSessionID()
		at := func(d time.Duration) time.Time { return base.Add(d) }
		note := func(url string, created time.Duration) *payhook.Notification {
			return newNotification(session, url, at(created))
		}
		n1, n2, n3 := note(a, 10*time.Minute), note(a, 20*time.Minute), note(a, 150*time.Minute)
		n4, n5 := note(a, 5*time.Hour), note(a, 5*time.Hour)
		before, atEnd := note(a, -time.Hour), note(a, 24*time.Hour) // outside the window
		nb := note(b, 23*time.Hour+59*time.Minute)
		notSent := note(a, time.Hour)
		notSent.Status, notSent.Reason = payhook.StatusNotSent, payhook.ReasonDisabled
		noURL := finished(note("", time.Hour), payhook.StatusNotSent)
		l := lease("worker", 48*time.Hour)
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{n1, n2, n3, n4, n5, before, atEnd, nb, notSent, noURL}, l))

		attempt := func(n *payhook.Notification, started time.Duration, dur time.Duration, code int, errText string, st payhook.Status) payhook.Attempt {
			t.Helper()
			at := payhook.Attempt{StartedAt: at(started), Duration: dur, StatusCode: code, Error: errText}
			require.NoError(t, s.RecordAttempt(ctx, n.ID, at, st, time.Time{}, l))
			return at
		}
		attempt(n1, 11*time.Minute, 10*time.Millisecond, 200, "", payhook.StatusDelivered)
		attempt(n2, 21*time.Minute, 500*time.Millisecond, 0, "timeout after 0.5s", payhook.StatusPending)
		attempt(n2, 22*time.Minute, 30*time.Millisecond, 201, "", payhook.StatusDelivered)
		attempt(n3, 151*time.Minute, 20*time.Millisecond, 500, "", payhook.StatusFailed)
		last := attempt(n5, 5*time.Hour+time.Minute, 40*time.Millisecond, 0, "connection refused", payhook.StatusPending)
		attempt(before, 10*time.Hour, 9*time.Second, 503, "", payhook.StatusFailed) // created before: not counted
		attempt(atEnd, 24*time.Hour, 9*time.Second, 503, "", payhook.StatusFailed)
		attempt(nb, 23*time.Hour+59*time.Minute, 7*time.Millisecond, 201, "", payhook.StatusDelivered)

		got, err := s.EndpointStats(ctx, base, base.Add(24*time.Hour))
		require.NoError(t, err)
		require.Len(t, got, 2)

		hoursA := payhook.EndpointHours(base, base.Add(24*time.Hour))
		hoursA[0].Delivered, hoursA[2].Failed = 2, 1
		last.Number = 1
		wantA := payhook.EndpointStats{URL: a, Sent: 4, Delivered: 2, Failed: 1, Queued: 1, Attempts: 5,
			P50: 30 * time.Millisecond, P95: 500 * time.Millisecond, // of 10, 20, 30, 40, 500 ms: ranks 3 and 5
			LastFailure: &last, LastFailureNotification: n5.ID, Hours: hoursA}
		requireSameEndpoint(t, wantA, got[0])

		hoursB := payhook.EndpointHours(base, base.Add(24*time.Hour))
		hoursB[23].Delivered = 1
		wantB := payhook.EndpointStats{URL: b, Sent: 1, Delivered: 1, Attempts: 1, P50: 7 * time.Millisecond,
			P95: 7 * time.Millisecond, Hours: hoursB}
		requireSameEndpoint(t, wantB, got[1])
	})

	t.Run("TwentyAttemptsGiveTheNearestRanks", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		l := lease("worker", 48*time.Hour)
		session := payhook.NewSessionID()
		// Durations 20, 19, …, 1 ms, in that order: p50 is rank 10 (10 ms), p95 rank 19 (19 ms).
		for i := 20; i >= 1; i-- {
			n := newNotification(session, "https://c.example/hook", base.Add(time.Duration(i)*time.Minute))
			require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{n}, l))
			require.NoError(t, s.RecordAttempt(ctx, n.ID, payhook.Attempt{StartedAt: n.CreatedAt,
				Duration: time.Duration(i) * time.Millisecond, StatusCode: 200}, payhook.StatusDelivered, time.Time{}, l))
		}
		got, err := s.EndpointStats(ctx, base, base.Add(time.Hour+30*time.Minute))
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, 20, got[0].Attempts)
		require.Equal(t, 10*time.Millisecond, got[0].P50)
		require.Equal(t, 19*time.Millisecond, got[0].P95)
		require.Len(t, got[0].Hours, 2, "a window of 1.5 h has two hours, the last one shorter")
		require.Equal(t, 20, got[0].Hours[0].Delivered)
		require.Nil(t, got[0].LastFailure)
	})

	t.Run("LastFailureIsTheLatestAttemptNotAccepted", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		l := lease("worker", 48*time.Hour)
		session := payhook.NewSessionID()
		const u = "https://d.example/hook"
		first, second, third := newNotification(session, u, base), newNotification(session, u, base), newNotification(session, u, base)
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{first, second, third}, l))
		at := base.Add(time.Minute)
		// Two failures at the same instant: the one of the greater notification id is
		// the last (a fixed order); a later delivery does not hide them.
		for _, n := range []*payhook.Notification{first, second} {
			require.NoError(t, s.RecordAttempt(ctx, n.ID, payhook.Attempt{StartedAt: at, Duration: time.Millisecond,
				StatusCode: 500, ResponseExcerpt: "boom " + n.ID}, payhook.StatusFailed, time.Time{}, l))
		}
		require.NoError(t, s.RecordAttempt(ctx, third.ID, payhook.Attempt{StartedAt: at.Add(time.Minute), Duration: time.Millisecond,
			StatusCode: 200}, payhook.StatusDelivered, time.Time{}, l))
		got, err := s.EndpointStats(ctx, base, base.Add(time.Hour))
		require.NoError(t, err)
		require.Len(t, got, 1)
		want := max(first.ID, second.ID)
		require.Equal(t, want, got[0].LastFailureNotification)
		require.Equal(t, payhook.Attempt{Number: 1, StartedAt: at, Duration: time.Millisecond, StatusCode: 500,
			ResponseExcerpt: "boom " + want}, *got[0].LastFailure)
		require.Equal(t, []int{2, 1, 1}, []int{got[0].Failed, got[0].Delivered, got[0].Hours[0].Delivered})
	})

	t.Run("EmptyWindow", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		got, err := s.EndpointStats(t.Context(), base, base.Add(24*time.Hour))
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

func requireSameEndpoint(t *testing.T, want, got payhook.EndpointStats) {
	t.Helper()
	if want.LastFailure != nil && got.LastFailure != nil {
		require.Equal(t, utc(want.LastFailure.StartedAt), got.LastFailure.StartedAt)
		w, g := *want.LastFailure, *got.LastFailure
		w.StartedAt, g.StartedAt = time.Time{}, time.Time{}
		require.Equal(t, w, g)
		want.LastFailure, got.LastFailure = nil, nil
	}
	require.Equal(t, want, got)
}

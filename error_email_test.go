package payhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestErrorEmailWindow_OneEmailPerURLPerInterval(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	const interval = 10 * time.Minute
	const url = "https://a.example/hook"
	type step struct {
		at         time.Duration
		wantQueued bool
		wantHeld   int // the email's Held when queued, the window's when held back
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first failure goes out", []step{{0, true, 0}}},
		{"held within the window", []step{{0, true, 0}, {time.Minute, false, 1}, {9*time.Minute + 59*time.Second, false, 2}}},
		{"the window ends after exactly interval", []step{{0, true, 0}, {interval, true, 0}}},
		{"next one after the window sums up the held", []step{
			{0, true, 0}, {time.Minute, false, 1}, {2 * time.Minute, false, 2}, {10 * time.Minute, true, 2}}},
		{"a new window starts with the email", []step{
			{0, true, 0}, {10 * time.Minute, true, 0}, {15 * time.Minute, false, 1}, {20 * time.Minute, true, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := ErrorEmailWindow{URL: url}
			for i, s := range tt.steps {
				at := t0.Add(s.at)
				var e *ErrorEmail
				w, e = w.Admit(ErrorEmailFailure{URL: url, NotificationID: "msg", At: at}, interval, at)
				require.Equal(t, s.wantQueued, e != nil, "step %d", i)
				if e != nil {
					require.Equal(t, s.wantHeld, e.Held, "step %d", i)
					require.Equal(t, s.wantHeld+1, e.Failures(), "step %d", i)
					require.Equal(t, at, e.Due, "step %d: due at once", i)
					require.Zero(t, w.Held, "step %d", i)
					require.Equal(t, at, w.LastQueued, "step %d", i)
				} else {
					require.Equal(t, s.wantHeld, w.Held, "step %d", i)
					require.Equal(t, at, w.Latest.At, "step %d: the latest is kept", i)
				}
			}
		})
	}
}

func TestErrorEmailWindow_SummaryOnlyAfterTheWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	const interval = 10 * time.Minute
	const url = "https://a.example/hook"
	w := ErrorEmailWindow{URL: url}
	w, _ = w.Admit(ErrorEmailFailure{URL: url, At: t0}, interval, t0)
	_, none := w.Summary(interval, t0.Add(time.Hour))
	require.Nil(t, none, "nothing held back, nothing to sum up")
	require.True(t, w.Idle(interval, t0.Add(interval)))
	require.False(t, w.Idle(interval, t0.Add(interval-time.Second)))

	for i := 1; i <= 3; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		w, _ = w.Admit(ErrorEmailFailure{URL: url, NotificationID: at.Format(time.TimeOnly), At: at}, interval, at)
	}
	require.False(t, w.Idle(interval, t0.Add(time.Hour)), "held-back failures are never forgotten")
	_, early := w.Summary(interval, t0.Add(9*time.Minute))
	require.Nil(t, early)
	after, e := w.Summary(interval, t0.Add(interval))
	require.NotNil(t, e)
	require.Equal(t, ErrorEmail{URL: url, Failure: ErrorEmailFailure{URL: url, NotificationID: "09:03:00", At: t0.Add(3 * time.Minute)},
		Held: 3, HeldSince: t0.Add(time.Minute), Summary: true, Due: t0.Add(interval), CreatedAt: t0.Add(interval)}, *e)
	require.Equal(t, 3, e.Failures(), "a summary tells only held-back failures")
	require.Equal(t, ErrorEmailWindow{URL: url, LastQueued: t0.Add(interval)}, after, "a new window starts")
}

func TestErrorEmailWindow_GiveBack(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	const url = "https://a.example/hook"
	f := func(d time.Duration) ErrorEmailFailure { return ErrorEmailFailure{URL: url, At: t0.Add(d)} }
	tests := []struct {
		name       string
		w          ErrorEmailWindow
		e          ErrorEmail
		wantHeld   int
		wantSince  time.Time
		wantLatest time.Time
	}{
		{"into a forgotten window", ErrorEmailWindow{URL: url}, ErrorEmail{URL: url, Failure: f(time.Minute)},
			1, t0.Add(time.Minute), t0.Add(time.Minute)},
		{"an email with held failures gives back all", ErrorEmailWindow{URL: url},
			ErrorEmail{URL: url, Failure: f(5 * time.Minute), Held: 3, HeldSince: t0},
			4, t0, t0.Add(5 * time.Minute)},
		{"a summary gives back what it summed up", ErrorEmailWindow{URL: url},
			ErrorEmail{URL: url, Failure: f(5 * time.Minute), Held: 3, HeldSince: t0, Summary: true},
			3, t0, t0.Add(5 * time.Minute)},
		{"added to failures held since", ErrorEmailWindow{URL: url, LastQueued: t0, Held: 2, HeldSince: t0.Add(2 * time.Minute), Latest: f(8 * time.Minute)},
			ErrorEmail{URL: url, Failure: f(time.Minute)},
			3, t0.Add(time.Minute), t0.Add(8 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.w.GiveBack(&tt.e)
			require.Equal(t, tt.wantHeld, got.Held)
			require.Equal(t, tt.wantSince, got.HeldSince)
			require.Equal(t, tt.wantLatest, got.Latest.At)
			require.Equal(t, tt.w.LastQueued, got.LastQueued, "the window is kept")
		})
	}
}

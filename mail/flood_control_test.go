package mail

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFloodGate_OneEmailPerURLPerInterval(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	fail := func(d time.Duration) failure { return failure{at: at(d)} }
	const a, b = "https://a.example/hook", "https://b.example/hook"

	type step struct {
		url      string
		at       time.Duration
		wantOK   bool
		wantHeld int
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first failure goes out", []step{{a, 0, true, 0}}},
		{"held within the window", []step{{a, 0, true, 0}, {a, time.Minute, false, 0}, {a, 9 * time.Minute, false, 0}}},
		{"next one after the window sums up the held", []step{
			{a, 0, true, 0}, {a, time.Minute, false, 0}, {a, 2 * time.Minute, false, 0}, {a, 10 * time.Minute, true, 2}}},
		{"URLs are independent", []step{{a, 0, true, 0}, {b, time.Second, true, 0}, {a, 2 * time.Second, false, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFloodGate(10 * time.Minute)
			for i, s := range tt.steps {
				ok, held, since := g.admit(s.url, fail(s.at), at(s.at))
				require.Equal(t, s.wantOK, ok, "step %d", i)
				require.Equal(t, s.wantHeld, held, "step %d", i)
				if held > 0 {
					require.Equal(t, at(time.Minute), since, "step %d: since the first held", i)
				}
			}
		})
	}
}

func TestFloodGate_DueSumsUpAfterTheWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	g := newFloodGate(10 * time.Minute)
	const a, b = "https://a.example/hook", "https://b.example/hook"
	g.admit(a, failure{at: t0}, t0)
	g.admit(b, failure{at: t0}, t0)
	for i := 1; i <= 4; i++ {
		g.admit(a, failure{at: t0.Add(time.Duration(i) * time.Minute)}, t0.Add(time.Duration(i)*time.Minute))
	}
	require.Empty(t, g.due(t0.Add(9*time.Minute), false), "window not passed")

	due := g.due(t0.Add(10*time.Minute), false)
	require.Len(t, due, 1)
	require.Equal(t, a, due[0].url)
	require.Equal(t, 4, due[0].held)
	require.Equal(t, t0.Add(time.Minute), due[0].since)
	require.Equal(t, t0.Add(4*time.Minute), due[0].latest.at)
	require.NotContains(t, g.urls, b, "an idle URL is forgotten")

	require.Empty(t, g.due(t0.Add(30*time.Minute), false), "summed up once")
	ok, held, _ := g.admit(a, failure{at: t0.Add(31 * time.Minute)}, t0.Add(31*time.Minute))
	require.True(t, ok)
	require.Zero(t, held)
}

func TestFloodGate_DueAllAtShutdownAndGiveBack(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	g := newFloodGate(10 * time.Minute)
	const a = "https://a.example/hook"
	g.admit(a, failure{at: t0}, t0)
	g.admit(a, failure{at: t0.Add(time.Second)}, t0.Add(time.Second))
	due := g.due(t0.Add(2*time.Second), true)
	require.Len(t, due, 1)
	require.Equal(t, 1, due[0].held)

	// An email that could not be sent is counted into the next one.
	g.giveBack(a, failure{at: t0.Add(time.Second)}, 3, t0)
	ok, held, since := g.admit(a, failure{at: t0.Add(20 * time.Minute)}, t0.Add(20*time.Minute))
	require.True(t, ok)
	require.Equal(t, 3, held)
	require.Equal(t, t0, since)
}

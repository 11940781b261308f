package mail_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/sqlite"
)

// openStore opens a SQLite store in a temporary directory, closed when the test ends.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "payhook.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// The flood-control rule is payhook.ErrorEmailWindow's; these tests check that the
// store applies it as the mailer relies on.

func TestFloodControl_OneEmailPerURLPerInterval(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const a, b = "https://a.example/hook", "https://b.example/hook"

	type step struct {
		url        string
		at         time.Duration
		wantQueued bool
		wantHeld   int
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
			t.Parallel()
			s := openStore(t)
			for i, st := range tt.steps {
				f := payhook.ErrorEmailFailure{URL: st.url, NotificationID: "msg_" + st.url, At: at(st.at)}
				e, err := s.AdmitErrorEmail(context.Background(), f, 10*time.Minute, at(st.at))
				require.NoError(t, err)
				require.Equal(t, st.wantQueued, e != nil, "step %d", i)
				if e == nil {
					continue
				}
				require.Equal(t, st.wantHeld, e.Held, "step %d", i)
				if e.Held > 0 {
					require.Equal(t, at(time.Minute), e.HeldSince, "step %d: since the first held", i)
				}
			}
		})
	}
}

func TestFloodControl_SummaryAfterTheWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	const interval = 10 * time.Minute
	s := openStore(t)
	const a, b = "https://a.example/hook", "https://b.example/hook"
	admit := func(url string, at time.Time) *payhook.ErrorEmail {
		e, err := s.AdmitErrorEmail(ctx, payhook.ErrorEmailFailure{URL: url, NotificationID: at.Format(time.TimeOnly), At: at,
			Detail: []byte(at.Format(time.RFC3339))}, interval, at)
		require.NoError(t, err)
		return e
	}
	require.NotNil(t, admit(a, t0))
	require.NotNil(t, admit(b, t0))
	for i := 1; i <= 4; i++ {
		require.Nil(t, admit(a, t0.Add(time.Duration(i)*time.Minute)))
	}
	lease := payhook.Lease{Owner: "test", Until: t0.Add(time.Hour)}
	emails, err := s.LeaseErrorEmails(ctx, t0, lease, 10)
	require.NoError(t, err)
	require.Len(t, emails, 2, "the first failure of each URL")
	for _, e := range emails {
		require.NoError(t, s.FinishErrorEmail(ctx, e.ID, "test", payhook.ErrorEmailOutcome{}))
	}

	n, err := s.QueueErrorEmailSummaries(ctx, interval, t0.Add(9*time.Minute))
	require.NoError(t, err)
	require.Zero(t, n, "window not passed")

	n, err = s.QueueErrorEmailSummaries(ctx, interval, t0.Add(10*time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	emails, err = s.LeaseErrorEmails(ctx, t0.Add(10*time.Minute), lease, 10)
	require.NoError(t, err)
	require.Len(t, emails, 1)
	sum := emails[0]
	require.Equal(t, a, sum.URL)
	require.True(t, sum.Summary)
	require.Equal(t, 4, sum.Held)
	require.Equal(t, t0.Add(time.Minute), sum.HeldSince)
	require.Equal(t, t0.Add(4*time.Minute), sum.Failure.At, "the latest is told")
	require.Equal(t, t0.Add(4*time.Minute).Format(time.RFC3339), string(sum.Failure.Detail))
	require.NoError(t, s.FinishErrorEmail(ctx, sum.ID, "test", payhook.ErrorEmailOutcome{}))

	n, err = s.QueueErrorEmailSummaries(ctx, interval, t0.Add(30*time.Minute))
	require.NoError(t, err)
	require.Zero(t, n, "summed up once")
	e := admit(a, t0.Add(31*time.Minute))
	require.NotNil(t, e)
	require.Zero(t, e.Held)
}

func TestFloodControl_GivenUpEmailIsCountedIntoTheNext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	const interval = 10 * time.Minute
	s := openStore(t)
	const a = "https://a.example/hook"
	f := func(at time.Time) payhook.ErrorEmailFailure {
		return payhook.ErrorEmailFailure{URL: a, NotificationID: "msg", At: at}
	}
	_, err := s.AdmitErrorEmail(ctx, f(t0), interval, t0)
	require.NoError(t, err)
	held, err := s.AdmitErrorEmail(ctx, f(t0.Add(time.Second)), interval, t0.Add(time.Second))
	require.NoError(t, err)
	require.Nil(t, held)

	// The first email could not be sent to anybody: its failure is counted into the next.
	emails, err := s.LeaseErrorEmails(ctx, t0, payhook.Lease{Owner: "test", Until: t0.Add(time.Hour)}, 10)
	require.NoError(t, err)
	require.Len(t, emails, 1)
	require.NoError(t, s.FinishErrorEmail(ctx, emails[0].ID, "test", payhook.ErrorEmailOutcome{GiveBack: true}))
	st, err := s.ErrorEmailStats(ctx)
	require.NoError(t, err)
	require.Equal(t, payhook.ErrorEmailStats{HeldBack: 2}, st)

	e, err := s.AdmitErrorEmail(ctx, f(t0.Add(20*time.Minute)), interval, t0.Add(20*time.Minute))
	require.NoError(t, err)
	require.NotNil(t, e)
	require.Equal(t, 2, e.Held)
	require.Equal(t, t0, e.HeldSince)
}

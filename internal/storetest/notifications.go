package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func testAddNotifications(t *testing.T, h Harness) {
	t.Run("StoresThemLeasedToTheCaller", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		session := payhook.NewSessionID()
		first := newNotification(session, "https://merchant.example/a", base)
		second := newNotification(session, "https://merchant.example/b", base)
		notSent := finished(newNotification(session, "", base), payhook.StatusNotSent)
		l := lease("worker-a", time.Minute)
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{first, second, notSent}, l))
		for _, n := range []*payhook.Notification{first, second, notSent} {
			got, err := s.Notification(ctx, n.ID)
			require.NoError(t, err)
			requireSameNotification(t, n, got)
		}

		got, err := s.ClaimDue(ctx, base.Add(30*time.Second), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, got, "the caller's lease holds them")
		require.NoError(t, s.RecordAttempt(ctx, first.ID, newAttempt(base, 200), payhook.StatusDelivered, time.Time{}, l))
		got, err = s.ClaimDue(ctx, base.Add(2*time.Minute), lease("worker-b", 5*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []string{second.ID}, ids(got))
	})

	t.Run("StoresThemUnleasedWithoutALease", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		notes := addPending(t, s, 2, dueAt(base))
		got, err := s.ClaimDue(t.Context(), base, lease("worker-b", time.Minute), 10)
		require.NoError(t, err)
		require.ElementsMatch(t, ids(notes), ids(got))
	})
}

func testNotification(t *testing.T, h Harness) {
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		_, err := s.Notification(t.Context(), payhook.NewNotificationID())
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("ReturnsItsAttemptsInOrder", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		n := addPending(t, s, 1, dueAt(base))[0]
		l := lease("worker-a", time.Hour)
		attempts := []payhook.Attempt{newAttempt(base, 0), newAttempt(base.Add(5*time.Second), 503), newAttempt(base.Add(10*time.Second), 200)}
		claimed, err := s.ClaimDue(ctx, base, l, 1)
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		require.NoError(t, s.RecordAttempt(ctx, n.ID, attempts[0], payhook.StatusPending, base.Add(5*time.Second), l))
		require.NoError(t, s.RecordAttempt(ctx, n.ID, attempts[1], payhook.StatusPending, base.Add(10*time.Second), l))
		require.NoError(t, s.RecordAttempt(ctx, n.ID, attempts[2], payhook.StatusDelivered, time.Time{}, l))

		got, err := s.Notification(ctx, n.ID)
		require.NoError(t, err)
		require.Equal(t, payhook.StatusDelivered, got.Status)
		require.Equal(t, 3, got.RoundAttempts)
		requireSameAttempts(t, attempts, got.Attempts)
	})
}

// requireSameAttempts requires got to be the attempts want, in order (their numbers are
// the store's to give).
func requireSameAttempts(t *testing.T, want, got []payhook.Attempt) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		w.Number, g.Number = 0, 0
		w.StartedAt, g.StartedAt = utc(w.StartedAt), utc(g.StartedAt)
		require.Equal(t, w, g, "attempt %d", i)
	}
}

// logFixture is a delivery log: five notifications one a minute from base, newest last.
//
//	0 session A, payment,   /a, delivered (one attempt)
//	1 session A, payment,   /b, failed
//	2 session A, operation, /a, pending
//	3 session B, payment,   /a, delivered
//	4 session B, operation, /b, not sent
type logFixture struct {
	s        payhook.Store
	a, b     string // the session ids
	notes    []*payhook.Notification
	attempts []payhook.Attempt // of notes[0]
}

func newLogFixture(t *testing.T, h Harness) *logFixture {
	t.Helper()
	s := h.Open(t)
	ctx := t.Context()
	f := &logFixture{s: s, a: payhook.NewSessionID(), b: payhook.NewSessionID()}
	rows := []struct {
		session *string
		kind    payhook.Kind
		url     string
		status  payhook.Status
	}{
		{&f.a, payhook.KindPayment, "https://merchant.example/a", payhook.StatusPending},
		{&f.a, payhook.KindPayment, "https://merchant.example/b", payhook.StatusFailed},
		{&f.a, payhook.KindOperation, "https://merchant.example/a", payhook.StatusPending},
		{&f.b, payhook.KindPayment, "https://merchant.example/a", payhook.StatusDelivered},
		{&f.b, payhook.KindOperation, "https://merchant.example/b", payhook.StatusNotSent},
	}
	for i, r := range rows {
		n := newNotification(*r.session, r.url, base.Add(time.Duration(i)*time.Minute))
		n.Kind = r.kind
		if r.status != payhook.StatusPending {
			finished(n, r.status)
			n.URL = r.url
		}
		f.notes = append(f.notes, n)
	}
	require.NoError(t, s.AddNotifications(ctx, f.notes, payhook.Lease{}))

	// notes[0] is delivered by a worker, so that it has an attempt.
	l := lease("worker-a", time.Hour)
	claimed, err := s.ClaimDue(ctx, base, l, 1)
	require.NoError(t, err)
	require.Equal(t, []string{f.notes[0].ID}, ids(claimed))
	f.attempts = []payhook.Attempt{newAttempt(base.Add(time.Second), 200)}
	require.NoError(t, s.RecordAttempt(ctx, f.notes[0].ID, f.attempts[0], payhook.StatusDelivered, time.Time{}, l))
	return f
}

// want returns the ids of the fixture's notifications i, in that order.
func (f *logFixture) want(i ...int) []string {
	out := make([]string, len(i))
	for k, j := range i {
		out[k] = f.notes[j].ID
	}
	return out
}

func testListNotifications(t *testing.T, h Harness) {
	t.Run("NewestFirstWithAttemptsAndCount", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t, h)
		list, n, err := f.s.ListNotifications(t.Context(), payhook.NotificationFilter{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 5, n)
		require.Equal(t, f.want(4, 3, 2, 1, 0), ids(list))
		require.Equal(t, payhook.StatusDelivered, list[4].Status)
		requireSameAttempts(t, f.attempts, list[4].Attempts)
		require.Empty(t, list[3].Attempts)
		requireSameNotification(t, f.notes[3], list[1])
	})

	t.Run("FiltersBySessionStatusKindURLAndTime", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t, h)
		for _, c := range []struct {
			name string
			f    payhook.NotificationFilter
			want []string
		}{
			{"session", payhook.NotificationFilter{SessionID: f.b}, f.want(4, 3)},
			{"status", payhook.NotificationFilter{Status: payhook.StatusDelivered}, f.want(3, 0)},
			{"kind", payhook.NotificationFilter{Kind: payhook.KindOperation}, f.want(4, 2)},
			{"url", payhook.NotificationFilter{URL: "https://merchant.example/b"}, f.want(4, 1)},
			{"url is exact", payhook.NotificationFilter{URL: "https://merchant.example/"}, []string{}},
			{"url prefix", payhook.NotificationFilter{URLPrefix: "https://merchant.example/"}, f.want(4, 3, 2, 1, 0)},
			{"url prefix, whole url", payhook.NotificationFilter{URLPrefix: "https://merchant.example/b"}, f.want(4, 1)},
			{"url prefix minds case", payhook.NotificationFilter{URLPrefix: "https://merchant.example/B"}, []string{}},
			{"url prefix has no wildcards", payhook.NotificationFilter{URLPrefix: "https://merchant.example/%"}, []string{}},
			{"url prefix longer than the url", payhook.NotificationFilter{URLPrefix: "https://merchant.example/bb"}, []string{}},
			{"url prefix, kind and time", payhook.NotificationFilter{URLPrefix: "https://merchant.example/", Kind: payhook.KindPayment,
				Since: base.Add(30 * time.Second), Until: base.Add(4 * time.Minute)}, f.want(3, 1)},
			{"since", payhook.NotificationFilter{Since: base.Add(150 * time.Second)}, f.want(4, 3)},
			{"until", payhook.NotificationFilter{Until: base.Add(90 * time.Second)}, f.want(1, 0)},
			{"since and until", payhook.NotificationFilter{Since: base.Add(30 * time.Second), Until: base.Add(150 * time.Second)}, f.want(2, 1)},
			{"session, kind and url", payhook.NotificationFilter{SessionID: f.a, Kind: payhook.KindPayment, URL: "https://merchant.example/a"}, f.want(0)},
			{"no match", payhook.NotificationFilter{SessionID: f.a, Status: payhook.StatusNotSent}, []string{}},
		} {
			c.f.Limit = 10
			list, n, err := f.s.ListNotifications(t.Context(), c.f)
			require.NoError(t, err, c.name)
			require.Equal(t, c.want, ids(list), c.name)
			require.Equal(t, len(c.want), n, c.name)
		}
	})

	t.Run("PagesWithLimitAndOffset", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t, h)
		list, n, err := f.s.ListNotifications(t.Context(), payhook.NotificationFilter{Limit: 2, Offset: 1})
		require.NoError(t, err)
		require.Equal(t, 5, n, "the count is of every match, not of the page")
		require.Equal(t, f.want(3, 2), ids(list))
		list, n, err = f.s.ListNotifications(t.Context(), payhook.NotificationFilter{SessionID: f.a, Limit: 2, Offset: 2})
		require.NoError(t, err)
		require.Equal(t, 3, n)
		require.Equal(t, f.want(0), ids(list))
	})

	t.Run("ZeroLimitReturnsEveryMatch", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		const n = 60
		addPending(t, s, n, func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) })
		list, count, err := s.ListNotifications(t.Context(), payhook.NotificationFilter{})
		require.NoError(t, err)
		require.Equal(t, n, count)
		require.Equal(t, n, len(list), "NotificationFilter: zero fields do not filter (store.go), so Limit 0 lists every match: the store cut the list short")
	})
}

func testResendMatching(t *testing.T, h Harness) {
	t.Run("MakesFinishedMatchesPendingDueNowAndUnleased", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t, h)
		ctx := t.Context()
		now := base.Add(30 * time.Minute) // before worker-a's lease on notes[0] would have expired
		// notes[2] is pending, leased to a worker beyond now: left alone.
		claimed, err := f.s.ClaimDue(ctx, base.Add(3*time.Minute), lease("worker-a", 2*time.Hour), 10)
		require.NoError(t, err)
		require.Equal(t, f.want(2), ids(claimed))

		n, err := f.s.ResendMatching(ctx, payhook.NotificationFilter{SessionID: f.a, Limit: 1, Offset: 1}, now)
		require.NoError(t, err)
		require.Equal(t, 2, n, "every delivered or failed match, Limit and Offset ignored")
		for _, i := range []int{0, 1} {
			got, err := f.s.Notification(ctx, f.notes[i].ID)
			require.NoError(t, err)
			require.Equal(t, payhook.StatusPending, got.Status)
			require.Zero(t, got.RoundAttempts, "a new round of attempts")
			requireSameTime(t, now, got.NextAttemptAt, "due now")
			require.Equal(t, f.notes[i].Body, got.Body)
		}
		for i, st := range map[int]payhook.Status{3: payhook.StatusDelivered, 4: payhook.StatusNotSent} {
			got, err := f.s.Notification(ctx, f.notes[i].ID)
			require.NoError(t, err)
			require.Equal(t, st, got.Status, "notification %d does not match", i)
		}

		claimed, err = f.s.ClaimDue(ctx, now, lease("worker-b", 2*time.Hour), 10)
		require.NoError(t, err)
		require.ElementsMatch(t, f.want(0, 1), ids(claimed), "unleased and due now; the one pending before keeps its lease")
	})

	t.Run("FiltersByStatus", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t, h)
		n, err := f.s.ResendMatching(t.Context(), payhook.NotificationFilter{Status: payhook.StatusFailed}, base.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got, err := f.s.Notification(t.Context(), f.notes[0].ID)
		require.NoError(t, err)
		require.Equal(t, payhook.StatusDelivered, got.Status)
	})

	t.Run("FiltersByURLPrefixAndStatus", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t, h)
		ctx := t.Context()
		n, err := f.s.ResendMatching(ctx, payhook.NotificationFilter{Status: payhook.StatusFailed, URLPrefix: "https://merchant.example/a"}, base.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, n, "the failed one is to /b")
		n, err = f.s.ResendMatching(ctx, payhook.NotificationFilter{Status: payhook.StatusFailed, URLPrefix: "https://merchant.example/"}, base.Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, 1, n)
		for i, st := range map[int]payhook.Status{0: payhook.StatusDelivered, 1: payhook.StatusPending, 3: payhook.StatusDelivered} {
			got, err := f.s.Notification(ctx, f.notes[i].ID)
			require.NoError(t, err)
			require.Equal(t, st, got.Status, "notification %d", i)
		}
	})

	t.Run("NothingToResend", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t, h)
		n, err := f.s.ResendMatching(t.Context(), payhook.NotificationFilter{Status: payhook.StatusPending}, base.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, n, "pending notifications are not re-sent")
		n, err = f.s.ResendMatching(t.Context(), payhook.NotificationFilter{SessionID: payhook.NewSessionID()}, base.Add(time.Hour))
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

func testResend(t *testing.T, h Harness) {
	t.Run("MakesAFinishedNotificationPendingAndLeasesIt", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		session := payhook.NewSessionID()
		delivered := finished(newNotification(session, "https://merchant.example/a", base), payhook.StatusDelivered)
		failed := finished(newNotification(session, "https://merchant.example/b", base), payhook.StatusFailed)
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{delivered, failed}, payhook.Lease{}))
		now := base.Add(time.Hour)
		for _, old := range []*payhook.Notification{delivered, failed} {
			l := payhook.Lease{Owner: "worker-a", Until: now.Add(time.Minute)}
			n, ok, err := s.Resend(ctx, old.ID, now, l)
			require.NoError(t, err)
			require.True(t, ok, "queued")
			require.Equal(t, old.ID, n.ID, "the same id")
			require.Equal(t, old.Body, n.Body, "the same body")
			require.Equal(t, payhook.StatusPending, n.Status)
			require.Zero(t, n.RoundAttempts, "a new round of attempts")
			requireSameTime(t, now, n.NextAttemptAt, "due now")

			claimed, err := s.ClaimDue(ctx, now, lease("worker-b", 2*time.Hour), 10)
			require.NoError(t, err)
			require.Empty(t, claimed, "leased to the caller")
			require.NoError(t, s.RecordAttempt(ctx, n.ID, newAttempt(now, 200), payhook.StatusDelivered, time.Time{}, l),
				"the caller attempts it under its lease")
		}
	})

	t.Run("AlreadyPendingIsNotQueuedTwice", func(t *testing.T) {
		t.Parallel()
		f := newLogFixture(t, h)
		ctx := t.Context()
		now := base.Add(time.Hour)
		id := f.notes[1].ID // failed
		stores := processes(t, h, f.s)
		queued := make([]bool, racers)
		errs := concurrently(racers, func(i int) error {
			_, ok, err := pick(stores, i).Resend(ctx, id, now, payhook.Lease{Owner: fmt.Sprintf("worker-%d", i), Until: now.Add(time.Minute)})
			queued[i] = ok
			return err
		})
		winners := 0
		for i, err := range errs {
			require.NoError(t, err)
			if queued[i] {
				winners++
			}
		}
		require.Equal(t, 1, winners, "one re-send queues it; the others find it pending")

		n, ok, err := f.s.Resend(ctx, id, now, lease("worker-x", 2*time.Hour))
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, id, n.ID)
		require.Equal(t, payhook.StatusPending, n.Status)

		claimed, err := f.s.ClaimDue(ctx, now.Add(2*time.Minute), lease("worker-b", 2*time.Hour), 10)
		require.NoError(t, err)
		require.ElementsMatch(t, f.want(1, 2), ids(claimed), "the re-sent one once, beside the one pending before")
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		_, _, err := s.Resend(t.Context(), payhook.NewNotificationID(), base, lease("worker-a", time.Minute))
		requireCode(t, payhook.ENOTFOUND, err)
	})
}

func testDeliveryStats(t *testing.T, h Harness) {
	t.Run("ZeroWithoutPendingNotifications", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		finishedOnly := finished(newNotification(payhook.NewSessionID(), "https://merchant.example/a", base), payhook.StatusDelivered)
		require.NoError(t, s.AddNotifications(t.Context(), []*payhook.Notification{finishedOnly}, payhook.Lease{}))
		st, err := s.DeliveryStats(t.Context(), base)
		require.NoError(t, err)
		require.Zero(t, st.Pending)
		require.Zero(t, st.LeasesHeld)
		require.True(t, st.OldestDue.IsZero(), "no oldest due without any")
	})

	t.Run("CountsPendingOldestDueAndLeasesHeld", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		session := payhook.NewSessionID()
		unleased := newNotification(session, "https://merchant.example/a", base.Add(-2*time.Minute))
		leased := newNotification(session, "https://merchant.example/b", base.Add(-time.Minute))
		later := newNotification(session, "https://merchant.example/c", base.Add(10*time.Minute))
		done := finished(newNotification(session, "https://merchant.example/d", base.Add(-time.Hour)), payhook.StatusDelivered)
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{unleased, later, done}, payhook.Lease{}))
		require.NoError(t, s.AddNotifications(ctx, []*payhook.Notification{leased}, lease("worker-a", time.Minute)))

		st, err := s.DeliveryStats(ctx, base)
		require.NoError(t, err)
		require.Equal(t, 3, st.Pending)
		requireSameTime(t, unleased.NextAttemptAt, st.OldestDue, "OldestDue")
		require.Equal(t, 1, st.LeasesHeld)

		st, err = s.DeliveryStats(ctx, base.Add(2*time.Minute))
		require.NoError(t, err)
		require.Equal(t, 3, st.Pending)
		require.Zero(t, st.LeasesHeld, "the lease expired")

		st, err = s.DeliveryStats(ctx, base.Add(-90*time.Minute))
		require.NoError(t, err)
		require.True(t, st.OldestDue.IsZero(), "nothing is due yet: %v", st.OldestDue)
	})
}

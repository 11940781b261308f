package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func requireSameUser(t *testing.T, want, got *payhook.User) {
	t.Helper()
	require.NotNil(t, got)
	w, g := *want, *got
	w.CreatedAt, g.CreatedAt = utc(w.CreatedAt), utc(g.CreatedAt)
	require.Equal(t, w, g)
}

func testUsers(t *testing.T, h Harness) {
	t.Run("CreateSetsTheIDAndStoresEveryField", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		u := createUser(t, s, "ada@merchant.example")
		other := createUser(t, s, "grace@merchant.example")
		require.NotZero(t, u.ID)
		require.NotEqual(t, u.ID, other.ID)

		got, err := s.UserByEmail(ctx, u.Email)
		require.NoError(t, err)
		requireSameUser(t, u, got)
		got, err = s.UserByID(ctx, u.ID)
		require.NoError(t, err)
		requireSameUser(t, u, got)
	})

	t.Run("DuplicateEmailConflicts", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		createUser(t, s, "ada@merchant.example")
		requireCode(t, payhook.ECONFLICT, s.CreateUser(t.Context(), newUser("ada@merchant.example")))
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		u := createUser(t, s, "ada@merchant.example")
		_, err := s.UserByEmail(t.Context(), "nobody@merchant.example")
		requireCode(t, payhook.ENOTFOUND, err)
		_, err = s.UserByID(t.Context(), u.ID+1000)
		requireCode(t, payhook.ENOTFOUND, err)
	})
}

func testSessions(t *testing.T, h Harness) {
	setup := func(t *testing.T) (payhook.Store, *payhook.Session) {
		s := h.Open(t)
		u := createUser(t, s, "ada@merchant.example")
		ss := &payhook.Session{TokenHash: "hash-of-token", UserID: u.ID, CSRFToken: "csrf-token", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
		require.NoError(t, s.CreateSession(t.Context(), ss))
		return s, ss
	}

	t.Run("ReturnsAnUnexpiredSession", func(t *testing.T) {
		t.Parallel()
		s, ss := setup(t)
		got, err := s.Session(t.Context(), ss.TokenHash, base.Add(30*time.Minute))
		require.NoError(t, err)
		require.Equal(t, ss.TokenHash, got.TokenHash)
		require.Equal(t, ss.UserID, got.UserID)
		require.Equal(t, ss.CSRFToken, got.CSRFToken)
		requireSameTime(t, ss.CreatedAt, got.CreatedAt, "CreatedAt")
		requireSameTime(t, ss.ExpiresAt, got.ExpiresAt, "ExpiresAt")
	})

	t.Run("ExpiredIsNotFound", func(t *testing.T) {
		t.Parallel()
		s, ss := setup(t)
		_, err := s.Session(t.Context(), ss.TokenHash, base.Add(2*time.Hour))
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("DeleteSignsOut", func(t *testing.T) {
		t.Parallel()
		s, ss := setup(t)
		require.NoError(t, s.DeleteSession(t.Context(), ss.TokenHash))
		_, err := s.Session(t.Context(), ss.TokenHash, base)
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("UnknownIsNotFound", func(t *testing.T) {
		t.Parallel()
		s, _ := setup(t)
		_, err := s.Session(t.Context(), "hash-of-another-token", base)
		requireCode(t, payhook.ENOTFOUND, err)
	})
}

func testAudit(t *testing.T, h Harness) {
	t.Run("EmptyLog", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		list, n, err := s.ListAudit(t.Context(), 10, 0)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Empty(t, list)
	})

	t.Run("NewestFirstWithCountAndPaging", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		var entries []payhook.AuditEntry
		for i, action := range []string{"settings.update", "plugin.update", "hmac.rotate", "apikey.create", "apikey.revoke"} {
			e := payhook.AuditEntry{At: base.Add(time.Duration(i) * time.Minute), Actor: "ada@merchant.example", Action: action, Detail: "detail of " + action}
			require.NoError(t, s.AddAudit(ctx, e))
			entries = append(entries, e)
		}

		list, n, err := s.ListAudit(ctx, 10, 0)
		require.NoError(t, err)
		require.Equal(t, 5, n)
		require.Len(t, list, 5)
		for i, got := range list {
			want := entries[4-i]
			require.NotZero(t, got.ID)
			require.Equal(t, want.Action, got.Action, "entry %d", i)
			require.Equal(t, want.Actor, got.Actor)
			require.Equal(t, want.Detail, got.Detail)
			requireSameTime(t, want.At, got.At, "At")
		}

		page, n, err := s.ListAudit(ctx, 2, 1)
		require.NoError(t, err)
		require.Equal(t, 5, n, "the count is of every entry, not of the page")
		require.Equal(t, []payhook.AuditEntry{list[1], list[2]}, page)
	})
}

func testSignInFailures(t *testing.T, h Harness) {
	t.Run("RecordedUnderEachKeyOldestFirst", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		pair, addr := "ada@merchant.example|192.0.2.7", "192.0.2.7"
		require.NoError(t, s.AddSignInFailure(ctx, []string{pair, addr}, base))
		require.NoError(t, s.AddSignInFailure(ctx, []string{pair}, base.Add(time.Minute)))
		require.NoError(t, s.AddSignInFailure(ctx, []string{addr}, base.Add(-time.Hour)))

		requireTimes(t, []time.Time{base, base.Add(time.Minute)}, s, pair, base.Add(-time.Minute))
		requireTimes(t, []time.Time{base.Add(-time.Hour), base}, s, addr, base.Add(-2*time.Hour))
		requireTimes(t, []time.Time{base}, s, addr, base.Add(-time.Minute))
		requireTimes(t, nil, s, "192.0.2.8", base.Add(-2*time.Hour))
	})

	t.Run("ClearForgetsTheKeysAndOlderFailures", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		for _, at := range []time.Time{base.Add(-2 * time.Hour), base} {
			require.NoError(t, s.AddSignInFailure(ctx, []string{"k1", "k2"}, at))
		}
		require.NoError(t, s.AddSignInFailure(ctx, []string{"k3"}, base))

		require.NoError(t, s.ClearSignInFailures(ctx, []string{"k1"}, base.Add(-time.Hour)))
		since := base.Add(-3 * time.Hour)
		requireTimes(t, nil, s, "k1", since)
		requireTimes(t, []time.Time{base}, s, "k2", since)
		requireTimes(t, []time.Time{base}, s, "k3", since)
	})
}

// requireTimes requires the failures of key since since to be want.
func requireTimes(t *testing.T, want []time.Time, s payhook.Store, key string, since time.Time) {
	t.Helper()
	got, err := s.SignInFailures(t.Context(), key, since)
	require.NoError(t, err)
	require.Len(t, got, len(want), "failures of %s: %v", key, got)
	for i := range want {
		requireSameTime(t, want[i], got[i], key)
	}
}

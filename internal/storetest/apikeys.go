package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func requireSameAPIKey(t *testing.T, want, got *payhook.APIKey) {
	t.Helper()
	require.NotNil(t, got)
	w, g := *want, *got
	w.CreatedAt, g.CreatedAt = utc(w.CreatedAt), utc(g.CreatedAt)
	w.RevokedAt, g.RevokedAt = utc(w.RevokedAt), utc(g.RevokedAt)
	require.Equal(t, w, g)
}

func testAPIKeys(t *testing.T, h Harness) {
	t.Run("CreateSetsTheIDAndFindsByHash", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		k1, k2 := newAPIKey("shop", base), newAPIKey("backoffice", base.Add(time.Minute))
		require.NoError(t, s.CreateAPIKey(ctx, k1))
		require.NoError(t, s.CreateAPIKey(ctx, k2))
		require.NotZero(t, k1.ID)
		require.NotEqual(t, k1.ID, k2.ID)

		got, err := s.APIKeyByHash(ctx, k1.Hash)
		require.NoError(t, err)
		requireSameAPIKey(t, k1, got)
		n, err := s.CountAPIKeys(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		_, err = s.APIKeyByHash(ctx, newAPIKey("unknown", base).Hash)
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("ListsNewestFirstRevokedToo", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		k1, k2 := newAPIKey("shop", base), newAPIKey("backoffice", base.Add(time.Minute))
		require.NoError(t, s.CreateAPIKey(ctx, k1))
		require.NoError(t, s.CreateAPIKey(ctx, k2))
		require.NoError(t, s.RevokeAPIKey(ctx, k1.ID, base.Add(2*time.Minute)))
		k1.RevokedAt = base.Add(2 * time.Minute)

		list, err := s.ListAPIKeys(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		requireSameAPIKey(t, k2, &list[0])
		requireSameAPIKey(t, k1, &list[1])
	})

	t.Run("RevokedKeysNoLongerCountOrMatch", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		k := newAPIKey("shop", base)
		require.NoError(t, s.CreateAPIKey(ctx, k))
		require.NoError(t, s.RevokeAPIKey(ctx, k.ID, base.Add(time.Minute)))
		_, err := s.APIKeyByHash(ctx, k.Hash)
		requireCode(t, payhook.ENOTFOUND, err)
		n, err := s.CountAPIKeys(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("RevokeNotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		k := newAPIKey("shop", base)
		require.NoError(t, s.CreateAPIKey(ctx, k))
		requireCode(t, payhook.ENOTFOUND, s.RevokeAPIKey(ctx, k.ID+1000, base), "no such key")
		require.NoError(t, s.RevokeAPIKey(ctx, k.ID, base))
		requireCode(t, payhook.ENOTFOUND, s.RevokeAPIKey(ctx, k.ID, base.Add(time.Minute)), "revoked already")
		list, err := s.ListAPIKeys(ctx)
		require.NoError(t, err)
		requireSameTime(t, base, list[0].RevokedAt, "the first revocation stands")
	})
}

func testCreateFirstAPIKey(t *testing.T, h Harness) {
	t.Run("CreatesOnlyTheFirst", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		first := newAPIKey("first", base)
		ok, err := s.CreateFirstAPIKey(ctx, first)
		require.NoError(t, err)
		require.True(t, ok)
		require.NotZero(t, first.ID)
		got, err := s.APIKeyByHash(ctx, first.Hash)
		require.NoError(t, err)
		requireSameAPIKey(t, first, got)

		second := newAPIKey("second", base)
		ok, err = s.CreateFirstAPIKey(ctx, second)
		require.NoError(t, err)
		require.False(t, ok)
		_, err = s.APIKeyByHash(ctx, second.Hash)
		requireCode(t, payhook.ENOTFOUND, err)
		list, err := s.ListAPIKeys(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
	})

	t.Run("CreatesAgainOnceEveryKeyIsRevoked", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		old := newAPIKey("old", base)
		require.NoError(t, s.CreateAPIKey(ctx, old))
		require.NoError(t, s.RevokeAPIKey(ctx, old.ID, base))
		ok, err := s.CreateFirstAPIKey(ctx, newAPIKey("new", base.Add(time.Minute)))
		require.NoError(t, err)
		require.True(t, ok)
	})

	t.Run("OneOfConcurrentFirstStartsCreatesIt", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		stores := processes(t, h, s)
		keys := make([]*payhook.APIKey, racers)
		created := make([]bool, racers)
		errs := concurrently(racers, func(i int) error {
			keys[i] = newAPIKey("first", base)
			var err error
			created[i], err = pick(stores, i).CreateFirstAPIKey(ctx, keys[i])
			return err
		})
		winner := -1
		for i, err := range errs {
			require.NoError(t, err)
			if created[i] {
				require.Equal(t, -1, winner, "two first starts created a key: %d and %d", winner, i)
				winner = i
			}
		}
		require.NotEqual(t, -1, winner, "no key created")
		list, err := s.ListAPIKeys(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, keys[winner].Hash, list[0].Hash)
		require.Equal(t, keys[winner].ID, list[0].ID)
	})
}

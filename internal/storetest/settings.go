package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func testSettings(t *testing.T, h Harness) {
	t.Run("NoneSavedYet", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		got, ok, err := s.Settings(t.Context())
		require.NoError(t, err)
		require.False(t, ok, "a fresh database has no settings")
		require.Zero(t, got.Revision)
	})

	t.Run("ReturnsWhatWasSavedWithItsRevision", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		want := newSettings()
		require.NoError(t, s.SaveSettings(t.Context(), &want))
		got, ok, err := s.Settings(t.Context())
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, got)
		require.Equal(t, int64(1), got.Revision)
	})
}

func testSaveSettings(t *testing.T, h Harness) {
	t.Run("FirstSaveIsRevisionOne", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		st := newSettings()
		require.NoError(t, s.SaveSettings(t.Context(), &st))
		require.Equal(t, int64(1), st.Revision, "SaveSettings sets s.Revision to the stored revision")
	})

	t.Run("SavesOverTheRevisionItWasMadeFrom", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		st := newSettings()
		require.NoError(t, s.SaveSettings(ctx, &st))
		st.Retries, st.Emails = 9, []string{"new@merchant.example"}
		require.NoError(t, s.SaveSettings(ctx, &st))
		require.Equal(t, int64(2), st.Revision)

		got, _, err := s.Settings(ctx)
		require.NoError(t, err)
		require.Equal(t, st, got)
	})

	t.Run("StaleRevisionConflictsAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		first := newSettings()
		require.NoError(t, s.SaveSettings(ctx, &first))
		stale := first // read by another user before the save below
		first.Retries = 2
		require.NoError(t, s.SaveSettings(ctx, &first))

		stale.Timeout = 60
		requireCode(t, payhook.ECONFLICT, s.SaveSettings(ctx, &stale))
		require.Equal(t, int64(1), stale.Revision, "a refused save leaves s.Revision alone")
		got, _, err := s.Settings(ctx)
		require.NoError(t, err)
		require.Equal(t, first, got, "the refused save changed nothing")
	})

	t.Run("RevisionZeroCreatesOnce", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		first := newSettings()
		require.NoError(t, s.SaveSettings(ctx, &first))
		second := newSettings()
		requireCode(t, payhook.ECONFLICT, s.SaveSettings(ctx, &second))
		require.Zero(t, second.Revision)
		got, _, err := s.Settings(ctx)
		require.NoError(t, err)
		require.Equal(t, first.HMACKey, got.HMACKey, "the first HMAC key stays")
	})

	t.Run("ConcurrentSavesFromOneRevisionOneWins", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		st := newSettings()
		require.NoError(t, s.SaveSettings(ctx, &st))
		stores := processes(t, h, s)
		saves := make([]payhook.Settings, racers)
		errs := concurrently(racers, func(i int) error {
			saves[i] = st
			saves[i].Retries = i%10 + 1
			saves[i].Emails = []string{"ops@merchant.example"}
			return pick(stores, i).SaveSettings(ctx, &saves[i])
		})
		w := requireOneWinner(t, errs, func(err error) bool { return payhook.ErrorCode(err) == payhook.ECONFLICT })
		require.Equal(t, int64(2), saves[w].Revision)
		got, _, err := s.Settings(ctx)
		require.NoError(t, err)
		require.Equal(t, saves[w], got, "the winner's save is stored")
	})

	t.Run("ConcurrentFirstSavesStoreOneHMACKey", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		stores := processes(t, h, s)
		saves := make([]payhook.Settings, racers)
		errs := concurrently(racers, func(i int) error {
			saves[i] = payhook.DefaultSettings(payhook.NewHMACKey())
			return pick(stores, i).SaveSettings(ctx, &saves[i])
		})
		w := requireOneWinner(t, errs, func(err error) bool { return payhook.ErrorCode(err) == payhook.ECONFLICT })
		got, _, err := s.Settings(ctx)
		require.NoError(t, err)
		require.Equal(t, saves[w].HMACKey, got.HMACKey)
		require.Equal(t, int64(1), got.Revision)
	})
}

func testPluginSettings(t *testing.T, h Harness) {
	ecommerce := payhook.PluginSettings{Plugin: payhook.PluginECommerce, WebhookURL: "https://merchant.example/shop",
		StateFilterEnabled: true, States: []payhook.State{payhook.StatePaid, payhook.StateFailed}}
	requests := payhook.PluginSettings{Plugin: payhook.PluginPaymentRequest, WebhookURL: "https://merchant.example/requests",
		States: []payhook.State{}}

	t.Run("NoneConfigured", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		_, ok, err := s.PluginSettings(t.Context(), payhook.PluginECommerce)
		require.NoError(t, err)
		require.False(t, ok)
		list, err := s.ListPluginSettings(t.Context())
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("PutCreatesAndReplaces", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		require.NoError(t, s.PutPluginSettings(ctx, ecommerce))
		got, ok, err := s.PluginSettings(ctx, payhook.PluginECommerce)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, ecommerce, got)

		replaced := payhook.PluginSettings{Plugin: payhook.PluginECommerce, WebhookURL: "https://merchant.example/v2", States: []payhook.State{}}
		require.NoError(t, s.PutPluginSettings(ctx, replaced))
		got, ok, err = s.PluginSettings(ctx, payhook.PluginECommerce)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, replaced, got)
	})

	t.Run("ListReturnsEveryConfiguredPlugin", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		require.NoError(t, s.PutPluginSettings(ctx, requests))
		require.NoError(t, s.PutPluginSettings(ctx, ecommerce))
		list, err := s.ListPluginSettings(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []payhook.PluginSettings{ecommerce, requests}, list)
	})

	t.Run("DeleteRemoves", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		require.NoError(t, s.PutPluginSettings(ctx, ecommerce))
		require.NoError(t, s.PutPluginSettings(ctx, requests))
		require.NoError(t, s.DeletePluginSettings(ctx, payhook.PluginECommerce))
		_, ok, err := s.PluginSettings(ctx, payhook.PluginECommerce)
		require.NoError(t, err)
		require.False(t, ok)
		list, err := s.ListPluginSettings(ctx)
		require.NoError(t, err)
		require.Equal(t, []payhook.PluginSettings{requests}, list)
	})

	t.Run("DeleteWithoutSettingsIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		requireCode(t, payhook.ENOTFOUND, s.DeletePluginSettings(t.Context(), payhook.PluginPaymentRequest))
	})
}

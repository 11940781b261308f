package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

func testLead(t *testing.T, h Harness) {
	const role = "expiry"

	t.Run("OneHolderAtATime", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		lead := func(owner string, now, until time.Duration) bool {
			t.Helper()
			ok, err := s.Lead(ctx, role, owner, base.Add(until), base.Add(now))
			require.NoError(t, err)
			return ok
		}
		require.True(t, lead("a", 0, time.Minute), "nobody holds it: a takes it")
		require.False(t, lead("b", 30*time.Second, 90*time.Second), "a holds it")
		require.True(t, lead("a", 30*time.Second, 2*time.Minute), "the holder renews")
		require.False(t, lead("b", 90*time.Second, 3*time.Minute), "renewed, a still holds it")
		require.True(t, lead("b", 3*time.Minute, 4*time.Minute), "a's hold expired: b takes it")
		require.False(t, lead("a", 3*time.Minute+10*time.Second, 5*time.Minute), "b holds it now")
	})

	t.Run("RolesAreHeldApart", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ok, err := s.Lead(t.Context(), "expiry", "a", base.Add(time.Minute), base)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.Lead(t.Context(), "error-email", "b", base.Add(time.Minute), base)
		require.NoError(t, err)
		require.True(t, ok)
	})

	t.Run("OneOfConcurrentCandidatesLeads", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		stores := processes(t, h, s)
		held := make([]bool, racers)
		errs := concurrently(racers, func(i int) error {
			var err error
			held[i], err = pick(stores, i).Lead(t.Context(), role, fmt.Sprintf("process-%d", i), base.Add(time.Minute), base)
			return err
		})
		leaders := 0
		for i, err := range errs {
			require.NoError(t, err)
			if held[i] {
				leaders++
			}
		}
		require.Equal(t, 1, leaders, "one holder at a time")
	})
}

func requireSameGatewayCall(t *testing.T, want, got *payhook.GatewayCall) {
	t.Helper()
	require.NotNil(t, got)
	w, g := *want, *got
	w.CreatedAt, g.CreatedAt = utc(w.CreatedAt), utc(g.CreatedAt)
	require.Equal(t, w, g)
}

func testGatewayCalls(t *testing.T, h Harness) {
	t.Run("FirstRecordWins", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		first := newGatewayCall("pay_REF1")
		got, err := s.RecordGatewayCall(ctx, first)
		require.NoError(t, err)
		requireSameGatewayCall(t, first, got)

		second := newGatewayCall("pay_REF1")
		second.Success, second.Result, second.CreatedAt = false, []byte(`{"result":"DECLINED"}`), base.Add(time.Minute)
		got, err = s.RecordGatewayCall(ctx, second)
		require.NoError(t, err)
		requireSameGatewayCall(t, first, got)
		got, err = s.GatewayCall(ctx, "pay_REF1")
		require.NoError(t, err)
		requireSameGatewayCall(t, first, got)
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		_, err := s.GatewayCall(t.Context(), "pay_NONE")
		requireCode(t, payhook.ENOTFOUND, err)
	})

	t.Run("ConcurrentRecordsAgreeOnOne", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		ctx := t.Context()
		stores := processes(t, h, s)
		calls := make([]*payhook.GatewayCall, racers)
		got := make([]*payhook.GatewayCall, racers)
		errs := concurrently(racers, func(i int) error {
			calls[i] = newGatewayCall("pay_RACE")
			calls[i].Result = fmt.Appendf(nil, `{"caller":%d}`, i)
			var err error
			got[i], err = pick(stores, i).RecordGatewayCall(ctx, calls[i])
			return err
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
		stored, err := s.GatewayCall(ctx, "pay_RACE")
		require.NoError(t, err)
		for i := range got {
			requireSameGatewayCall(t, stored, got[i])
		}
		var results []string
		for _, c := range calls {
			results = append(results, string(c.Result))
		}
		require.Contains(t, results, string(stored.Result), "one caller's call is stored")
	})
}

func testPing(t *testing.T, h Harness) {
	t.Run("AnswersReadsAndWrites", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		require.NoError(t, s.Ping(t.Context()))
		require.NoError(t, s.PingWrite(t.Context()))
		require.NoError(t, s.PingWrite(t.Context()), "again")
	})
}

func testClose(t *testing.T, h Harness) {
	t.Run("ClosesAfterWrites", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		require.NoError(t, s.AddAudit(t.Context(), payhook.AuditEntry{At: base, Actor: "ada", Action: "settings.update"}))
		require.NoError(t, s.Close())
	})

	t.Run("FinishesQueuedWrites", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		other := secondProcess(t, h, s)
		ctx := t.Context()
		errs := concurrently(racers+1, func(i int) error {
			if i == racers {
				return s.Close()
			}
			return s.AddAudit(ctx, payhook.AuditEntry{At: base, Actor: "ada", Action: fmt.Sprintf("write-%d", i)})
		})
		require.NoError(t, errs[racers], "Close")
		stored := 0
		for _, err := range errs[:racers] {
			if err == nil {
				stored++
			}
		}
		_, n, err := other.ListAudit(ctx, payhook.AuditFilter{Limit: racers})
		require.NoError(t, err)
		require.Equal(t, stored, n, "every write that returned without an error is stored")
	})
}

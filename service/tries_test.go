package service

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/merchant"
)

// triesEnv is a moneyEnv with notifications on and a merchant receiving them.
func triesEnv(t *testing.T, claimTimeout time.Duration, clock ...payhook.Clock) (*moneyEnv, *merchant.Receiver) {
	t.Helper()
	e := newMoneyEnv(t, claimTimeout, clock...)
	_, _, err := e.svc.UpdateSettings(context.Background(), payhook.SettingsPatch{"enabled": json.RawMessage(`true`),
		"api_transactions_enabled": json.RawMessage(`true`), "timeout": json.RawMessage(`2`)})
	require.NoError(t, err)
	return e, merchant.NewReceiver(t)
}

func card(number string) gateway.Card {
	return gateway.Card{Number: number, Expiry: "12/39", CVV: "123", Holder: "Jane Doe"}
}

// stateResult decodes the state and result of each notification the merchant got.
func stateResult(t *testing.T, reqs []merchant.Request) [][2]string {
	t.Helper()
	out := make([][2]string, len(reqs))
	for i, r := range reqs {
		var m map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &m), "%s", r.Body)
		out[i] = [2]string{m["state"].(string), m["result"].(string)}
	}
	return out
}

// gatewayCalls counts every call the sandbox recorded for a session, approved or not,
// and how many distinct references they had.
func gatewayCalls(t *testing.T, e *moneyEnv, sessionID string) (calls, refs int) {
	t.Helper()
	row := e.store.DB().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT reference) FROM gateway_calls WHERE session_id = ?`, sessionID)
	require.NoError(t, row.Scan(&calls, &refs))
	return calls, refs
}

// A declined (or errored) try leaves the checkout attempted and notified as such; the
// customer pays with another card on the same checkout: two notifications, two tries with
// their own gateway references, one approved charge.
func TestPay_DeclinedOrErroredTryThenSuccessOnTheSameCheckout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, card string
		result     payhook.Result
	}{{"declined", sandbox.CardDeclined, payhook.ResultFailed}, {"error", sandbox.CardError, payhook.ResultError}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, rc := triesEnv(t, 5*time.Second)
			ctx := context.Background()
			txn := e.checkout(t, map[string]any{"webhook_url": rc.URL})

			out, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", card(tc.card))
			require.NoError(t, err, "a declined try is an outcome, not an error")
			require.Equal(t, payhook.StateAttempted, out.Transaction.State)
			require.Equal(t, payhook.StatusDelivered, out.Notification, "the merchant was told before the redirect")
			got, err := e.store.Transaction(ctx, txn.SessionID)
			require.NoError(t, err)
			require.Equal(t, payhook.StateAttempted, got.State)
			require.Equal(t, tc.result, got.Result)
			require.True(t, got.State.Payable())
			require.Len(t, got.Tries, 1)

			out, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardSuccess))
			require.NoError(t, err)
			require.Equal(t, payhook.StatePaid, out.Transaction.State)

			got, err = e.store.Transaction(ctx, txn.SessionID)
			require.NoError(t, err)
			require.Equal(t, payhook.StatePaid, got.State)
			require.Equal(t, payhook.ResultSuccess, got.Result)
			require.Len(t, got.Tries, 2, "each try is recorded")
			first, second := got.Tries[0], got.Tries[1]
			require.Equal(t, tc.result, first.Result)
			require.Equal(t, "400000******"+tc.card[12:], first.Card.Masked)
			require.NotEmpty(t, first.Message)
			require.Equal(t, payhook.ResultSuccess, second.Result)
			require.Equal(t, "411111******1111", second.Card.Masked)
			require.Equal(t, "credit-card", second.PGCode)
			require.NotEqual(t, first.Reference, second.Reference, "each try has its own gateway reference")
			require.False(t, second.At.Before(first.At))

			require.Equal(t, [][2]string{{"attempted", string(tc.result)}, {"paid", "success"}}, stateResult(t, rc.Requests()),
				"each try is notified, in order")
			require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"), "exactly one approved charge")
			calls, refs := gatewayCalls(t, e, txn.SessionID)
			require.Equal(t, 2, calls)
			require.Equal(t, 2, refs)
		})
	}
}

// A customer who gives up after a declined try cancels: canceled, notified.
func TestPay_DeclinedTryThenCancel(t *testing.T) {
	t.Parallel()
	e, rc := triesEnv(t, 5*time.Second)
	ctx := context.Background()
	txn := e.checkout(t, map[string]any{"webhook_url": rc.URL})
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardDeclined))
	require.NoError(t, err)
	out, err := e.svc.Cancel(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StateCanceled, out.Transaction.State)
	require.Equal(t, [][2]string{{"attempted", "failed"}, {"canceled", "canceled"}}, stateResult(t, rc.Requests()))
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Len(t, got.Tries, 1, "the try stays recorded")
	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardSuccess))
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "a canceled checkout takes no more tries")
	require.Zero(t, approvals(t, e.store, txn.SessionID, "purchase"))
}

// An attempted checkout expires like any payable one: expired, notified, no more tries.
func TestPay_DeclinedTryThenExpiry(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	clock := payhook.Clock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	e, rc := triesEnv(t, 5*time.Second, clock)
	ctx := context.Background()
	txn := e.checkout(t, map[string]any{"webhook_url": rc.URL, "expiration_time": "00:10:00"})
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardDeclined))
	require.NoError(t, err)

	skew.Store(int64(11 * time.Minute))
	n, err := e.svc.ExpireDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	reqs := rc.Wait(t, 2, 5*time.Second)
	require.Equal(t, [][2]string{{"attempted", "failed"}, {"expired", "canceled"}}, stateResult(t, reqs))
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StateExpired, got.State)
	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardSuccess))
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err))
	require.Zero(t, approvals(t, e.store, txn.SessionID, "purchase"))
}

// A paid checkout never takes another try, nor does an authorized one.
func TestPay_PaidCheckoutRefusesAnotherTry(t *testing.T) {
	t.Parallel()
	e, rc := triesEnv(t, 5*time.Second)
	ctx := context.Background()
	for _, pg := range []string{"credit-card", "credit-card-auth"} {
		txn := e.checkout(t, map[string]any{"webhook_url": rc.URL})
		_, err := e.svc.Pay(ctx, txn.SessionID, pg, card(sandbox.CardSuccess))
		require.NoError(t, err)
		for _, number := range []string{sandbox.CardSuccess, sandbox.CardDeclined} {
			_, err = e.svc.Pay(ctx, txn.SessionID, pg, card(number))
			require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "%s: %v", pg, err)
		}
		got, err := e.store.Transaction(ctx, txn.SessionID)
		require.NoError(t, err)
		require.Len(t, got.Tries, 1)
		calls, _ := gatewayCalls(t, e, txn.SessionID)
		require.Equal(t, 1, calls, "the refused tries never reached the gateway")
	}
}

// The same form submitted twice at once after a declined try (a double click): the
// submissions are serialized, so at most one is approved, and the other is refused once
// the checkout is paid.
func TestPay_DoubleSubmitAfterADeclineChargesOnce(t *testing.T) {
	t.Parallel()
	e, rc := triesEnv(t, 5*time.Second)
	ctx := context.Background()
	txn := e.checkout(t, map[string]any{"webhook_url": rc.URL})
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardDeclined))
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardSuccess)) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "%v", err)
	}
	require.Equal(t, 1, ok)
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"))
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Len(t, got.Tries, 2)
}

// The second try's gateway answer is lost after the gateway approved it: the claim stays
// (no third try meanwhile), and recovery asks the gateway by that try's own reference,
// so it records the approval (not the first try's decline): paid, two tries, one charge.
func TestPay_SecondTryWithLostAnswerIsResolvedFromItsOwnReference(t *testing.T) {
	t.Parallel()
	e, rc := triesEnv(t, 50*time.Millisecond)
	ctx := context.Background()
	txn := e.checkout(t, map[string]any{"webhook_url": rc.URL})
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardDeclined))
	require.NoError(t, err)

	e.gw.lose.Store(true)
	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardSuccess))
	require.Equal(t, payhook.EUNAVAILABLE, payhook.ErrorCode(err), "%v", err)
	e.gw.lose.Store(false)
	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardSuccess))
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "no other try while one is unresolved")

	time.Sleep(200 * time.Millisecond) // stale after 3 × the claim timeout
	n, err := e.svc.ResolveStaleClaims(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, got.State)
	require.Len(t, got.Tries, 2)
	require.Equal(t, payhook.ResultFailed, got.Tries[0].Result)
	require.Equal(t, payhook.ResultSuccess, got.Tries[1].Result)
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"))
	reqs := rc.Wait(t, 2, 5*time.Second)
	require.Equal(t, [][2]string{{"attempted", "failed"}, {"paid", "success"}}, stateResult(t, reqs))
}

// A declined try whose answer was lost is recorded by recovery as a try: the checkout is
// attempted again, payable, and notified.
func TestPay_DeclinedTryWithLostAnswerLeavesTheCheckoutPayable(t *testing.T) {
	t.Parallel()
	e, rc := triesEnv(t, 50*time.Millisecond)
	ctx := context.Background()
	txn := e.checkout(t, map[string]any{"webhook_url": rc.URL})
	e.gw.lose.Store(true)
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardDeclined))
	require.Equal(t, payhook.EUNAVAILABLE, payhook.ErrorCode(err), "%v", err)
	e.gw.lose.Store(false)
	time.Sleep(200 * time.Millisecond)
	n, err := e.svc.ResolveStaleClaims(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StateAttempted, got.State)
	require.Len(t, got.Tries, 1)
	require.Equal(t, [][2]string{{"attempted", "failed"}}, stateResult(t, rc.Wait(t, 1, 5*time.Second)))

	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", card(sandbox.CardSuccess))
	require.NoError(t, err)
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"))
}

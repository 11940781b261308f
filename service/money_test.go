package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/sqlite"
)

// faultyGateway is the real sandbox gateway with a hook that runs inside each call, after
// the sandbox has decided and recorded (money moved) and before it answers: the worst
// moment to lose a request.
type faultyGateway struct {
	gateway.Gateway
	mu     sync.Mutex
	during func()
	lose   atomic.Bool // the gateway acts, and its answer is lost (a reset connection)
}

var errAnswerLost = errors.New("read tcp 127.0.0.1:443: connection reset by peer")

func (g *faultyGateway) hook(f func()) {
	g.mu.Lock()
	g.during = f
	g.mu.Unlock()
}

func (g *faultyGateway) run() {
	g.mu.Lock()
	f := g.during
	g.mu.Unlock()
	if f != nil {
		f()
	}
}

func (g *faultyGateway) Pay(ctx context.Context, r gateway.PaymentRequest) (gateway.PaymentResult, error) {
	res, err := g.Gateway.Pay(ctx, r)
	g.run()
	if err == nil && g.lose.Load() {
		return gateway.PaymentResult{}, errAnswerLost
	}
	return res, err
}

func (g *faultyGateway) Operate(ctx context.Context, op string, r gateway.OperationRequest) (gateway.OperationResult, error) {
	res, err := g.Gateway.Operate(ctx, op, r)
	g.run()
	if err == nil && g.lose.Load() {
		return gateway.OperationResult{}, errAnswerLost
	}
	return res, err
}

type moneyEnv struct {
	store *sqlite.Store
	svc   *Service
	gw    *faultyGateway
	auth  *faultyGateway
}

// newMoneyEnv starts a service on a SQLite file with sandbox gateways wrapped by
// faultyGateway; clock, when given, is the service's clock.
func newMoneyEnv(t *testing.T, claimTimeout time.Duration, clock ...payhook.Clock) *moneyEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/payhook.db")
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var svc *Service
	engine := delivery.New(delivery.Config{Store: st, Owner: "money-test", Logger: log, Sender: delivery.NewSender(true, nil), Clock: clockOf(clock),
		Settings: func(ctx context.Context) (payhook.Settings, error) { return svc.Settings(ctx) }})
	gw := &faultyGateway{Gateway: sandbox.New("credit-card", gateway.OperationPurchase, st)}
	auth := &faultyGateway{Gateway: sandbox.New("credit-card-auth", gateway.OperationAuthorize, st)}
	svc = New(Config{Store: st, Engine: engine, Gateways: gateway.NewRegistry(gw, auth), Logger: log,
		BaseURL: "http://127.0.0.1:1", Owner: "money-test", ClaimTimeout: claimTimeout, Clock: clockOf(clock)})
	_, err = svc.Bootstrap(ctx, "k-0123456789")
	require.NoError(t, err)
	engine.Start()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		engine.Shutdown(sctx)
		st.Close()
	})
	return &moneyEnv{store: st, svc: svc, gw: gw, auth: auth}
}

func clockOf(clock []payhook.Clock) payhook.Clock {
	if len(clock) > 0 {
		return clock[0]
	}
	return nil
}

func (e *moneyEnv) checkout(t *testing.T, extra map[string]any) *payhook.Transaction {
	t.Helper()
	body := map[string]json.RawMessage{}
	fields := map[string]any{"type": "e_commerce", "amount": "86.000", "currency_code": "KWD", "pg_codes": []string{"credit-card", "credit-card-auth"}}
	for k, v := range extra {
		fields[k] = v
	}
	for k, v := range fields {
		b, _ := json.Marshal(v)
		body[k] = b
	}
	txn, err := e.svc.CreateCheckout(context.Background(), body, payhook.OriginAPI)
	require.NoError(t, err)
	return txn
}

// approvals counts the gateway's recorded calls of a kind for a session (the money that moved).
func approvals(t *testing.T, st *sqlite.Store, sessionID, kind string) int {
	t.Helper()
	rows, err := st.DB().Query(`SELECT COUNT(*) FROM gateway_calls WHERE session_id = ? AND kind = ? AND success = 1`, sessionID, kind)
	require.NoError(t, err)
	defer rows.Close()
	require.True(t, rows.Next())
	var n int
	require.NoError(t, rows.Scan(&n))
	return n
}

var goodCard = gateway.Card{Number: sandbox.CardSuccess, Expiry: "12/39", CVV: "123", Holder: "Jane Doe"}

// The customer's browser leaves while the gateway is approving: the payment is recorded
// all the same (before the fix the commit ran on the request's context and was lost).
func TestPay_CustomerLeavingDuringTheGatewayCallStillRecordsThePayment(t *testing.T) {
	t.Parallel()
	e := newMoneyEnv(t, 5*time.Second)
	txn := e.checkout(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	e.gw.hook(cancel) // the browser goes away once the gateway approved
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.NoError(t, err)
	got, err := e.store.Transaction(context.Background(), txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, got.State, "the approved payment is recorded")
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"))
	notes, _, err := e.store.ListNotifications(context.Background(), payhook.NotificationFilter{SessionID: txn.SessionID})
	require.NoError(t, err)
	require.NotEmpty(t, notes, "and its notification is stored")
}

// The disk fills while the gateway approves: the commit fails, the customer is told so,
// paying again is refused (no second approval), and once there is space again the claim
// is resolved from the gateway's record: one approval, recorded (before the fix: 21
// approvals, one recorded).
func TestPay_FullDiskAfterTheGatewayApprovedNeverApprovesTwice(t *testing.T) {
	t.Parallel()
	e := newMoneyEnv(t, 100*time.Millisecond)
	ctx := context.Background()
	// A large extra sent to two URLs makes the notifications need new pages, which a full
	// disk refuses.
	_, _, err := e.svc.UpdateSettings(ctx, payhook.SettingsPatch{"enabled": json.RawMessage(`true`), "api_transactions_enabled": json.RawMessage(`true`)})
	require.NoError(t, err)
	require.NoError(t, e.svc.PutPluginSettings(ctx, payhook.PluginSettings{Plugin: payhook.PluginECommerce, WebhookURL: "http://127.0.0.1:9/plugin"}))
	txn := e.checkout(t, map[string]any{"webhook_url": "http://127.0.0.1:9/txn", "extra": map[string]any{"note": strings.Repeat("x", 64<<10)}})
	e.gw.hook(func() { require.NoError(t, e.store.LimitSize(ctx, 1)) })
	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.Error(t, err)
	require.Equal(t, payhook.EUNAVAILABLE, payhook.ErrorCode(err), "%v", err)
	e.gw.hook(nil)
	for range 20 {
		_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
		require.Error(t, err, "the customer pays again while the first payment is unrecorded")
	}
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"), "the gateway approved once")

	require.NoError(t, e.store.LimitSize(ctx, 0)) // space again
	time.Sleep(350 * time.Millisecond)            // the claim goes stale (3 × claim timeout)
	n, err := e.svc.ResolveStaleClaims(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, got.State, "recorded from the gateway's record")
	require.Equal(t, "411111******1111", got.Card.Masked)
	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "now it is paid")
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"))
}

// A claim whose gateway never got the payment (the process died before the call) frees
// the checkout again when resolved: the customer can pay.
func TestResolveStaleClaims_GatewayNeverAskedFreesTheCheckout(t *testing.T) {
	t.Parallel()
	e := newMoneyEnv(t, 50*time.Millisecond)
	ctx := context.Background()
	txn := e.checkout(t, nil)
	now := time.Now().UTC()
	require.NoError(t, e.store.Claim(ctx, &payhook.Claim{ID: "pay_dead", SessionID: txn.SessionID, Kind: payhook.ClaimPayment,
		Owner: "dead-process", Until: now.Add(-time.Second), CreatedAt: now, From: []payhook.State{payhook.StateCreated},
		PGCode: "credit-card", Card: &payhook.Card{Masked: "411111******1111", Expiry: "12/39"}}))
	n, err := e.svc.ResolveStaleClaims(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.NoError(t, err)
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"))
}

// A client times out after the gateway refunded and retries with the same Tracking-Key:
// the retry waits for the first and answers its result; one refund moved.
func TestOperate_RetryAfterClientTimeoutRefundsOnce(t *testing.T) {
	t.Parallel()
	e := newMoneyEnv(t, 5*time.Second)
	ctx := context.Background()
	txn := e.checkout(t, nil)
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.NoError(t, err)

	body := []byte(`{"operation":"refund","session_id":"` + txn.SessionID + `","amount":"10.000"}`)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	release := make(chan struct{})
	started := make(chan struct{})
	e.gw.hook(func() { close(started); <-release }) // the gateway refunded; its answer is slow
	cctx, cancel := context.WithCancel(ctx)
	first := make(chan *Answer, 1)
	go func() {
		a, err := e.svc.Operate(cctx, body, m, "refund-key-1")
		if err != nil {
			t.Errorf("first request: %v", err)
		}
		first <- a
	}()
	<-started
	cancel() // the client gave up
	retry := make(chan *Answer, 1)
	go func() {
		e.gw.hook(nil)
		a, err := e.svc.Operate(ctx, body, m, "refund-key-1")
		if err != nil {
			t.Errorf("retry: %v", err)
		}
		retry <- a
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	a1, a2 := <-first, <-retry
	require.NotNil(t, a1)
	require.NotNil(t, a2)
	require.Equal(t, 200, a2.StatusCode)
	require.JSONEq(t, string(a1.Body), string(a2.Body), "the retry answers the first result")
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "refund"), "one refund moved")
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Len(t, got.Children, 1)
	require.Equal(t, payhook.Amount(10000), got.RefundedAmount)
}

// An operation whose process died after the gateway refunded is recorded by the retry
// of its Tracking-Key (it resolves the stale claim from the gateway's record).
func TestOperate_RetryResolvesTheClaimOfADeadProcess(t *testing.T) {
	t.Parallel()
	e := newMoneyEnv(t, 50*time.Millisecond)
	ctx := context.Background()
	txn := e.checkout(t, nil)
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.NoError(t, err)
	paid, err := e.store.TransactionHead(ctx, txn.SessionID)
	require.NoError(t, err)
	body := []byte(`{"operation":"refund","session_id":"` + txn.SessionID + `"}`)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	// A dead process: it claimed, the gateway refunded, and it never committed.
	now := time.Now().UTC()
	child := &payhook.Child{SessionID: payhook.NewSessionID(), ReferenceNumber: "PHDEAD0001", Operation: payhook.OpRefund,
		Amount: 86000, CreatedAt: now}
	require.NoError(t, e.store.Claim(ctx, &payhook.Claim{ID: "op_PHDEAD0001", SessionID: txn.SessionID, Kind: payhook.ClaimOperation,
		Owner: "dead-process", Until: now.Add(-time.Second), CreatedAt: now, From: []payhook.State{payhook.StatePaid},
		Unchanged: paid.UpdatedAt, Child: child,
		Tracking: &payhook.Tracking{Key: "refund-key-2", RequestHash: requestHash(body), SessionID: txn.SessionID, CreatedAt: now}}))
	_, err = e.gw.Operate(ctx, payhook.OpRefund, gateway.OperationRequest{SessionID: txn.SessionID, ReferenceNumber: "PHDEAD0001", Amount: 86000, Currency: "KWD"})
	require.NoError(t, err)

	a, err := e.svc.Operate(ctx, body, m, "refund-key-2")
	require.NoError(t, err)
	require.Equal(t, 200, a.StatusCode)
	require.Contains(t, string(a.Body), `"reference_number":"PHDEAD0001"`, "the answer is the first operation's")
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "refund"))
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StateRefunded, got.State)
	require.Len(t, got.Children, 1)
}

// The settings API and the dashboard change different fields at once, many times: no
// change is lost (each is applied to what the other left).
func TestUpdateSettings_ConcurrentChangesAreMerged(t *testing.T) {
	t.Parallel()
	e := newMoneyEnv(t, time.Second)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, err := e.svc.UpdateSettings(ctx, payhook.SettingsPatch{"timeout": json.RawMessage([]string{"7", "8"}[i%2])})
			if err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			_, _, err := e.svc.UpdateSettings(ctx, payhook.SettingsPatch{"user_agent": json.RawMessage(`"agent-` + string(rune('a'+i)) + `"`)})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	_, _, err := e.svc.UpdateSettings(ctx, payhook.SettingsPatch{"retries": json.RawMessage(`5`)})
	require.NoError(t, err)
	st, err := e.svc.Settings(ctx)
	require.NoError(t, err)
	require.Contains(t, []float64{7, 8}, st.Timeout)
	require.True(t, strings.HasPrefix(st.UserAgent, "agent-"))
	require.Equal(t, 5, st.Retries)
	// A form shown at an older revision is refused rather than undoing what it never showed.
	_, _, err = e.svc.UpdateSettingsFrom(ctx, payhook.SettingsPatch{"retries": json.RawMessage(`2`)}, st.Revision-1)
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err))
	var pe *payhook.Error
	require.True(t, errors.As(err, &pe))
}

// The gateway approves and its answer is lost (a reset connection): the outcome is
// unknown, so the claim stays (paying again is refused) and the payment is recorded from
// the gateway's record; one approval. (Before the fix, the claim was released as if
// nothing had moved, and paying again was approved again.)
func TestPay_LostGatewayAnswerIsResolvedNotRetried(t *testing.T) {
	t.Parallel()
	e := newMoneyEnv(t, 50*time.Millisecond)
	ctx := context.Background()
	txn := e.checkout(t, nil)
	e.gw.lose.Store(true)
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.Equal(t, payhook.EUNAVAILABLE, payhook.ErrorCode(err), "%v", err)
	require.Contains(t, payhook.ErrorMessage(err), "Do not pay again")
	e.gw.lose.Store(false)
	_, err = e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.Equal(t, payhook.ECONFLICT, payhook.ErrorCode(err), "paying again while the first is unresolved is refused")
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"))
	time.Sleep(200 * time.Millisecond) // stale after 3 × the claim timeout
	n, err := e.svc.ResolveStaleClaims(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Equal(t, payhook.StatePaid, got.State)
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "purchase"))
}

// A refund whose gateway answer is lost, retried with its Tracking-Key: the retry waits
// for the claim to be resolved from the gateway's record and answers the refund made;
// one refund moved.
func TestOperate_LostGatewayAnswerThenRetryRefundsOnce(t *testing.T) {
	t.Parallel()
	e := newMoneyEnv(t, 50*time.Millisecond)
	ctx := context.Background()
	txn := e.checkout(t, nil)
	_, err := e.svc.Pay(ctx, txn.SessionID, "credit-card", goodCard)
	require.NoError(t, err)
	body := []byte(`{"operation":"refund","session_id":"` + txn.SessionID + `","amount":"10.000"}`)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	e.gw.lose.Store(true)
	_, err = e.svc.Operate(ctx, body, m, "lost-answer-key")
	require.Equal(t, payhook.EUNAVAILABLE, payhook.ErrorCode(err), "%v", err)
	require.Contains(t, payhook.ErrorMessage(err), "same Tracking-Key")
	e.gw.lose.Store(false)
	go func() {
		for range 50 { // the recovery loop of a running payhook
			e.svc.ResolveStaleClaims(ctx)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	a, err := e.svc.Operate(ctx, body, m, "lost-answer-key")
	require.NoError(t, err)
	require.Equal(t, 200, a.StatusCode)
	require.Contains(t, string(a.Body), `"result":"success"`)
	require.Equal(t, 1, approvals(t, e.store, txn.SessionID, "refund"), "one refund moved")
	got, err := e.store.Transaction(ctx, txn.SessionID)
	require.NoError(t, err)
	require.Len(t, got.Children, 1)
	require.Equal(t, payhook.Amount(10000), got.RefundedAmount)
}

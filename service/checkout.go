package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/payload"
)

// CreateCheckout validates a Checkout API body and stores the new transaction.
func (s *Service) CreateCheckout(ctx context.Context, body map[string]json.RawMessage, origin payhook.Origin) (*payhook.Transaction, error) {
	req, err := payhook.DecodeCheckoutRequest(body, func(code string) bool { _, err := s.gateways.Get(code); return err == nil })
	if err != nil {
		return nil, err
	}
	t := payhook.NewTransaction(req, origin, s.clock.Now())
	t.Initiator = initiatorOf(ctx) // the dashboard (or Basic-auth) user who created it, if any
	g, err := s.gateways.Get(req.PGCodes[0])
	if err != nil {
		return nil, err
	}
	t.GatewayCode, t.GatewayName, t.Sandbox = g.Code(), g.Name(), g.Sandbox()
	if err := s.store.CreateTransaction(ctx, t); err != nil {
		return nil, err
	}
	s.auditPerson(ctx, "payment_request.create", fmt.Sprintf("%s %s %s for %s, session %s (order_no %s)",
		t.Type, t.Amount.Format(t.Currency), t.Currency, cmp.Or(t.Customer.Email, "no email"), t.SessionID, cmp.Or(t.OrderNo, "none")))
	return t, nil
}

// Transaction returns a transaction by session id.
func (s *Service) Transaction(ctx context.Context, sessionID string) (*payhook.Transaction, error) {
	return s.store.Transaction(ctx, sessionID)
}

// CheckoutURL is the hosted checkout page of a session (the checkout answer's checkout_url).
func (s *Service) CheckoutURL(sessionID string) string {
	return s.baseURL + "/b/checkout/redirect/start/?session_id=" + sessionID
}

// CheckoutPageURL is the session's page under its own path (checkout_page_url).
func (s *Service) CheckoutPageURL(sessionID string) string {
	return s.baseURL + "/b/checkout/" + sessionID + "/"
}

// SummaryURL is the payment summary page of a session.
func (s *Service) SummaryURL(sessionID string) string {
	return s.baseURL + "/b/checkout/" + sessionID + "/summary/"
}

// PaymentOutcome is what a payment (or a cancel) on the checkout page led to.
type PaymentOutcome struct {
	Transaction *payhook.Transaction
	// Redirect is where the customer goes now (SPEC §1.3).
	Redirect string
	// Notification is the status of the notification whose answer decided the redirect,
	// "" when none was sent.
	Notification payhook.Status
}

// sessionLock is one session's mutex and how many callers hold it or wait for it. The
// entry is dropped only when nobody uses it: dropping it at unlock would let a caller
// arriving then make a second mutex and run beside one still waiting on the first.
type sessionLock struct {
	mu    sync.Mutex
	users int // guarded by Service.mu
}

func (s *Service) lockSession(id string) func() {
	s.mu.Lock()
	v, _ := s.payLocks.LoadOrStore(id, &sessionLock{})
	l := v.(*sessionLock)
	l.users++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.users--; l.users == 0 {
			s.payLocks.Delete(id)
		}
		s.mu.Unlock()
	}
}

// payable loads a transaction the customer may still pay or cancel.
func (s *Service) payable(ctx context.Context, sessionID string) (*payhook.Transaction, error) {
	t, err := s.store.Transaction(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if !t.State.Payable() {
		return t, payhook.Errorf(payhook.ECONFLICT, "This payment is already %s.", t.State)
	}
	if !s.clock.Now().Before(t.ExpiresAt) {
		return t, payhook.Errorf(payhook.ECONFLICT, "This payment link has expired.")
	}
	return t, nil
}

// Pay sends the customer's card to the gateway pgCode (the transaction's first when
// empty), records the outcome as a try, sends the payment notification and waits for the
// answer that decides the redirect. A declined or errored try leaves the transaction
// attempted and payable: each try runs under its own claim, whose id is its gateway
// reference.
//
// Money-safe order: the intent (a claim on the transaction, with the gateway and what is
// kept of the card) is stored before the gateway is called, and the gateway call and the
// commit of its outcome run on a context detached from the customer's request (bounded
// by the claim timeout), so a closed browser never loses an approved payment. If the
// commit fails anyway (a full disk, a crash), the claim stays: the transaction cannot be
// paid again meanwhile, and ResolveStaleClaims records the gateway's outcome later. The
// claim is held only from the read to the commit, never while the merchant answers.
// The delivery goes on if ctx ends first; the redirect is then the summary page.
func (s *Service) Pay(ctx context.Context, sessionID, pgCode string, card gateway.Card) (*PaymentOutcome, error) {
	return s.PayForm(ctx, sessionID, pgCode, "", card)
}

// maxTryToken bounds the checkout form's try_token.
const maxTryToken = 64

// PayForm is Pay for the checkout form, whose hidden try_token (token, "" when the form
// sent none) identifies one submission: the same submission again (a double click, a
// reloaded POST) makes no new try; it is answered with the summary page, whatever the
// first one's outcome. Without a token every submission is a try of its own (a paid
// checkout still refuses it).
func (s *Service) PayForm(ctx context.Context, sessionID, pgCode, token string, card gateway.Card) (*PaymentOutcome, error) {
	unlock := sync.OnceFunc(s.lockSession(sessionID)) // an optimisation: the claim below is the guarantee
	if token != "" {
		cur, err := s.store.TransactionHead(ctx, sessionID)
		if err != nil {
			unlock()
			return &PaymentOutcome{Transaction: cur}, err
		}
		if len(token) > maxTryToken {
			unlock()
			return &PaymentOutcome{Transaction: cur}, &payhook.Error{Code: payhook.EINVALID, Message: "invalid input",
				Fields: map[string][]string{"try_token": {fmt.Sprintf("At most %d characters: reload the page.", maxTryToken)}}}
		}
		if _, done := cur.TryByToken(token); done {
			unlock()
			return &PaymentOutcome{Transaction: cur, Redirect: s.SummaryURL(sessionID)}, nil
		}
	}
	t, err := s.payable(ctx, sessionID)
	if err != nil {
		unlock()
		return &PaymentOutcome{Transaction: t}, err
	}
	if pgCode == "" {
		pgCode = t.PGCodes[0]
	}
	if !contains(t.PGCodes, pgCode) {
		unlock()
		return &PaymentOutcome{Transaction: t}, &payhook.Error{Code: payhook.EINVALID, Message: "invalid input",
			Fields: map[string][]string{"pg_code": {fmt.Sprintf("%q is not offered for this payment.", pgCode)}}}
	}
	now := s.clock.Now()
	if err := card.Validate(now); err != nil {
		unlock()
		return &PaymentOutcome{Transaction: t}, err
	}
	g, err := s.gateways.Get(pgCode)
	if err != nil {
		unlock()
		return &PaymentOutcome{Transaction: t}, err
	}
	claim := &payhook.Claim{ID: "pay_" + payhook.NewSessionID()[:24], SessionID: t.SessionID, Kind: payhook.ClaimPayment,
		Owner: s.owner, Until: now.Add(s.claimHold()).UTC(), CreatedAt: now.UTC(), From: []payhook.State{t.State},
		Unchanged: t.UpdatedAt, PGCode: pgCode, Card: &payhook.Card{Masked: card.Masked(), Expiry: card.Expiry, Holder: card.Holder}}
	if err := s.store.Claim(ctx, claim); err != nil {
		unlock()
		if errors.Is(err, payhook.ErrClaimed) {
			err = payhook.Errorf(payhook.ECONFLICT, "A payment for this checkout is already in progress: wait a moment and reload the page.")
		}
		return &PaymentOutcome{Transaction: t}, err
	}
	defer unlock()
	// From here money may move: nothing below depends on the customer's request. The
	// gateway call and the commit each have their own bound.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.claimTTL)
	res, err := g.Pay(gctx, gateway.PaymentRequest{Reference: claim.ID, SessionID: t.SessionID, Amount: t.Amount, Currency: t.Currency, Card: card})
	cancel()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.claimTTL)
	defer cancel()
	if err != nil {
		return &PaymentOutcome{Transaction: t}, s.gatewayFailed(cctx, claim, err,
			"The payment could not be confirmed with the payment gateway. Do not pay again: it is being confirmed from the gateway's record, and this checkout will show the outcome in a minute.")
	}
	from := t.State
	applyPayment(t, g, claim, token, res)
	out, decider, err := s.settle(cctx, t, from, time.Time{}, claim.ID, true)
	if errors.Is(err, payhook.ErrClaimLost) {
		out, decider, err = s.settleLostClaim(cctx, t, g, claim, token, res)
	}
	if err != nil {
		s.log.Error("payment done by the gateway but not recorded yet; it will be recorded from the gateway's record",
			"session_id", t.SessionID, "claim", claim.ID, "result", res.Result, "err", err)
		return out, unrecorded(err, "The payment gateway answered, but the payment could not be recorded yet. Do not pay again: it will be recorded from the gateway's record as soon as possible.")
	}
	unlock()
	return s.awaitDecider(ctx, out, decider), nil
}

// claimHold is how long a claim holds before it is stale: the gateway's bound, the
// commit's bound, and as much again for a slow clock or a stalled process.
func (s *Service) claimHold() time.Duration { return 3 * s.claimTTL }

// gatewayFailed handles a gateway call that returned an error: when the request never
// reached the gateway, the claim is released (nothing moved; try again); otherwise the
// outcome is unknown, the claim stays and is resolved from the gateway's record once it
// is stale, and the caller is told so (unknown).
func (s *Service) gatewayFailed(ctx context.Context, claim *payhook.Claim, err error, unknown string) error {
	if errors.Is(err, gateway.ErrNotSent) {
		if rerr := s.store.ReleaseClaim(ctx, claim.ID, s.owner); rerr != nil {
			s.log.Error("release claim", "session_id", claim.SessionID, "claim", claim.ID, "err", rerr)
		}
		return fmt.Errorf("gateway: %w", err)
	}
	s.log.Error("gateway answer lost: the outcome will be resolved from the gateway's record", "session_id", claim.SessionID,
		"claim", claim.ID, "err", err)
	return &payhook.Error{Code: payhook.EUNAVAILABLE, Message: unknown}
}

// unrecorded says what a failed commit after the gateway acted means for the caller:
// for a database that cannot take writes, that the outcome will be recorded later.
func unrecorded(err error, msg string) error {
	if payhook.ErrorCode(err) == payhook.EUNAVAILABLE {
		return &payhook.Error{Code: payhook.EUNAVAILABLE, Message: msg + " (" + payhook.ErrorMessage(err) + ")"}
	}
	return err
}

// settleLostClaim handles a payment whose claim was taken over while the gateway was
// answering (this process stalled past the claim's hold): when another process recorded
// it, there is nothing to do; when the transaction is still payable (the claim was
// released: the gateway's record was read before the payment was made), the outcome in
// hand is recorded under a new claim.
func (s *Service) settleLostClaim(ctx context.Context, t *payhook.Transaction, g gateway.Gateway, lost *payhook.Claim, token string, res gateway.PaymentResult) (*PaymentOutcome, <-chan delivery.Result, error) {
	cur, err := s.store.TransactionHead(ctx, t.SessionID)
	if err != nil {
		return &PaymentOutcome{Transaction: t}, nil, err
	}
	if !cur.State.Payable() {
		return &PaymentOutcome{Transaction: cur, Redirect: s.SummaryURL(cur.SessionID), Notification: payhook.StatusPending}, nil, nil
	}
	now := s.clock.Now().UTC()
	again := *lost
	again.ID, again.Owner, again.Until, again.CreatedAt = "pay_"+payhook.NewSessionID()[:24], s.owner, now.Add(s.claimHold()), now
	again.From, again.Unchanged = []payhook.State{cur.State}, cur.UpdatedAt
	if err := s.store.Claim(ctx, &again); err != nil {
		return &PaymentOutcome{Transaction: t}, nil, err
	}
	applyPayment(cur, g, lost, token, res)
	return s.settle(ctx, cur, again.From[0], time.Time{}, again.ID, true)
}

// applyPayment sets a gateway's answer to the try made under claim on t, and records
// the try (with the form's try_token, "" when unknown). A declined or errored try is not
// final (SPEC §7): the transaction becomes attempted, and the customer may pay again on
// the same page, under a new claim and so a new gateway reference.
func applyPayment(t *payhook.Transaction, g gateway.Gateway, claim *payhook.Claim, token string, res gateway.PaymentResult) {
	t.GatewayCode, t.GatewayName, t.Sandbox = g.Code(), g.Name(), g.Sandbox()
	t.GatewayResponse, t.Result, t.Message = res.Response, res.Result, res.Message
	t.Card = claim.Card
	switch res.Result {
	case payhook.ResultSuccess:
		if g.Operation() == gateway.OperationAuthorize {
			t.State, t.AuthorizedAmount = payhook.StateAuthorized, t.Amount
		} else {
			t.State, t.PaidAmount = payhook.StatePaid, t.Amount
		}
	case payhook.ResultCanceled:
		t.State = payhook.StateCanceled
	default: // failed, error: the customer may try again
		t.State = payhook.StateAttempted
	}
	t.AddTry(payhook.Try{Reference: claim.ID, At: claim.CreatedAt.UTC(), PGCode: g.Code(), Card: claim.Card,
		Result: res.Result, Message: res.Message, Token: token})
}

// Cancel records that the customer canceled on the checkout page, and notifies like Pay.
func (s *Service) Cancel(ctx context.Context, sessionID string) (*PaymentOutcome, error) {
	unlock := s.lockSession(sessionID)
	t, err := s.payable(ctx, sessionID)
	if err != nil {
		unlock()
		return &PaymentOutcome{Transaction: t}, err
	}
	from, unchanged := t.State, t.UpdatedAt
	t.State, t.Result, t.Message = payhook.StateCanceled, payhook.ResultCanceled, "Canceled by the customer"
	out, decider, err := s.settle(ctx, t, from, unchanged, "", true)
	unlock()
	if err != nil {
		if errors.Is(err, payhook.ErrClaimed) {
			err = payhook.Errorf(payhook.ECONFLICT, "A payment for this checkout is in progress: it cannot be canceled now.")
		}
		return out, err
	}
	return s.awaitDecider(ctx, out, decider), nil
}

// settle stores the transaction's new state with its payment notifications (ending the
// claim, when there is one) and hands them to the engine; the one that decides the
// redirect is delivered at once when wait is set (a customer waits on it), else in the
// background.
func (s *Service) settle(ctx context.Context, t *payhook.Transaction, from payhook.State, unchanged time.Time, claim string, wait bool) (*PaymentOutcome, <-chan delivery.Result, error) {
	c, err := s.config(ctx)
	if err != nil {
		return &PaymentOutcome{Transaction: t}, nil, err
	}
	t.UpdatedAt = s.clock.Now().UTC()
	notes, err := s.paymentNotifications(c, t, true)
	if err != nil {
		return &PaymentOutcome{Transaction: t}, nil, err
	}
	ch := payhook.Change{Transaction: t, From: []payhook.State{from}, Unchanged: unchanged, Notifications: notes,
		Lease: s.engine.Lease(c.settings), Claim: claim, ClaimOwner: s.owner}
	if claim != "" {
		ch.Unchanged = time.Time{} // the claim holds the transaction
	}
	decider, err := s.commit(ctx, ch, wait)
	if err != nil {
		return &PaymentOutcome{Transaction: t}, nil, err
	}
	out := &PaymentOutcome{Transaction: t, Redirect: s.SummaryURL(t.SessionID)}
	if decider == nil && t.RedirectURL != "" && !hasDecider(notes) {
		out.Redirect = redirectWithParams(t)
	}
	return out, decider, nil
}

func hasDecider(notes []*payhook.Notification) bool {
	for _, n := range notes {
		if n.RedirectDecider && n.Status == payhook.StatusPending {
			return true
		}
	}
	return false
}

// awaitDecider waits, while the customer's request lasts, for the answer that decides
// where the customer goes (SPEC §1.3).
func (s *Service) awaitDecider(ctx context.Context, out *PaymentOutcome, decider <-chan delivery.Result) *PaymentOutcome {
	if decider == nil {
		return out
	}
	select {
	case r := <-decider:
		out.Notification = r.Status
		if r.Status == payhook.StatusDelivered && r.StatusCode == 200 && out.Transaction.RedirectURL != "" {
			out.Redirect = redirectWithParams(out.Transaction)
		}
	case <-ctx.Done():
		out.Notification = payhook.StatusPending
	}
	return out
}

// notifications renders a payload once and makes one notification per recipient. The
// delivery log's reference_number is the payload's own (an operation's is the child's,
// so that the merchant finds in the log the reference received), else t's.
func (s *Service) notifications(kind payhook.Kind, t *payhook.Transaction, rs []payhook.Recipient, tree map[string]any, st payhook.Settings) ([]*payhook.Notification, error) {
	body, ct, err := payload.Encode(tree, st)
	if err != nil {
		return nil, err
	}
	ref, _ := tree["reference_number"].(string)
	if ref == "" {
		ref = t.ReferenceNumber
	}
	now := s.clock.Now().UTC()
	out := make([]*payhook.Notification, len(rs))
	for i, r := range rs {
		n := &payhook.Notification{ID: payhook.NewNotificationID(), Kind: kind, SessionID: t.SessionID,
			ReferenceNumber: ref, URL: r.URL, Status: payhook.StatusPending, Reason: r.Reason,
			RedirectDecider: r.RedirectDecider, CreatedAt: now, UpdatedAt: now, Body: body, ContentType: ct,
			NextAttemptAt: now, Extended: r.Extended}
		if r.Reason != "" {
			n.Status, n.NextAttemptAt = payhook.StatusNotSent, now
		}
		out[i] = n
	}
	return out, nil
}

// redirectWithParams appends order_no, reference_number, session_id and the extra keys to
// the transaction's redirect_url, keeping the query it already has.
func redirectWithParams(t *payhook.Transaction) string {
	u, err := url.Parse(t.RedirectURL)
	if err != nil {
		return t.RedirectURL
	}
	q := u.Query()
	extra := t.ExtraMap()
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Set(k, queryValue(extra[k]))
	}
	if t.OrderNo != "" {
		q.Set("order_no", t.OrderNo)
	}
	q.Set("reference_number", t.ReferenceNumber)
	q.Set("session_id", t.SessionID)
	u.RawQuery = q.Encode()
	return u.String()
}

func queryValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Open reports whether a transaction's checkout has not expired yet.
func (s *Service) Open(t *payhook.Transaction) bool { return s.clock.Now().Before(t.ExpiresAt) }

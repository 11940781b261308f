package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/delivery"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/payload"
)

// Answer is an API answer decided by the service: its status and JSON body. The
// Operations API answers with the operation notification's own bytes, and a repeated
// Tracking-Key with the stored answer, so the service hands over bytes.
type Answer struct {
	StatusCode int
	Body       []byte
}

func jsonAnswer(code int, v any) (*Answer, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &Answer{StatusCode: code, Body: b}, nil
}

// operationFailure is Ottu's 400 {detail, operation, result: "failed"}.
func operationFailure(op, detail string) (*Answer, error) {
	return jsonAnswer(400, map[string]string{"detail": detail, "operation": op, "result": "failed"})
}

// findTransaction finds the transaction an operation or inquiry names, by session_id or
// else by order_no (which must then name exactly one). Deleted transactions are not found.
func (s *Service) findTransaction(ctx context.Context, sessionID, orderNo string) (*payhook.Transaction, error) {
	var t *payhook.Transaction
	if sessionID != "" {
		var err error
		if t, err = s.store.Transaction(ctx, sessionID); err != nil {
			return nil, err
		}
		if orderNo != "" && t.OrderNo != orderNo {
			return nil, payhook.Errorf(payhook.ENOTFOUND, "No transaction with session_id %q and order_no %q.", sessionID, orderNo)
		}
	} else {
		list, err := s.store.TransactionsByOrderNo(ctx, orderNo)
		if err != nil {
			return nil, err
		}
		switch len(list) {
		case 0:
			return nil, payhook.Errorf(payhook.ENOTFOUND, "No transaction with order_no %q.", orderNo)
		case 1:
			t = list[0]
		default:
			return nil, &payhook.Error{Code: payhook.EINVALID, Message: "ambiguous order_no",
				Fields: map[string][]string{"order_no": {fmt.Sprintf("%d transactions have order_no %q: give session_id instead.", len(list), orderNo)}}}
		}
	}
	if !t.DeletedAt.IsZero() {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "No transaction with session_id %q.", t.SessionID)
	}
	return t, nil
}

// Operate carries out an Operations API request (SPEC §2, §6): refund, capture and void
// through the gateway, with a child transaction and an operation notification; cancel and
// expire with a payment notification of that state; delete with none. The notifications
// are stored with the change and delivered in the background. trackingKey, when set,
// makes the request idempotent: the same key and body answer the first operation's
// result again, with no second gateway call or notification; a retry that arrives while
// the first is still running waits for it. The user in ctx (WithInitiator), if any, is
// the payloads' initiator.
//
// Money-safe order for refund, capture and void: the operation (and its Tracking-Key, in
// progress) is claimed in the store before the gateway is called, and the gateway call
// and the commit run on a context detached from the client's request, so a client that
// gives up never leaves a refund unrecorded, and a retry never refunds twice.
func (s *Service) Operate(ctx context.Context, rawBody []byte, body map[string]json.RawMessage, trackingKey string) (a *Answer, err error) {
	initiator := initiatorOf(ctx)
	var sessionID string
	var req *payhook.OperationRequest
	defer func() { s.auditOperation(ctx, req, sessionID, a, err) }()
	req, err = payhook.DecodeOperationRequest(body)
	if err != nil {
		return nil, err
	}
	if len(trackingKey) > 255 {
		return nil, payhook.Errorf(payhook.EINVALID, "The Tracking-Key header is longer than 255 characters.")
	}
	reqHash := requestHash(rawBody)
	if trackingKey != "" {
		defer s.lockSession("tracking:" + trackingKey)() // an optimisation: the store's claim is the guarantee
		if a, done, err := s.replayOrWait(ctx, trackingKey, reqHash); done || err != nil {
			return a, err
		}
	}
	sessionID = req.SessionID
	if sessionID == "" {
		t, err := s.findTransaction(ctx, "", req.OrderNo)
		if err != nil {
			return nil, err
		}
		sessionID = t.SessionID
	}
	deadline := s.clock.Now().Add(s.claimHold() + s.claimTTL)
	for wait := 2 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		a, err := s.operateOnce(ctx, sessionID, req, reqHash, trackingKey, initiator)
		switch {
		case errors.Is(err, payhook.ErrTrackingKeyUsed):
			// A concurrent request with the same key (maybe in another process) won: its
			// answer, once it has one; if it was released meanwhile (it moved no money),
			// this request runs.
			a, done, err := s.replayOrWait(ctx, trackingKey, reqHash)
			if !done && err == nil {
				continue
			}
			return a, err
		case errors.Is(err, payhook.ErrClaimed) || errors.Is(err, errChanged):
			// Another payment or operation holds the transaction, or changed it since it was
			// read: wait for it, then read it again and decide anew.
			if s.clock.Now().After(deadline) {
				return nil, payhook.Errorf(payhook.ECONFLICT, "Another operation on this transaction is still in progress: retry in a moment.")
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		return a, err
	}
}

// errChanged says the transaction changed between the read and the claim or commit.
var errChanged = errors.New("transaction changed since it was read")

// conflictOnly reports an ECONFLICT that is neither a claim nor a Tracking-Key: the
// transaction changed since it was read.
func conflictOnly(err error) bool {
	return payhook.ErrorCode(err) == payhook.ECONFLICT && !errors.Is(err, payhook.ErrClaimed) &&
		!errors.Is(err, payhook.ErrTrackingKeyUsed) && !errors.Is(err, payhook.ErrClaimLost)
}

// operateOnce reads the transaction and carries out one try of an operation.
func (s *Service) operateOnce(ctx context.Context, sessionID string, req *payhook.OperationRequest, reqHash, trackingKey string, initiator *payhook.Initiator) (*Answer, error) {
	defer s.lockSession(sessionID)()
	t, err := s.store.TransactionHead(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if req.OrderNo != "" && t.OrderNo != req.OrderNo {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "No transaction with session_id %q and order_no %q.", sessionID, req.OrderNo)
	}
	if !t.DeletedAt.IsZero() {
		return nil, payhook.Errorf(payhook.ENOTFOUND, "No transaction with session_id %q.", t.SessionID)
	}
	plan, err := payhook.PlanOperation(t, req.Operation, req.AmountText)
	if err != nil {
		if payhook.ErrorCode(err) == payhook.ECONFLICT {
			return operationFailure(req.Operation, payhook.ErrorMessage(err))
		}
		return nil, err
	}
	c, err := s.config(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	var tracking *payhook.Tracking
	if trackingKey != "" {
		tracking = &payhook.Tracking{Key: trackingKey, RequestHash: reqHash, SessionID: t.SessionID, CreatedAt: now}
	}
	switch req.Operation {
	case payhook.OpRefund, payhook.OpCapture, payhook.OpVoid:
		return s.gatewayOperation(ctx, c, t, plan, req, initiator, tracking)
	}
	ch := payhook.Change{Transaction: t, From: []payhook.State{plan.From}, Unchanged: t.UpdatedAt, Lease: s.engine.Lease(c.settings)}
	var answer *Answer
	switch req.Operation {
	case payhook.OpCancel, payhook.OpExpire:
		if req.Operation == payhook.OpCancel {
			t.State, t.Result, t.Message = payhook.StateCanceled, payhook.ResultCanceled, "Canceled by the merchant"
		} else {
			t.State, t.Result, t.Message = payhook.StateExpired, payhook.ResultCanceled, "Expired by the merchant"
		}
		t.UpdatedAt, t.Initiator = now, initiator
		if ch.Notifications, err = s.paymentNotifications(c, t, false); err != nil {
			return nil, err
		}
		answer, err = jsonAnswer(200, map[string]string{"detail": "The transaction is " + string(t.State) + ".", "operation": req.Operation, "result": "success"})
	case payhook.OpDelete:
		if t.State.SoftDelete() {
			t.DeletedAt, t.UpdatedAt = now, now
		} else {
			ch.Delete = true
		}
		answer, err = jsonAnswer(200, map[string]string{"detail": "The transaction is deleted.", "operation": req.Operation, "result": "success"})
	}
	if err != nil {
		return nil, err
	}
	if tracking != nil {
		tracking.StatusCode, tracking.Answer, tracking.Done = answer.StatusCode, answer.Body, true
		ch.Tracking = tracking
	}
	if _, err := s.commit(ctx, ch, false); err != nil {
		if conflictOnly(err) {
			return nil, errChanged
		}
		return nil, err
	}
	return answer, nil
}

// replayOrWait answers a request whose Tracking-Key is already recorded: the stored
// answer for the same body, Ottu's operation_tracking failure for another. While the
// first request is still in progress (in this process or another) it waits for it; if
// the first one's process died (its claim went stale), it resolves that claim from the
// gateway's record first. done is false when the key is not recorded (or was released:
// the first request moved no money), so the request runs.
func (s *Service) replayOrWait(ctx context.Context, key, reqHash string) (*Answer, bool, error) {
	deadline := s.clock.Now().Add(s.claimHold() + s.claimTTL)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		tr, err := s.store.Tracking(ctx, key)
		if payhook.ErrorCode(err) == payhook.ENOTFOUND {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if tr.RequestHash != reqHash {
			a, err := operationFailure("operation_tracking", "This Tracking-Key was already used for another request; use a new key for a new operation.")
			return a, true, err
		}
		if tr.Done {
			return &Answer{StatusCode: tr.StatusCode, Body: tr.Answer}, true, nil
		}
		if cl, err := s.store.ClaimByID(ctx, tr.ClaimID); err == nil && cl.Until.Before(s.clock.Now()) {
			if err := s.resolveClaim(ctx, cl.ID); err != nil {
				s.log.Warn("resolve a stale claim for a retried Tracking-Key", "claim", cl.ID, "err", err)
			}
			continue
		}
		if s.clock.Now().After(deadline) {
			return nil, true, payhook.Errorf(payhook.ECONFLICT, "The first request with this Tracking-Key is still in progress: retry in a moment.")
		}
		select {
		case <-ctx.Done():
			return nil, true, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// gatewayOperation claims the transaction with the planned child (and the Tracking-Key
// in progress), asks the gateway to refund, capture or void on a detached context,
// and records the outcome with the operation notifications; the answer is the
// notification.
func (s *Service) gatewayOperation(ctx context.Context, c *config, t *payhook.Transaction, plan *payhook.OperationPlan,
	req *payhook.OperationRequest, initiator *payhook.Initiator, tracking *payhook.Tracking) (*Answer, error) {
	g, err := s.gateways.Get(t.GatewayCode)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	child := &payhook.Child{SessionID: payhook.NewSessionID(), ReferenceNumber: payhook.NewReferenceNumber(),
		Operation: req.Operation, Amount: plan.Amount, Extra: req.Extra, Initiator: initiator, CreatedAt: now}
	if tracking != nil {
		child.TrackingKey = tracking.Key
	}
	claim := &payhook.Claim{ID: "op_" + child.ReferenceNumber, SessionID: t.SessionID, Kind: payhook.ClaimOperation,
		Owner: s.owner, Until: now.Add(s.claimHold()), CreatedAt: now, From: []payhook.State{plan.From},
		Unchanged: t.UpdatedAt, Child: child, Tracking: tracking}
	if err := s.store.Claim(ctx, claim); err != nil {
		if conflictOnly(err) {
			return nil, errChanged
		}
		return nil, err
	}
	// From here money may move: nothing below depends on the client's request. The
	// gateway call and the commit each have their own bound.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.claimTTL)
	res, err := g.Operate(gctx, req.Operation, gateway.OperationRequest{SessionID: t.SessionID,
		ReferenceNumber: child.ReferenceNumber, Amount: plan.Amount, Currency: t.Currency})
	cancel()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.claimTTL)
	defer cancel()
	if err != nil {
		return nil, s.gatewayFailed(cctx, claim, err, "The gateway's answer to this "+req.Operation+" was lost: its outcome is being confirmed "+
			"from the gateway's record. Retry with the same Tracking-Key to get it; do not send it again without one.")
	}
	ch, answer, err := s.operationChange(c, t, claim, res, tracking)
	if err != nil {
		return nil, err
	}
	if _, err := s.commit(cctx, *ch, false); err != nil {
		if errors.Is(err, payhook.ErrClaimLost) && tracking != nil {
			// Stalled past the claim's hold: another process resolved it from the gateway's
			// record; its answer is this one's.
			a, done, err := s.replayOrWait(cctx, tracking.Key, tracking.RequestHash)
			if done || err != nil {
				return a, err
			}
		}
		s.log.Error("operation done by the gateway but not recorded yet; it will be recorded from the gateway's record",
			"session_id", t.SessionID, "claim", claim.ID, "operation", req.Operation, "err", err)
		return nil, unrecorded(err, "The gateway carried out this "+req.Operation+", but it could not be recorded yet: it will be recorded "+
			"from the gateway's record as soon as possible. Retry with the same Tracking-Key to get the answer; do not send it again without one.")
	}
	return answer, nil
}

// operationChange applies a gateway's answer to a claimed operation: the child's
// outcome, the parent's amounts and state, the operation notifications and the answer
// (the notification itself), as the change that ends the claim.
func (s *Service) operationChange(c *config, t *payhook.Transaction, claim *payhook.Claim, res gateway.OperationResult, tracking *payhook.Tracking) (*payhook.Change, *Answer, error) {
	child := claim.Child
	from := t.State
	child.Success, child.Message, child.GatewayResponse = res.Success, res.Message, res.Response
	switch {
	case child.Operation == payhook.OpRefund && res.Success:
		child.State = payhook.ChildRefunded
		t.RefundedAmount += child.Amount
		if t.RefundedAmount >= t.PaidAmount {
			t.State = payhook.StateRefunded
		}
	case child.Operation == payhook.OpRefund:
		child.State = payhook.ChildRefundRejected
	case child.Operation == payhook.OpCapture && res.Success:
		child.State = payhook.ChildPaid
		t.State, t.PaidAmount = payhook.StatePaid, child.Amount
	case child.Operation == payhook.OpVoid && res.Success:
		child.State = payhook.ChildVoided
		t.State, t.VoidedAmount, t.Result = payhook.StateCanceled, child.Amount, payhook.ResultCanceled
	}
	now := s.clock.Now()
	t.UpdatedAt = now.UTC()
	tree := payload.Operation(t, child, now)
	recipients := payhook.OperationRecipients(c.settings, c.plugins[t.Type], t)
	notes, err := s.notifications(payhook.KindOperation, t, recipients, tree, c.settings)
	if err != nil {
		return nil, nil, err
	}
	// The answer is the notification itself (every recipient gets the same bytes), or, when
	// notifications are XML, the same payload signed the same way in JSON.
	answer := &Answer{StatusCode: 200, Body: notes[0].Body}
	if notes[0].ContentType != payload.ContentTypeJSON {
		st := c.settings
		st.Format = payhook.FormatJSON
		body, _, err := payload.Encode(payload.Operation(t, child, now), st)
		if err != nil {
			return nil, nil, err
		}
		answer.Body = body
	}
	ch := &payhook.Change{Transaction: t, From: []payhook.State{from}, Notifications: notes, Lease: s.engine.Lease(c.settings),
		Claim: claim.ID, ClaimOwner: s.owner, Child: child}
	if tracking != nil {
		tr := *tracking
		tr.StatusCode, tr.Answer, tr.Done = answer.StatusCode, answer.Body, true
		ch.Tracking = &tr
	}
	return ch, answer, nil
}

// paymentNotifications prepares the payment notifications of t's current state, routed by
// SPEC §3; the transaction's own URL decides the redirect only when forRedirect.
func (s *Service) paymentNotifications(c *config, t *payhook.Transaction, forRedirect bool) ([]*payhook.Notification, error) {
	recipients := payhook.PaymentRecipients(c.settings, c.plugins[t.Type], t, false)
	if !forRedirect {
		for i := range recipients {
			recipients[i].RedirectDecider = false
		}
	}
	return s.notifications(payhook.KindPayment, t, recipients, payload.Payment(t, s.clock.Now()), c.settings)
}

// commit stores a change and hands its pending notifications to the engine: the one that
// decides a redirect is delivered at once and its result returned; the others go to the
// background.
func (s *Service) commit(ctx context.Context, ch payhook.Change, wait bool) (<-chan delivery.Result, error) {
	if err := s.store.ApplyChange(ctx, ch); err != nil {
		return nil, err
	}
	var decider <-chan delivery.Result
	for _, n := range ch.Notifications {
		switch {
		case n.Status != payhook.StatusPending:
		case n.RedirectDecider && wait:
			decider = s.engine.Deliver(n)
		default:
			s.engine.Enqueue(n)
		}
	}
	return decider, nil
}

// ExpireDue expires the checkouts past their expiration time (SPEC §7) and sends their
// expired payment notifications in the background. It returns how many it expired.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	list, err := s.store.ExpiredTransactions(ctx, s.clock.Now(), 200)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range list {
		ok, err := s.expire(ctx, t.SessionID)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

func (s *Service) expire(ctx context.Context, sessionID string) (bool, error) {
	defer s.lockSession(sessionID)()
	t, err := s.store.TransactionHead(ctx, sessionID)
	if err != nil || !t.State.Payable() || s.Open(t) {
		return false, nil
	}
	c, err := s.config(ctx)
	if err != nil {
		return false, err
	}
	from, unchanged := t.State, t.UpdatedAt
	t.State, t.Result, t.Message, t.UpdatedAt = payhook.StateExpired, payhook.ResultCanceled, "The payment link expired", s.clock.Now().UTC()
	notes, err := s.paymentNotifications(c, t, false)
	if err != nil {
		return false, err
	}
	_, err = s.commit(ctx, payhook.Change{Transaction: t, From: []payhook.State{from}, Unchanged: unchanged, Notifications: notes, Lease: s.engine.Lease(c.settings)}, false)
	if payhook.ErrorCode(err) == payhook.ECONFLICT { // paid, canceled or claimed meanwhile: the next sweep decides again
		return false, nil
	}
	return err == nil, err
}

// RunExpiry expires due checkouts every interval until ctx ends, in one process at a
// time of those sharing the database (the holder of the "expiry" role).
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		now := s.clock.Now()
		lead, err := s.store.Lead(ctx, "expiry", s.owner, now.Add(3*interval+time.Second), now)
		if err == nil && lead {
			_, err = s.ExpireDue(ctx)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Error("expire checkouts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// requestHash identifies a request body for Tracking-Key idempotency: the SHA-256 of its
// canonical JSON (keys sorted, no spacing), so that the same request sent again with its
// keys in another order or other whitespace is recognised as the same.
func requestHash(raw []byte) string {
	canonical := raw
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err == nil {
		if b, err := json.Marshal(v); err == nil {
			canonical = b
		}
	}
	h := sha256.Sum256(canonical)
	return hex.EncodeToString(h[:])
}

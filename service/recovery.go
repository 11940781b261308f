package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/payhook/payhook"
)

// ResolveStaleClaims resolves the claims whose process died or stalled between a gateway
// call and the commit of its outcome (a crash, a full disk, a lost database): for each,
// it takes the claim over, asks the gateway by reference what became of it, and records
// that outcome as the original request would have (the payment or the refund, with its
// notifications, and the Tracking-Key's answer), or, when the gateway never got it,
// frees the transaction (the customer may pay again; a retried Tracking-Key runs anew).
// Any process may run it; the store hands each stale claim to one. It returns how many
// claims it resolved.
func (s *Service) ResolveStaleClaims(ctx context.Context) (int, error) {
	list, err := s.store.StaleClaims(ctx, s.clock.Now(), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, c := range list {
		if err := s.resolveClaim(ctx, c.ID); err != nil {
			// One claim that cannot be resolved now (its gateway does not answer) does not
			// hold up the others; it is tried again on the next sweep.
			if first == nil {
				first = fmt.Errorf("resolve claim %s of %s: %w", c.ID, c.SessionID, err)
			}
			continue
		}
		n++
	}
	return n, first
}

// RunRecovery resolves stale claims now and every interval until ctx ends.
func (s *Service) RunRecovery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.ResolveStaleClaims(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("resolve stale claims", "err", err)
		} else if n > 0 {
			s.log.Info("resolved claims cut off between the gateway and the commit", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resolveClaim takes over a stale claim and records the gateway's outcome for it.
func (s *Service) resolveClaim(ctx context.Context, id string) error {
	now := s.clock.Now()
	c, err := s.store.TakeOverClaim(ctx, id, s.owner, now.Add(s.claimHold()), now)
	if errors.Is(err, payhook.ErrClaimLost) {
		return nil // resolved, or being resolved, by another process
	}
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.claimTTL)
	defer cancel()
	t, err := s.store.TransactionHead(mctx, c.SessionID)
	if err != nil {
		return err
	}
	switch c.Kind {
	case payhook.ClaimPayment:
		g, err := s.gateways.Get(c.PGCode)
		if err != nil {
			return err
		}
		res, found, err := g.PaymentStatus(mctx, c.ID)
		if err != nil {
			return err
		}
		if !found {
			s.log.Info("payment claim resolved: the gateway never got it; the checkout is payable again", "session_id", c.SessionID, "claim", c.ID)
			return s.store.ReleaseClaim(mctx, c.ID, s.owner)
		}
		from := t.State
		applyPayment(t, g, c, "", res) // the form's try_token is not in the claim
		_, _, err = s.settle(mctx, t, from, time.Time{}, c.ID, false)
		if err == nil {
			s.log.Warn("payment recorded from the gateway's record after its request was cut off", "session_id", c.SessionID,
				"claim", c.ID, "result", res.Result, "state", t.State)
		}
		return err
	case payhook.ClaimOperation:
		g, err := s.gateways.Get(t.GatewayCode)
		if err != nil {
			return err
		}
		res, found, err := g.OperationStatus(mctx, c.Child.ReferenceNumber)
		if err != nil {
			return err
		}
		if !found {
			s.log.Info("operation claim resolved: the gateway never got it", "session_id", c.SessionID, "claim", c.ID, "operation", c.Child.Operation)
			return s.store.ReleaseClaim(mctx, c.ID, s.owner)
		}
		var tracking *payhook.Tracking
		if c.Tracking != nil {
			if tracking, err = s.store.Tracking(mctx, c.Tracking.Key); err != nil {
				return err
			}
		}
		cfg, err := s.config(mctx)
		if err != nil {
			return err
		}
		ch, _, err := s.operationChange(cfg, t, c, res, tracking)
		if err != nil {
			return err
		}
		if _, err := s.commit(mctx, *ch, false); err != nil {
			return err
		}
		s.log.Warn("operation recorded from the gateway's record after its request was cut off", "session_id", c.SessionID,
			"claim", c.ID, "operation", c.Child.Operation, "success", res.Success)
		return nil
	}
	return fmt.Errorf("claim %s: unknown kind %q", c.ID, c.Kind)
}

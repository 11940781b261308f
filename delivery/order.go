package delivery

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payhook/payhook"
)

// Ordering per transaction (issue 10): a notification is not attempted while an older one
// of the same transaction (session id) to the same URL is still within its first round of
// Ottu's attempts. The store is the truth (OrderBlocker), so the rule holds across
// processes; in this process the end of a notification's run wakes the ones waiting
// behind its (session, URL) at once, and a waiter re-checks every OrderPoll in case the
// older one runs in another process. A waiting notification keeps its lease (renewed like
// any in memory); after a crash the sweep claims it again and it waits again if it must.
//
// In extended redelivery the same order holds: a newer notification due while an older
// one of its (session, URL) is still in extended redelivery is not attempted; it is
// postponed to just after the older one's next attempt (followOlder), so that when the
// merchant is back the older one arrives first. It waits in the store, not in memory.
//
// Never waits: a notification that decides a customer's redirect (a customer is
// waiting), one that made an attempt already, one in extended redelivery, and a manual
// re-send (an operator's choice; it does not hold newer ones either).

type orderKey struct{ session, url string }

// orderSignal returns the channel closed when a notification of k leaves memory.
func (e *Engine) orderSignal(k orderKey) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.orderWait[k]
	if ch == nil {
		ch = make(chan struct{})
		e.orderWait[k] = ch
	}
	return ch
}

// wakeOrder wakes the notifications waiting behind k.
func (e *Engine) wakeOrder(k orderKey) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch := e.orderWait[k]; ch != nil {
		close(ch)
		delete(e.orderWait, k)
	}
}

// waitForOlder waits until no older notification of n's transaction to n's URL is in its
// first round; false when the engine stops first.
func (e *Engine) waitForOlder(n *payhook.Notification) bool {
	if e.cfg.Unordered || n.RedirectDecider || n.RoundAttempts > 0 || n.Redelivery != nil {
		return true
	}
	k := orderKey{n.SessionID, n.URL}
	waited := false
	for {
		ch := e.orderSignal(k) // before the check: a wake-up between the two is not lost
		blocker, _, err := e.cfg.Store.OrderBlocker(e.ctx, n.ID)
		switch {
		case err != nil:
			if e.ctx.Err() != nil {
				return false
			}
			e.cfg.Logger.Error("order check; retrying", "notification", n.ID, "err", err)
		case blocker == "":
			return true
		case !waited:
			waited = true
			orderWaitsTotal.Inc()
			e.cfg.Logger.Debug("waiting for an older notification of the transaction", "notification", n.ID, "older", blocker)
		}
		t := time.NewTimer(e.cfg.OrderPoll)
		select {
		case <-ch:
		case <-t.C:
		case <-e.stopping:
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// followOlder postpones an extended attempt of n behind an older notification of its
// (session, URL) still in extended redelivery, and reports whether it did (n then leaves
// memory: the sweep claims it when it is due again).
func (e *Engine) followOlder(n *payhook.Notification) bool {
	if e.cfg.Unordered || n.Redelivery == nil {
		return false
	}
	log := e.cfg.Logger.With("notification", n.ID, "url", n.URL)
	blocker, next, err := e.cfg.Store.OrderBlocker(e.ctx, n.ID)
	if err != nil {
		if e.ctx.Err() == nil {
			log.Error("order check of an extended attempt; handing it back", "err", err)
		}
		e.release(n.ID)
		return true
	}
	if blocker == "" {
		return false
	}
	at := next
	if now := e.cfg.Clock.Now(); at.Before(now) {
		at = now
	}
	at = at.Add(e.cfg.OrderPoll)
	orderWaitsTotal.Inc()
	log.Debug("extended attempt postponed behind an older notification of the transaction", "older", blocker, "until", at)
	if err := e.cfg.Store.PostponeRedelivery(e.ctx, n.ID, e.cfg.Owner, at); err != nil && !errors.Is(err, payhook.ErrLeaseLost) {
		log.Error("postpone extended attempt", "err", err)
		e.release(n.ID)
	}
	return true
}

var orderWaitsTotal = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "payhook_order_waits_total",
	Help: "Notifications that waited for an older notification of the same transaction to the same URL to end its first round (ordering per transaction).",
})

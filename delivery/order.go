package delivery

import (
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
		blocker, err := e.cfg.Store.OrderBlocker(e.ctx, n.ID)
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

var orderWaitsTotal = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "payhook_order_waits_total",
	Help: "Notifications that waited for an older notification of the same transaction to the same URL to end its first round (ordering per transaction).",
})

package payhook

import (
	"context"
	"time"
)

// KindDigest is the kind of a daily digest notification (an extension of Ottu's kinds):
// its body is a signed digest (package signature's Digest) of the notifications
// delivered to its URL on one UTC day. Digests never count in digests.
const KindDigest Kind = "digest"

// MaxReconciliationWindow bounds the window of one reconciliation query.
const MaxReconciliationWindow = 31 * 24 * time.Hour

// ReconciliationFilter selects the unacknowledged notifications of a window.
type ReconciliationFilter struct {
	// URL is the destination URL, exactly; "" selects every URL.
	URL string
	// Since and Until bound created_at: Since <= created_at < Until.
	Since, Until time.Time
	Limit        int // at most; 0 or less: no limit
	Offset       int
}

// ReconciliationStore answers a merchant's "what did I miss": the notifications that
// were not acknowledged, and those delivered on a day (the daily digest).
type ReconciliationStore interface {
	// Unacknowledged returns the notifications matching f that have a URL and whose
	// status is neither delivered nor not_sent (pending, failed, or any status that is
	// not an acknowledgement: they still await one), oldest first (created_at, then id),
	// without their attempts, and how many match in all.
	Unacknowledged(ctx context.Context, f ReconciliationFilter) ([]*Notification, int, error)
	// DeliveredIDs returns, per URL (only url when it is not ""), the distinct ids of the
	// notifications that had an attempt accepted (200 or 201) that started in
	// [since, until), digest notifications excluded, each list sorted. A notification
	// re-sent and accepted again counts once per window it was accepted in. A URL with
	// none is absent.
	DeliveredIDs(ctx context.Context, url string, since, until time.Time) (map[string][]string, error)
	// AddDigestNotification stores n (a pending digest notification, under lease)
	// unless a notification with its id exists already, and reports whether it stored
	// it: a digest's id is derived from its URL and day, so that concurrent callers
	// (processes) store, and send, one.
	AddDigestNotification(ctx context.Context, n *Notification, lease Lease) (bool, error)
}

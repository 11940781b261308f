package payhook

import (
	"context"
	"time"
)

// EndpointState is where a webhook URL stands after its recent attempts (endpoint health,
// docs/endpoint-health.md).
type EndpointState string

// The states of a webhook URL.
const (
	// EndpointHealthy: the URL answered, or has not failed for long enough to be failing.
	EndpointHealthy EndpointState = "healthy"
	// EndpointFailing: only failures for at least the failing span; still attempted.
	EndpointFailing EndpointState = "failing"
	// EndpointDisabled: only failures for at least the disable span; new notifications to
	// it are held (stored, not attempted) until an operator resumes it.
	EndpointDisabled EndpointState = "disabled"
)

// EndpointChange is a change of state that the operators are told of (an email, a notice).
type EndpointChange string

// The changes of an endpoint's state that are told.
const (
	EndpointBecameFailing  EndpointChange = "endpoint.failing"
	EndpointBecameDisabled EndpointChange = "endpoint.disabled"
	EndpointRecovered      EndpointChange = "endpoint.recovered"
)

// StatusHeld is the status of a notification to a disabled URL: stored, not attempted,
// not lost; a resume of the URL makes it pending again (an extension of SPEC §10's set).
const StatusHeld Status = "held"

// KindNotice is the kind of an operator notice (endpoint.failing, endpoint.disabled,
// endpoint.recovered) sent to operations_notices_url (an extension of SPEC §10's kinds).
const KindNotice Kind = "notice"

// EndpointPolicy is when failures turn a URL failing, then disabled: after a span of only
// failures of FailingAfter, then of DisableAfter (0: never disabled).
type EndpointPolicy struct {
	FailingAfter time.Duration
	DisableAfter time.Duration
}

// EndpointHealth is one webhook URL's health as the store keeps it, and the progress of
// its resume.
type EndpointHealth struct {
	URL   string
	State EndpointState
	// FirstFailureAt starts the current streak of only failures (zero: none);
	// LastFailureAt and LastSuccessAt are the latest of each seen; ChangedAt is when State
	// last changed.
	FirstFailureAt, LastFailureAt, LastSuccessAt, ChangedAt time.Time
	// ResumedAt is when an operator last resumed the URL (zero: never); ResumedBy who.
	ResumedAt time.Time
	ResumedBy string
	// Held counts the notifications held now; Released those made pending again since
	// ResumedAt, and of them Delivered and Failed those whose round ended so. Read-only:
	// the store counts them when it lists.
	Held, Released, Delivered, Failed int
}

// Observe applies one attempt's outcome (failed or not, ending at at) to h under p and
// returns the new health and the change to tell ("" when none). A success clears the
// streak and the state (recovered, when the state was not healthy); a failure starts a
// streak or extends it, and the state follows the streak's span. Outcomes that arrive out
// of order (several processes) are judged by their time: a success older than the
// streak's first failure does not clear it, a failure older than the last success does
// not start one.
func (h EndpointHealth) Observe(failed bool, at time.Time, p EndpointPolicy) (EndpointHealth, EndpointChange) {
	if h.State == "" {
		h.State = EndpointHealthy
	}
	if !failed {
		if at.After(h.LastSuccessAt) {
			h.LastSuccessAt = at
		}
		if !h.FirstFailureAt.IsZero() && at.Before(h.FirstFailureAt) {
			return h, ""
		}
		h.FirstFailureAt = time.Time{}
		if h.State != EndpointHealthy {
			h.State, h.ChangedAt = EndpointHealthy, at
			return h, EndpointRecovered
		}
		return h, ""
	}
	if at.After(h.LastFailureAt) {
		h.LastFailureAt = at
	}
	if h.FirstFailureAt.IsZero() {
		if !h.LastSuccessAt.IsZero() && !at.After(h.LastSuccessAt) {
			return h, ""
		}
		h.FirstFailureAt = at
	}
	span := at.Sub(h.FirstFailureAt)
	switch {
	case h.State != EndpointDisabled && p.DisableAfter > 0 && span >= p.DisableAfter:
		h.State, h.ChangedAt = EndpointDisabled, at
		return h, EndpointBecameDisabled
	case h.State == EndpointHealthy && span >= p.FailingAfter:
		h.State, h.ChangedAt = EndpointFailing, at
		return h, EndpointBecameFailing
	}
	return h, ""
}

// Resume returns h resumed by who at now: healthy, its streak forgotten, so that its held
// notifications go out again.
func (h EndpointHealth) Resume(who string, now time.Time) EndpointHealth {
	if h.State != EndpointHealthy {
		h.ChangedAt = now
	}
	h.State, h.FirstFailureAt, h.ResumedAt, h.ResumedBy = EndpointHealthy, time.Time{}, now, who
	return h
}

// EndpointHealthStore keeps the health of the webhook URLs and the held notifications,
// shared by every process on the store.
type EndpointHealthStore interface {
	// ObserveEndpoint applies an attempt's outcome to url's health atomically
	// (EndpointHealth.Observe; a URL without a row starts healthy) and returns the stored
	// health and the change, which exactly one caller gets.
	ObserveEndpoint(ctx context.Context, url string, failed bool, at time.Time, p EndpointPolicy) (EndpointHealth, EndpointChange, error)
	// EndpointHealth returns one URL's health with its counts (ENOTFOUND when it has no
	// row and no held notification).
	EndpointHealth(ctx context.Context, url string) (EndpointHealth, error)
	// ListEndpointHealth returns every URL with a health row, in URL order, with counts.
	ListEndpointHealth(ctx context.Context) ([]EndpointHealth, error)
	// UnhealthyEndpoints returns the URLs that are not healthy or are in a streak of
	// failures (FirstFailureAt set), without counts (cheap: the delivery engine polls it,
	// and writes a success only for these URLs).
	UnhealthyEndpoints(ctx context.Context) ([]EndpointHealth, error)
	// HoldNotification makes a pending notification that owner leases held, unleased;
	// ErrLeaseLost when owner does not lease it (nothing changes).
	HoldNotification(ctx context.Context, id, owner string, now time.Time) error
	// ResumeEndpoint resumes url (EndpointHealth.Resume) and returns it with its counts;
	// ENOTFOUND when it has no row.
	ResumeEndpoint(ctx context.Context, url, who string, now time.Time) (EndpointHealth, error)
	// ReleaseHeld makes up to limit of url's held notifications pending again under
	// lease, oldest first, and returns them, unless url is disabled (then none).
	ReleaseHeld(ctx context.Context, url string, now time.Time, lease Lease, limit int) ([]*Notification, error)
	// ResumingEndpoints returns the URLs with held notifications that are not disabled:
	// the backlog to send.
	ResumingEndpoints(ctx context.Context) ([]string, error)
}

package payhook

import "time"

// Kind is what a notification reports.
type Kind string

// The kinds of notification.
const (
	KindPayment   Kind = "payment"
	KindOperation Kind = "operation"
)

// Status is where a notification's delivery stands.
type Status string

// The statuses of a notification.
const (
	StatusPending   Status = "pending"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
	StatusNotSent   Status = "not_sent"
)

// Reason tells why a notification was not sent.
type Reason string

// The reasons not to send, recorded in the delivery log.
const (
	ReasonDisabled                Reason = "disabled"
	ReasonAPITransactionsDisabled Reason = "api_transactions_disabled"
	ReasonStateFiltered           Reason = "state_filtered"
	ReasonNoURL                   Reason = "no_url"
)

// ResponseExcerptLimit is how much of a merchant's answer an attempt records.
const ResponseExcerptLimit = 2048

// Notification is one notification to one destination URL. Its ID is the webhook-id
// header of every attempt and re-send; its Body is rendered and signed once, and the
// same bytes are sent on every attempt.
type Notification struct {
	ID              string
	Kind            Kind
	SessionID       string
	ReferenceNumber string
	URL             string // "" when not sent for want of one
	Status          Status
	Reason          Reason // set when Status is StatusNotSent
	RedirectDecider bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Body            []byte
	ContentType     string
	// RoundAttempts counts the attempts since the notification was created or last
	// re-sent; the retry policy looks at it.
	RoundAttempts int
	// NextAttemptAt is when the next attempt is due while Status is pending (or, in
	// extended redelivery, Redelivery.NextAttemptAt).
	NextAttemptAt time.Time
	// Extended is set when the notification gets extended redelivery after Ottu's round
	// (decided at its creation: Settings.ExtendedFor).
	Extended bool
	// Redelivery is set while extended attempts remain (Status failed meanwhile).
	Redelivery *Redelivery
	Attempts   []Attempt
}

// Attempt is one POST of a notification.
type Attempt struct {
	Number          int
	StartedAt       time.Time
	Duration        time.Duration
	StatusCode      int    // 0: no answer
	Error           string // "" on an answer
	ResponseExcerpt string
}

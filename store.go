package payhook

import (
	"context"
	"slices"
	"strings"
	"time"
)

// NotificationFilter selects notifications in the delivery log. Zero fields do not filter.
type NotificationFilter struct {
	SessionID string
	Status    Status
	Kind      Kind
	URL       string // the destination URL, exactly
	// URLPrefix selects the destination URLs that start with it (exactly, case and all).
	URLPrefix string
	Since     time.Time // created_at >= Since
	Until     time.Time // created_at < Until
	Limit     int
	Offset    int
}

// Lease is a delivery worker's claim on a notification, so that only one worker (of one
// process) attempts it at a time. A lease that expires frees the notification for others:
// that is how a notification survives a process that dies mid-attempt.
type Lease struct {
	Owner string
	Until time.Time
}

// DeliveryStats is what the store knows of the delivery queue (metrics).
type DeliveryStats struct {
	Pending    int
	OldestDue  time.Time // the due time of the oldest due pending notification
	LeasesHeld int       // pending notifications under an unexpired lease
}

// GatewayCall is one call recorded by the sandbox gateway's ledger.
type GatewayCall struct {
	Reference string // the payment's claim id, or the operation's reference number
	SessionID string
	Kind      string // "purchase", "authorize", "refund", "capture", "void"
	Amount    Amount
	Currency  string
	Success   bool
	Result    []byte // the gateway's answer, as it was given
	CreatedAt time.Time
}

// APIKey is a stored API key; the key itself is never stored, only its SHA-256 hash.
type APIKey struct {
	ID        int64
	Name      string
	Prefix    string // the first characters, to recognise it in lists
	Hash      string // hex SHA-256 of the full key
	CreatedAt time.Time
	RevokedAt time.Time
}

// Tracking is an operation sent with a Tracking-Key: recorded "in progress" with the
// claim on its transaction, before the gateway is called, and "done" with its answer in
// the change that records the gateway's outcome.
type Tracking struct {
	Key         string
	RequestHash string // SHA-256 of the request body: the same key with another body is refused
	SessionID   string
	// ClaimID is the claim the operation runs under while it is in progress ("" once done).
	ClaimID    string
	Done       bool
	StatusCode int    // when Done
	Answer     []byte // when Done
	CreatedAt  time.Time
}

// ErrTrackingKeyUsed is returned by Claim and ApplyChange when the Tracking-Key is already
// recorded (in progress or done): the caller replays it or waits for it.
var ErrTrackingKeyUsed = Errorf(ECONFLICT, "this Tracking-Key was already used")

// ErrClaimed is returned by Claim when another claim holds the transaction (a payment
// or an operation in progress, in this process or another), and by ApplyChange without a
// claim while one is held: money may be moving, so nothing else may change it.
var ErrClaimed = Errorf(ECONFLICT, "another payment or operation on this transaction is in progress")

// ErrClaimLost is returned by ApplyChange and ReleaseClaim when the change's claim is no
// longer the caller's: it went stale and another process resolved it or took it over.
var ErrClaimLost = Errorf(ECONFLICT, "the claim on this transaction was taken over by another process")

// ErrLeaseLost is returned by RecordAttempt when the notification's lease is no longer the
// caller's (it expired and another process claimed the notification): the attempt's
// result is not recorded (fencing), the other process's attempts count.
var ErrLeaseLost = Errorf(ECONFLICT, "the notification's lease was lost")

// ClaimKind says what a claim is for.
type ClaimKind string

// The kinds of claim.
const (
	ClaimPayment   ClaimKind = "payment"
	ClaimOperation ClaimKind = "operation"
)

// Claim is a process's hold on one transaction while money may move, and the intent
// recorded before the gateway is called: a payment (the card's masked data and the
// gateway) or an operation (the child transaction as planned, and its Tracking-Key).
// Only one claim holds a transaction at a time, across every process sharing the store.
// The change that records the gateway's answer ends it (Change.Claim); ReleaseClaim ends
// it when the gateway was never asked. A claim whose Until passed is stale: its process
// died or stalled between the gateway call and the commit, and any process may take it
// over (TakeOverClaim) and resolve it by asking the gateway by reference.
type Claim struct {
	// ID is the claim's id and, for a payment, the gateway reference of the payment.
	ID        string
	SessionID string
	Kind      ClaimKind
	Owner     string
	Until     time.Time
	CreatedAt time.Time
	// From and Unchanged condition the claim: the transaction must be in one of From and,
	// when Unchanged is set, its UpdatedAt must still be Unchanged (nobody changed it
	// since it was read).
	From      []State
	Unchanged time.Time
	// PGCode and Card, for a payment: the gateway asked and what is kept of the card.
	PGCode string
	Card   *Card
	// Child, for an operation: the refund, capture or void as planned (its
	// ReferenceNumber is the gateway reference; its outcome fields are empty).
	Child *Child
	// Tracking, for an operation sent with a Tracking-Key: recorded in progress with the
	// claim (ErrTrackingKeyUsed when the key is already recorded, and nothing is claimed).
	Tracking *Tracking
}

// Change is a change to a transaction stored in one database transaction: the transaction
// itself (if its state is still one of From), the notifications it causes, and, for an
// operation with a Tracking-Key, the answer. Never one without the others.
type Change struct {
	Transaction *Transaction
	From        []State
	// Unchanged, when set, is the transaction's UpdatedAt as it was read: the change then
	// applies only if nobody changed the transaction since (optimistic concurrency, so
	// that two processes cannot both refund the same remainder).
	Unchanged     time.Time
	Notifications []*Notification
	Lease         Lease     // of the pending notifications
	Tracking      *Tracking // optional: recorded done with its answer (completing an in-progress one of Claim)
	// Delete removes the transaction's row (a hard delete); its notifications stay in the log.
	Delete bool
	// Claim, when set, is the id of the claim this change ends (the gateway's outcome
	// recorded); ClaimOwner must still own it, else ErrClaimLost and nothing is stored.
	// Without a claim the change fails with ErrClaimed while any claim holds the
	// transaction.
	Claim      string
	ClaimOwner string
	// Child, when set, is a refund, capture or void stored as a row of its own.
	Child *Child
}

// SignInFailure is a failed dashboard sign-in, kept to throttle guessing across processes.
type SignInFailure struct {
	Key string // what is throttled: an (email, address) pair or an address
	At  time.Time
}

// Store is the persistence the service and the delivery engine need, and the only place
// where payhook processes coordinate. Implementations: sqlite (embedded default, one
// process) and postgres (several processes); one conformance suite (internal/storetest)
// runs against both. Every method is safe for concurrent use. A write that cannot be
// stored because the database is unavailable (disk full, read-only, down) fails with an
// EUNAVAILABLE error.
type Store interface {
	// Settings returns the global settings, with their Revision; ok is false when none
	// were saved yet.
	Settings(ctx context.Context) (s Settings, ok bool, err error)
	// SaveSettings stores s if the stored revision is still s.Revision (0: none saved
	// yet), as revision s.Revision+1, and sets s.Revision to it; else ECONFLICT and
	// nothing changes (two concurrent changes never lose one; two first starts save one
	// HMAC key).
	SaveSettings(ctx context.Context, s *Settings) error
	// PluginSettings returns one plugin's settings; ok is false when it has none.
	PluginSettings(ctx context.Context, p Plugin) (ps PluginSettings, ok bool, err error)
	// ListPluginSettings returns every configured plugin.
	ListPluginSettings(ctx context.Context) ([]PluginSettings, error)
	// PutPluginSettings creates or replaces a plugin's settings.
	PutPluginSettings(ctx context.Context, ps PluginSettings) error
	// DeletePluginSettings removes a plugin's settings; ENOTFOUND when it has none.
	DeletePluginSettings(ctx context.Context, p Plugin) error

	// CreateTransaction stores a new transaction (its Children are not stored).
	CreateTransaction(ctx context.Context, t *Transaction) error
	// Transaction returns a transaction by session id with its children, oldest first
	// (ENOTFOUND when there is none).
	Transaction(ctx context.Context, sessionID string) (*Transaction, error)
	// TransactionHead returns a transaction without its children (Children nil): what an
	// operation needs, at a cost that does not grow with the operations before it.
	TransactionHead(ctx context.Context, sessionID string) (*Transaction, error)

	// ApplyChange stores a change atomically (see Change): ECONFLICT when the transaction
	// left the From states or changed since Unchanged, ErrTrackingKeyUsed when a new
	// Tracking-Key is already recorded, ErrClaimed or ErrClaimLost (see Change.Claim).
	ApplyChange(ctx context.Context, ch Change) error
	// Claim takes a claim on c.SessionID and records its intent (see Claim), atomically:
	// ENOTFOUND without the transaction, ECONFLICT when it left c.From or changed since
	// c.Unchanged, ErrClaimed when another claim holds it, ErrTrackingKeyUsed when
	// c.Tracking's key is recorded already. Nothing is stored unless all of it is.
	Claim(ctx context.Context, c *Claim) error
	// ReleaseClaim ends a claim whose gateway was never asked (or asked and found to know
	// nothing of it): the transaction is free again and an in-progress Tracking-Key of the
	// claim is forgotten, so that a retry runs anew. ErrClaimLost when owner does not own it.
	ReleaseClaim(ctx context.Context, id, owner string) error
	// StaleClaims returns up to limit claims whose Until is before now, oldest first.
	StaleClaims(ctx context.Context, now time.Time, limit int) ([]*Claim, error)
	// TakeOverClaim makes owner the owner of a stale claim until until, and returns it;
	// ErrClaimLost when the claim is gone or not stale at now (another process has it).
	TakeOverClaim(ctx context.Context, id, owner string, until, now time.Time) (*Claim, error)
	// ClaimByID returns a claim (ENOTFOUND once it ended).
	ClaimByID(ctx context.Context, id string) (*Claim, error)
	// TransactionsByOrderNo returns the transactions with that order_no, newest first.
	TransactionsByOrderNo(ctx context.Context, orderNo string) ([]*Transaction, error)
	// ExpiredTransactions returns up to limit transactions still payable whose
	// expiration time is before now.
	ExpiredTransactions(ctx context.Context, now time.Time, limit int) ([]*Transaction, error)
	// Tracking returns the recorded answer of a Tracking-Key (ENOTFOUND when none).
	Tracking(ctx context.Context, key string) (*Tracking, error)

	// AddNotifications stores notifications that change no transaction (an inquiry's).
	AddNotifications(ctx context.Context, notes []*Notification, lease Lease) error
	// ResendMatching makes every delivered or failed notification matching f (Limit and
	// Offset ignored) pending again, due now and unleased, and returns how many.
	ResendMatching(ctx context.Context, f NotificationFilter, now time.Time) (int, error)
	// Notification returns one notification with its attempts (ENOTFOUND when none).
	Notification(ctx context.Context, id string) (*Notification, error)
	// ListNotifications returns the matching notifications, newest first, with their
	// attempts, and how many match in all.
	ListNotifications(ctx context.Context, f NotificationFilter) ([]*Notification, int, error)
	// RecordAttempt stores an attempt and the notification's new status if lease.Owner
	// still owns the notification's lease (else ErrLeaseLost, and nothing is stored); a
	// pending notification is due again at next and stays leased until lease.Until.
	RecordAttempt(ctx context.Context, id string, a Attempt, status Status, next time.Time, lease Lease) error
	// ClaimDue leases up to limit notifications that are due at now and whose lease
	// expired (or that have none), oldest due first, and returns them (without
	// attempts): pending ones, and failed ones in extended redelivery (Redelivery set). Concurrent callers (processes) never get the same notification.
	ClaimDue(ctx context.Context, now time.Time, lease Lease, limit int) ([]*Notification, error)
	// RenewLeases extends to until every lease owner holds on pending notifications (and
	// on those in extended redelivery), and returns how many it holds.
	RenewLeases(ctx context.Context, owner string, until time.Time) (int, error)
	// ReleaseLease gives back a pending notification owner holds without attempting it
	// (shutdown); a lease owner does not hold is left alone.
	ReleaseLease(ctx context.Context, id, owner string) error
	// DeliveryStats counts the pending notifications, the due time of the oldest due one
	// (zero without any), and the leases held at now (metrics).
	DeliveryStats(ctx context.Context, now time.Time) (DeliveryStats, error)
	// Resend makes a delivered or failed notification pending again (same id and body, a
	// new round of attempts) and leases it; ok is false when it was already pending.
	Resend(ctx context.Context, id string, now time.Time, lease Lease) (n *Notification, ok bool, err error)

	// ListTransactions returns the matching transactions, newest first (without their
	// children, with their LastNotification), and how many match in all.
	ListTransactions(ctx context.Context, f TransactionFilter) ([]*Transaction, int, error)

	// CreateUser stores a new user and sets its ID (ECONFLICT when the email is taken).
	CreateUser(ctx context.Context, u *User) error
	// UserByEmail returns a user (ENOTFOUND when none).
	UserByEmail(ctx context.Context, email string) (*User, error)
	// UserByID returns a user (ENOTFOUND when none).
	UserByID(ctx context.Context, id int64) (*User, error)
	// ListUsers returns every user, in the order they were created.
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser saves a user's names, role, password hash and deactivation. When the
	// user is deactivated or their password changes, their sessions end except the one
	// whose hash is keepSession. It refuses (ECONFLICT, nothing changed) a change that
	// would leave no active admin; concurrent changes from several processes are
	// serialized so that two admins demoting each other cannot both succeed.
	UpdateUser(ctx context.Context, u *User, keepSession string) error
	// CreateSession stores a dashboard session.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns an unexpired session by token hash (ENOTFOUND when none).
	Session(ctx context.Context, tokenHash string, now time.Time) (*Session, error)
	// DeleteSession removes a session (signing out).
	DeleteSession(ctx context.Context, tokenHash string) error
	// AddAudit appends to the audit log.
	AddAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns the matching audit entries, newest first, and how many match.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, int, error)

	// AddSignInFailure records a failed sign-in under each key.
	AddSignInFailure(ctx context.Context, keys []string, at time.Time) error
	// SignInFailures returns when key failed since since, oldest first.
	SignInFailures(ctx context.Context, key string, since time.Time) ([]time.Time, error)
	// ClearSignInFailures forgets the failures of the keys (a successful sign-in), and
	// those older than before.
	ClearSignInFailures(ctx context.Context, keys []string, before time.Time) error

	// Lead makes owner the holder of the named role (the expiry sweep, the error-email
	// sender) until until, if nobody else holds it at now, and reports whether owner
	// holds it: background work that must run once across processes runs in its holder.
	Lead(ctx context.Context, name, owner string, until, now time.Time) (bool, error)

	// CreateAPIKey stores a new API key and sets its ID.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// CreateFirstAPIKey stores k only if no unrevoked key exists (two first starts at
	// once create one key), and reports whether it did.
	CreateFirstAPIKey(ctx context.Context, k *APIKey) (bool, error)
	// APIKeyByHash returns the unrevoked key with that hash (ENOTFOUND when none).
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// CountAPIKeys returns how many unrevoked keys exist.
	CountAPIKeys(ctx context.Context) (int, error)
	// ListAPIKeys returns every key, revoked ones too, newest first.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey revokes a key (ENOTFOUND when there is no such unrevoked key).
	RevokeAPIKey(ctx context.Context, id int64, at time.Time) error

	// RecordGatewayCall stores, for the sandbox gateway, the outcome of a gateway call under
	// its reference unless one is stored already, and returns the stored one (first
	// wins): the sandbox's own ledger, written before it answers, so that it can answer
	// "what happened to reference R" after any crash and never moves money twice for
	// one reference.
	RecordGatewayCall(ctx context.Context, c *GatewayCall) (*GatewayCall, error)
	// GatewayCall returns the recorded call with that reference (ENOTFOUND when none).
	GatewayCall(ctx context.Context, reference string) (*GatewayCall, error)

	// ErrorEmailStore keeps the error emails' flood control and the emails waiting to be
	// sent, so that a restart loses none and processes share one window per URL.
	ErrorEmailStore
	// EndpointStatsStore computes the figures of the endpoint health page.
	EndpointStatsStore
	// ReconciliationStore lists what was not acknowledged and what was delivered on a day.
	ReconciliationStore
	// EndpointHealthStore keeps each URL's health and the held notifications.
	EndpointHealthStore
	// RedeliveryStore carries extended redelivery and ordering per transaction.
	RedeliveryStore

	// Ping checks that the database answers a read.
	Ping(ctx context.Context) error
	// PingWrite checks that the database takes a write (readiness: /readyz fails while
	// writes fail).
	PingWrite(ctx context.Context) error
	// Close stops the store, finishing queued writes.
	Close() error
}

// EndpointStats is how one webhook URL fared with the notifications created in a window
// (the dashboard's endpoint health page). Only notifications with a URL count; those not
// sent (not_sent) do not.
type EndpointStats struct {
	URL string
	// Sent counts the notifications with at least one attempt; Delivered and Failed those
	// whose delivery ended so (Sent minus both are still being retried); Queued those not
	// attempted yet.
	Sent, Delivered, Failed, Queued int
	// Attempts counts every attempt of those notifications; P50 and P95 are the
	// nearest-rank percentiles of their durations (zero without attempts).
	Attempts int
	P50, P95 time.Duration
	// LastFailure is the latest attempt that was not accepted (no answer, or an answer
	// other than 200/201), with its notification's id; nil when there is none.
	LastFailure             *Attempt
	LastFailureNotification string
	// Hours holds, per hour of the window from its start (the last one may be shorter),
	// the notifications created in it that ended delivered or failed.
	Hours []HourStats
}

// HourStats is one hour of an EndpointStats.
type HourStats struct {
	Start             time.Time
	Delivered, Failed int
}

// EndpointHours returns the hours of a window [since, until): one per started hour.
func EndpointHours(since, until time.Time) []HourStats {
	n := int((until.Sub(since) + time.Hour - 1) / time.Hour)
	hours := make([]HourStats, max(n, 0))
	for i := range hours {
		hours[i].Start = since.Add(time.Duration(i) * time.Hour).UTC()
	}
	return hours
}

// EndpointStatsStore computes the endpoint health figures.
type EndpointStatsStore interface {
	// EndpointStats returns, per URL, the figures of the notifications created in
	// [since, until), in URL order. A URL with no such notification is not listed.
	EndpointStats(ctx context.Context, since, until time.Time) ([]EndpointStats, error)
}

// EndpointRow is one row a store reads for EndpointStats: a notification of the window,
// with one of its attempts (Number 0 when it has none yet).
type EndpointRow struct {
	URL       string
	Status    Status
	CreatedAt time.Time
	// Number is the attempt's number (0: no attempt); the other fields are the attempt's.
	// NotificationID, Error and ResponseExcerpt are only needed for an attempt that was
	// not accepted.
	Number          int
	NotificationID  string
	StartedAt       time.Time
	Duration        time.Duration
	StatusCode      int
	Error           string
	ResponseExcerpt string
}

// EndpointTally sums EndpointRows up into EndpointStats: the stores' common bookkeeping,
// so that both compute the figures alike.
type EndpointTally struct {
	since, until time.Time
	byURL        map[string]*endpointTally
}

type endpointTally struct {
	stats     EndpointStats
	durations []time.Duration
}

// NewEndpointTally returns an empty tally of the window [since, until).
func NewEndpointTally(since, until time.Time) *EndpointTally {
	return &EndpointTally{since: since, until: until, byURL: map[string]*endpointTally{}}
}

// Add counts one row.
func (t *EndpointTally) Add(r EndpointRow) {
	e := t.byURL[r.URL]
	if e == nil {
		e = &endpointTally{stats: EndpointStats{URL: r.URL, Hours: EndpointHours(t.since, t.until)}}
		t.byURL[r.URL] = e
	}
	s := &e.stats
	if r.Number == 0 {
		s.Queued++
		return
	}
	if r.Number == 1 { // each attempted notification once
		s.Sent++
		h := min(max(int(r.CreatedAt.Sub(t.since)/time.Hour), 0), len(s.Hours)-1)
		switch r.Status {
		case StatusDelivered:
			s.Delivered++
			if h >= 0 {
				s.Hours[h].Delivered++
			}
		case StatusFailed:
			s.Failed++
			if h >= 0 {
				s.Hours[h].Failed++
			}
		}
	}
	s.Attempts++
	e.durations = append(e.durations, r.Duration)
	if (AttemptOutcome{StatusCode: r.StatusCode}).Delivered() {
		return
	}
	if l := s.LastFailure; l != nil {
		switch {
		case r.StartedAt.Before(l.StartedAt):
			return
		case r.StartedAt.Equal(l.StartedAt) && (r.NotificationID < s.LastFailureNotification ||
			r.NotificationID == s.LastFailureNotification && r.Number < l.Number):
			return
		}
	}
	s.LastFailure = &Attempt{Number: r.Number, StartedAt: r.StartedAt, Duration: r.Duration, StatusCode: r.StatusCode,
		Error: r.Error, ResponseExcerpt: r.ResponseExcerpt}
	s.LastFailureNotification = r.NotificationID
}

// Stats returns the figures, in URL order; P50 and P95 are nearest-rank percentiles:
// the durations of ranks ⌈n/2⌉ and ⌈0.95·n⌉ of n.
func (t *EndpointTally) Stats() []EndpointStats {
	out := make([]EndpointStats, 0, len(t.byURL))
	for _, e := range t.byURL {
		if n := len(e.durations); n > 0 {
			slices.Sort(e.durations)
			e.stats.P50 = e.durations[(n*50+99)/100-1]
			e.stats.P95 = e.durations[(n*95+99)/100-1]
		}
		out = append(out, e.stats)
	}
	slices.SortFunc(out, func(a, b EndpointStats) int { return strings.Compare(a.URL, b.URL) })
	return out
}

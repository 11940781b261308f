package payhook

import (
	"context"
	"time"
)

// NotificationFilter selects notifications in the delivery log. Zero fields do not filter.
type NotificationFilter struct {
	SessionID string
	Status    Status
	Kind      Kind
	URL       string
	Since     time.Time
	Until     time.Time
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

// APIKey is a stored API key; the key itself is never stored, only its SHA-256 hash.
type APIKey struct {
	ID        int64
	Name      string
	Prefix    string // the first characters, to recognise it in lists
	Hash      string // hex SHA-256 of the full key
	CreatedAt time.Time
	RevokedAt time.Time
}

// Tracking is the recorded answer to an operation sent with a Tracking-Key.
type Tracking struct {
	Key         string
	RequestHash string // SHA-256 of the request body: the same key with another body is refused
	SessionID   string
	StatusCode  int
	Answer      []byte
	CreatedAt   time.Time
}

// ErrTrackingKeyUsed is returned by ApplyChange when the change's Tracking-Key is already
// recorded (a concurrent request with the same key won).
var ErrTrackingKeyUsed = Errorf(ECONFLICT, "this Tracking-Key was already used")

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
	Tracking      *Tracking // optional
	// Delete removes the transaction's row (a hard delete); its notifications stay in the log.
	Delete bool
}

// Store is the persistence the service and the delivery engine need. Implementations:
// sqlite (embedded default). Every method is safe for concurrent use.
type Store interface {
	// Settings returns the global settings; ok is false when none were saved yet.
	Settings(ctx context.Context) (s Settings, ok bool, err error)
	// SaveSettings replaces the global settings.
	SaveSettings(ctx context.Context, s Settings) error
	// PluginSettings returns one plugin's settings; ok is false when it has none.
	PluginSettings(ctx context.Context, p Plugin) (ps PluginSettings, ok bool, err error)
	// ListPluginSettings returns every configured plugin.
	ListPluginSettings(ctx context.Context) ([]PluginSettings, error)
	// PutPluginSettings creates or replaces a plugin's settings.
	PutPluginSettings(ctx context.Context, ps PluginSettings) error
	// DeletePluginSettings removes a plugin's settings; ENOTFOUND when it has none.
	DeletePluginSettings(ctx context.Context, p Plugin) error

	// CreateTransaction stores a new transaction.
	CreateTransaction(ctx context.Context, t *Transaction) error
	// Transaction returns a transaction by session id (ENOTFOUND when there is none).
	Transaction(ctx context.Context, sessionID string) (*Transaction, error)
	// UpdateTransaction saves t if its stored state is still one of from (else ECONFLICT)
	// and, in the same database transaction, stores the notifications it causes. Never
	// one without the other.
	UpdateTransaction(ctx context.Context, t *Transaction, from []State, notes []*Notification, lease Lease) error

	// ApplyChange stores a change atomically (see Change): ECONFLICT when the transaction
	// left the From states, ErrTrackingKeyUsed when the Tracking-Key is already recorded.
	ApplyChange(ctx context.Context, ch Change) error
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
	// RecordAttempt stores an attempt and the notification's new status; a pending
	// notification is due again at next and stays leased.
	RecordAttempt(ctx context.Context, id string, a Attempt, status Status, next time.Time, lease Lease) error
	// ClaimDue leases up to limit pending notifications that are due at now and not
	// leased by anyone, and returns them (without attempts).
	ClaimDue(ctx context.Context, now time.Time, lease Lease, limit int) ([]*Notification, error)
	// ReleaseLease gives back a pending notification without attempting it (shutdown).
	ReleaseLease(ctx context.Context, id string) error
	// Resend makes a delivered or failed notification pending again (same id and body, a
	// new round of attempts) and leases it; ok is false when it was already pending.
	Resend(ctx context.Context, id string, now time.Time, lease Lease) (n *Notification, ok bool, err error)

	// ListTransactions returns the matching transactions, newest first, and how many
	// match in all.
	ListTransactions(ctx context.Context, f TransactionFilter) ([]*Transaction, int, error)

	// CreateUser stores a new user and sets its ID (ECONFLICT when the email is taken).
	CreateUser(ctx context.Context, u *User) error
	// UserByEmail returns a user (ENOTFOUND when none).
	UserByEmail(ctx context.Context, email string) (*User, error)
	// UserByID returns a user (ENOTFOUND when none).
	UserByID(ctx context.Context, id int64) (*User, error)
	// CreateSession stores a dashboard session.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns an unexpired session by token hash (ENOTFOUND when none).
	Session(ctx context.Context, tokenHash string, now time.Time) (*Session, error)
	// DeleteSession removes a session (signing out).
	DeleteSession(ctx context.Context, tokenHash string) error
	// AddAudit appends to the audit log.
	AddAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns audit entries, newest first, and how many there are.
	ListAudit(ctx context.Context, limit, offset int) ([]AuditEntry, int, error)

	// CreateAPIKey stores a new API key and sets its ID.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns the unrevoked key with that hash (ENOTFOUND when none).
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// CountAPIKeys returns how many unrevoked keys exist.
	CountAPIKeys(ctx context.Context) (int, error)
	// ListAPIKeys returns every key, revoked ones too, newest first.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey revokes a key (ENOTFOUND when there is no such unrevoked key).
	RevokeAPIKey(ctx context.Context, id int64, at time.Time) error

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close stops the store, finishing queued writes.
	Close() error
}

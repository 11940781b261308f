package payhook

import "time"

// User is a dashboard user. The password is kept only as a bcrypt hash.
type User struct {
	ID           int64
	Email        string
	Username     string
	FirstName    string
	LastName     string
	PasswordHash string
	CreatedAt    time.Time
}

// Initiator is the user as payloads name the one who acted.
func (u *User) Initiator() *Initiator {
	return &Initiator{ID: u.ID, Email: u.Email, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName}
}

// Session is a signed-in dashboard session; the token itself is never stored, only its
// SHA-256 hash.
type Session struct {
	TokenHash string
	UserID    int64
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuditEntry records one change to the configuration, plugin configs, HMAC key or API
// keys: who, when, what.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string
	Action string
	Detail string
}

// TransactionFilter selects transactions for the dashboard's list. Zero fields do not
// filter.
type TransactionFilter struct {
	State  State
	Plugin Plugin
	// Query finds a transaction by what an operations person has at hand: part of its
	// order_no or of its customer's email (case-insensitive; ASCII letters only on
	// SQLite), its session_id or reference_number (exactly), or the session_id or
	// reference_number of one of its children (a refund, capture or void: the parent is
	// listed).
	Query string
	// CreatedFrom and CreatedUntil bound the creation time: From <= created_at < Until.
	CreatedFrom  time.Time
	CreatedUntil time.Time
	// Webhook selects by the outcome of the transaction's latest notification (see
	// Transaction.LastNotification): one of the notification statuses, or NoNotification.
	Webhook Status
	Limit   int
	Offset  int
}

// NoNotification, as TransactionFilter.Webhook, selects the transactions without any
// notification.
const NoNotification Status = "none"

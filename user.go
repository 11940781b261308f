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

// TransactionFilter selects transactions for the dashboard's list. Query matches
// order_no, session_id or reference_number exactly.
type TransactionFilter struct {
	State  State
	Plugin Plugin
	Query  string
	Limit  int
	Offset int
}

package payhook

import (
	"fmt"
	"time"
)

// Role is what a dashboard user may do. Roles are ordered: an admin may do whatever an
// operator may, an operator whatever a viewer may.
type Role string

// The roles of dashboard users.
const (
	// RoleViewer reads: transactions, the delivery log, endpoint health, the webhook
	// configuration (masked). It changes nothing and moves no money.
	RoleViewer Role = "viewer"
	// RoleOperator also acts on transactions: payment requests, refunds, captures,
	// voids, cancels, notify again and re-sends. It does not change the webhook
	// configuration, the HMAC key, API keys or users.
	RoleOperator Role = "operator"
	// RoleAdmin may do everything, including managing users and API keys.
	RoleAdmin Role = "admin"
)

// Roles lists the roles from the least to the most allowed.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a user with role r may do what needs role need. An unknown
// role allows nothing.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// ParseRole reads a role name ("admin", "operator", "viewer").
func ParseRole(s string) (Role, error) {
	if r := Role(s); r.Valid() {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: use admin, operator or viewer", s)
}

// User is a dashboard user. The password is kept only as a bcrypt hash. A deactivated
// user (DeactivatedAt set) cannot sign in and their sessions end.
type User struct {
	ID            int64
	Email         string
	Username      string
	FirstName     string
	LastName      string
	PasswordHash  string
	Role          Role
	CreatedAt     time.Time
	DeactivatedAt time.Time
}

// Active reports whether the user may sign in.
func (u *User) Active() bool { return u.DeactivatedAt.IsZero() }

// Can reports whether the user is active and their role allows what needs role need.
func (u *User) Can(need Role) bool { return u != nil && u.Active() && u.Role.Allows(need) }

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

// AuditEntry records one change a person made (configuration, keys, users, operations,
// payment requests, re-sends) or a sign-in: who, when, what.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string
	Action string
	Detail string
}

// AuditFilter selects audit entries. Zero fields do not filter; Limit 0 returns all.
// Actor and Query match case-insensitively anywhere in the actor and the detail;
// Action matches exactly, or as a prefix when it ends in "." ("user." for every user
// change).
type AuditFilter struct {
	Actor  string
	Action string
	Query  string
	Since  time.Time
	Until  time.Time
	Limit  int
	Offset int
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

package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// base is the suite's "now": a whole second in UTC, which every store keeps exactly.
// Other instants are base plus a duration, passed to the store as now.
var base = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// newTransaction returns a transaction in state created, made as a checkout makes it at
// base, with every optional field the checkout keeps.
func newTransaction() *payhook.Transaction {
	r := &payhook.CheckoutRequest{
		Type:        payhook.PluginECommerce,
		Amount:      86000,
		Currency:    "KWD",
		PGCodes:     []string{"credit-card", "knet"},
		OrderNo:     "ORDER-1001",
		WebhookURL:  "https://merchant.example/webhook",
		RedirectURL: "https://merchant.example/back",
		Customer: payhook.Customer{Email: "jane@example.com", FirstName: "Jane", LastName: "Doe", Phone: "+96550000000",
			ID: "cust-7", Address: &payhook.Address{Line1: "Block 1", City: "Kuwait City", Country: "KW"}},
		Extra:          json.RawMessage(`{"cart":"42","merchant_id":"m-1"}`),
		Language:       "en",
		PaymentType:    "one_off",
		ExpirationTime: "1 00:00:00",
		Expiration:     24 * time.Hour,
		Echo:           map[string]json.RawMessage{"vendor_name": json.RawMessage(`"Acme"`)},
	}
	return payhook.NewTransaction(r, payhook.OriginAPI, base)
}

// inState sets what a transaction in state st carries: a paid or authorized one was paid
// by card through a gateway.
func inState(txn *payhook.Transaction, st payhook.State) *payhook.Transaction {
	txn.State = st
	switch st {
	case payhook.StatePaid, payhook.StateAuthorized:
		txn.GatewayCode, txn.GatewayName = "credit-card", "Credit Card"
		txn.GatewayResponse = json.RawMessage(`{"result":"CAPTURED"}`)
		txn.Result, txn.Message = payhook.ResultSuccess, "Approved"
		txn.Card = &payhook.Card{Masked: "411111******1111", Expiry: "12/39", Holder: "Jane Doe"}
		txn.Sandbox = true
		if st == payhook.StatePaid {
			txn.PaidAmount = txn.Amount
		}
	}
	return txn
}

// createTransaction stores a new transaction in state st and returns it.
func createTransaction(t *testing.T, s payhook.Store, st payhook.State) *payhook.Transaction {
	t.Helper()
	txn := inState(newTransaction(), st)
	require.NoError(t, s.CreateTransaction(t.Context(), txn))
	return txn
}

// createdAt stores a new transaction in state st, created (and updated) at when, after
// edit, when given, changed it.
func createdAt(t *testing.T, s payhook.Store, st payhook.State, when time.Time, edit func(*payhook.Transaction)) *payhook.Transaction {
	t.Helper()
	txn := inState(newTransaction(), st)
	txn.CreatedAt, txn.UpdatedAt = when, when
	if edit != nil {
		edit(txn)
	}
	require.NoError(t, s.CreateTransaction(t.Context(), txn))
	return txn
}

// changed returns the copy of txn that a change stores: moved to state st at when (its
// UpdatedAt), without children (a change stores its child as a row of its own).
func changed(txn *payhook.Transaction, st payhook.State, when time.Time) *payhook.Transaction {
	c := *txn
	inState(&c, st)
	c.UpdatedAt = when
	c.Children = nil
	return &c
}

// paidChange returns the change that records txn's payment at when, with one pending
// notification leased to owner for a minute.
func paidChange(txn *payhook.Transaction, owner string, when time.Time) payhook.Change {
	next := changed(txn, payhook.StatePaid, when)
	return payhook.Change{Transaction: next, From: []payhook.State{txn.State}, Unchanged: txn.UpdatedAt,
		Notifications: []*payhook.Notification{noteOf(next, "https://merchant.example/webhook", when)},
		Lease:         payhook.Lease{Owner: owner, Until: when.Add(time.Minute)}}
}

// refundChange returns a change that refunds amount of the paid txn at when, with its
// child and an operation notification, made from txn as read.
func refundChange(txn *payhook.Transaction, amount payhook.Amount, when time.Time) payhook.Change {
	next := changed(txn, payhook.StatePaid, when)
	next.RefundedAmount += amount
	n := noteOf(next, "https://merchant.example/operations", when)
	n.Kind, n.RedirectDecider = payhook.KindOperation, false
	return payhook.Change{Transaction: next, From: []payhook.State{payhook.StatePaid}, Unchanged: txn.UpdatedAt,
		Notifications: []*payhook.Notification{n}, Child: newChild(amount, when)}
}

// newChild returns a refund of amount done at when, as a change stores it.
func newChild(amount payhook.Amount, when time.Time) *payhook.Child {
	return &payhook.Child{
		SessionID:       payhook.NewSessionID(),
		ReferenceNumber: payhook.NewReferenceNumber(),
		Operation:       payhook.OpRefund,
		Amount:          amount,
		State:           payhook.ChildRefunded,
		Success:         true,
		Message:         "Refunded",
		GatewayResponse: json.RawMessage(`{"result":"REFUNDED"}`),
		CreatedAt:       when,
	}
}

// newNotification returns a pending payment notification for sessionID to url, created
// and due at due, with a body of its own.
func newNotification(sessionID, url string, due time.Time) *payhook.Notification {
	id := payhook.NewNotificationID()
	return &payhook.Notification{
		ID:              id,
		Kind:            payhook.KindPayment,
		SessionID:       sessionID,
		ReferenceNumber: "PHREF" + id[len(id)-6:],
		URL:             url,
		Status:          payhook.StatusPending,
		RedirectDecider: true,
		CreatedAt:       due,
		UpdatedAt:       due,
		Body:            fmt.Appendf(nil, `{"session_id":%q,"state":"paid","webhook_id":%q}`, sessionID, id),
		ContentType:     "application/json",
		NextAttemptAt:   due,
	}
}

// noteOf returns a pending notification of txn to url, created and due at due.
func noteOf(txn *payhook.Transaction, url string, due time.Time) *payhook.Notification {
	n := newNotification(txn.SessionID, url, due)
	n.ReferenceNumber = txn.ReferenceNumber
	return n
}

// finished returns n with a final status: delivered or failed after one attempt, or not
// sent (for want of a URL).
func finished(n *payhook.Notification, st payhook.Status) *payhook.Notification {
	n.Status, n.NextAttemptAt = st, time.Time{}
	switch st {
	case payhook.StatusNotSent:
		n.URL, n.Reason, n.RedirectDecider = "", payhook.ReasonNoURL, false
	case payhook.StatusDelivered, payhook.StatusFailed:
		n.RoundAttempts = 1
	}
	return n
}

// addPending stores n pending notifications of one session to one URL, unleased, the
// i-th due at due(i), and returns them.
func addPending(t *testing.T, s payhook.Store, n int, due func(i int) time.Time) []*payhook.Notification {
	t.Helper()
	session := payhook.NewSessionID()
	notes := make([]*payhook.Notification, n)
	for i := range notes {
		notes[i] = newNotification(session, "https://merchant.example/webhook", due(i))
	}
	require.NoError(t, s.AddNotifications(t.Context(), notes, payhook.Lease{}))
	return notes
}

// dueAt is an addPending schedule: every notification due at base.
func dueAt(at time.Time) func(int) time.Time { return func(int) time.Time { return at } }

// lease returns owner's lease until base plus d.
func lease(owner string, d time.Duration) payhook.Lease {
	return payhook.Lease{Owner: owner, Until: base.Add(d)}
}

// newAttempt returns an attempt started at started that got status code (0: no answer).
func newAttempt(started time.Time, code int) payhook.Attempt {
	a := payhook.Attempt{StartedAt: started, Duration: 120 * time.Millisecond, StatusCode: code}
	if code == 0 {
		a.Error = "dial tcp: connection refused"
	} else {
		a.ResponseExcerpt = fmt.Sprintf(`{"status":%d}`, code)
	}
	return a
}

// newPaymentClaim returns a payment claim of owner on txn, held until until, made from
// txn as it was read (its state, its UpdatedAt).
func newPaymentClaim(txn *payhook.Transaction, owner string, until time.Time) *payhook.Claim {
	return &payhook.Claim{
		ID:        "pay_" + payhook.NewReferenceNumber(),
		SessionID: txn.SessionID,
		Kind:      payhook.ClaimPayment,
		Owner:     owner,
		Until:     until,
		CreatedAt: base,
		From:      []payhook.State{txn.State},
		Unchanged: txn.UpdatedAt,
		PGCode:    "credit-card",
		Card:      &payhook.Card{Masked: "411111******1111", Expiry: "12/39", Holder: "Jane Doe"},
	}
}

// newRefundClaim returns an operation claim of owner on the paid txn, held until until:
// a refund of 1.000 as planned and, when key is not "", its Tracking-Key in progress.
func newRefundClaim(txn *payhook.Transaction, owner string, until time.Time, key string) *payhook.Claim {
	child := &payhook.Child{
		SessionID:       payhook.NewSessionID(),
		ReferenceNumber: payhook.NewReferenceNumber(),
		Operation:       payhook.OpRefund,
		Amount:          1000,
		Extra:           json.RawMessage(`{"reason":"damaged"}`),
		TrackingKey:     key,
		Initiator:       &payhook.Initiator{ID: 1, Email: "admin@merchant.example", Username: "admin"},
		CreatedAt:       base,
	}
	c := &payhook.Claim{
		ID:        "op_" + child.ReferenceNumber,
		SessionID: txn.SessionID,
		Kind:      payhook.ClaimOperation,
		Owner:     owner,
		Until:     until,
		CreatedAt: base,
		From:      []payhook.State{txn.State},
		Unchanged: txn.UpdatedAt,
		Child:     child,
	}
	if key != "" {
		c.Tracking = newTracking(key, txn.SessionID)
	}
	return c
}

// newTracking returns a Tracking-Key as an operation records it before its outcome.
func newTracking(key, sessionID string) *payhook.Tracking {
	return &payhook.Tracking{Key: key, RequestHash: "sha256-of-" + key, SessionID: sessionID, CreatedAt: base}
}

// answered returns tr done with an answer.
func answered(tr *payhook.Tracking, answer string) *payhook.Tracking {
	c := *tr
	c.Done, c.StatusCode, c.Answer, c.ClaimID = true, 200, []byte(answer), ""
	return &c
}

// refundDone returns the change that records a refund claim's outcome, owned by owner:
// the refund approved, the parent's refunded amount, one operation notification leased
// to owner, the Tracking-Key's answer, the claim ended.
func refundDone(txn *payhook.Transaction, c *payhook.Claim, owner string, when time.Time) payhook.Change {
	child := *c.Child
	child.State, child.Success, child.Message = payhook.ChildRefunded, true, "Refunded"
	child.GatewayResponse = json.RawMessage(`{"result":"REFUNDED"}`)
	t := changed(txn, txn.State, when)
	t.RefundedAmount += child.Amount
	n := noteOf(t, "https://merchant.example/operations", when)
	n.Kind, n.RedirectDecider = payhook.KindOperation, false
	ch := payhook.Change{Transaction: t, From: c.From, Notifications: []*payhook.Notification{n},
		Lease: payhook.Lease{Owner: owner, Until: when.Add(time.Minute)}, Claim: c.ID, ClaimOwner: owner, Child: &child}
	if c.Tracking != nil {
		ch.Tracking = answered(c.Tracking, `{"operation":"refund","result":"success"}`)
	}
	return ch
}

// newSettings returns settings that differ from the defaults in every field.
func newSettings() payhook.Settings {
	s := payhook.DefaultSettings(payhook.NewHMACKey())
	s.Enabled, s.APITransactionsEnabled = true, true
	s.OperationsWebhookURL = "https://merchant.example/operations"
	s.IgnoreSSL, s.NotifyOnError = false, false
	s.Emails = []string{"ops@merchant.example", "dev@merchant.example"}
	s.Timeout, s.Retries, s.BackoffFactor = 7.5, 5, 2.5
	s.Version, s.Format, s.UserAgent = "v2", payhook.FormatXML, "payhook-test/1"
	s.StandardWebhooks, s.StandardWebhooksSecret = true, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	return s
}

// newUser returns a dashboard user with every field set.
func newUser(email string) *payhook.User {
	return &payhook.User{Email: email, Username: "ada", FirstName: "Ada", LastName: "Lovelace",
		PasswordHash: "$2a$10$7EqJtq98hPqEX7fNZaFWoO5Xy8t1Y5L6zjv9lrl3R1aQZ2b7J7W5e", Role: payhook.RoleAdmin, CreatedAt: base}
}

// createUser stores a new user.
func createUser(t *testing.T, s payhook.Store, email string) *payhook.User {
	t.Helper()
	u := newUser(email)
	require.NoError(t, s.CreateUser(t.Context(), u))
	return u
}

// newAPIKey returns an API key named name, made at created, as stored: its hash and
// prefix, never the key.
func newAPIKey(name string, created time.Time) *payhook.APIKey {
	key := "phk_" + payhook.NewSessionID()
	sum := sha256.Sum256([]byte(key))
	return &payhook.APIKey{Name: name, Prefix: key[:8], Hash: hex.EncodeToString(sum[:]), CreatedAt: created}
}

// newGatewayCall returns a successful purchase recorded under reference.
func newGatewayCall(reference string) *payhook.GatewayCall {
	return &payhook.GatewayCall{Reference: reference, SessionID: payhook.NewSessionID(), Kind: "purchase", Amount: 86000,
		Currency: "KWD", Success: true, Result: []byte(`{"result":"CAPTURED","auth":"000123"}`), CreatedAt: base}
}

// canonicalJSON re-encodes a JSON value so that two encodings of one value compare equal
// (a store may keep JSON as its database's JSON type, which does not keep the bytes).
func canonicalJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

// utc returns t in UTC without a monotonic reading (the zero time stays zero).
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// comparableTransaction returns a copy of txn whose times are in UTC and whose JSON
// fields are canonical, so that require.Equal compares what a store must keep.
func comparableTransaction(txn *payhook.Transaction) *payhook.Transaction {
	c := *txn
	c.ExpiresAt, c.CreatedAt, c.UpdatedAt, c.DeletedAt = utc(c.ExpiresAt), utc(c.CreatedAt), utc(c.UpdatedAt), utc(c.DeletedAt)
	c.Extra, c.GatewayResponse = canonicalJSON(c.Extra), canonicalJSON(c.GatewayResponse)
	c.LastNotification = "" // not stored: ListTransactions reads it from the notifications
	if c.Echo != nil {
		c.Echo = make(map[string]json.RawMessage, len(txn.Echo))
		for k, v := range txn.Echo {
			c.Echo[k] = canonicalJSON(v)
		}
	}
	if c.Tries != nil {
		c.Tries = make([]payhook.Try, len(txn.Tries))
		for i, try := range txn.Tries {
			try.At = utc(try.At)
			c.Tries[i] = try
		}
	}
	if c.Children != nil {
		c.Children = make([]payhook.Child, len(txn.Children))
		for i, ch := range txn.Children {
			c.Children[i] = comparableChild(ch)
		}
	}
	return &c
}

func comparableChild(ch payhook.Child) payhook.Child {
	ch.CreatedAt = utc(ch.CreatedAt)
	ch.GatewayResponse, ch.Extra = canonicalJSON(ch.GatewayResponse), canonicalJSON(ch.Extra)
	return ch
}

// requireSameTransaction requires got to be want as stored (children aside: the callers
// check them).
func requireSameTransaction(t *testing.T, want, got *payhook.Transaction) {
	t.Helper()
	require.NotNil(t, got)
	w, g := comparableTransaction(want), comparableTransaction(got)
	w.Children, g.Children = nil, nil
	require.Equal(t, w, g)
}

// comparableNotification returns a copy of n with UTC times and non-nil attempts.
func comparableNotification(n *payhook.Notification) *payhook.Notification {
	c := *n
	c.CreatedAt, c.UpdatedAt, c.NextAttemptAt = utc(c.CreatedAt), utc(c.UpdatedAt), utc(c.NextAttemptAt)
	if r := c.Redelivery; r != nil {
		c.Redelivery = &payhook.Redelivery{NextAttemptAt: utc(r.NextAttemptAt), EndsAt: utc(r.EndsAt), AttemptsMade: r.AttemptsMade}
	}
	c.Attempts = make([]payhook.Attempt, len(n.Attempts))
	for i, a := range n.Attempts {
		a.StartedAt = utc(a.StartedAt)
		c.Attempts[i] = a
	}
	return &c
}

// requireSameNotification requires got to be want as stored, attempts included.
func requireSameNotification(t *testing.T, want, got *payhook.Notification) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, comparableNotification(want), comparableNotification(got))
}

// ids returns the ids of notifications.
func ids(notes []*payhook.Notification) []string {
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = n.ID
	}
	return out
}

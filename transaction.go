package payhook

import (
	"encoding/json"
	"time"
)

// State is a transaction's state, one of Ottu's eleven.
type State string

// The states of a transaction (Ottu spells "invalided" so).
const (
	StateCreated    State = "created"
	StatePending    State = "pending"
	StateAttempted  State = "attempted"
	StateAuthorized State = "authorized"
	StatePaid       State = "paid"
	StateFailed     State = "failed"
	StateCanceled   State = "canceled"
	StateExpired    State = "expired"
	StateInvalided  State = "invalided"
	StateRefunded   State = "refunded"
	StateCOD        State = "cod"
)

// Payable reports whether a customer may still pay a transaction in this state.
func (s State) Payable() bool {
	return s == StateCreated || s == StatePending || s == StateAttempted
}

// Plugin is a transaction type ("plugin" in Ottu's words).
type Plugin string

// The plugins.
const (
	PluginECommerce      Plugin = "e_commerce"
	PluginPaymentRequest Plugin = "payment_request"
)

// Plugins lists every plugin.
var Plugins = []Plugin{PluginECommerce, PluginPaymentRequest}

// Valid reports whether p is a known plugin.
func (p Plugin) Valid() bool { return p == PluginECommerce || p == PluginPaymentRequest }

// Origin records where a transaction was created.
type Origin string

// The origins of a transaction.
const (
	OriginAPI       Origin = "api"
	OriginDashboard Origin = "dashboard"
)

// Result is the outcome of the latest payment attempt, as payloads report it.
type Result string

// The payment results (Ottu spells "canceled" with one l).
const (
	ResultPending  Result = "pending"
	ResultSuccess  Result = "success"
	ResultFailed   Result = "failed"
	ResultCanceled Result = "canceled"
	ResultError    Result = "error"
	ResultCOD      Result = "cod"
)

// Address is a customer's billing address.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	Country    string `json:"country,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
}

// Customer holds the customer fields of a checkout.
type Customer struct {
	Email     string   `json:"email,omitempty"`
	FirstName string   `json:"first_name,omitempty"`
	LastName  string   `json:"last_name,omitempty"`
	Phone     string   `json:"phone,omitempty"`
	ID        string   `json:"id,omitempty"`
	Address   *Address `json:"address,omitempty"`
}

// Card is what payhook keeps of a card: never the full number, never the CVV.
type Card struct {
	Masked string `json:"masked"` // 411111******1111
	Expiry string `json:"expiry"` // MM/YY
	Holder string `json:"holder,omitempty"`
}

// Initiator is the dashboard (or Basic-auth) user who acted on a transaction.
type Initiator struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	Username  string `json:"username"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// Transaction is a payment transaction created by a checkout.
type Transaction struct {
	SessionID       string          `json:"session_id"`
	ReferenceNumber string          `json:"reference_number"`
	OrderNo         string          `json:"order_no,omitempty"`
	Type            Plugin          `json:"type"`
	Origin          Origin          `json:"origin"`
	State           State           `json:"state"`
	Amount          Amount          `json:"amount"`
	Currency        string          `json:"currency_code"`
	PGCodes         []string        `json:"pg_codes"`
	WebhookURL      string          `json:"webhook_url,omitempty"`
	RedirectURL     string          `json:"redirect_url,omitempty"`
	Customer        Customer        `json:"customer"`
	Extra           json.RawMessage `json:"extra,omitempty"`
	Language        string          `json:"language,omitempty"`
	PaymentType     string          `json:"payment_type,omitempty"`
	ExpirationTime  string          `json:"expiration_time,omitempty"`
	ExpiresAt       time.Time       `json:"expires_at"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	Initiator       *Initiator      `json:"initiator,omitempty"`
	// Echo holds checkout fields kept only to answer with them (see CheckoutRequest.Echo).
	Echo map[string]json.RawMessage `json:"echo,omitempty"`

	// Set by the latest payment attempt.
	GatewayCode     string          `json:"gateway_code,omitempty"` // gateway_account in payloads
	GatewayName     string          `json:"gateway_name,omitempty"`
	GatewayResponse json.RawMessage `json:"gateway_response,omitempty"`
	Result          Result          `json:"result,omitempty"`
	Message         string          `json:"message,omitempty"`
	Card            *Card           `json:"card,omitempty"`
	Sandbox         bool            `json:"sandbox,omitempty"`
	PaidAmount      Amount          `json:"paid_amount,omitempty"`
	// AuthorizedAmount is what an authorize-only gateway authorized (0 for a purchase).
	AuthorizedAmount Amount `json:"authorized_amount,omitempty"`
	RefundedAmount   Amount `json:"refunded_amount,omitempty"`
	VoidedAmount     Amount `json:"voided_amount,omitempty"`

	// Tries are the payment tries on the checkout page, oldest first: each card the
	// gateway answered, declined and errored ones included (a declined try leaves the
	// transaction attempted, and the customer may try again).
	Tries []Try `json:"tries,omitempty"`

	// Children are the refunds, captures and voids of the transaction, oldest first.
	Children []Child `json:"children,omitempty"`
	// DeletedAt is set when a paid, authorized or cod transaction was deleted (soft).
	DeletedAt time.Time `json:"deleted_at,omitempty"`

	// LastNotification is the status of the transaction's latest notification ("" when
	// it has none; of those created at once, the least delivered: failed, pending,
	// not_sent, delivered). Only ListTransactions fills it in; it is not stored.
	LastNotification Status `json:"-"`
}

// Try is one payment try on the checkout page: one card sent to the gateway and its answer.
type Try struct {
	// Reference is the try's own gateway reference (the claim it ran under): every try
	// gets a new one, so that the gateway never answers a try with another's outcome.
	Reference string    `json:"reference"`
	At        time.Time `json:"at"` // when the try started (its claim was taken)
	PGCode    string    `json:"pg_code"`
	Card      *Card     `json:"card,omitempty"`
	Result    Result    `json:"result"`
	Message   string    `json:"message,omitempty"`
	// Token is the checkout form's try_token, when the form sent one: the same form
	// submitted again (a double click, a reload) is answered without a new try.
	Token string `json:"token,omitempty"`
}

// TryByToken returns the recorded try that the form with that try_token made, if any.
func (t *Transaction) TryByToken(token string) (Try, bool) {
	if token == "" {
		return Try{}, false
	}
	for _, x := range t.Tries {
		if x.Token == token {
			return x, true
		}
	}
	return Try{}, false
}

// AddTry records a try, once per reference (recording the same try again changes nothing).
func (t *Transaction) AddTry(try Try) {
	for _, x := range t.Tries {
		if x.Reference == try.Reference {
			return
		}
	}
	t.Tries = append(t.Tries, try)
}

// TotalAuthorized is what the gateway authorized on the transaction (the payment
// notification's total_authorized_amount): the amount of a successful authorize, kept
// after a capture or a void; 0 for a purchase, which is paid at once.
func (t *Transaction) TotalAuthorized() Amount {
	if t.AuthorizedAmount > 0 {
		return t.AuthorizedAmount
	}
	// Transactions recorded before AuthorizedAmount existed: an authorized one, or one
	// whose authorization was voided or captured.
	if t.State == StateAuthorized {
		return t.Amount
	}
	for _, c := range t.Children {
		if c.Success && (c.Operation == OpCapture || c.Operation == OpVoid) {
			return t.Amount
		}
	}
	return t.VoidedAmount
}

// Operation returns "authorize" when every gateway offered authorizes only, else
// "purchase" (the checkout answer's operation field).
func (t *Transaction) Operation(authorizeOnly func(pgCode string) bool) string {
	if len(t.PGCodes) == 0 {
		return "purchase"
	}
	for _, c := range t.PGCodes {
		if !authorizeOnly(c) {
			return "purchase"
		}
	}
	return "authorize"
}

// RemainingAmount is what is still due on the transaction.
func (t *Transaction) RemainingAmount() Amount {
	switch t.State {
	case StatePaid, StateRefunded:
		return 0
	}
	return t.Amount - t.PaidAmount
}

// ExtraMap returns the transaction's extra as a map, or nil when it has none or it is
// not a JSON object.
func (t *Transaction) ExtraMap() map[string]any {
	if len(t.Extra) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(t.Extra, &m); err != nil {
		return nil
	}
	return m
}

package payhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultExpiration is how long a checkout can be paid when the request gives no
// expiration_time (Ottu's default: 24 hours).
const DefaultExpiration = 24 * time.Hour

// CheckoutRequest is a validated Checkout API request (POST /b/checkout/v1/pymt-txn/).
type CheckoutRequest struct {
	Type           Plugin
	Amount         Amount
	Currency       string
	PGCodes        []string
	OrderNo        string
	WebhookURL     string
	RedirectURL    string
	Customer       Customer
	Extra          json.RawMessage
	Language       string
	PaymentType    string
	ExpirationTime string
	Expiration     time.Duration
	// Echo holds the other fields of Ottu's checkout schema that payhook keeps and
	// answers with as they were sent (vendor_name, product_type, customer_phone_2,
	// customer_birthdate, email_recipients, due_datetime, shipping_address), validated.
	Echo map[string]json.RawMessage
}

// DecodeCheckoutRequest validates a Checkout API body (already split into its fields)
// and reports every bad field by its Ottu name. gatewayExists tells whether a pg_code
// names a gateway. Unknown fields are ignored, as Ottu's API ignores them.
func DecodeCheckoutRequest(body map[string]json.RawMessage, gatewayExists func(string) bool) (*CheckoutRequest, error) {
	fe := FieldErrors{}
	r := &CheckoutRequest{}
	str := func(name string, maxLen int, required bool) string {
		raw, ok := body[name]
		if !ok || isNull(raw) {
			if required {
				fe.Add(name, "This field is required.")
			}
			return ""
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			fe.Add(name, "Must be a string.")
			return ""
		}
		if required && s == "" {
			fe.Add(name, "This field may not be blank.")
		}
		if maxLen > 0 && len([]rune(s)) > maxLen {
			fe.Add(name, "Ensure this field has no more than %d characters.", maxLen)
		}
		return s
	}

	typ := str("type", 0, true)
	if typ != "" {
		if r.Type = Plugin(typ); !r.Type.Valid() {
			fe.Add("type", "%q is not a valid choice: use \"e_commerce\" or \"payment_request\".", typ)
		}
	}
	r.Currency = str("currency_code", 3, true)
	if r.Currency != "" && !KnownCurrency(r.Currency) {
		fe.Add("currency_code", "%q is not a supported ISO 4217 currency code.", r.Currency)
	}
	if raw, ok := body["amount"]; !ok || isNull(raw) {
		fe.Add("amount", "This field is required.")
	} else if s, ok := amountText(raw); !ok {
		fe.Add("amount", "Must be a decimal string such as \"86.000\".")
	} else if _, bad := fe["currency_code"]; !bad && r.Currency != "" {
		a, err := ParseAmount(s, r.Currency)
		switch {
		case err != nil:
			fe.Add("amount", "%s.", upperFirst(err.Error()))
		case a <= 0:
			fe.Add("amount", "Ensure this value is greater than 0.")
		default:
			r.Amount = a
		}
	}
	if raw, ok := body["pg_codes"]; !ok || isNull(raw) {
		fe.Add("pg_codes", "This field is required.")
	} else if err := json.Unmarshal(raw, &r.PGCodes); err != nil {
		fe.Add("pg_codes", "Must be a list of gateway codes.")
	} else if len(r.PGCodes) == 0 {
		fe.Add("pg_codes", "Name at least one gateway code.")
	} else {
		seen := map[string]bool{}
		for _, c := range r.PGCodes {
			if !gatewayExists(c) {
				fe.Add("pg_codes", "%q is not a gateway code of this instance.", c)
			} else if seen[c] {
				fe.Add("pg_codes", "%q is listed twice.", c)
			}
			seen[c] = true
		}
	}
	r.OrderNo = str("order_no", 128, false)
	for _, f := range []struct {
		name string
		dst  *string
	}{{"webhook_url", &r.WebhookURL}, {"redirect_url", &r.RedirectURL}} {
		if *f.dst = str(f.name, 0, false); *f.dst != "" {
			if err := ValidateWebhookURL(*f.dst, 2000); err != nil {
				fe.Add(f.name, "%s.", upperFirst(err.Error()))
			}
		}
	}
	r.Customer.Email = str("customer_email", 128, false)
	if e := r.Customer.Email; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			fe.Add("customer_email", "Enter a valid email address.")
		}
	}
	r.Customer.FirstName = str("customer_first_name", 64, false)
	r.Customer.LastName = str("customer_last_name", 64, false)
	r.Customer.ID = str("customer_id", 64, false)
	r.Customer.Phone = str("customer_phone", 16, false)
	if raw, ok := body["billing_address"]; ok && !isNull(raw) {
		var a Address
		d := json.NewDecoder(bytes.NewReader(raw))
		if err := d.Decode(&a); err != nil {
			fe.Add("billing_address", "Must be an object of strings: line1, line2, city, state, country, postal_code.")
		} else {
			for name, v := range map[string]struct {
				s   string
				max int
			}{"line1": {a.Line1, 128}, "line2": {a.Line2, 128}, "city": {a.City, 40}, "state": {a.State, 40}, "postal_code": {a.PostalCode, 12}} {
				if len([]rune(v.s)) > v.max {
					fe.Add("billing_address", "%s: ensure this field has no more than %d characters.", name, v.max)
				}
			}
			if a.Country != "" && !countryCode.MatchString(a.Country) {
				fe.Add("billing_address", "country: use an ISO 3166-1 alpha-2 code such as \"KW\".")
			}
			if a != (Address{}) {
				r.Customer.Address = &a
			}
		}
	}
	if raw, ok := body["extra"]; ok && !isNull(raw) {
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			fe.Add("extra", "Must be a JSON object.")
		} else {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				fe.Add("extra", "Must be a JSON object.")
			} else if msg := signedExtra(m); msg != "" {
				fe.Add("extra", "%s", msg)
			} else {
				r.Extra = append(json.RawMessage(nil), t...)
			}
		}
	}
	if r.Language = str("language", 0, false); r.Language != "" && r.Language != "en" && r.Language != "ar" {
		fe.Add("language", "%q is not a valid choice: use \"en\" or \"ar\".", r.Language)
	}
	switch r.PaymentType = str("payment_type", 0, false); r.PaymentType {
	case "", "one_off", "auto_debit", "save_card":
	default:
		fe.Add("payment_type", "%q is not a valid choice: use \"one_off\", \"auto_debit\" or \"save_card\".", r.PaymentType)
	}
	r.Expiration = DefaultExpiration
	if r.ExpirationTime = str("expiration_time", 0, false); r.ExpirationTime != "" {
		d, err := ParseExpirationTime(r.ExpirationTime)
		if err != nil {
			fe.Add("expiration_time", "%s.", upperFirst(err.Error()))
		} else {
			r.Expiration = d
		}
	}
	r.Echo = decodeEcho(body, fe)
	if err := fe.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

var (
	birthdate   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	dueDatetime = regexp.MustCompile(`^(\d{2}/\d{2}/\d{4} \d{2}:\d{2}(:\d{2})?|\d{4}-\d{2}-\d{2}[ Tt]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?)$`)
)

// decodeEcho validates the checkout fields payhook keeps only to answer with them.
func decodeEcho(body map[string]json.RawMessage, fe FieldErrors) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	str := func(name string, maxLen int, pattern *regexp.Regexp, hint string) {
		raw, ok := body[name]
		if !ok || isNull(raw) {
			return
		}
		var v string
		switch {
		case json.Unmarshal(raw, &v) != nil:
			fe.Add(name, "Must be a string.")
		case maxLen > 0 && len([]rune(v)) > maxLen:
			fe.Add(name, "Ensure this field has no more than %d characters.", maxLen)
		case pattern != nil && !pattern.MatchString(v):
			fe.Add(name, "%s", hint)
		case v != "":
			out[name] = raw
		}
	}
	str("vendor_name", 64, nil, "")
	str("product_type", 128, nil, "")
	str("customer_phone_2", 16, nil, "")
	str("customer_birthdate", 0, birthdate, "Use the format YYYY-MM-DD.")
	if v, ok := body["customer_birthdate"]; ok && out["customer_birthdate"] != nil {
		var d string
		json.Unmarshal(v, &d)
		if _, err := time.Parse("2006-01-02", d); err != nil {
			delete(out, "customer_birthdate")
			fe.Add("customer_birthdate", "Not a real date.")
		}
	}
	str("due_datetime", 0, dueDatetime, "Use the format DD/MM/YYYY hh:mm.")
	if raw, ok := body["email_recipients"]; ok && !isNull(raw) {
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			fe.Add("email_recipients", "Must be a list of email addresses.")
		} else {
			for _, e := range list {
				if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
					fe.Add("email_recipients", "%q is not an email address.", e)
				}
			}
			out["email_recipients"] = raw
		}
	}
	if raw, ok := body["shipping_address"]; ok && !isNull(raw) {
		var a map[string]any
		if err := json.Unmarshal(raw, &a); err != nil || a == nil {
			fe.Add("shipping_address", "Must be an object.")
		} else {
			for _, k := range []string{"city", "country", "email", "first_name", "last_name", "line1", "phone"} {
				if v, isStr := a[k].(string); !isStr || v == "" {
					fe.Add("shipping_address", "%s: this field is required.", k)
				}
			}
			out["shipping_address"] = raw
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

var expirationRe = regexp.MustCompile(`^(?:(\d{1,3}) )?(\d{1,2}):(\d{2}):(\d{2})$`)

// ParseExpirationTime parses Ottu's expiration_time, "DD HH:MM:SS" (the days optional):
// "1 00:00:00" is 24 hours. It must be at least a second and at most 365 days.
func ParseExpirationTime(s string) (time.Duration, error) {
	m := expirationRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("use the format \"DD HH:MM:SS\", e.g. \"1 00:00:00\" for a day")
	}
	n := func(i int) time.Duration { v, _ := strconv.Atoi(m[i]); return time.Duration(v) }
	h, mi, se := n(2), n(3), n(4)
	if h > 23 || mi > 59 || se > 59 {
		return 0, fmt.Errorf("hours must be 0-23, minutes and seconds 0-59")
	}
	d := n(1)*24*time.Hour + h*time.Hour + mi*time.Minute + se*time.Second
	if d < time.Second || d > 365*24*time.Hour {
		return 0, fmt.Errorf("must be between 1 second and 365 days")
	}
	return d, nil
}

// NewTransaction makes the transaction a checkout request creates, in state created.
func NewTransaction(r *CheckoutRequest, origin Origin, now time.Time) *Transaction {
	now = now.UTC()
	return &Transaction{
		SessionID:       NewSessionID(),
		ReferenceNumber: NewReferenceNumber(),
		OrderNo:         r.OrderNo,
		Type:            r.Type,
		Origin:          origin,
		State:           StateCreated,
		Amount:          r.Amount,
		Currency:        r.Currency,
		PGCodes:         r.PGCodes,
		WebhookURL:      r.WebhookURL,
		RedirectURL:     r.RedirectURL,
		Customer:        r.Customer,
		Extra:           r.Extra,
		Language:        r.Language,
		PaymentType:     r.PaymentType,
		ExpirationTime:  r.ExpirationTime,
		ExpiresAt:       now.Add(r.Expiration),
		Echo:            r.Echo,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// amountText accepts an amount as a JSON string or, leniently, a JSON number (its
// literal text, so no float rounding).
func amountText(raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s), true
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&n); err == nil {
		return n.String(), true
	}
	return "", false
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// signedExtra checks the extra keys that v2 signatures cover (extra.merchant_id,
// extra.autopay.subscription_id): every signed field travels as a JSON string, since
// merchants' verifiers print other types their own way (SPEC §5).
func signedExtra(m map[string]any) string {
	if v, ok := m["merchant_id"]; ok && v != nil {
		if _, isStr := v.(string); !isStr {
			return "merchant_id must be a string: it is a signed field."
		}
	}
	if a, ok := m["autopay"]; ok && a != nil {
		obj, isObj := a.(map[string]any)
		if !isObj {
			return "autopay must be an object."
		}
		if v, ok := obj["subscription_id"]; ok && v != nil {
			if _, isStr := v.(string); !isStr {
				return "autopay.subscription_id must be a string: it is a signed field."
			}
		}
	}
	return ""
}

package web

import (
	"net/http"

	"github.com/payhook/payhook"
)

// createCheckout is POST /b/checkout/v1/pymt-txn/: 201 with Ottu's checkout answer.
func (s *Server) createCheckout(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	t, err := s.svc.CreateCheckout(r.Context(), body, payhook.OriginAPI)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.checkoutAnswer(t))
	return nil
}

// getCheckout is GET /b/checkout/v1/pymt-txn/{session_id}/. A deleted transaction (a
// soft delete keeps the record) is not found, as in the Operations and inquiry APIs.
func (s *Server) getCheckout(w http.ResponseWriter, r *http.Request) error {
	t, err := s.svc.Transaction(r.Context(), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	if !t.DeletedAt.IsZero() {
		return payhook.Errorf(payhook.ENOTFOUND, "No transaction with session_id %q.", t.SessionID)
	}
	writeJSON(w, http.StatusOK, s.checkoutAnswer(t))
	return nil
}

// checkoutAnswer renders Ottu's checkout answer: the fields its schema declares, never
// request-only ones nor extra.
func (s *Server) checkoutAnswer(t *payhook.Transaction) map[string]any {
	amount := t.Amount.Format(t.Currency)
	gws := s.svc.Gateways()
	methods := make([]any, 0, len(t.PGCodes))
	for _, code := range t.PGCodes {
		name := "Sandbox card"
		if gws.AuthorizeOnly(code) {
			name = "Sandbox card (authorize)"
		}
		icon := s.svc.BaseURL() + "/static/pg/card.svg"
		methods = append(methods, map[string]any{
			"code": code, "name": name, "type": string(t.Type), "amount": amount,
			"currency_code": t.Currency, "fee": payhook.Amount(0).Format(t.Currency), "fee_description": "",
			"icon": icon, "icons": map[string]any{"svg": icon, "webp": s.svc.BaseURL() + "/static/pg/card.webp"},
			"flow": "redirect", "redirect_url": s.svc.CheckoutURL(t.SessionID) + "&pg_code=" + code,
		})
	}
	settled := ""
	switch t.State {
	case payhook.StatePaid, payhook.StateAuthorized, payhook.StateRefunded:
		settled = t.GatewayCode
	}
	m := map[string]any{
		"amount":            amount,
		"currency_code":     t.Currency,
		"pg_codes":          t.PGCodes,
		"type":              string(t.Type),
		"session_id":        t.SessionID,
		"operation":         t.Operation(gws.AuthorizeOnly),
		"state":             string(t.State),
		"billing":           "",
		"settled_pg_code":   settled,
		"checkout_url":      s.svc.CheckoutURL(t.SessionID),
		"checkout_page_url": s.svc.CheckoutPageURL(t.SessionID),
		"payment_methods":   methods,
		"payment_type":      paymentType(t),
		"language":          language(t),
	}
	setIf := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	setIf("order_no", t.OrderNo)
	setIf("webhook_url", t.WebhookURL)
	setIf("redirect_url", t.RedirectURL)
	setIf("customer_email", t.Customer.Email)
	setIf("customer_first_name", t.Customer.FirstName)
	setIf("customer_last_name", t.Customer.LastName)
	setIf("customer_phone", t.Customer.Phone)
	setIf("customer_id", t.Customer.ID)
	setIf("expiration_time", t.ExpirationTime)
	if a := t.Customer.Address; a != nil {
		m["billing_address"] = a
	}
	for k, v := range t.Echo {
		m[k] = v
	}
	return m
}

func paymentType(t *payhook.Transaction) string {
	if t.PaymentType == "" {
		return "one_off"
	}
	return t.PaymentType
}

func language(t *payhook.Transaction) string {
	if t.Language == "" {
		return "en"
	}
	return t.Language
}

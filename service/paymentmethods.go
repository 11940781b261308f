package service

import (
	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway"
)

// PaymentMethodsQuery filters the payment methods (Ottu's PaymentMethodsRequest).
type PaymentMethodsQuery struct {
	Plugin     string
	Currencies []string
	Operation  string
	// Type is "sandbox" or "production"; empty lists both.
	Type string
	// Tokenizable and AutoDebit, when set to true, keep the gateways that tokenize cards
	// (the sandbox does not).
	Tokenizable, AutoDebit bool
	// PGNames keeps the gateways with these names (the sandbox's is "sandbox").
	PGNames []string
}

// PaymentMethods lists the gateways a plugin, currency and operation can use, in Ottu's
// PaymentMethodsResponse shape. The sandbox gateways accept every currency.
func (s *Service) PaymentMethods(q PaymentMethodsQuery) (map[string]any, error) {
	fe := payhook.FieldErrors{}
	if q.Plugin != "" && !payhook.Plugin(q.Plugin).Valid() {
		fe.Add("plugin", "%q is not a valid choice: use \"e_commerce\" or \"payment_request\".", q.Plugin)
	}
	for _, c := range q.Currencies {
		if !payhook.KnownCurrency(c) {
			fe.Add("currencies", "%q is not an ISO 4217 currency code.", c)
		}
	}
	if q.Operation != "" && q.Operation != gateway.OperationPurchase && q.Operation != gateway.OperationAuthorize {
		fe.Add("operation", "%q is not a valid choice: use \"purchase\" or \"authorize\".", q.Operation)
	}
	if q.Type != "" && q.Type != "sandbox" && q.Type != "production" {
		fe.Add("type", "%q is not a valid choice: use \"sandbox\" or \"production\".", q.Type)
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	accepted := q.Currencies
	if len(accepted) == 0 {
		accepted = []string{"KWD", "USD"}
	}
	methods := []any{}
	for _, code := range s.gateways.Codes() {
		g, _ := s.gateways.Get(code)
		switch {
		case q.Operation != "" && g.Operation() != q.Operation,
			q.Type == "production" && g.Sandbox(), q.Type == "sandbox" && !g.Sandbox(),
			q.Tokenizable || q.AutoDebit, // no gateway here tokenizes cards
			len(q.PGNames) > 0 && !contains(q.PGNames, g.Name()):
			continue
		}
		ops := []string{"refund"}
		if g.Operation() == gateway.OperationAuthorize {
			ops = []string{"capture", "void", "refund"}
		}
		methods = append(methods, map[string]any{
			"code": code, "name": g.Name(), "is_sandbox": g.Sandbox(), "logo": s.baseURL + "/static/pg/card.svg",
			"wallets": []string{}, "payment_services": []any{}, "default_currency": accepted[0],
			"accepted_currencies": accepted, "operation": g.Operation(), "operations": ops, "is_tokenizable": false,
			"auto_debit_enabled": false, "tags": []string{},
		})
	}
	return map[string]any{"customer_payment_methods": []any{}, "payment_methods": methods}, nil
}

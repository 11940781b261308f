package signature

import "strings"

// v1Fields are the names that V1 signs, in the order they are signed.
var v1Fields = []string{
	"amount",
	"currency_code",
	"customer_address_city",
	"customer_address_country",
	"customer_address_line1",
	"customer_address_line2",
	"customer_address_postal_code",
	"customer_address_state",
	"customer_email",
	"customer_first_name",
	"customer_last_name",
	"customer_phone",
	"gateway_account",
	"gateway_name",
	"order_no",
	"reference_number",
	"result",
	"state",
}

// v1Message concatenates name+value for the signed top-level scalars.
// V1 looks at the top level only: a signed name holding an object or an
// array is left out, as is one that is null or "".
func v1Message(payload map[string]any) (string, error) {
	var b strings.Builder
	for _, name := range v1Fields {
		s, ok, err := scalar(name, payload[name])
		if err != nil {
			return "", err
		}
		if ok {
			b.WriteString(name)
			b.WriteString(s)
		}
	}
	return b.String(), nil
}

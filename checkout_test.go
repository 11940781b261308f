package payhook

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// The v2 signature covers extra.merchant_id and extra.autopay.subscription_id: they must
// be strings, or a Python verifier would print them its own way.
func TestDecodeCheckoutRequest_SignedExtraKeysAreStrings(t *testing.T) {
	t.Parallel()
	base := `{"type":"e_commerce","amount":"1","currency_code":"KWD","pg_codes":["credit-card"],"extra":%s}`
	exists := func(string) bool { return true }
	for extra, ok := range map[string]bool{
		`{"merchant_id":"m-1","autopay":{"subscription_id":"s-1"},"cart":7}`: true,
		`{"merchant_id":true}`:                       false,
		`{"autopay":{"subscription_id":1.0}}`:        false,
		`{"autopay":"x"}`:                            false,
		`{"merchant_id":null,"autopay":{"other":1}}`: true,
	} {
		var body map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(fmt.Sprintf(base, extra)), &body))
		_, err := DecodeCheckoutRequest(body, exists)
		if ok {
			require.NoError(t, err, extra)
		} else {
			require.Error(t, err, extra)
			require.Contains(t, err.(*Error).Fields, "extra", extra)
		}
	}
}

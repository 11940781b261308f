package signature

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		`{"amount":"86.000","currency_code":"KWD","customer_first_name":"example-customer"}`,
		`{"amount":86.0,"result":false,"state":null,"order_no":"","gateway_name":{"a":1}}`,
		`{"token":{"token":"1","pg_code":"x"},"extra":{"autopay":{"subscription_id":"s"}},"agreement":"a"}`,
		`{"signature":"abc"}`,
		`[]`, `null`, `"x"`, `{`, ``, `{"a":[[[[{}]]]]}`,
	} {
		f.Add([]byte(s), "note", "value")
	}
}

// FuzzV1 checks that any input is handled without a panic, and that neither
// an unsigned top-level key nor a nested object changes a V1 signature.
func FuzzV1(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte, extraKey, extraValue string) {
		_, _ = Verify("k", body)
		want, err := SignJSON(V1, "k", body)
		if err != nil {
			return
		}
		payload, err := decode(body)
		require.NoError(t, err)

		if !slices.Contains(v1Fields, extraKey) {
			payload[extraKey] = extraValue
		}
		payload["x-nested"] = map[string]any{"amount": extraValue, "state": []any{extraValue}}
		for _, name := range v1Fields {
			if _, ok := payload[name]; !ok {
				payload[name] = map[string]any{name: extraValue}
			}
		}
		got, err := Sign(V1, "k", payload)
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

// FuzzV2 checks that any input is handled without a panic.
func FuzzV2(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte, _, _ string) {
		if _, err := SignJSON(V2, "k", body); err == nil {
			payload, err := decode(body)
			require.NoError(t, err)
			_, err = Message(V2, payload)
			require.NoError(t, err)
		}
	})
}

package signature_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/payhook/payhook/signature"
)

// A merchant checks the body of a webhook with the HMAC key set in payhook's
// webhook settings.
func ExampleVerify() {
	const key = "pu9MpX3yPR"
	body := []byte(`{
		"amount": "86.000",
		"currency_code": "KWD",
		"customer_first_name": "example-customer",
		"session_id": "a12f71075a834a34d692736ac43a212fcebfb6ec",
		"signature": "6143b8ad4bd283540721ab000f6de746e722231aaaa90bc38f639081d3ff9f67"
	}`)

	version, err := signature.Verify(key, body)
	switch {
	case errors.Is(err, signature.ErrMismatch), errors.Is(err, signature.ErrNoSignature):
		fmt.Println("reject:", err) // answer 401 and ignore the body
	case err != nil:
		fmt.Println("bad request:", err)
	default:
		fmt.Println("signature OK, scheme", version)
	}
	// Output: signature OK, scheme v1
}

// Message shows what a scheme signs, to find why a signature differs.
func ExampleMessage() {
	msg, err := signature.Message(signature.V2, map[string]any{
		"amount":     "86.000",
		"order_no":   "",
		"session_id": "a12f",
		"token":      map[string]any{"pg_code": "credit-card", "brand": "VISA"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(msg)
	// Output:
	// amount=86.000
	// session_id=a12f
	// token.pg_code=credit-card
}

// A receiver checks the Standard Webhooks headers of a request.
func ExampleStandardWebhooksVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var (
		id        = "msg_p5jXN8AQM9LWM0D4loKWxJek"                    // webhook-id header
		timestamp = "1614265330"                                      // webhook-timestamp header
		sig       = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" // webhook-signature header
		body      = []byte(`{"test": 2432232314}`)
		now       = time.Unix(1614265400, 0) // time.Now() in real code
	)
	err := signature.StandardWebhooksVerify(secret, id, timestamp, sig, body, now, signature.StandardWebhooksTolerance)
	fmt.Println(err)
	// Output: <nil>
}

// A merchant checks a daily digest against the webhook-ids it accepted that day.
func ExampleVerifyDigest() {
	const key = "pu9MpX3yPR"
	// The digest as GET /b/webhook/v1/digests/?url=…&date=2026-12-04 answers it, or as
	// the "digest" notification of 2026-12-05 brings it.
	digest := signature.NewDigest(key, "https://shop.example/hook", "2026-12-04", []string{"msg_a", "msg_b", "msg_c"})
	logged := []string{"msg_c", "msg_a"} // what the merchant's own log holds

	err := signature.VerifyDigest(key, digest, logged)
	var m *signature.DigestMismatch
	switch {
	case err == nil:
		fmt.Println("complete")
	case errors.As(err, &m):
		fmt.Println("incomplete:", m.Missing(), "missing")
	default:
		fmt.Println("reject the digest:", err)
	}
	// Output: incomplete: 1 missing
}

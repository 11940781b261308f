package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StandardWebhooksTolerance is the clock skew that the Standard Webhooks
// specification recommends a receiver to accept, and a sensible tolerance
// for [StandardWebhooksVerify].
const StandardWebhooksTolerance = 5 * time.Minute

// ErrTimestamp means a Standard Webhooks timestamp lies outside the tolerance
// around the receiver's clock: a replay, or a badly skewed clock.
var ErrTimestamp = errors.New("webhook timestamp outside the tolerance")

const secretPrefix = "whsec_"

// NewStandardWebhooksSecret returns a new random Standard Webhooks secret:
// "whsec_" followed by the base64 of 32 random bytes.
func NewStandardWebhooksSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// StandardWebhooksSign returns the webhook-signature header for a message:
// "v1," followed by the base64 HMAC-SHA256 of "msgID.timestamp.body", where
// timestamp is in Unix seconds (the webhook-timestamp header) and the key is
// the base64-decoded part of secret after its "whsec_" prefix. As in the
// specification's reference libraries, the prefix may be left out.
func StandardWebhooksSign(secret, msgID string, timestamp time.Time, body []byte) (string, error) {
	if msgID == "" {
		return "", errors.New("standard webhooks: empty message id")
	}
	key, err := standardWebhooksKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + standardWebhooksMAC(key, msgID, timestamp.Unix(), body), nil
}

// StandardWebhooksVerify checks the Standard Webhooks headers of a message:
// msgID is the webhook-id header, timestampHeader the webhook-timestamp one
// (Unix seconds) and signatureHeader the webhook-signature one, which may
// hold several space-separated signatures (during a secret rotation) of
// which one must match; signatures of versions other than "v1" are skipped.
// The timestamp must lie within tolerance of now, else the error wraps
// [ErrTimestamp]. It returns an error wrapping [ErrNoSignature] when the
// header holds no v1 signature and [ErrMismatch] when none matches.
func StandardWebhooksVerify(secret, msgID, timestampHeader, signatureHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	if msgID == "" {
		return errors.New("standard webhooks: empty webhook-id")
	}
	key, err := standardWebhooksKey(secret)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(timestampHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("standard webhooks: parse webhook-timestamp %q: %w", timestampHeader, err)
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: %s is %s from now", ErrTimestamp, timestampHeader, skew.Abs())
	}
	want := []byte(standardWebhooksMAC(key, msgID, ts, body))
	found := false
	for _, sig := range strings.Fields(signatureHeader) {
		version, got, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		found = true
		if hmac.Equal([]byte(got), want) {
			return nil
		}
	}
	if !found {
		return fmt.Errorf("standard webhooks: %w in webhook-signature", ErrNoSignature)
	}
	return fmt.Errorf("standard webhooks: %w", ErrMismatch)
}

func standardWebhooksKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, fmt.Errorf("standard webhooks: decode secret: %w", err)
	}
	if len(key) == 0 {
		return nil, errors.New("standard webhooks: empty secret")
	}
	return key, nil
}

func standardWebhooksMAC(key []byte, msgID string, ts int64, body []byte) string {
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "%s.%d.", msgID, ts)
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

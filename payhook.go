// Package payhook holds the domain of the payhook webhook service: transactions,
// webhook settings, notifications and their attempts, who receives what
// (recipients), what the next step of a delivery is (retry), and the store
// interfaces the adapters implement. It does no I/O of its own.
//
// The behaviour follows ../shared/SPEC.md, a wire-compatible implementation of
// the webhook system that the payment platform Ottu documents.
package payhook

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// TimestampLayout is the layout of timestamp_utc in every payload ("2006-01-02 15:04:05", UTC).
const TimestampLayout = "2006-01-02 15:04:05"

// NewSessionID returns a new 40-hex-character checkout session id, the shape Ottu uses.
func NewSessionID() string { return randomHex(20) }

// NewNotificationID returns a new notification id ("msg_" + 26 base32 characters), sent
// as the webhook-id header on every attempt and re-send of that notification.
func NewNotificationID() string { return "msg_" + randomBase32(26) }

// NewReferenceNumber returns a new transaction reference number, such as "PH7K2M9QX4TB".
func NewReferenceNumber() string { return "PH" + strings.ToUpper(randomBase32(10)) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("payhook: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// base32 alphabet without easily confused characters (Crockford).
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

func randomBase32(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("payhook: crypto/rand failed: " + err.Error())
	}
	for i := range b {
		b[i] = crockford[b[i]&31]
	}
	return string(b)
}

// Clock tells the time; tests inject their own.
type Clock func() time.Time

// Now returns the clock's time, or time.Now when the clock is nil.
func (c Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

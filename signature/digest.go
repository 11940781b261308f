package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DigestScheme names the digest format and its signed message; it is the "scheme"
// field of every digest.
const DigestScheme = "payhook-digest-v1"

// ErrDigestIncomplete means that a merchant's list of webhook-ids does not match the
// digest: the error is a [*DigestMismatch] that says how.
var ErrDigestIncomplete = errors.New("the logged webhook-ids do not match the digest")

// Digest is payhook's signed daily digest of one URL: how many notifications were
// delivered to URL on the UTC day Date, and a hash over their webhook-ids. payhook
// serves it as JSON (GET /b/webhook/v1/digests/) and can send it as a notification
// of kind "digest"; a merchant compares it with its own log of accepted webhook-ids
// ([VerifyDigest]) to prove that it received everything.
//
// A notification counts on each UTC day on which an attempt that started that day
// was accepted (200 or 201), once per day however often it was accepted; digest
// notifications themselves never count.
type Digest struct {
	Scheme string `json:"scheme"` // DigestScheme
	URL    string `json:"url"`
	Date   string `json:"date"` // YYYY-MM-DD, UTC
	Count  int    `json:"count"`
	// Hash is [DigestHash] of the delivered webhook-ids.
	Hash string `json:"hash"`
	// Signature is [SignDigest] of the other fields.
	Signature string `json:"signature"`
}

// DigestHash returns the lowercase hex SHA-256 of ids, deduplicated and sorted
// (byte order), joined by "\n" with no trailing newline. No id hashes the empty
// string (e3b0c442…).
func DigestHash(ids []string) string {
	ids = digestIDs(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return hex.EncodeToString(sum[:])
}

// digestIDs returns ids sorted, without duplicates and empty lines.
func digestIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// DigestMessage returns the text that a digest's signature signs:
// "payhook-digest-v1\n{url}\n{date}\n{count}\n{hash}".
func DigestMessage(d Digest) string {
	return DigestScheme + "\n" + d.URL + "\n" + d.Date + "\n" + strconv.Itoa(d.Count) + "\n" + d.Hash
}

// SignDigest returns the lowercase hex HMAC-SHA256, keyed with key (the HMAC key of
// payhook's webhook settings), of [DigestMessage] of d.
func SignDigest(key string, d Digest) string {
	return mac(key, DigestMessage(d))
}

// NewDigest returns the signed digest of the webhook-ids delivered to url on date.
func NewDigest(key, url, date string, ids []string) Digest {
	d := Digest{Scheme: DigestScheme, URL: url, Date: date, Count: len(digestIDs(ids)), Hash: DigestHash(ids)}
	d.Signature = SignDigest(key, d)
	return d
}

// DigestMismatch tells how a merchant's log differs from a digest whose signature
// is good.
type DigestMismatch struct {
	// Digest is how many notifications payhook delivered; Logged how many distinct
	// ids the merchant's log holds.
	Digest, Logged int
}

// Missing is how many delivered notifications are missing from the log, at least
// (the log may also hold as many ids that payhook did not count).
func (m *DigestMismatch) Missing() int { return max(m.Digest-m.Logged, 0) }

// Extra is how many logged ids the digest does not count, at least.
func (m *DigestMismatch) Extra() int { return max(m.Logged-m.Digest, 0) }

// Error describes the difference. A hash cannot say which ids differ: the digest API
// lists them (ids=true) and the reconciliation API lists what was never delivered.
func (m *DigestMismatch) Error() string {
	switch {
	case m.Missing() > 0:
		return fmt.Sprintf("%d delivered %s missing from your log (the digest counts %d, your log has %d)",
			m.Missing(), plural(m.Missing(), "notification", "notifications"), m.Digest, m.Logged)
	case m.Extra() > 0:
		return fmt.Sprintf("%d %s in your log that the digest does not count (the digest counts %d, your log has %d)",
			m.Extra(), plural(m.Extra(), "id", "ids"), m.Digest, m.Logged)
	default:
		return fmt.Sprintf("the digest and your log both count %d, but not the same ids: some are missing and as many are extra", m.Digest)
	}
}

// Unwrap makes errors.Is(err, ErrDigestIncomplete) true.
func (m *DigestMismatch) Unwrap() error { return ErrDigestIncomplete }

// VerifyDigest checks d's signature under key and then that ids (the webhook-ids
// the merchant accepted on d.Date from d.URL, in any order; duplicates and blank
// entries are ignored) are exactly those the digest counts. It returns nil when
// they are, an error wrapping [ErrMismatch] when the signature is wrong (the digest
// was altered or the key differs), an error wrapping [ErrUnknownVersion] for another
// scheme, and a [*DigestMismatch] (wrapping [ErrDigestIncomplete]) when the ids differ.
func VerifyDigest(key string, d Digest, ids []string) error {
	if d.Scheme != DigestScheme {
		return fmt.Errorf("%w: digest scheme %q, want %q", ErrUnknownVersion, d.Scheme, DigestScheme)
	}
	if d.Signature == "" {
		return ErrNoSignature
	}
	if !hmac.Equal([]byte(d.Signature), []byte(SignDigest(key, d))) {
		return fmt.Errorf("%w: the digest's signature is not that of its fields under this key", ErrMismatch)
	}
	logged := digestIDs(ids)
	if len(logged) == d.Count && DigestHash(logged) == d.Hash {
		return nil
	}
	return &DigestMismatch{Digest: d.Count, Logged: len(logged)}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Package signature signs and verifies payhook webhook payloads.
//
// A merchant can import this package on its own (it uses only the standard
// library) to check what payhook sends. Two schemes put a lowercase hex
// HMAC-SHA256 in the body's "signature" field:
//
//   - [V1], the default, Ottu's published algorithm: the signed fields present
//     at the top level of the payload, sorted by name, concatenated as
//     name+value with no separator.
//   - [V2]: the v1 fields plus a few paths into nested objects (such as
//     "token.pg_code"), sorted, written as path=value and joined with "\n".
//
// In both, a field that is absent, null or "" is left out, and a field whose
// value is an object or an array is left out too: only scalars are signed.
// payhook sends every signed field as a JSON string. A verifier receives
// arbitrary JSON, though, so a number is rendered by its literal JSON text
// ("86.0" stays "86.0") and a boolean as true or false; Ottu's Python SDK
// renders such values differently, which is why payhook never sends them.
//
// Beside the body field, payhook can send Standard Webhooks headers
// (https://www.standardwebhooks.com/); [StandardWebhooksSign] and
// [StandardWebhooksVerify] produce and check them.
//
// payhook's signed daily digests (the count and a hash of the webhook-ids delivered
// to a URL on a UTC day) are checked with [VerifyDigest]; see [Digest].
package signature

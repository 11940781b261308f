package signature_test

import (
	"errors"
	"testing"

	"github.com/payhook/payhook/signature"
)

func TestDigestHash_SortsAndDeduplicates(t *testing.T) {
	t.Parallel()
	// sha256("") and sha256("a\nb").
	if got := signature.DigestHash(nil); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty hash %s", got)
	}
	a := signature.DigestHash([]string{"b", "a", "b", " ", ""})
	if a != "7e18f737311b2dc3b2f269dd78396b0351f14fb66efa879f768cb23181883c78" { // sha256("a\nb")
		t.Fatalf("hash %s", a)
	}
	// A fixed vector of the signed message, for other implementations.
	d := signature.Digest{Scheme: signature.DigestScheme, URL: "https://shop.example/hook", Date: "2026-12-04", Count: 2, Hash: a}
	if got := signature.SignDigest("pu9MpX3yPR", d); got != "c1c643e2e4a744f14763701caac97e463223783e4a7ad2f7edbe359544a81f3b" {
		t.Fatalf("signature %s", got)
	}
}

func TestVerifyDigest(t *testing.T) {
	t.Parallel()
	const key = "pu9MpX3yPR"
	ids := []string{"msg_3", "msg_1", "msg_2"}
	d := signature.NewDigest(key, "https://shop.example/hook", "2026-12-04", ids)
	if d.Count != 3 || d.Scheme != signature.DigestScheme {
		t.Fatalf("digest %+v", d)
	}
	tampered := d
	tampered.Count = 2
	otherHash := d
	otherHash.Hash = signature.DigestHash([]string{"msg_1"})
	tests := []struct {
		name           string
		key            string
		d              signature.Digest
		ids            []string
		want           error
		missing, extra int
	}{
		{"complete, any order, duplicates ignored", key, d, []string{"msg_2", "msg_1", "msg_3", "msg_1"}, nil, 0, 0},
		{"wrong key", "other-key", d, ids, signature.ErrMismatch, 0, 0},
		{"count tampered", key, tampered, ids, signature.ErrMismatch, 0, 0},
		{"hash tampered", key, otherHash, ids, signature.ErrMismatch, 0, 0},
		{"one missing", key, d, []string{"msg_1", "msg_3"}, signature.ErrDigestIncomplete, 1, 0},
		{"one extra", key, d, append(ids, "msg_4"), signature.ErrDigestIncomplete, 0, 1},
		{"one swapped", key, d, []string{"msg_1", "msg_2", "msg_9"}, signature.ErrDigestIncomplete, 0, 0},
		{"no signature", key, signature.Digest{Scheme: signature.DigestScheme}, nil, signature.ErrNoSignature, 0, 0},
		{"other scheme", key, signature.Digest{Scheme: "v9"}, nil, signature.ErrUnknownVersion, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signature.VerifyDigest(tt.key, tt.d, tt.ids)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyDigest = %v, want %v", err, tt.want)
			}
			var m *signature.DigestMismatch
			if errors.As(err, &m) && (m.Missing() != tt.missing || m.Extra() != tt.extra) {
				t.Fatalf("missing %d extra %d, want %d %d (%v)", m.Missing(), m.Extra(), tt.missing, tt.extra, err)
			}
		})
	}
}

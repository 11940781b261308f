package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/gateway/sandbox"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/signature"
)

// writeDigest writes a digest (with the API's extra fields) and the ids file, and
// returns their paths.
func writeDigest(t *testing.T, d signature.Digest, logged []string) (digestPath, idsPath string) {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(map[string]any{"scheme": d.Scheme, "url": d.URL, "date": d.Date, "count": d.Count,
		"hash": d.Hash, "signature": d.Signature, "final": true})
	require.NoError(t, err)
	digestPath, idsPath = filepath.Join(dir, "digest.json"), filepath.Join(dir, "ids.txt")
	require.NoError(t, os.WriteFile(digestPath, b, 0o600))
	require.NoError(t, os.WriteFile(idsPath, []byte(strings.Join(logged, "\n")+"\n"), 0o600))
	return digestPath, idsPath
}

func TestRunVerifyDigest(t *testing.T) {
	t.Parallel()
	const u = "https://shop.example/hook"
	ids := []string{"msg_a", "msg_b", "msg_c"}
	d := signature.NewDigest(signKey, u, "2026-12-04", ids)
	tampered := d
	tampered.Count = 2
	tests := []struct {
		name     string
		d        signature.Digest
		logged   []string
		key      string
		code     int
		contains string
	}{
		{"complete", d, []string{"msg_c", "msg_a", "", "msg_b", "msg_a"}, signKey, 0, "complete: 3 notifications"},
		{"one missing", d, ids[:2], signKey, 1, "1 delivered notification missing from your log"},
		{"one extra", d, append(ids, "msg_z"), signKey, 1, "1 id in your log that the digest does not count"},
		{"swapped", d, []string{"msg_a", "msg_b", "msg_z"}, signKey, 1, "not the same ids"},
		{"tampered", tampered, ids, signKey, 1, "bad signature"},
		{"wrong key", d, ids, "another-key", 1, "bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			digestPath, idsPath := writeDigest(t, tt.d, tt.logged)
			r := runCLI(runVerifyDigest, "", "--key", tt.key, "--ids", idsPath, digestPath)
			require.Equal(t, tt.code, r.code, "%+v", r)
			require.Contains(t, r.stdout+r.stderr, tt.contains)
			if tt.name == "one missing" {
				require.Contains(t, r.stderr, "/b/webhook/v1/reconciliation/?")
				require.Contains(t, r.stderr, "ids=true")
			}
			// The same from standard input.
			logged := strings.Join(tt.logged, "\n")
			r = runCLI(runVerifyDigest, logged, "--key", tt.key, digestPath)
			require.Equal(t, tt.code, r.code, "%+v", r)
		})
	}
}

func TestRunVerifyDigest_UsageAndUnreadableFiles(t *testing.T) {
	t.Parallel()
	digestPath, _ := writeDigest(t, signature.NewDigest(signKey, "https://a.example/", "2026-12-04", nil), nil)
	require.Equal(t, 2, runCLI(runVerifyDigest, "", "--key", signKey).code, "no DIGEST_FILE")
	require.Equal(t, 2, runCLI(runVerifyDigest, "", digestPath).code, "no key")
	require.Equal(t, 0, runCLI(runVerifyDigest, "", "-h").code)
	r := runCLI(runVerifyDigest, "", "--key", signKey, filepath.Join(t.TempDir(), "absent.json"))
	require.Equal(t, 1, r.code)
	r = runCLI(runVerifyDigest, "", "--key", signKey, "--ids", filepath.Join(t.TempDir(), "absent.txt"), digestPath)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "read ids")
	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("not json"), 0o600))
	require.Equal(t, 1, runCLI(runVerifyDigest, "", "--key", signKey, bad).code)
	r = runCLI(runVerifyDigest, "", "--key", signKey, digestPath)
	require.Equal(t, 0, r.code, "%+v", r) // an empty day and an empty log
	require.Contains(t, r.stdout, "complete: 0 notifications")
}

// The built binary, as a merchant runs it.
func TestVerifyDigest_Binary(t *testing.T) {
	d := signature.NewDigest(signKey, "https://shop.example/hook", "2026-12-04", []string{"msg_1", "msg_2"})
	digestPath, idsPath := writeDigest(t, d, []string{"msg_2", "msg_1"})
	code, stdout, stderr := runPayhook(t, cleanEnv(), "verify-digest", "--key", signKey, "--ids", idsPath, digestPath)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "complete: 2 notifications")
	_, idsPath = writeDigest(t, d, []string{"msg_2"})
	code, _, stderr = runPayhook(t, cleanEnv("PAYHOOK_HMAC_KEY="+signKey), "verify-digest", "--ids", idsPath, digestPath)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "1 delivered notification missing")
}

// End to end: a merchant logs what it accepted; the digest the API serves for the day,
// saved as a file, checks out against that log with the binary, and not once an id is
// missing from it.
func TestVerifyDigest_AgainstTheAPIsDigestAndAMerchantsLog(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	if now.Truncate(24*time.Hour).Add(24*time.Hour).Sub(now) < 2*time.Minute {
		t.Skip("too close to midnight UTC: the notifications would straddle two days")
	}
	const key = "verify-digest-e2e-key"
	env := phtest.New(t)
	env.Configure(map[string]any{"enabled": true, "api_transactions_enabled": true, "hmac_key": key})
	rc := phtest.NewReceiver(t)
	for range 3 {
		c := env.Checkout(map[string]any{"webhook_url": rc.URL})
		code, _ := env.Pay(c["checkout_url"].(string), sandbox.CardSuccess)
		require.Equal(t, http.StatusSeeOther, code)
	}
	var logged []string
	for _, r := range rc.Wait(t, 3, 5*time.Second) {
		logged = append(logged, r.Header.Get("webhook-id"))
	}
	code, body := env.Do("GET", "/b/webhook/v1/digests/?"+url.Values{"url": {rc.URL}, "date": {now.Format(time.DateOnly)}}.Encode(), nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	dir := t.TempDir()
	digestPath, idsPath := filepath.Join(dir, "digest.json"), filepath.Join(dir, "ids.txt")
	require.NoError(t, os.WriteFile(digestPath, body, 0o600))
	require.NoError(t, os.WriteFile(idsPath, []byte(strings.Join(logged, "\n")), 0o600))

	exit, stdout, stderr := runPayhook(t, cleanEnv(), "verify-digest", "--key", key, "--ids", idsPath, digestPath)
	require.Equal(t, 0, exit, stderr)
	require.Contains(t, stdout, "complete: 3 notifications")

	r := runCLI(runVerifyDigest, strings.Join(logged[1:], "\n"), "--key", key, digestPath)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "1 delivered notification missing from your log")
	tampered := strings.Replace(string(body), `"count":3`, `"count":2`, 1)
	require.NotEqual(t, string(body), tampered)
	require.NoError(t, os.WriteFile(digestPath, []byte(tampered), 0o600))
	r = runCLI(runVerifyDigest, strings.Join(logged[1:], "\n"), "--key", key, digestPath)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "bad signature")
}

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The published vectors of SPEC §5.
const (
	signKey     = "pu9MpX3yPR"
	signV1Body  = `{"amount":"86.000","currency_code":"KWD","customer_first_name":"example-customer"}`
	signV1Sig   = "6143b8ad4bd283540721ab000f6de746e722231aaaa90bc38f639081d3ff9f67"
	signV1Body2 = `{"amount":"86.000","currency_code":"KWD","customer_first_name":"example-customer","customer_last_name":"","customer_email":"customer@example.com","gateway_name":"kpay","gateway_account":"knet","order_no":"ORDER-1001","reference_number":"ABC12","result":"success","session_id":"a12f71075a834a34d692736ac43a212fcebfb6ec","state":"paid"}`
	signV1Sig2  = "29e70de083707b3a738e9d5f4df4e4481d082c4614db97a55f50d4b4583dc5f2"
	signV2Body  = `{"amount":"49.990","currency_code":"KWD","customer_email":"customer@example.com","customer_first_name":"Jane","customer_last_name":"","gateway_account":"credit-card","gateway_name":"mpgs","order_no":"ORD-1001","payment_type":"auto_pay","reference_number":"betabulkAQ5DJ","result":"success","session_id":"a12f71075a834a34d692736ac43a212fcebfb6ec","state":"paid","agreement":{"id":"AGR-abc123"},"extra":{"merchant_id":"merchant.ottu.net","autopay":{"subscription_id":"sub_abc123"}},"token":{"token":"9491500736137502","pg_code":"credit-card","customer_id":"cust_12345","brand":"MASTERCARD","number":"**** 0008"}}`
	signV2Sig   = "4ea44c61554e6b64feeb82e6bfc724dc1c46bf183596f5375f5cb12cca14b7ef"
)

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(run func([]string, io.Reader, io.Writer, io.Writer) int, stdin string, args ...string) cliResult {
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{code, stdout.String(), stderr.String()}
}

// writePayload writes body to a file in a fresh directory and returns its path.
func writePayload(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payload.json")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

// signed adds a "signature" field to a JSON object.
func signed(body, sig string) string {
	return strings.TrimSuffix(body, "}") + `,"signature":"` + sig + `"}`
}

func TestRunSign_PublishedVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flags []string
		body  string
		want  string
	}{
		{"v1 by default", nil, signV1Body, signV1Sig},
		{"v1 second vector", []string{"--version", "v1"}, signV1Body2, signV1Sig2},
		{"v2", []string{"--version=v2"}, signV2Body, signV2Sig},
		{"own signature field is ignored", nil, signed(signV1Body, "stale"), signV1Sig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--key", signKey}, tt.flags...)

			fromFile := runCLI(runSign, "", append(args, writePayload(t, tt.body))...)
			require.Equal(t, cliResult{0, tt.want + "\n", ""}, fromFile)

			fromStdin := runCLI(runSign, tt.body, args...)
			require.Equal(t, cliResult{0, tt.want + "\n", ""}, fromStdin)

			fromDash := runCLI(runSign, tt.body, append(args, "-")...)
			require.Equal(t, cliResult{0, tt.want + "\n", ""}, fromDash)
		})
	}
}

func TestRunSign_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"bad JSON", `{"amount":`, []string{"--key", signKey}, 1, "payhook sign: decode payload"},
		{"not an object", `[1]`, []string{"--key", signKey}, 1, "payhook sign: decode payload"},
		{"missing file", "", []string{"--key", signKey, "/nonexistent/payload.json"}, 1, "payhook sign: read payload"},
		{"unknown version", signV1Body, []string{"--key", signKey, "--version", "v3"}, 2, `unknown --version "v3"`},
		{"unknown flag", signV1Body, []string{"--key", signKey, "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"two files", signV1Body, []string{"--key", signKey, "a.json", "b.json"}, 2, `unexpected argument "b.json"`},
		{"flag after FILE", signV1Body, []string{"a.json", "--key", signKey}, 2, `unexpected argument "--key": give at most one FILE, after the flags`},
		{"empty key", signV1Body, []string{"--key", ""}, 2, "missing --key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCLI(runSign, tt.stdin, tt.args...)
			require.Equal(t, tt.wantCode, got.code)
			require.Empty(t, got.stdout)
			require.Contains(t, got.stderr, tt.wantStderr)
			if tt.wantCode == 2 {
				require.Contains(t, got.stderr, "usage: payhook sign")
			}
		})
	}
}

func TestRunSign_Help(t *testing.T) {
	t.Parallel()
	got := runCLI(runSign, "", "-h")
	require.Equal(t, 0, got.code)
	require.Contains(t, got.stderr, "usage: payhook sign --key KEY [--version v1|v2] [FILE]")
	require.Contains(t, got.stderr, hmacKeyEnv)
}

// Not parallel: it sets the environment.
func TestRunSignVerify_KeyFromEnvironment(t *testing.T) {
	t.Setenv(hmacKeyEnv, signKey)
	require.Equal(t, cliResult{0, signV1Sig + "\n", ""}, runCLI(runSign, signV1Body))
	require.Equal(t, cliResult{0, "signature OK (v1)\n", ""}, runCLI(runVerify, signed(signV1Body, signV1Sig)))

	// The flag wins over the environment.
	got := runCLI(runVerify, signed(signV1Body, signV1Sig), "--key", "other")
	require.Equal(t, 1, got.code)
	require.Contains(t, got.stderr, "signature mismatch")

	t.Setenv(hmacKeyEnv, "")
	for name, run := range map[string]func([]string, io.Reader, io.Writer, io.Writer) int{"sign": runSign, "verify": runVerify} {
		got := runCLI(run, signV1Body)
		require.Equal(t, 2, got.code, name)
		require.Contains(t, got.stderr, "payhook "+name+": missing --key (or $"+hmacKeyEnv+")")
	}
}

func TestRunVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"v1 vector", signed(signV1Body, signV1Sig), nil, 0, "signature OK (v1)\n", ""},
		{"v1 second vector", signed(signV1Body2, signV1Sig2), nil, 0, "signature OK (v1)\n", ""},
		{"v2 vector", signed(signV2Body, signV2Sig), nil, 0, "signature OK (v2)\n", ""},
		{"tampered payload", strings.Replace(signed(signV1Body, signV1Sig), "86.000", "96.000", 1), nil, 1, "",
			"payhook verify: signature mismatch: the payload carries " + signV1Sig},
		{"v1 signature over v2 fields", signed(signV2Body, signV1Sig), nil, 1, "",
			"v2 gives " + signV2Sig},
		{"no signature field", signV1Body, nil, 1, "", `payhook verify: payload has no "signature" field` + "\n"},
		{"non-string signature", strings.TrimSuffix(signV1Body, "}") + `,"signature":1}`, nil, 1, "", `"signature" field is not a string`},
		{"bad JSON", `{"signature":`, nil, 1, "", "payhook verify: decode payload"},
		{"two files", signV1Body, []string{"a", "b"}, 2, "", "usage: payhook verify --key KEY [FILE]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--key", signKey}, tt.args...)

			got := runCLI(runVerify, tt.body, args...)
			require.Equal(t, tt.wantCode, got.code, got.stderr)
			require.Equal(t, tt.wantStdout, got.stdout)
			require.Contains(t, got.stderr, tt.wantStderr)

			if tt.args == nil {
				fromFile := runCLI(runVerify, "", append(args, writePayload(t, tt.body))...)
				require.Equal(t, got, fromFile)
			}
		})
	}
}

func TestRunVerify_WrongKey(t *testing.T) {
	t.Parallel()
	got := runCLI(runVerify, signed(signV1Body, signV1Sig), "--key", "not-the-key")
	require.Equal(t, 1, got.code)
	require.Empty(t, got.stdout)
	require.Contains(t, got.stderr, "signature mismatch")
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/payhook/payhook/signature"
)

// hmacKeyEnv is the environment twin of the --key flag of sign and verify.
const hmacKeyEnv = "PAYHOOK_HMAC_KEY"

// errSignUsage reports a usage error that has already been shown to the user.
var errSignUsage = errors.New("usage error")

// runSign implements "payhook sign --key KEY [--version v1|v2] [FILE]": it
// prints the lowercase hex signature of the JSON payload in FILE, or on
// standard input when FILE is absent or "-". It returns the exit code: 0 on
// success, 1 when the payload cannot be read or is not a JSON object, 2 on a
// usage error.
func runSign(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newSignFlagSet("sign", "--key KEY [--version v1|v2] [FILE]",
		"Prints the signature of the JSON payload in FILE, or on standard input.", stderr)
	key := fs.String("key", "", "the HMAC key (default $"+hmacKeyEnv+")")
	version := fs.String("version", string(signature.V1), "the signature scheme: v1 or v2")
	file, err := parseSignArgs(fs, key, args)
	if err != nil {
		return signUsageExit(err)
	}
	v := signature.Version(*version)
	if v != signature.V1 && v != signature.V2 {
		return signUsageExit(signUsageError(fs, "unknown --version %q: want v1 or v2", *version))
	}

	body, err := readSignPayload(file, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "payhook sign: %v\n", err)
		return 1
	}
	sig, err := signature.SignJSON(v, *key, body)
	if err != nil {
		fmt.Fprintf(stderr, "payhook sign: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, sig)
	return 0
}

// runVerify implements "payhook verify --key KEY [FILE]": it checks the
// "signature" field of the JSON payload in FILE, or on standard input, and
// names the scheme that matched. It returns the exit code: 0 when the
// signature matches, 1 when it does not, is missing or the payload cannot be
// read, 2 on a usage error.
func runVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newSignFlagSet("verify", "--key KEY [FILE]",
		`Checks the "signature" field of the JSON payload in FILE, or on standard input,
against the v1 and v2 schemes.`, stderr)
	key := fs.String("key", "", "the HMAC key (default $"+hmacKeyEnv+")")
	file, err := parseSignArgs(fs, key, args)
	if err != nil {
		return signUsageExit(err)
	}

	body, err := readSignPayload(file, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "payhook verify: %v\n", err)
		return 1
	}
	v, err := signature.Verify(*key, body)
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "signature OK (%s)\n", v)
		return 0
	case err == signature.ErrNoSignature: // a wrapped one (not a string) says more: default
		fmt.Fprintln(stderr, `payhook verify: payload has no "signature" field`)
	case errors.Is(err, signature.ErrMismatch):
		// Show what the key gives, so that a wrong key or a changed field
		// can be told apart by comparing with the sender's output.
		v1, _ := signature.SignJSON(signature.V1, *key, body)
		v2, _ := signature.SignJSON(signature.V2, *key, body)
		fmt.Fprintf(stderr, "payhook verify: signature mismatch: the payload carries %s, but with this key v1 gives %s and v2 gives %s\n",
			signatureOf(body), v1, v2)
	default:
		fmt.Fprintf(stderr, "payhook verify: %v\n", err)
	}
	return 1
}

// signatureOf returns the "signature" field of a payload that Verify has
// decoded.
func signatureOf(body []byte) string {
	var p struct {
		Signature string `json:"signature"`
	}
	_ = json.Unmarshal(body, &p) // Verify has decoded it already
	return p.Signature
}

func newSignFlagSet(name, synopsis, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: payhook %s %s\n\n%s\n\nFlags:\n", name, synopsis, description)
		fs.PrintDefaults()
	}
	return fs
}

// parseSignArgs parses the flags and the optional FILE of sign and verify,
// taking the key from the environment when --key is absent. Its error has
// already been shown to the user.
func parseSignArgs(fs *flag.FlagSet, key *string, args []string) (file string, err error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 1 {
		return "", signUsageError(fs, "unexpected argument %q: give at most one FILE, after the flags", fs.Arg(1))
	}
	keyGiven := false
	fs.Visit(func(f *flag.Flag) { keyGiven = keyGiven || f.Name == "key" })
	if !keyGiven {
		*key = os.Getenv(hmacKeyEnv)
	}
	if *key == "" {
		return "", signUsageError(fs, "missing --key (or $%s)", hmacKeyEnv)
	}
	return fs.Arg(0), nil
}

func signUsageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "payhook %s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errSignUsage
}

// signUsageExit is the exit code for an error of parseSignArgs: -h asks
// for help, which is no failure.
func signUsageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// readSignPayload reads the named file, or stdin for "" and "-".
func readSignPayload(file string, stdin io.Reader) ([]byte, error) {
	if file == "" || file == "-" {
		body, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return body, nil
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	return body, nil
}

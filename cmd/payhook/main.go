// Command payhook is the payhook service and its tools:
//
//	payhook serve     run everything: APIs, checkout pages, delivery workers
//	payhook migrate   apply pending database migrations
//	payhook sign      print the signature of a payload
//	payhook verify    check a payload's signature
//	payhook verify-digest  check a daily digest against the webhook-ids a merchant logged
//	payhook bench     measure payments/s and the latency the notification adds
//	payhook user      create a dashboard user
//	payhook version   print the version, the revision and the Go version
//
// Every flag has a PAYHOOK_* environment twin; run "payhook serve -h" for the list.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `payhook: payment webhook notifications, wire-compatible with Ottu.

Usage:
  payhook serve   [flags]   run the service (APIs, checkout pages, delivery workers)
  payhook migrate [flags]   apply pending database migrations
  payhook sign    --key KEY [--version v1|v2] [FILE]
  payhook verify  --key KEY [FILE]
  payhook verify-digest --key KEY [--ids FILE] DIGEST_FILE
  payhook bench   [flags]   run the end-to-end benchmark against a fresh payhook serve
  payhook user create --email EMAIL [--database …]   create a dashboard user (password on stdin)
  payhook version           print the version, the revision and the Go version

Run "payhook COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(args[1:], stdout, stderr)
	case "sign":
		return runSign(args[1:], stdin, stdout, stderr)
	case "verify":
		return runVerify(args[1:], stdin, stdout, stderr)
	case "verify-digest":
		return runVerifyDigest(args[1:], stdin, stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "user":
		return runUser(args[1:], stdin, stdout, stderr)
	case "version", "--version":
		return runVersion(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "payhook: unknown command %q\n\n%s", args[0], usage)
	return 2
}

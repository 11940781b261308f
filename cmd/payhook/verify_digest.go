package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/payhook/payhook/signature"
)

// runVerifyDigest implements "payhook verify-digest --key KEY [--ids FILE] DIGEST_FILE":
// it checks a daily digest (JSON, as GET /b/webhook/v1/digests/ answers it or as the
// digest notification's body) against the webhook-ids a merchant logged that day, one a
// line, from FILE or standard input. It returns the exit code: 0 when the signature is
// good and the ids are exactly those counted, 1 when they are not or a file cannot be
// read, 2 on a usage error.
func runVerifyDigest(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newSignFlagSet("verify-digest", "--key KEY [--ids FILE] DIGEST_FILE",
		`Checks the signature of the daily digest in DIGEST_FILE (JSON, as the digests API
answers it or as the digest notification brings it) and that the webhook-ids you
logged that day for its URL (one a line, from --ids FILE or standard input; blank
lines and duplicates ignored) are exactly the ones it counts. Exits 0 when they are,
1 when not (saying how), 2 on a usage error.`, stderr)
	key := fs.String("key", "", "the HMAC key (default $"+hmacKeyEnv+")")
	idsFile := fs.String("ids", "", "the file of logged webhook-ids (default: standard input)")
	file, err := parseSignArgs(fs, key, args)
	if err != nil {
		return signUsageExit(err)
	}
	if file == "" || (file == "-" && *idsFile == "") {
		return signUsageExit(signUsageError(fs, "missing DIGEST_FILE (standard input carries the ids unless --ids is given)"))
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "payhook verify-digest: "+format+"\n", args...)
		return 1
	}
	raw, err := readSignPayload(file, stdin)
	if err != nil {
		return fail("%v", err)
	}
	var d signature.Digest
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&d); err != nil {
		return fail("read digest: %v", err)
	}
	var in io.Reader = stdin
	if *idsFile != "" && *idsFile != "-" {
		f, err := os.Open(*idsFile)
		if err != nil {
			return fail("read ids: %v", err)
		}
		defer f.Close()
		in = f
	}
	var ids []string
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		ids = append(ids, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fail("read ids: %v", err)
	}

	err = signature.VerifyDigest(*key, d, ids)
	var m *signature.DigestMismatch
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "complete: %d notifications delivered to %s on %s, all in your log\n", d.Count, d.URL, d.Date)
		return 0
	case errors.Is(err, signature.ErrMismatch):
		return fail("bad signature: the digest was altered, or signed with another HMAC key than this one")
	case errors.As(err, &m):
		day, _ := time.Parse(time.DateOnly, d.Date)
		q := url.Values{"url": {d.URL}, "date": {d.Date}, "ids": {"true"}}
		rq := url.Values{"url": {d.URL}, "from": {day.Format(time.RFC3339)}, "to": {day.AddDate(0, 0, 1).Format(time.RFC3339)}}
		var hint strings.Builder
		hint.WriteString("a hash cannot name the ids that differ: compare your log with the ids of GET /b/webhook/v1/digests/?" + q.Encode())
		if m.Missing() > 0 {
			hint.WriteString(", and see what was never delivered with GET /b/webhook/v1/reconciliation/?" + rq.Encode())
		}
		return fail("incomplete: %v; %s", m, hint.String())
	default:
		return fail("%v", err)
	}
}

package web

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// TestCheckJSON walks the scanner through what the API tests do not reach: every JSON
// value kind, escapes, depth, and bodies that are not JSON (left to the decoder).
func TestCheckJSON(t *testing.T) {
	fields := func(body string) map[string][]string {
		err := checkJSON([]byte(body))
		if err == nil {
			return nil
		}
		var e *payhook.Error
		require.True(t, errors.As(err, &e), "%v", err)
		require.Equal(t, payhook.EINVALID, e.Code)
		return e.Fields
	}
	for _, ok := range []string{
		`{}`, `[]`, `{"a": [1, -2.5e+3, 0, true, false, null, "x", {"b": []}]}`,
		`{"a": "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`,
		`{"a": {"k": 1}, "b": {"k": 2}}`, // equal keys in different objects
		`{"a": 1, "A": 2}`,               // keys are case-sensitive
		`  {"a": 1}  `,
		"{\"a\": \"\xe2\x82\xac\"}", // valid multi-byte UTF-8
	} {
		require.Nil(t, fields(ok), "%s", ok)
	}
	// Not JSON: the decoder reports it in its own words.
	for _, bad := range []string{`{"a": }`, `{"a" 1}`, `{"a": 01x}`, `{"a": "\q"}`, `{"a": "\u12"}`, `[1,]`, `{"a": tru}`, "{\"a\": \"x\ty\"}",
		strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2)} {
		require.Nil(t, fields(bad), "%s", bad)
	}
	// A rule broken before a syntax error is still named.
	require.Contains(t, fields(`{"a": 1, "a": 2, "b": }`), "a")
	// Several fields at once; paths through arrays of objects.
	got := fields(`{"a": [{"x": 1, "x": 2}, "\u0000"], "b": {"c": {"d": "\udc00"}}}`)
	require.Contains(t, got, "a[0].x")
	require.Contains(t, got, "a[1]")
	require.Contains(t, got, "b.c.d")
	// A high surrogate followed by something other than a low one.
	require.Contains(t, fields(`{"s": "\ud800\u0041"}`), "s")
	// The answer names at most maxStrictErrors fields.
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 100; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d": 1, "k%d": 2, "k%d": 3`, i, i, i)
	}
	b.WriteString("}")
	got = fields(b.String())
	require.Len(t, got, maxStrictErrors)
	require.Len(t, got["k0"], 1, "a key given three times is named once")
}

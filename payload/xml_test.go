package payload

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestXML_Golden(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		value map[string]any
	}{
		{"xml_empty", map[string]any{}},
		{"xml_nil_map", nil},
		{"xml_payment", map[string]any{
			"amount":           "19.000",
			"currency_code":    "KWD",
			"order_no":         "ORD-1001",
			"session_id":       "4a462681df6aab64e27cedc9bbf733cd8a5f3b0f",
			"state":            "paid",
			"result":           "success",
			"reference_number": "ABC123",
			"timestamp_utc":    "2024-05-01 10:00:00",
			"is_sandbox":       true,
			"signature":        "a1b2c3",
			"paid_amount":      json.Number("19.000"),
			"attempts":         2,
			"gateway_account":  "kpay",
			"extra":            map[string]any{"customer_ref": "C-9", "tags": []string{"vip", "web"}},
			"agent":            nil,
			"transactions": []any{
				map[string]any{"amount": json.Number("10.000"), "state": "paid"},
				map[string]any{"amount": json.Number("9.000"), "state": "paid"},
			},
		}},
		{"xml_scalars", map[string]any{
			"bool_false":   false,
			"bool_true":    true,
			"float":        1.5,
			"float_big":    1e21,
			"float_small":  0.0000001,
			"float_whole":  float64(42),
			"int":          -7,
			"int64":        int64(math.MaxInt64),
			"number":       json.Number("12.340"),
			"null":         nil,
			"string_empty": "",
		}},
		{"xml_escaping", map[string]any{
			"markup":    `<script>alert("x") & 'y'</script>`,
			"cdata_end": "]]>",
			"newlines":  "line 1\nline 2\r\n\ttabbed",
			"unicode":   "دينار كويتي — €5 ✓",
			"control":   "nul\x00bell\x07",
		}},
		{"xml_invalid_keys", map[string]any{
			"1st":           "starts with a digit",
			"has space":     "contains a space",
			"a:b":           "contains a colon",
			"":              "empty key",
			"xmlns":         "reserved prefix",
			"XML_thing":     "reserved prefix, any case",
			"café":          "non-ASCII letter",
			`q"<&>'`:        "markup in the key",
			"entry":         "a real key named entry",
			"valid-name.v2": "kept as an element",
			"_under":        "kept as an element",
			"nested": map[string]any{
				"9lives": []any{"in an array", map[string]any{"x y": 1}},
			},
		}},
		{"xml_arrays", map[string]any{
			"empty_any":    []any{},
			"empty_map":    map[string]any{},
			"empty_string": []string{},
			"matrix":       []any{[]any{1, 2}, []any{}, []any{[]any{"deep"}}},
			"mixed":        []any{"a", 1, true, nil, json.Number("2.5"), map[string]any{"k": "v"}},
			"maps":         []map[string]any{{"id": 1}, {"id": 2}},
			"strings":      []string{"x", "", "<y>"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := XML(tt.value)
			require.NoError(t, err)
			requireWellFormed(t, got)
			golden(t, tt.name, got)
		})
	}
}

// node is a generic XML element, for checking what a parser reads back.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

// child returns the only child element of n with the given name and, when
// key is not nil, the given key attribute.
func (n node) child(t *testing.T, name string, key *string) node {
	t.Helper()
	var found []node
	for _, c := range n.Nodes {
		if c.XMLName.Local != name {
			continue
		}
		attr, has := c.attr("key")
		if (key == nil && !has) || (key != nil && has && attr == *key) {
			found = append(found, c)
		}
	}
	require.Len(t, found, 1, "children named %q", name)
	return found[0]
}

func (n node) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// requireWellFormed checks doc with a strict XML decoder: header, one root
// <payload>, every token valid.
func requireWellFormed(t *testing.T, doc []byte) node {
	t.Helper()
	require.True(t, bytes.HasPrefix(doc, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n")))

	dec := xml.NewDecoder(bytes.NewReader(doc))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "not well-formed:\n%s", doc)
	}

	var root node
	require.NoError(t, xml.Unmarshal(doc, &root))
	require.Equal(t, "payload", root.XMLName.Local)
	return root
}

func TestXML_StringsReadBackUnchanged(t *testing.T) {
	t.Parallel()

	values := map[string]string{
		"markup":    `<script>alert("x") & 'y'</script>`,
		"cdata_end": "]]>",
		"newlines":  "line 1\nline 2\r\n\ttabbed",
		"unicode":   "دينار كويتي — €5 ✓",
		"spaces":    "  padded  ",
	}
	in := map[string]any{}
	for k, v := range values {
		in[k] = v
	}
	doc, err := XML(in)
	require.NoError(t, err)
	root := requireWellFormed(t, doc)
	for k, want := range values {
		require.Equal(t, want, root.child(t, k, nil).Text, k)
	}
}

func TestXML_InvalidCharactersBecomeReplacementCharacter(t *testing.T) {
	t.Parallel()
	doc, err := XML(map[string]any{"s": "a\x00b\xffc"})
	require.NoError(t, err)
	root := requireWellFormed(t, doc)
	require.Equal(t, "a\uFFFDb\uFFFDc", root.child(t, "s", nil).Text)
}

func TestXML_KeysThatAreNotXMLNamesBecomeEntries(t *testing.T) {
	t.Parallel()

	keys := []string{"1st", "has space", "a:b", "", "xmlns", "XML_thing", "café", `q"<&>'`, "-dash", ".dot", "tab\tkey", "new\nline"}
	in := map[string]any{"entry": "a real key named entry"}
	for _, k := range keys {
		in[k] = "value of " + k
	}
	doc, err := XML(in)
	require.NoError(t, err)
	root := requireWellFormed(t, doc)

	for _, k := range keys {
		require.Equal(t, "value of "+k, root.child(t, "entry", &k).Text, "key %q", k)
	}
	require.Equal(t, "a real key named entry", root.child(t, "entry", nil).Text)
	require.Len(t, root.Nodes, len(keys)+1)
}

func TestXML_ValidKeysAreElementNames(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"a", "Z", "_", "order_no", "valid-name.v2", "x1", "xm", "xm_l", "Amount"} {
		require.True(t, isXMLName(k), k)
	}
	for _, k := range []string{"", "1", "-a", ".a", "a b", "a:b", "xml", "XmLfoo", "é", "a/b", "a>b"} {
		require.False(t, isXMLName(k), k)
	}
}

func TestXML_ArraysRepeatItems(t *testing.T) {
	t.Parallel()
	doc, err := XML(map[string]any{
		"list": []any{"a", []any{"b", "c"}, map[string]any{"k": "v"}},
	})
	require.NoError(t, err)
	root := requireWellFormed(t, doc)

	items := root.child(t, "list", nil).Nodes
	require.Len(t, items, 3)
	for _, it := range items {
		require.Equal(t, "item", it.XMLName.Local)
	}
	require.Equal(t, "a", items[0].Text)
	require.Len(t, items[1].Nodes, 2)
	require.Equal(t, "c", items[1].Nodes[1].Text)
	require.Equal(t, "v", items[2].child(t, "k", nil).Text)
}

func TestXML_IsDeterministic(t *testing.T) {
	t.Parallel()
	in := map[string]any{}
	for _, k := range []string{"e", "d", "c", "b", "a", "1", "x y", "f", "g", "h"} {
		in[k] = map[string]any{"z": k, "y": []any{k, k}, "x": nil}
	}
	first, err := XML(in)
	require.NoError(t, err)
	for range 50 {
		again, err := XML(in)
		require.NoError(t, err)
		require.Equal(t, string(first), string(again))
	}
}

func TestXML_Errors(t *testing.T) {
	t.Parallel()

	cyclic := map[string]any{}
	cyclic["self"] = cyclic

	tests := []struct {
		name  string
		value map[string]any
		want  string
	}{
		{"struct", map[string]any{"a": struct{}{}}, "payload.a: unsupported type struct {}"},
		{"channel in array", map[string]any{"a": []any{1, make(chan int)}}, "payload.a[1]: unsupported type chan int"},
		{"nested pointer", map[string]any{"a": map[string]any{"b": new(string)}}, "payload.a.b: unsupported type *string"},
		{"NaN", map[string]any{"f": math.NaN()}, "payload.f: json: unsupported value: NaN"},
		{"infinity", map[string]any{"f": math.Inf(1)}, "payload.f: json: unsupported value: +Inf"},
		{"cycle", cyclic, "nested deeper than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := XML(tt.value)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, got)
		})
	}
}

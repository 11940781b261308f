package payload

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// xmlHeader opens every XML payload.
const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// maxXMLDepth bounds nesting, so that a value tree that contains itself
// returns an error instead of exhausting the stack.
const maxXMLDepth = 64

// XML renders a JSON-like value tree as the XML body of a notification, for
// merchants who asked for application/xml. It mirrors the JSON document's keys:
//
//   - the document starts with <?xml version="1.0" encoding="UTF-8"?> and its
//     root element is <payload>;
//   - each map key becomes a child element, in sorted key order, so the same
//     value always renders to the same bytes;
//   - a key that is not a safe XML name (see below) becomes
//     <entry key="the key">…</entry>, so any key survives;
//   - an array ([]any, []string, []map[string]any) becomes repeated <item>
//     children inside the key's element, an array inside an array nests <item>s;
//   - strings are escaped with encoding/xml's EscapeText (characters XML cannot
//     carry, such as NUL, become U+FFFD); numbers are written as JSON writes
//     them (json.Number verbatim, floats in encoding/json's format); booleans
//     are true and false;
//   - nil, the empty string, an empty map and an empty array all render as an
//     empty element <key></key>.
//
// A key is used as an element name when it is an ASCII name: it starts with a
// letter or '_', goes on with letters, digits, '-', '_' or '.', and does not
// start with "xml" in any case (names reserved by XML). Anything else
// (digits first, spaces, colons, non-ASCII letters, the empty string) takes the
// <entry key="…"> form. A real key named "entry" is told apart by having no
// key attribute.
//
// Elements are indented by two spaces per level and the document ends with a
// newline. XML returns an error for a value of any other type, for NaN and
// infinite floats, and for nesting deeper than 64 levels; the error names the
// path of the offending key.
func XML(v map[string]any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	if err := writeXMLElement(&b, "payload", "payload", v, 0, "payload"); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// writeXMLElement writes <start>value</name> indented for depth, where start
// is the start tag's content (the name, perhaps with attributes). path names
// the value in errors.
func writeXMLElement(b *bytes.Buffer, start, name string, v any, depth int, path string) error {
	if depth > maxXMLDepth {
		return fmt.Errorf("payload xml: %s: nested deeper than %d levels", path, maxXMLDepth)
	}
	indent(b, depth)
	b.WriteByte('<')
	b.WriteString(start)
	b.WriteByte('>')

	switch v := v.(type) {
	case map[string]any:
		if err := writeXMLMap(b, v, depth, path); err != nil {
			return err
		}
	case []any:
		if err := writeXMLItems(b, len(v), func(i int) any { return v[i] }, depth, path); err != nil {
			return err
		}
	case []string:
		if err := writeXMLItems(b, len(v), func(i int) any { return v[i] }, depth, path); err != nil {
			return err
		}
	case []map[string]any:
		if err := writeXMLItems(b, len(v), func(i int) any { return v[i] }, depth, path); err != nil {
			return err
		}
	default:
		text, err := xmlScalar(v)
		if err != nil {
			return fmt.Errorf("payload xml: %s: %w", path, err)
		}
		_ = xml.EscapeText(b, []byte(text)) // writes to a bytes.Buffer never fail
	}

	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
	return nil
}

func writeXMLMap(b *bytes.Buffer, m map[string]any, depth int, path string) error {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteByte('\n')
		start, name := k, k
		if !isXMLName(k) {
			start, name = entryStart(k), "entry"
		}
		if err := writeXMLElement(b, start, name, m[k], depth+1, path+"."+k); err != nil {
			return err
		}
	}
	b.WriteByte('\n')
	indent(b, depth)
	return nil
}

func writeXMLItems(b *bytes.Buffer, n int, item func(int) any, depth int, path string) error {
	if n == 0 {
		return nil
	}
	for i := range n {
		b.WriteByte('\n')
		if err := writeXMLElement(b, "item", "item", item(i), depth+1, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	b.WriteByte('\n')
	indent(b, depth)
	return nil
}

// xmlScalar returns the text of a leaf value, spelled as encoding/json would.
func xmlScalar(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case json.Number:
		return v.String(), nil
	case float64, float32:
		// encoding/json's spelling (1e+21, not 1000000000000000000000), and its
		// refusal of NaN and infinities.
		text, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		return string(text), nil
	case int:
		return strconv.Itoa(v), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(v), 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	default:
		return "", fmt.Errorf("unsupported type %T", v)
	}
}

// isXMLName reports whether key can be used as an element name as it is. The
// rule is a deliberately narrow ASCII subset of XML's Name production, so
// that every parser accepts it and no namespace prefix (a colon) is implied.
func isXMLName(key string) bool {
	if key == "" || len(key) >= 3 && strings.EqualFold(key[:3], "xml") {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// entryStart returns the start tag content for a key that is not an XML name.
func entryStart(key string) string {
	var b strings.Builder
	b.WriteString(`entry key="`)
	_ = xml.EscapeText(&b, []byte(key)) // writes to a strings.Builder never fail
	b.WriteByte('"')
	return b.String()
}

func indent(b *bytes.Buffer, depth int) {
	for range depth {
		b.WriteString("  ")
	}
}

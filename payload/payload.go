// Package payload renders the notifications payhook sends: the payment notification
// (SPEC §6) and the operation notification, as a JSON-like tree, then signed and encoded
// once, in JSON or XML. The renderers are pure: the same transaction and time give the
// same bytes.
package payload

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/signature"
)

// Content types of the two formats.
const (
	ContentTypeJSON = "application/json"
	ContentTypeXML  = "application/xml"
)

// Encode signs a payload tree with the settings' HMAC key and version, adds the
// signature field, and encodes it in the settings' format. It returns the body and its
// content type.
func Encode(tree map[string]any, s payhook.Settings) ([]byte, string, error) {
	sig, err := signature.Sign(signature.Version(s.Version), s.HMACKey, tree)
	if err != nil {
		return nil, "", fmt.Errorf("sign payload: %w", err)
	}
	tree["signature"] = sig
	if s.Format == payhook.FormatXML {
		b, err := XML(tree)
		return b, ContentTypeXML, err
	}
	b, err := JSON(tree)
	return b, ContentTypeJSON, err
}

// JSON encodes a payload tree as compact JSON with sorted keys, without HTML escaping
// (merchants compare the raw strings).
func JSON(tree map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// rawObject decodes a stored JSON object, or returns an empty object.
func rawObject(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	if len(raw) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&m); err != nil || m == nil {
			return map[string]any{}
		}
	}
	return m
}

package signature

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version names a body signing scheme.
type Version string

// The body signing schemes.
const (
	// V1 is Ottu's published scheme and payhook's default.
	V1 Version = "v1"
	// V2 adds nested fields such as the card token to what V1 signs.
	V2 Version = "v2"
)

// Errors returned by this package; test for them with [errors.Is].
var (
	// ErrUnknownVersion means a Version other than V1 or V2.
	ErrUnknownVersion = errors.New("unknown signature version")
	// ErrMismatch means no scheme reproduces the signature that came with a payload.
	ErrMismatch = errors.New("signature mismatch")
	// ErrNoSignature means a payload or header carries no signature to check.
	ErrNoSignature = errors.New("no signature")
)

// Message returns the canonical message that version v signs for payload:
// the text fed to HMAC-SHA256. It helps to debug a signature that does not
// match. A payload with no signed field gives the empty message.
//
// Values in payload follow encoding/json's model: string, json.Number,
// float64 and the other numeric types, bool, nil, map[string]any and []any.
// Any other type at a signed name is an error.
func Message(v Version, payload map[string]any) (string, error) {
	switch v {
	case V1:
		return v1Message(payload)
	case V2:
		return v2Message(payload)
	default:
		return "", fmt.Errorf("%w: %q", ErrUnknownVersion, v)
	}
}

// Sign returns the lowercase hex HMAC-SHA256, keyed with key, of the message
// that version v signs for payload. See [Message] for the accepted values.
func Sign(v Version, key string, payload map[string]any) (string, error) {
	msg, err := Message(v, payload)
	if err != nil {
		return "", err
	}
	return mac(key, msg), nil
}

// SignJSON is [Sign] for a JSON object. Numbers keep their literal text.
// The body's own "signature" field, if any, is not a signed field and so
// does not affect the result.
func SignJSON(v Version, key string, body []byte) (string, error) {
	payload, err := decode(body)
	if err != nil {
		return "", err
	}
	return Sign(v, key, payload)
}

// Verify checks the "signature" field of the JSON object body against the
// V1 signature and then the V2 signature under key, and returns the version
// that matched. It returns an error wrapping [ErrNoSignature] when the field
// is absent, null, "" or not a string, [ErrMismatch] when neither version
// matches (the comparison is case-sensitive: signatures are lowercase hex),
// and a decoding error when body is not a JSON object.
func Verify(key string, body []byte) (Version, error) {
	payload, err := decode(body)
	if err != nil {
		return "", err
	}
	var got string
	switch s := payload["signature"].(type) {
	case nil:
		return "", ErrNoSignature
	case string:
		if s == "" {
			return "", ErrNoSignature
		}
		got = s
	default:
		return "", fmt.Errorf(`%w: the "signature" field is not a string`, ErrNoSignature)
	}
	for _, v := range []Version{V1, V2} {
		want, err := Sign(v, key, payload)
		if err != nil {
			return "", err
		}
		if hmac.Equal([]byte(got), []byte(want)) {
			return v, nil
		}
	}
	return "", ErrMismatch
}

func mac(key, msg string) string {
	h := hmac.New(sha256.New, []byte(key))
	io.WriteString(h, msg)
	return hex.EncodeToString(h.Sum(nil))
}

// decode reads body as exactly one JSON object, keeping numbers' literal text.
func decode(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var payload map[string]any
	if err := dec.Decode(&payload); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	if payload == nil {
		return nil, errors.New("decode payload: not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode payload: data after the JSON object")
	}
	return payload, nil
}

// scalar renders a signed value. It reports false for a value that is left
// out of the message: nil, "", an object or an array.
func scalar(name string, v any) (string, bool, error) {
	switch v := v.(type) {
	case nil, map[string]any, []any:
		return "", false, nil
	case string:
		return v, v != "", nil
	case json.Number:
		return string(v), v != "", nil
	case bool:
		if v {
			return "true", true, nil
		}
		return "false", true, nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		b, err := json.Marshal(v)
		if err != nil {
			return "", false, fmt.Errorf("field %s: %w", name, err)
		}
		return string(b), true, nil
	default:
		return "", false, fmt.Errorf("field %s: unsupported value type %T", name, v)
	}
}

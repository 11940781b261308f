package web

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/payhook/payhook"
)

// Input rules (docs/behaviour.md, "Input rules"): every JSON body of the APIs and every
// form of the dashboard and the checkout page is checked before anything reads its
// values. Invalid UTF-8, a NUL character (raw or \u0000) and a lone UTF-16 surrogate
// escape in any string, and a key given twice in one object, are a 400 naming the field;
// nothing is stored, so nothing is ever stored altered (Go's decoders would silently
// turn invalid UTF-8 into U+FFFD and keep the last of two duplicate keys).

const (
	// DefaultBodyTimeout bounds how long a request body may take to arrive whole.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultMaxBodyReads bounds the request bodies read at once (per process).
	DefaultMaxBodyReads = 256
	// maxStrictErrors bounds the fields named in one answer.
	maxStrictErrors = 20
	// maxJSONDepth is encoding/json's nesting limit; deeper bodies are its syntax error.
	maxJSONDepth = 10000
)

// errBodyTimeout is a request body that did not arrive whole within the body timeout.
var errBodyTimeout = errors.New("the request body did not arrive in time")

// checkJSON checks a JSON body by the input rules. It answers an EINVALID error whose
// fields name each problem (nested keys joined with dots, array items as [i]), or nil
// when the body keeps the rules; a body that is not JSON at all is left to the decoder,
// which names the syntax error.
func checkJSON(body []byte) error {
	sc := &jsonScanner{b: body, fe: payhook.FieldErrors{}}
	sc.ws()
	if err := sc.value("", 0); err != nil && !errors.Is(err, errStrictFull) {
		// A syntax error: the decoder reports it in its own words, unless a rule was
		// already broken before it.
		if len(sc.fe) == 0 {
			return nil
		}
	}
	return sc.fe.Err()
}

var (
	errSyntax     = errors.New("json syntax")
	errStrictFull = errors.New("enough errors")
)

// jsonScanner walks JSON bytes once, keeping the path of the value it is in.
type jsonScanner struct {
	b  []byte
	i  int
	fe payhook.FieldErrors
	n  int
}

func (sc *jsonScanner) fail(field, msg string) error {
	if field == "" {
		field = "non_field_errors"
	}
	for _, m := range sc.fe[field] {
		if m == msg {
			return nil // a key given three times is named once
		}
	}
	sc.fe.Add(field, "%s", msg)
	sc.n++
	if sc.n >= maxStrictErrors {
		return errStrictFull
	}
	return nil
}

func (sc *jsonScanner) ws() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

func (sc *jsonScanner) value(path string, depth int) error {
	if sc.i >= len(sc.b) || depth > maxJSONDepth {
		return errSyntax
	}
	switch c := sc.b[sc.i]; {
	case c == '{':
		return sc.object(path, depth+1)
	case c == '[':
		return sc.array(path, depth+1)
	case c == '"':
		_, problem, err := sc.str()
		if err != nil {
			return err
		}
		if problem != "" {
			return sc.fail(path, problem)
		}
		return nil
	case c == 't':
		return sc.literal("true")
	case c == 'f':
		return sc.literal("false")
	case c == 'n':
		return sc.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return sc.number()
	}
	return errSyntax
}

func (sc *jsonScanner) literal(word string) error {
	if !strings.HasPrefix(string(sc.b[sc.i:min(len(sc.b), sc.i+len(word))]), word) {
		return errSyntax
	}
	sc.i += len(word)
	return nil
}

func (sc *jsonScanner) digits() int {
	start := sc.i
	for sc.i < len(sc.b) && sc.b[sc.i] >= '0' && sc.b[sc.i] <= '9' {
		sc.i++
	}
	return sc.i - start
}

func (sc *jsonScanner) number() error {
	if sc.b[sc.i] == '-' {
		sc.i++
	}
	if sc.i < len(sc.b) && sc.b[sc.i] == '0' {
		sc.i++
	} else if sc.digits() == 0 {
		return errSyntax
	}
	if sc.i < len(sc.b) && sc.b[sc.i] == '.' {
		sc.i++
		if sc.digits() == 0 {
			return errSyntax
		}
	}
	if sc.i < len(sc.b) && (sc.b[sc.i] == 'e' || sc.b[sc.i] == 'E') {
		sc.i++
		if sc.i < len(sc.b) && (sc.b[sc.i] == '+' || sc.b[sc.i] == '-') {
			sc.i++
		}
		if sc.digits() == 0 {
			return errSyntax
		}
	}
	return nil
}

func (sc *jsonScanner) object(path string, depth int) error {
	sc.i++ // {
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == '}' {
		sc.i++
		return nil
	}
	seen := map[string]bool{}
	for {
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
			return errSyntax
		}
		key, problem, err := sc.str()
		if err != nil {
			return err
		}
		child := join(path, key)
		if problem != "" {
			if err := sc.fail(child, "The field name: "+problem); err != nil {
				return err
			}
		} else if seen[key] {
			if err := sc.fail(child, "Duplicate key: each field may appear once in an object."); err != nil {
				return err
			}
		}
		seen[key] = true
		sc.ws()
		if sc.i >= len(sc.b) || sc.b[sc.i] != ':' {
			return errSyntax
		}
		sc.i++
		sc.ws()
		if err := sc.value(child, depth); err != nil {
			return err
		}
		if end, err := sc.after('}'); end || err != nil {
			return err
		}
	}
}

// after reads what follows a member or an element: a comma (more to come) or the
// container's closing byte (end).
func (sc *jsonScanner) after(closing byte) (end bool, err error) {
	sc.ws()
	if sc.i >= len(sc.b) {
		return false, errSyntax
	}
	switch sc.b[sc.i] {
	case ',':
		sc.i++
		return false, nil
	case closing:
		sc.i++
		return true, nil
	}
	return false, errSyntax
}

func (sc *jsonScanner) array(path string, depth int) error {
	sc.i++ // [
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == ']' {
		sc.i++
		return nil
	}
	for n := 0; ; n++ {
		sc.ws()
		if err := sc.value(path+"["+strconv.Itoa(n)+"]", depth); err != nil {
			return err
		}
		if end, err := sc.after(']'); end || err != nil {
			return err
		}
	}
}

// str reads a JSON string at sc.i and returns it decoded, with the first rule it breaks
// ("" when none): invalid UTF-8, a NUL character, a lone surrogate escape.
func (sc *jsonScanner) str() (s string, problem string, err error) {
	sc.i++ // opening quote
	var out strings.Builder
	note := func(p string) {
		if problem == "" {
			problem = p
		}
	}
	for {
		if sc.i >= len(sc.b) {
			return "", "", errSyntax
		}
		c := sc.b[sc.i]
		switch {
		case c == '"':
			sc.i++
			return out.String(), problem, nil
		case c == 0:
			note(msgNUL)
			out.WriteString(`\u0000`)
			sc.i++
		case c < 0x20:
			return "", "", errSyntax // a raw control character: the decoder names it
		case c == '\\':
			if sc.i+1 >= len(sc.b) {
				return "", "", errSyntax
			}
			e := sc.b[sc.i+1]
			sc.i += 2
			switch e {
			case '"', '\\', '/':
				out.WriteByte(e)
			case 'b', 'f', 'n', 'r', 't':
				out.WriteByte(map[byte]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[e])
			case 'u':
				r, ok := sc.hex4()
				if !ok {
					return "", "", errSyntax
				}
				switch {
				case r == 0:
					note(msgNUL)
					out.WriteString(`\u0000`)
				case utf16.IsSurrogate(r):
					low := rune(-1)
					if r < 0xDC00 && sc.i+1 < len(sc.b) && sc.b[sc.i] == '\\' && sc.b[sc.i+1] == 'u' {
						save := sc.i
						sc.i += 2
						if l, ok := sc.hex4(); ok && l >= 0xDC00 && l <= 0xDFFF {
							low = l
						} else {
							sc.i = save
						}
					}
					if low < 0 {
						note("Contains a lone UTF-16 surrogate escape (not a character); send valid UTF-8.")
					} else {
						out.WriteRune(utf16.DecodeRune(r, low))
					}
				default:
					out.WriteRune(r)
				}
			default:
				return "", "", errSyntax
			}
		case c < utf8.RuneSelf:
			out.WriteByte(c)
			sc.i++
		default:
			r, size := utf8.DecodeRune(sc.b[sc.i:])
			if r == utf8.RuneError && size == 1 {
				note(msgUTF8)
				out.WriteString(fmt.Sprintf(`\x%02x`, sc.b[sc.i]))
			} else {
				out.Write(sc.b[sc.i : sc.i+size])
			}
			sc.i += size
		}
	}
}

func (sc *jsonScanner) hex4() (rune, bool) {
	if sc.i+4 > len(sc.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(sc.b[sc.i:sc.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	sc.i += 4
	return rune(v), true
}

const (
	msgNUL  = "Contains a NUL character (U+0000), which is not accepted."
	msgUTF8 = "Contains bytes that are not valid UTF-8."
)

// join names a nested field: parent.key.
func join(parent, key string) string {
	key = printable(key)
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// printable shows a field name with invalid bytes and NULs escaped, so that the answer
// naming it is itself valid UTF-8.
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == 0:
			b.WriteString(`\u0000`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// checkForm checks parsed form values (the query's and the body's) by the input rules
// and returns an EINVALID error naming each field that breaks them, or nil.
func checkForm(form url.Values) error {
	fe := payhook.FieldErrors{}
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if len(fe) >= maxStrictErrors {
			break
		}
		if p := textProblem(name); p != "" {
			fe.Add(printable(name), "The field name: %s", p)
			continue
		}
		for _, v := range form[name] {
			if p := textProblem(v); p != "" {
				fe.Add(name, "%s", p)
				break
			}
		}
	}
	return fe.Err()
}

func textProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return msgUTF8
	case strings.ContainsRune(s, 0):
		return msgNUL
	}
	return ""
}

// formError words a form's problems for a page: "field: message" for each field.
func formError(err error) string {
	var e *payhook.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return payhook.ErrorMessage(err)
	}
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, f := range names {
		parts = append(parts, fmt.Sprintf("%s: %s", f, strings.Join(e.Fields[f], " ")))
	}
	return "The form was refused. " + strings.Join(parts, " ")
}

// bodyGuard bounds how request bodies are read: each must arrive whole within
// timeout, and at most cap of them are read at once (beyond, 503 with Retry-After).
type bodyGuard struct {
	timeout time.Duration
	slots   chan struct{}
}

func newBodyGuard(timeout time.Duration, maxReads int) *bodyGuard {
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	if maxReads <= 0 {
		maxReads = DefaultMaxBodyReads
	}
	return &bodyGuard{timeout: timeout, slots: make(chan struct{}, maxReads)}
}

// wrap prepares r's body, if it has one: it takes a slot (false when none is free: the
// 503 has been written) and sets the read deadline. release must be called when the
// handler returns.
func (g *bodyGuard) wrap(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return func() {}, true
	}
	select {
	case g.slots <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Connection", "close")
		writeDetail(w, http.StatusServiceUnavailable, "Too many request bodies are being received at once; try again in a moment.")
		return nil, false
	}
	var once sync.Once
	release = func() { once.Do(func() { <-g.slots }) }
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(g.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		release()
		writeDetail(w, http.StatusInternalServerError, "Internal error.")
		return nil, false
	}
	r.Body = &guardedBody{ReadCloser: r.Body, rc: rc, release: release}
	return release, true
}

// guardedBody gives back its slot once read to the end (or failed), clears the read
// deadline at the end, and turns the deadline's error into errBodyTimeout.
type guardedBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	release func()
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.rc.SetReadDeadline(time.Time{})
		b.release()
	case err != nil:
		b.release()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = errBodyTimeout
		}
	}
	return n, err
}

// formReadError answers a form that could not be read: 408 (too slow), 413 (too large)
// or 400 (malformed), in plain text.
func formReadError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errBodyTimeout):
		w.Header().Set("Connection", "close")
		http.Error(w, "The form did not arrive in time; send it again.", http.StatusRequestTimeout)
	case errors.As(err, &tooBig):
		http.Error(w, "The form is larger than 1 MiB.", http.StatusRequestEntityTooLarge)
	default:
		http.Error(w, "Bad form: "+err.Error(), http.StatusBadRequest)
	}
}

package signature

import (
	"slices"
	"strings"
)

// v2Paths are the paths that V2 signs, in byte order: the V1 fields plus
// these paths into nested objects and two more top-level fields.
var v2Paths = func() []string {
	p := slices.Concat(v1Fields, []string{
		"agreement.id",
		"extra.autopay.subscription_id",
		"extra.merchant_id",
		"payment_type",
		"session_id",
		"token.customer_id",
		"token.pg_code",
		"token.token",
	})
	slices.Sort(p)
	return p
}()

// v2Message writes path=value for each signed path that resolves to a
// scalar other than null or "", joined with "\n".
func v2Message(payload map[string]any) (string, error) {
	lines := make([]string, 0, len(v2Paths))
	for _, path := range v2Paths {
		s, ok, err := scalar(path, lookup(payload, path))
		if err != nil {
			return "", err
		}
		if ok {
			lines = append(lines, path+"="+s)
		}
	}
	return strings.Join(lines, "\n"), nil
}

// lookup follows a dotted path through nested objects. It returns nil when
// some step is missing or is not an object.
func lookup(payload map[string]any, path string) any {
	var v any = payload
	for name := range strings.SplitSeq(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[name]
	}
	return v
}

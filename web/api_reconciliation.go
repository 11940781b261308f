package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/service"
)

// reconciliationFilter reads GET /b/webhook/v1/reconciliation/'s query, naming each bad
// field: from and to are required RFC 3339 times, to after from, at most
// payhook.MaxReconciliationWindow apart; url is optional (every URL without it).
func reconciliationFilter(q url.Values) (payhook.ReconciliationFilter, error) {
	fe := payhook.FieldErrors{}
	f := payhook.ReconciliationFilter{URL: q.Get("url"), Limit: 50}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.Since}, {"to", &f.Until}} {
		v := q.Get(p.name)
		if v == "" {
			fe.Add(p.name, "This field is required: an RFC 3339 time such as 2026-01-02T15:04:05Z.")
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fe.Add(p.name, "Use an RFC 3339 time such as 2026-01-02T15:04:05Z.")
		}
		*p.dst = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() {
		switch {
		case !f.Until.After(f.Since):
			fe.Add("to", "Must be after from.")
		case f.Until.Sub(f.Since) > payhook.MaxReconciliationWindow:
			fe.Add("to", "The window from from to to may span at most 31 days.")
		}
	}
	for _, p := range []struct {
		name     string
		dst      *int
		min, max int
	}{{"limit", &f.Limit, 1, 1 << 30}, {"offset", &f.Offset, 0, 1 << 30}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < p.min || n > p.max {
				fe.Add(p.name, "Must be a whole number from %d to %d.", p.min, p.max)
			}
			*p.dst = n
		}
	}
	f.Limit = min(f.Limit, service.MaxPageSize)
	return f, fe.Err()
}

// reconciliation is GET /b/webhook/v1/reconciliation/: the window's notifications that
// were not acknowledged, oldest first, paged as the delivery log.
func (s *Server) reconciliation(w http.ResponseWriter, r *http.Request) error {
	f, err := reconciliationFilter(r.URL.Query())
	if err != nil {
		return err
	}
	list, total, err := s.svc.Reconciliation(r.Context(), f)
	if err != nil {
		return err
	}
	results := make([]any, len(list))
	for i, n := range list {
		var reason, next any
		if n.Reason != "" {
			reason = string(n.Reason)
		}
		if n.Status == payhook.StatusPending {
			next = rfc3339(n.NextAttemptAt)
		}
		results[i] = map[string]any{
			"id": n.ID, "kind": string(n.Kind), "session_id": n.SessionID, "reference_number": n.ReferenceNumber,
			"url": n.URL, "status": string(n.Status), "reason": reason, "created_at": rfc3339(n.CreatedAt),
			"updated_at": rfc3339(n.UpdatedAt), "next_attempt_at": next,
			"notification": s.svc.BaseURL() + "/b/webhook/v1/notifications/" + url.PathEscape(n.ID) + "/",
		}
	}
	writeJSON(w, http.StatusOK, pageAnswer(s.svc.BaseURL(), r, f.Limit, f.Offset, total, results))
	return nil
}

// pageAnswer is a page of a list: {count, next, previous, results}, as the delivery log's.
func pageAnswer(base string, r *http.Request, limit, offset, total int, results []any) map[string]any {
	link := func(offset int) any {
		q := r.URL.Query()
		q.Set("offset", strconv.Itoa(offset))
		q.Set("limit", strconv.Itoa(limit))
		return base + r.URL.Path + "?" + q.Encode()
	}
	var next, prev any
	if offset+limit < total {
		next = link(offset + limit)
	}
	if offset > 0 {
		prev = link(max(offset-limit, 0))
	}
	return map[string]any{"count": total, "next": next, "previous": prev, "results": results}
}

// digest is GET /b/webhook/v1/digests/?url=…&date=YYYY-MM-DD[&ids=true]: the signed
// digest of the notifications delivered to url on that UTC day, with the ids it counts
// when ids is true.
func (s *Server) digest(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	fe := payhook.FieldErrors{}
	u := q.Get("url")
	if u == "" {
		fe.Add("url", "This field is required: the webhook URL, exactly as notifications are sent to it.")
	}
	var day time.Time
	if v := q.Get("date"); v == "" {
		fe.Add("date", "This field is required: a UTC day such as 2026-01-02.")
	} else if t, err := time.Parse(service.DigestDateLayout, v); err != nil {
		fe.Add("date", "Use a day such as 2026-01-02 (YYYY-MM-DD, UTC).")
	} else {
		day = t
	}
	withIDs := false
	switch v := q.Get("ids"); v {
	case "", "false":
	case "true":
		withIDs = true
	default:
		fe.Add("ids", "Must be true or false.")
	}
	if err := fe.Err(); err != nil {
		return err
	}
	d, err := s.svc.Digest(r.Context(), u, day)
	if err != nil {
		return err
	}
	out := map[string]any{"scheme": d.Scheme, "url": d.URL, "date": d.Date, "count": d.Count, "hash": d.Hash,
		"signature": d.Signature, "final": d.Final}
	if withIDs {
		out["ids"] = d.IDs
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

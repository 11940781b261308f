package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/service"
)

// notificationFilter reads the delivery log's filters from a query string, naming each
// bad one.
func notificationFilter(q url.Values) (payhook.NotificationFilter, error) {
	fe := payhook.FieldErrors{}
	// url is exact (SPEC §10); url_prefix, an extension, selects the URLs starting with it.
	f := payhook.NotificationFilter{SessionID: q.Get("session_id"), URL: q.Get("url"), URLPrefix: q.Get("url_prefix")}
	switch st := payhook.Status(q.Get("status")); st {
	case "", payhook.StatusPending, payhook.StatusDelivered, payhook.StatusFailed, payhook.StatusNotSent, payhook.StatusHeld:
		f.Status = st
	default:
		fe.Add("status", "%q is not one of pending, delivered, failed, not_sent, held.", st)
	}
	switch k := payhook.Kind(q.Get("kind")); k {
	case "", payhook.KindPayment, payhook.KindOperation, payhook.KindDigest, payhook.KindNotice:
		f.Kind = k
	default:
		fe.Add("kind", "%q is not one of payment, operation, digest, notice.", k)
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fe.Add(p.name, "Use an RFC 3339 time such as 2026-01-02T15:04:05Z.")
			}
			*p.dst = t
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
	if f.Limit == 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, service.MaxPageSize) // a larger page is capped, as DRF's paginators do
	return f, fe.Err()
}

// listNotifications is GET /b/webhook/v1/notifications/.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) error {
	f, err := notificationFilter(r.URL.Query())
	if err != nil {
		return err
	}
	list, total, err := s.svc.Notifications(r.Context(), f)
	if err != nil {
		return err
	}
	results := make([]any, len(list))
	for i, n := range list {
		results[i] = notificationAnswer(n)
	}
	link := func(offset int) any {
		q := r.URL.Query()
		q.Set("offset", strconv.Itoa(offset))
		q.Set("limit", strconv.Itoa(f.Limit))
		return s.svc.BaseURL() + r.URL.Path + "?" + q.Encode()
	}
	var next, prev any
	if f.Offset+f.Limit < total {
		next = link(f.Offset + f.Limit)
	}
	if f.Offset > 0 {
		prev = link(max(f.Offset-f.Limit, 0))
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": total, "next": next, "previous": prev, "results": results})
	return nil
}

// getNotification is GET /b/webhook/v1/notifications/{id}/.
func (s *Server) getNotification(w http.ResponseWriter, r *http.Request) error {
	n, err := s.svc.Notification(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, notificationAnswer(n))
	return nil
}

// resendNotification is POST /b/webhook/v1/notifications/{id}/resend/: 202.
func (s *Server) resendNotification(w http.ResponseWriter, r *http.Request) error {
	n, err := s.svc.Resend(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, notificationAnswer(n))
	return nil
}

// notificationAnswer is the delivery log's object (SPEC §10).
func notificationAnswer(n *payhook.Notification) map[string]any {
	attempts := make([]any, len(n.Attempts))
	for i, a := range n.Attempts {
		var code, errText any
		if a.StatusCode != 0 {
			code = a.StatusCode
		}
		if a.Error != "" {
			errText = a.Error
		}
		attempts[i] = map[string]any{
			"number": a.Number, "started_at": rfc3339(a.StartedAt),
			"duration_ms": float64(a.Duration.Microseconds()) / 1000, "status_code": code,
			"error": errText, "response_excerpt": a.ResponseExcerpt,
		}
	}
	var urlv, reason, next any
	if n.URL != "" {
		urlv = n.URL
	}
	if n.Reason != "" {
		reason = string(n.Reason)
	}
	if n.Status == payhook.StatusPending {
		next = rfc3339(n.NextAttemptAt)
	}
	var body any = string(n.Body)
	if n.ContentType == "application/json" && json.Valid(n.Body) {
		body = json.RawMessage(bytes.Clone(n.Body))
	}
	return map[string]any{
		"id": n.ID, "kind": string(n.Kind), "session_id": n.SessionID, "reference_number": n.ReferenceNumber,
		"url": urlv, "status": string(n.Status), "reason": reason, "redirect_decider": n.RedirectDecider,
		"created_at": rfc3339(n.CreatedAt), "updated_at": rfc3339(n.UpdatedAt), "next_attempt_at": next,
		"content_type": n.ContentType, "payload": body, "attempts": attempts,
		"extended_redelivery": n.Extended, "redelivery": redeliveryObject(n.Redelivery),
	}
}

// redeliveryObject is a notification's extended redelivery in the API: null unless
// extended attempts remain (the notification is then failed, as Ottu's round ended).
func redeliveryObject(r *payhook.Redelivery) any {
	if r == nil {
		return nil
	}
	return map[string]any{"next_attempt_at": rfc3339(r.NextAttemptAt), "ends_at": rfc3339(r.EndsAt), "attempts_made": r.AttemptsMade}
}

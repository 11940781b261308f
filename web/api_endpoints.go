package web

import (
	"net/http"
	"time"

	"github.com/payhook/payhook"
)

// endpointAnswer is one URL's health as the API shows it.
func endpointAnswer(h payhook.EndpointHealth) map[string]any {
	at := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"url":              h.URL,
		"state":            string(h.State),
		"since":            at(h.ChangedAt),
		"first_failure_at": at(h.FirstFailureAt),
		"last_failure_at":  at(h.LastFailureAt),
		"last_success_at":  at(h.LastSuccessAt),
		"held":             h.Held,
		"resume": map[string]any{
			"resumed_at": at(h.ResumedAt),
			"resumed_by": h.ResumedBy,
			"held":       h.Held,
			"sent":       h.Released,
			"delivered":  h.Delivered,
			"failed":     h.Failed,
		},
	}
}

// listEndpointHealth is GET /b/webhook/v1/endpoints/: every URL's health, or with ?url=
// that URL's (404 when none is known).
func (s *Server) listEndpointHealth(w http.ResponseWriter, r *http.Request) error {
	if u := r.URL.Query().Get("url"); u != "" {
		h, err := s.svc.OneEndpointHealth(r.Context(), u)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, endpointAnswer(h))
		return nil
	}
	list, err := s.svc.EndpointHealth(r.Context())
	if err != nil {
		return err
	}
	results := make([]any, len(list))
	for i, h := range list {
		results[i] = endpointAnswer(h)
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(list), "results": results})
	return nil
}

// resumeEndpoint is POST /b/webhook/v1/endpoints/resume/?url=…: the URL is healthy again
// and its held notifications are sent, oldest first, at endpoint_resume_rate; answers 202
// with the URL's health (GET it again to follow the progress).
func (s *Server) resumeEndpoint(w http.ResponseWriter, r *http.Request) error {
	h, err := s.svc.ResumeEndpoint(r.Context(), r.URL.Query().Get("url"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, endpointAnswer(h))
	return nil
}

package service

import (
	"context"
	"strings"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/payload"
)

// Endpoint health (docs/endpoint-health.md): the URLs' states, the resume of a disabled
// URL, and the operator notices.

// HealthHooks are the parts of the delivery engine a resume wakes; both optional.
type HealthHooks interface {
	// Resumed tells the engine's health tracker that url is no longer disabled.
	Resumed(url string)
}

// EndpointHealth returns every webhook URL's health, with its held notifications and the
// progress of its last resume, in URL order.
func (s *Service) EndpointHealth(ctx context.Context) ([]payhook.EndpointHealth, error) {
	return s.store.ListEndpointHealth(ctx)
}

// OneEndpointHealth returns one URL's health (ENOTFOUND when none is known).
func (s *Service) OneEndpointHealth(ctx context.Context, url string) (payhook.EndpointHealth, error) {
	return s.store.EndpointHealth(ctx, url)
}

// ResumeEndpoint resumes a URL: it is healthy again, its streak of failures forgotten,
// and its held notifications are sent, oldest first, at endpoint_resume_rate a second
// (by the process holding the resume role). Resuming a URL that is not disabled is
// allowed (it sends what is held, if anything). The person who asks is recorded in the
// audit log.
func (s *Service) ResumeEndpoint(ctx context.Context, url string) (payhook.EndpointHealth, error) {
	url = strings.TrimSpace(url)
	if url == "" {
		return payhook.EndpointHealth{}, &payhook.Error{Code: payhook.EINVALID, Message: "invalid input",
			Fields: map[string][]string{"url": {"This field is required: the webhook URL to resume."}}}
	}
	who := Actor(ctx)
	h, err := s.store.ResumeEndpoint(ctx, url, who, s.clock.Now().UTC())
	if err != nil {
		return h, err
	}
	s.audit(ctx, "endpoint.resume", url)
	if s.health != nil {
		s.health.Resumed(url)
	}
	if s.resumeKick != nil {
		s.resumeKick()
	}
	return h, nil
}

// SendNotice stores and sends an operator notice of a URL's change to
// operations_notices_url (nothing when it is empty or notifications are off). A notice
// is a notification of kind "notice", signed like every notification (the configured
// version over its fields, Standard Webhooks headers when on); it is never held and its
// attempts do not count towards any URL's health, so that a notices URL that fails
// cannot feed on itself.
func (s *Service) SendNotice(ctx context.Context, h payhook.EndpointHealth, change payhook.EndpointChange) (*payhook.Notification, error) {
	c, err := s.config(ctx)
	if err != nil {
		return nil, err
	}
	st := c.settings
	if st.OperationsNoticesURL == "" || !st.Enabled {
		return nil, nil
	}
	now := s.clock.Now().UTC()
	id := payhook.NewNotificationID()
	tree := NoticePayload(id, h, change, now)
	body, ct, err := payload.Encode(tree, st)
	if err != nil {
		return nil, err
	}
	n := &payhook.Notification{ID: id, Kind: payhook.KindNotice, ReferenceNumber: id, URL: st.OperationsNoticesURL,
		Status: payhook.StatusPending, CreatedAt: now, UpdatedAt: now, Body: body, ContentType: ct, NextAttemptAt: now}
	if err := s.store.AddNotifications(ctx, []*payhook.Notification{n}, s.engine.Lease(st)); err != nil {
		return nil, err
	}
	s.engine.Enqueue(n)
	return n, nil
}

// NoticePayload is an operator notice's body before signing: event (endpoint.failing,
// endpoint.disabled, endpoint.recovered), url, state, the times of the streak (RFC 3339,
// "" for none), reference_number (the notice's own id) and timestamp_utc.
func NoticePayload(id string, h payhook.EndpointHealth, change payhook.EndpointChange, now time.Time) map[string]any {
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"event":            string(change),
		"url":              h.URL,
		"state":            string(h.State),
		"changed_at":       at(h.ChangedAt),
		"first_failure_at": at(h.FirstFailureAt),
		"last_failure_at":  at(h.LastFailureAt),
		"last_success_at":  at(h.LastSuccessAt),
		"reference_number": id,
		"timestamp_utc":    now.UTC().Format("2006-01-02 15:04:05"),
	}
}

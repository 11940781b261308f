package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/payload"
	"github.com/payhook/payhook/signature"
)

// InquiryNotifyInterval is the rate limit of the inquiry's notify option: one per
// transaction per interval (SPEC §2 asks that at least one a second be allowed).
const InquiryNotifyInterval = time.Second

// InquiryRequest is a validated payment status inquiry.
type InquiryRequest struct {
	SessionID, OrderNo string
	NotifyWebhookURL   bool
	WebhookURL         string
}

// DecodeInquiry validates an inquiry body (POST /b/pbl/v2/inquiry/).
func DecodeInquiry(body map[string]json.RawMessage) (*InquiryRequest, error) {
	fe := payhook.FieldErrors{}
	r := &InquiryRequest{}
	for _, f := range []struct {
		name string
		dst  *string
		max  int
	}{{"session_id", &r.SessionID, 128}, {"order_no", &r.OrderNo, 128}, {"webhook_url", &r.WebhookURL, 200}} {
		raw, ok := body[f.name]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			fe.Add(f.name, "Must be a string.")
		} else if len(*f.dst) > f.max {
			fe.Add(f.name, "Ensure this field has no more than %d characters.", f.max)
		}
	}
	if raw, ok := body["notify_webhook_url"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &r.NotifyWebhookURL); err != nil {
			fe.Add("notify_webhook_url", "Must be true or false.")
		}
	}
	if _, tooLong := fe["webhook_url"]; r.WebhookURL != "" && !tooLong {
		if err := payhook.ValidateWebhookURL(r.WebhookURL, 200); err != nil {
			fe.Add("webhook_url", "%s.", err.Error())
		}
	}
	if r.SessionID == "" && r.OrderNo == "" && len(fe) == 0 {
		fe.Add("session_id", "Give session_id or order_no.")
	}
	return r, fe.Err()
}

// Inquire answers a payment status inquiry with the payment notification's shape, signed,
// and with notify_webhook_url sends the payment notification again as a new notification:
// to the given webhook_url, or routed as SPEC §3 says but without the state filter. The
// master switch applies. The notify option is rate-limited per transaction (ETOOMANY).
func (s *Service) Inquire(ctx context.Context, r *InquiryRequest) ([]byte, error) {
	t, err := s.findTransaction(ctx, r.SessionID, r.OrderNo)
	if err != nil {
		return nil, err
	}
	c, err := s.config(ctx)
	if err != nil {
		return nil, err
	}
	if r.NotifyWebhookURL {
		if err := s.notifyAgain(ctx, c, t, r.WebhookURL); err != nil {
			return nil, err
		}
	}
	st := c.settings
	st.Format = payhook.FormatJSON
	body, _, err := payload.Encode(payload.Payment(t, s.clock.Now()), st)
	return body, err
}

// NotifyAgain sends a transaction's payment notification again, as a new notification
// (the dashboard's "Notify again"; the inquiry's notify option).
func (s *Service) NotifyAgain(ctx context.Context, sessionID string) error {
	t, err := s.store.Transaction(ctx, sessionID)
	if err != nil {
		return err
	}
	c, err := s.config(ctx)
	if err != nil {
		return err
	}
	err = s.notifyAgain(ctx, c, t, "")
	if err == nil {
		s.auditPerson(ctx, "transaction.notify_again", fmt.Sprintf("session %s (order_no %s), state %s", t.SessionID, orNone(t.OrderNo), t.State))
	}
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (s *Service) notifyAgain(ctx context.Context, c *config, t *payhook.Transaction, url string) error {
	now := s.clock.Now()
	s.mu.Lock()
	if s.lastNotify == nil {
		s.lastNotify = map[string]time.Time{}
	}
	if last, ok := s.lastNotify[t.SessionID]; ok && now.Sub(last) < InquiryNotifyInterval {
		s.mu.Unlock()
		return payhook.Errorf(payhook.ETOOMANY, "Request was throttled: one notification per transaction per second.")
	}
	s.lastNotify[t.SessionID] = now
	for id, at := range s.lastNotify { // keep the map small
		if now.Sub(at) > time.Minute {
			delete(s.lastNotify, id)
		}
	}
	s.mu.Unlock()
	var recipients []payhook.Recipient
	switch {
	case url != "" && !c.settings.Enabled:
		recipients = []payhook.Recipient{{URL: url, Reason: payhook.ReasonDisabled}}
	case url != "":
		recipients = []payhook.Recipient{{URL: url, Extended: c.settings.ExtendedFor(c.plugins[t.Type], url, false)}}
	default:
		recipients = payhook.PaymentRecipients(c.settings, c.plugins[t.Type], t, true)
		for i := range recipients {
			recipients[i].RedirectDecider = false
		}
	}
	notes, err := s.notifications(payhook.KindPayment, t, recipients, payload.Payment(t, now), c.settings)
	if err != nil {
		return err
	}
	if err := s.store.AddNotifications(ctx, notes, s.engine.Lease(c.settings)); err != nil {
		return err
	}
	for _, n := range notes {
		if n.Status == payhook.StatusPending {
			s.engine.Enqueue(n)
		}
	}
	return nil
}

// Sign signs a payload with the HMAC key by the configured version (POST /b/pbl/v2/sign).
func (s *Service) Sign(ctx context.Context, body []byte) (string, error) {
	st, err := s.Settings(ctx)
	if err != nil {
		return "", err
	}
	sig, err := signature.SignJSON(signature.Version(st.Version), st.HMACKey, body)
	if err != nil {
		return "", payhook.Errorf(payhook.EINVALID, "The body must be a JSON object: %v", err)
	}
	return sig, nil
}

// ResendMatching re-sends every delivered or failed notification matching f in the
// background (same ids and bodies) and returns how many; pending ones are not queued
// twice.
func (s *Service) ResendMatching(ctx context.Context, f payhook.NotificationFilter) (int, error) {
	if f.Status == payhook.StatusPending || f.Status == payhook.StatusNotSent || f.Status == payhook.StatusHeld {
		return 0, nil
	}
	n, err := s.store.ResendMatching(ctx, f, s.clock.Now().UTC())
	if err != nil {
		return 0, err
	}
	s.auditPerson(ctx, "notification.resend_bulk", fmt.Sprintf("%d queued; filter: %s", n, describeFilter(f)))
	if n > 0 {
		s.engine.Kick()
	}
	return n, nil
}

// describeFilter says in words which notifications a filter selects (the audit log).
func describeFilter(f payhook.NotificationFilter) string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	add("session_id", f.SessionID)
	add("status", string(f.Status))
	add("kind", string(f.Kind))
	add("url", f.URL)
	if !f.Since.IsZero() {
		add("since", f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		add("until", f.Until.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "every delivered or failed notification"
	}
	return strings.Join(parts, ", ")
}

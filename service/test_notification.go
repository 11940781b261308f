package service

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/payload"
)

// TestOrderNo is the order_no and the reference_number of a test notification: what
// tells it from a real payment, in the merchant's code as in the delivery log (whose
// kind stays "payment", as SPEC has it).
const TestOrderNo = "payhook-test"

// testWaitMargin is how long, beyond the configured timeout, a test send waits for its
// first attempt to be recorded.
const testWaitMargin = 2 * time.Second

// TestSend is the outcome of a test notification.
type TestSend struct {
	// Notification is the stored notification, with the attempts recorded when the wait
	// ended.
	Notification *payhook.Notification
	// Attempt is its first attempt; nil when none was recorded within the wait (the
	// delivery goes on in the background, as any notification's).
	Attempt *payhook.Attempt
}

// SendTestNotification sends a sample payment notification to rawURL (any absolute http
// or https URL, the SSRF guard applying at dial time): a paid sandbox payment of a
// transaction that does not exist (order_no and reference_number TestOrderNo, a fresh
// session id), rendered in the configured format and signed with the current HMAC key
// and version like any payment notification. It is stored as a notification of its own
// (the delivery log shows it with its attempts, and a no-answer is retried as any
// notification's), sent even while notifications are off (someone asked for it), and
// the first attempt is waited for, at most the configured timeout plus a margin.
func (s *Service) SendTestNotification(ctx context.Context, rawURL string) (*TestSend, error) {
	rawURL = strings.TrimSpace(rawURL)
	if err := payhook.ValidateWebhookURL(rawURL, 2000); err != nil {
		return nil, &payhook.Error{Code: payhook.EINVALID, Message: "invalid input",
			Fields: map[string][]string{"url": {"The URL " + err.Error() + ", such as https://shop.example/webhook."}}}
	}
	c, err := s.config(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	t := testTransaction(now)
	notes, err := s.notifications(payhook.KindPayment, t, []payhook.Recipient{{URL: rawURL}}, payload.Payment(t, now), c.settings)
	if err != nil {
		return nil, err
	}
	n := notes[0]
	if err := s.store.AddNotifications(ctx, notes, s.engine.Lease(c.settings)); err != nil {
		return nil, err
	}
	s.auditPerson(ctx, "notification.test", n.ID+" to "+n.URL)
	done := s.engine.Deliver(n)
	wait := time.NewTimer(c.settings.TimeoutDuration() + testWaitMargin)
	defer wait.Stop()
	poll := time.NewTicker(25 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-done: // the round ended: its attempts are recorded
		case <-poll.C:
		case <-wait.C:
			return s.testSend(context.WithoutCancel(ctx), n.ID)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		got, err := s.store.Notification(ctx, n.ID)
		if err != nil {
			return nil, err
		}
		if len(got.Attempts) > 0 {
			return &TestSend{Notification: got, Attempt: &got.Attempts[0]}, nil
		}
		done = nil // a round that ended stays ended: poll until the record shows
	}
}

func (s *Service) testSend(ctx context.Context, id string) (*TestSend, error) {
	got, err := s.store.Notification(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &TestSend{Notification: got}
	if len(got.Attempts) > 0 {
		out.Attempt = &got.Attempts[0]
	}
	return out, nil
}

// testTransaction is the paid sandbox payment a test notification reports.
func testTransaction(now time.Time) *payhook.Transaction {
	return &payhook.Transaction{
		SessionID: payhook.NewSessionID(), ReferenceNumber: TestOrderNo, OrderNo: TestOrderNo,
		Type: payhook.PluginECommerce, Origin: payhook.OriginDashboard, State: payhook.StatePaid,
		Amount: 1000, Currency: "KWD", PGCodes: []string{"credit-card"},
		Customer:        payhook.Customer{Email: "test@example.com", FirstName: "Test", LastName: "Notification"},
		Extra:           json.RawMessage(`{"payhook_test":true}`),
		ExpiresAt:       now.Add(payhook.DefaultExpiration),
		CreatedAt:       now,
		UpdatedAt:       now,
		GatewayCode:     "credit-card",
		GatewayName:     "sandbox",
		GatewayResponse: json.RawMessage(`{"result":"CAPTURED","response_code":"00"}`),
		Result:          payhook.ResultSuccess,
		Message:         "Test notification sent from the payhook dashboard: no money moved.",
		Card:            &payhook.Card{Masked: "411111******1111", Expiry: "12/30"},
		Sandbox:         true,
		PaidAmount:      1000,
	}
}

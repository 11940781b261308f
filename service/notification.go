package service

import (
	"context"
	"fmt"

	"github.com/payhook/payhook"
)

// MaxPageSize bounds one page of the delivery log.
const MaxPageSize = 200

// Notifications lists the delivery log, newest first.
func (s *Service) Notifications(ctx context.Context, f payhook.NotificationFilter) ([]*payhook.Notification, int, error) {
	if f.Limit <= 0 || f.Limit > MaxPageSize {
		f.Limit = min(max(f.Limit, 50), MaxPageSize)
	}
	return s.store.ListNotifications(ctx, f)
}

// Notification returns one notification with its attempts.
func (s *Service) Notification(ctx context.Context, id string) (*payhook.Notification, error) {
	return s.store.Notification(ctx, id)
}

// Resend sends a delivered or failed notification again: same webhook-id, same body, a
// new round of attempts, in the background. A notification already pending is returned
// as it is, not queued twice.
func (s *Service) Resend(ctx context.Context, id string) (*payhook.Notification, error) {
	st, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	n, queued, err := s.store.Resend(ctx, id, s.clock.Now().UTC(), s.engine.Lease(st))
	if err != nil {
		return nil, err
	}
	if queued {
		s.engine.Resend(n)
		s.auditPerson(ctx, "notification.resend", fmt.Sprintf("%s to %s (session %s)", n.ID, orNone(n.URL), n.SessionID))
	}
	return s.store.Notification(ctx, id)
}

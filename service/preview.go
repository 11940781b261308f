package service

import (
	"context"

	"github.com/payhook/payhook"
)

// ErrorEmailsConfigured reports whether an SMTP server is configured, so that error
// emails (notify_on_error) can be sent at all. Without one, notify_on_error has no
// effect: the dashboard warns about it.
func (s *Service) ErrorEmailsConfigured() bool { return s.errorEmails }

// NotifyAgainRecipients returns who a "Notify again" of the transaction would reach with
// the configuration as it is now (the same rule NotifyAgain applies: the master switch and
// api_transactions_enabled apply, the state filter does not). When nothing would be sent,
// every recipient carries the Reason, so that a page can say so before the button is
// pressed. It sends nothing.
func (s *Service) NotifyAgainRecipients(ctx context.Context, t *payhook.Transaction) ([]payhook.Recipient, error) {
	c, err := s.config(ctx)
	if err != nil {
		return nil, err
	}
	return payhook.PaymentRecipients(c.settings, c.plugins[t.Type], t, true), nil
}

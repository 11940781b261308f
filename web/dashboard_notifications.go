package web

import (
	"net/http"
	"strings"

	"github.com/payhook/payhook"
)

// notificationStatuses are the delivery log's status filter.
var notificationStatuses = []payhook.Status{payhook.StatusDelivered, payhook.StatusFailed, payhook.StatusPending, payhook.StatusNotSent}

// notificationsPage is the data of the delivery log.
type notificationsPage struct {
	Status   payhook.Status
	URL      string
	Statuses []payhook.Status
	Rows     []noteView
	Pager    pager
}

// notificationsGet is GET /dashboard/notifications: every notification, newest first,
// filtered by status and URL (exactly, as the API's url filter), 50 a page.
func (s *Server) notificationsGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	q := r.URL.Query()
	p := notificationsPage{URL: strings.TrimSpace(q.Get("url")), Statuses: notificationStatuses}
	problem := ""
	if st := payhook.Status(q.Get("status")); st != "" {
		switch st {
		case payhook.StatusDelivered, payhook.StatusFailed, payhook.StatusPending, payhook.StatusNotSent:
			p.Status = st
		default:
			problem = "Unknown status: the status filter was ignored."
		}
	}
	page := pageParam(r)
	list, total, err := s.svc.Notifications(r.Context(), payhook.NotificationFilter{Status: p.Status, URL: p.URL,
		Limit: dashPageSize, Offset: (page - 1) * dashPageSize})
	if err != nil {
		return err
	}
	p.Rows, p.Pager = noteViews(list), newPager(r, page, total)
	v := d.view(r, "Delivery log", "notifications", p)
	v.Problem = problem
	s.renderDash(w, http.StatusOK, "dash_notifications", v)
	return nil
}

// notificationPage is the data of a notification's page.
type notificationPage struct {
	N noteView
	// ResendOutlook says what Resend would do, or why there is nothing to re-send.
	ResendOutlook string
	// ResendWarning, when set, says what about the configuration the user should know
	// before pressing Resend.
	ResendWarning string
}

// notificationGet is GET /dashboard/notifications/{id}: its attempts and its payload, and
// what Resend would do.
func (s *Server) notificationGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	n, err := s.svc.Notification(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	st, err := s.svc.Settings(r.Context())
	if err != nil {
		return err
	}
	p := notificationPage{N: newNoteView(n)}
	p.ResendOutlook, p.ResendWarning = resendOutlook(p.N, st)
	s.renderDash(w, http.StatusOK, "dash_notification", d.view(r, "Notification "+n.ID, "notifications", p))
	return nil
}

// resendOutlook says, before Resend is pressed, what it would do with this notification.
func resendOutlook(n noteView, st payhook.Settings) (outlook, warning string) {
	switch {
	case n.Status == payhook.StatusNotSent:
		outlook = "Nothing to re-send: this notification was never sent"
		if t := reasonTexts[n.Reason]; t != "" {
			outlook += " (" + strings.TrimSuffix(strings.TrimPrefix(t, "Not sent: "), ".") + ")"
		}
		return outlook + ". Once the cause is fixed, use “Notify again” on the transaction's page to send a new one.", ""
	case n.Status == payhook.StatusPending:
		return "Nothing to re-send yet: this notification is being sent (pending). Resend is offered once it is delivered or failed.", ""
	case !n.CanResend:
		return "Nothing to re-send: this notification has no URL.", ""
	}
	outlook = "Resend sends it again to " + n.URL + " with the same webhook-id and body (a new round of attempts)."
	if !st.Enabled {
		warning = "Webhook notifications are off, but a re-send by hand is sent anyway: it goes to " + n.URL + " when you press Resend."
	}
	return outlook, warning
}

// notificationResend is POST /dashboard/notifications/{id}/resend: the same Resend as the
// API's (same webhook-id, same body). Back to the transaction's page when the form says
// back=transaction, else to the notification's, with what happened: queued again, or
// nothing new (already pending).
func (s *Server) notificationResend(w http.ResponseWriter, r *http.Request, d *dash) error {
	before, err := s.svc.Notification(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	done := "resend"
	if before.Status == payhook.StatusPending {
		done = "resend_pending"
	}
	n, err := s.svc.Resend(r.Context(), before.ID)
	if err != nil {
		return err
	}
	if done == "resend" {
		if st, err := s.svc.Settings(r.Context()); err == nil && !st.Enabled {
			done = "resend_while_off"
		}
	}
	back := DashboardPath + "/notifications/" + n.ID
	if r.PostForm.Get("back") == "transaction" && n.SessionID != "" {
		back = DashboardPath + "/transactions/" + n.SessionID
	}
	seeOther(w, r, back, done)
	return nil
}

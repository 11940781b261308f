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

// notificationGet is GET /dashboard/notifications/{id}: its attempts and its payload.
func (s *Server) notificationGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	n, err := s.svc.Notification(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.renderDash(w, http.StatusOK, "dash_notification", d.view(r, "Notification "+n.ID, "notifications", newNoteView(n)))
	return nil
}

// notificationResend is POST /dashboard/notifications/{id}/resend: the same Resend as the
// API's (same webhook-id, same body). Back to the transaction's page when the form says
// back=transaction, else to the notification's.
func (s *Server) notificationResend(w http.ResponseWriter, r *http.Request, d *dash) error {
	n, err := s.svc.Resend(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	back := DashboardPath + "/notifications/" + n.ID
	if r.PostForm.Get("back") == "transaction" && n.SessionID != "" {
		back = DashboardPath + "/transactions/" + n.SessionID
	}
	seeOther(w, r, back, "resend")
	return nil
}

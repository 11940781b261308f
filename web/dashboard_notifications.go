package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/payhook/payhook"
)

// notificationStatuses are the delivery log's status filter.
var notificationStatuses = []payhook.Status{payhook.StatusDelivered, payhook.StatusFailed, payhook.StatusPending, payhook.StatusNotSent, payhook.StatusHeld}

// noteFilter is the delivery log's filter as the dashboard reads it from a query string
// (the list, the bulk re-send's confirmation) or a form (the bulk re-send).
type noteFilter struct {
	Status    payhook.Status
	Kind      payhook.Kind
	URL       string // exactly (the API's url filter; links to one URL's log use it)
	URLPrefix string
	Dates     dateRange
	Problems  []string // the filters not applied, named
}

// parseNoteFilter reads status, kind, url, url_prefix, from and to.
func parseNoteFilter(q url.Values) noteFilter {
	f := noteFilter{URL: strings.TrimSpace(q.Get("url")), URLPrefix: strings.TrimSpace(q.Get("url_prefix"))}
	if st := payhook.Status(q.Get("status")); st != "" {
		switch st {
		case payhook.StatusDelivered, payhook.StatusFailed, payhook.StatusPending, payhook.StatusNotSent, payhook.StatusHeld:
			f.Status = st
		default:
			f.Problems = append(f.Problems, "Unknown status: the status filter was ignored.")
		}
	}
	if k := payhook.Kind(q.Get("kind")); k != "" {
		switch k {
		case payhook.KindPayment, payhook.KindOperation, payhook.KindDigest, payhook.KindNotice:
			f.Kind = k
		default:
			f.Problems = append(f.Problems, "Unknown kind: the kind filter was ignored.")
		}
	}
	var problems []string
	f.Dates, problems = parseDateRange(q)
	f.Problems = append(f.Problems, problems...)
	return f
}

// store is the filter for the store (status as given).
func (f noteFilter) store() payhook.NotificationFilter {
	return payhook.NotificationFilter{Status: f.Status, Kind: f.Kind, URL: f.URL, URLPrefix: f.URLPrefix,
		Since: f.Dates.Since, Until: f.Dates.Until}
}

// query is the filter as a query string (the applied filters only), status left out.
func (f noteFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"kind": string(f.Kind), "url": f.URL, "url_prefix": f.URLPrefix} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Dates.Since.IsZero() {
		q.Set("from", f.Dates.From)
	}
	if !f.Dates.Until.IsZero() {
		q.Set("to", f.Dates.To)
	}
	return q
}

// describe says what the filter selects, for the bulk re-send's confirmation.
func (f noteFilter) describe() string {
	var parts []string
	if f.Kind != "" {
		parts = append(parts, "kind="+string(f.Kind))
	}
	if f.URL != "" {
		parts = append(parts, "url is "+f.URL)
	}
	if f.URLPrefix != "" {
		parts = append(parts, "url starts with "+f.URLPrefix)
	}
	switch {
	case !f.Dates.Since.IsZero() && !f.Dates.Until.IsZero():
		parts = append(parts, "created from "+f.Dates.From+" to "+f.Dates.To+" (UTC)")
	case !f.Dates.Since.IsZero():
		parts = append(parts, "created from "+f.Dates.From+" (UTC)")
	case !f.Dates.Until.IsZero():
		parts = append(parts, "created to "+f.Dates.To+" (UTC)")
	}
	if len(parts) == 0 {
		return "every notification"
	}
	return strings.Join(parts, ", ")
}

// notificationsPage is the data of the delivery log.
type notificationsPage struct {
	Filter   noteFilter
	Statuses []statusOption
	Rows     []noteView
	Pager    pager
	// Failed is how many failed notifications the filter selects (0 when its status
	// excludes them): "Resend all failed" is offered when there are any.
	Failed int
	// ResendFields are the filter, for the GET form that opens the bulk re-send's
	// confirmation.
	ResendFields []formField
}

// formField is a hidden field of a form.
type formField struct{ Name, Value string }

// notificationsGet is GET /dashboard/notifications: every notification, newest first,
// filtered by status, kind, URL (exactly, as the API's url filter, or by its start) and
// creation date (UTC), 50 a page.
func (s *Server) notificationsGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	q := r.URL.Query()
	p := notificationsPage{Filter: parseNoteFilter(q), Statuses: statusOptions(notificationStatuses)}
	page := pageParam(r)
	f := p.Filter.store()
	f.Limit, f.Offset = dashPageSize, (page-1)*dashPageSize
	list, total, err := s.svc.Notifications(r.Context(), f)
	if err != nil {
		return err
	}
	p.Rows, p.Pager = noteViews(list), newPager(r, page, total)
	switch p.Filter.Status {
	case payhook.StatusFailed:
		p.Failed = total
	case "":
		ff := p.Filter.store()
		ff.Status, ff.Limit = payhook.StatusFailed, 1
		if _, p.Failed, err = s.svc.Notifications(r.Context(), ff); err != nil {
			return err
		}
	}
	for _, k := range []string{"kind", "url", "url_prefix", "from", "to"} {
		if v := p.Filter.query().Get(k); v != "" {
			p.ResendFields = append(p.ResendFields, formField{k, v})
		}
	}
	v := d.view(r, "Delivery log", "notifications", p)
	v.Problem = strings.Join(p.Filter.Problems, " ")
	if n, ok := strings.CutPrefix(q.Get("done"), "resent-"); ok {
		if c, err := strconv.Atoi(n); err == nil && c >= 0 {
			v.Flash = fmt.Sprintf("%d queued: the failed notifications matching the filter are sent again, each with the same webhook-id and body.", c)
		}
	}
	s.renderDash(w, http.StatusOK, "dash_notifications", v)
	return nil
}

// resendFailedPage is the data of the bulk re-send's confirmation.
type resendFailedPage struct {
	Filter   noteFilter
	Matching string // the filter in words
	Count    int    // failed notifications matching it now
	Back     string // the delivery log with the filter
}

// resendFailedGet is GET /dashboard/notifications/resend: the confirmation of "Resend all
// failed" for the filter in the query string, stating how many it re-sends.
func (s *Server) resendFailedGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	p := resendFailedPage{Filter: parseNoteFilter(r.URL.Query())}
	p.Matching, p.Back = p.Filter.describe(), logLink(p.Filter)
	v := d.view(r, "Resend failed notifications", "notifications", &p)
	if len(p.Filter.Problems) > 0 {
		// A filter not applied would re-send more than was asked: nothing is offered.
		v.Problem = strings.Join(p.Filter.Problems, " ") + " Correct the filter before re-sending."
		s.renderDash(w, http.StatusBadRequest, "dash_resend_failed", v)
		return nil
	}
	f := p.Filter.store()
	f.Status, f.Limit = payhook.StatusFailed, 1
	_, total, err := s.svc.Notifications(r.Context(), f)
	if err != nil {
		return err
	}
	p.Count = total
	s.renderDash(w, http.StatusOK, "dash_resend_failed", v)
	return nil
}

// resendFailedPost is POST /dashboard/notifications/resend: every failed notification
// matching the form's filter is sent again (the bulk re-send of the API, restricted to
// status failed), then back to the delivery log with the filter and how many were queued.
func (s *Server) resendFailedPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	nf := parseNoteFilter(r.PostForm)
	if len(nf.Problems) > 0 {
		return payhook.Errorf(payhook.EINVALID, "%s Nothing was re-sent.", strings.Join(nf.Problems, " "))
	}
	f := nf.store()
	f.Status = payhook.StatusFailed
	n, err := s.svc.ResendMatching(r.Context(), f)
	if err != nil {
		return err
	}
	q := nf.query() // every status: the re-sent ones show as pending
	q.Set("done", "resent-"+strconv.Itoa(n))
	http.Redirect(w, r, DashboardPath+"/notifications?"+q.Encode(), http.StatusSeeOther)
	return nil
}

// logLink is the delivery log with the filter f (status left out).
func logLink(f noteFilter) string {
	if q := f.query(); len(q) > 0 {
		return DashboardPath + "/notifications?" + q.Encode()
	}
	return DashboardPath + "/notifications"
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
	if !d.User.Can(payhook.RoleOperator) {
		p.N.CanResend, p.ResendWarning = false, ""
		p.ResendOutlook = "Re-sending needs an operator or an admin (your role: " + string(d.User.Role) + ")."
	}
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
	case n.Status == payhook.StatusHeld:
		return "Held: its URL is disabled. Resume the URL on the Endpoints page to send it with the other held notifications, oldest first; a Resend while the URL is disabled holds it again.", ""
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

package web

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/service"
)

// endpointsPage is the data of the endpoint health page.
type endpointsPage struct {
	Since, Until time.Time
	Rows         []endpointRow
	URL          string // the test form's URL, kept after an error
	Errors       payhook.FieldErrors
}

// endpointRow is one webhook URL on the endpoint health page, its figures ready to show.
type endpointRow struct {
	ID            string // prefix of its elements' ids
	URL, LogURL   string
	ConfiguredAs  []string
	Sent          int
	Delivered     int
	Failed        int
	Retrying      int
	Queued        int
	Attempts      int
	Rate          string
	P50, P95      string
	LastFailureAt time.Time
	LastFailure   string
	LastFailureID string
	Chart         template.HTML
	Health        *endpointHealthView // nil before the URL's first attempt
}

// endpointHealthView is a URL's health on the Endpoints page, in words.
type endpointHealthView struct {
	State, StateWords string
	Since             time.Time
	FirstFailureAt    time.Time
	Held              int
	Resuming          bool // resumed, with held notifications left or sent since
	ResumedAt         time.Time
	ResumedBy         string
	Sent, Delivered   int
	Failed            int
	CanResume         bool // disabled, or notifications held
}

// endpointStateWords are the states of a URL in words.
var endpointStateWords = map[payhook.EndpointState]string{
	payhook.EndpointHealthy: "Healthy", payhook.EndpointFailing: "Failing", payhook.EndpointDisabled: "Disabled"}

func newEndpointHealthView(h *payhook.EndpointHealth) *endpointHealthView {
	if h == nil {
		return nil
	}
	return &endpointHealthView{State: string(h.State), StateWords: endpointStateWords[h.State], Since: h.ChangedAt,
		FirstFailureAt: h.FirstFailureAt, Held: h.Held, Resuming: !h.ResumedAt.IsZero() && (h.Held > 0 || h.Released > 0),
		ResumedAt: h.ResumedAt, ResumedBy: h.ResumedBy, Sent: h.Released, Delivered: h.Delivered, Failed: h.Failed,
		CanResume: h.State == payhook.EndpointDisabled || h.Held > 0}
}

// endpointsGet is GET /dashboard/endpoints: each webhook URL's last 24 hours.
func (s *Server) endpointsGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	return s.renderEndpoints(w, r, d, http.StatusOK, endpointsPage{}, "")
}

func (s *Server) renderEndpoints(w http.ResponseWriter, r *http.Request, d *dash, code int, p endpointsPage, problem string) error {
	since, until, list, err := s.svc.Endpoints(r.Context())
	if err != nil {
		return err
	}
	p.Since, p.Until = since, until
	for i, e := range list {
		p.Rows = append(p.Rows, newEndpointRow(fmt.Sprintf("ep-%d", i), e))
	}
	v := d.view(r, "Endpoints", "endpoints", p)
	if problem != "" {
		v.Flash, v.Problem = "", problem
	}
	s.renderDash(w, code, "dash_endpoints", v)
	return nil
}

func newEndpointRow(id string, e service.Endpoint) endpointRow {
	row := endpointRow{ID: id, URL: e.URL, LogURL: DashboardPath + "/notifications?url=" + url.QueryEscape(e.URL),
		ConfiguredAs: e.ConfiguredAs, Sent: e.Sent, Delivered: e.Delivered, Failed: e.Failed,
		Retrying: e.Sent - e.Delivered - e.Failed, Queued: e.Queued, Attempts: e.Attempts,
		Rate: "—", P50: "—", P95: "—"}
	if done := e.Delivered + e.Failed; done > 0 {
		row.Rate = strconv.FormatFloat(100*float64(e.Delivered)/float64(done), 'f', 1, 64) + " %"
	}
	if e.Attempts > 0 {
		row.P50, row.P95 = humanDuration(e.P50), humanDuration(e.P95)
	}
	if a := e.LastFailure; a != nil {
		row.LastFailureAt, row.LastFailureID = a.StartedAt, e.LastFailureNotification
		row.LastFailure = attemptProblem(*a)
	}
	row.Chart = hourChart(id, e.URL, e.Hours)
	row.Health = newEndpointHealthView(e.Health)
	return row
}

// attemptProblem says in words why an attempt was not accepted.
func attemptProblem(a payhook.Attempt) string {
	if a.StatusCode != 0 {
		return "HTTP " + strconv.Itoa(a.StatusCode) + " " + http.StatusText(a.StatusCode)
	}
	return a.Error
}

// The hour chart's geometry, in viewBox units.
const (
	chartBar    = 8
	chartGap    = 2
	chartHeight = 40
)

// hourChart draws the hours as an inline SVG bar chart: per hour a bar of the delivered
// notifications with the failed ones stacked on top, scaled to the busiest hour. Its
// <title> sums it up for screen readers; each bar's <title> gives its hour's figures.
func hourChart(id, u string, hours []payhook.HourStats) template.HTML {
	top, delivered, failed := 1, 0, 0
	worst := -1
	for i, h := range hours {
		top = max(top, h.Delivered+h.Failed)
		delivered += h.Delivered
		failed += h.Failed
		if h.Failed > 0 && (worst < 0 || h.Failed > hours[worst].Failed) {
			worst = i
		}
	}
	summary := fmt.Sprintf("Notifications per hour to %s over the last %d hours: %d delivered, %d failed", u, len(hours), delivered, failed)
	if worst >= 0 {
		summary += fmt.Sprintf("; most failures (%d) in the hour from %s UTC", hours[worst].Failed, hours[worst].Start.Format("15:04"))
	}
	summary += "."
	width := len(hours)*(chartBar+chartGap) - chartGap
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="hour-chart" id="%s-chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-chart-title" preserveAspectRatio="none">`,
		id, max(width, 1), chartHeight+1, id)
	fmt.Fprintf(&b, `<title id="%s-chart-title">%s</title>`, id, html.EscapeString(summary))
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%d" x2="%d" y2="%d"/>`, chartHeight, width, chartHeight)
	for i, h := range hours {
		x := i * (chartBar + chartGap)
		hd := float64(h.Delivered) / float64(top) * chartHeight
		hf := float64(h.Failed) / float64(top) * chartHeight
		fmt.Fprintf(&b, `<g><title>%s–%s UTC: %d delivered, %d failed</title>`, h.Start.Format("15:04"),
			h.Start.Add(time.Hour).Format("15:04"), h.Delivered, h.Failed)
		fmt.Fprintf(&b, `<rect class="slot" x="%d" y="0" width="%d" height="%d"/>`, x, chartBar, chartHeight)
		if h.Delivered > 0 {
			fmt.Fprintf(&b, `<rect class="delivered" x="%d" y="%.2f" width="%d" height="%.2f"/>`, x, chartHeight-hd, chartBar, hd)
		}
		if h.Failed > 0 {
			fmt.Fprintf(&b, `<rect class="failed" x="%d" y="%.2f" width="%d" height="%.2f"/>`, x, chartHeight-hd-hf, chartBar, hf)
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built here, every text escaped
}

// endpointTestPost is POST /dashboard/endpoints/test: sends a test notification to the
// form's URL and shows its first attempt (or the form again, with the URL's problem).
func (s *Server) endpointTestPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	u := strings.TrimSpace(r.PostForm.Get("url"))
	res, err := s.svc.SendTestNotification(r.Context(), u)
	if errs := fieldErrors(err); errs != nil {
		return s.renderEndpoints(w, r, d, http.StatusBadRequest, endpointsPage{URL: u, Errors: errs}, "No test notification was sent: correct the URL.")
	}
	if err != nil {
		return err
	}
	seeOther(w, r, DashboardPath+"/endpoints/test/"+url.PathEscape(res.Notification.ID), "")
	return nil
}

// endpointTestPage is the data of a test notification's result page.
type endpointTestPage struct {
	N        noteView
	LogURL   string
	Attempt  *payhook.Attempt
	Duration string
	Outcome  string // delivered, failed, pending
	Failure  string // why the first attempt was not accepted
	IsTest   bool
}

// endpointTestGet is GET /dashboard/endpoints/test/{id}: how a test notification's first
// attempt went (status code, duration, error, the answer's start).
func (s *Server) endpointTestGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	n, err := s.svc.Notification(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p := endpointTestPage{N: readOnly(d, []noteView{newNoteView(n)})[0], LogURL: DashboardPath + "/notifications?url=" + url.QueryEscape(n.URL),
		IsTest: n.ReferenceNumber == service.TestOrderNo, Outcome: string(payhook.StatusPending)}
	if len(n.Attempts) > 0 {
		a := n.Attempts[0]
		p.Attempt, p.Duration = &a, humanDuration(a.Duration)
		p.Outcome = string(payhook.StatusFailed)
		if (payhook.AttemptOutcome{StatusCode: a.StatusCode}).Delivered() {
			p.Outcome = string(payhook.StatusDelivered)
		} else {
			p.Failure = attemptProblem(a)
		}
	}
	s.renderDash(w, http.StatusOK, "dash_endpoint_test", d.view(r, "Test notification", "endpoints", p))
	return nil
}

// endpointResumePost is POST /dashboard/endpoints/resume: the first POST answers a
// confirmation restating the URL and its held notifications; the confirmation's own POST
// resumes it (its held notifications are sent, oldest first, at endpoint_resume_rate).
func (s *Server) endpointResumePost(w http.ResponseWriter, r *http.Request, d *dash) error {
	u := strings.TrimSpace(r.PostForm.Get("url"))
	if !confirmed(r) {
		h, err := s.svc.OneEndpointHealth(r.Context(), u)
		if err != nil {
			return err
		}
		return s.renderConfirm(w, r, d, "endpoints", confirmPage{
			Heading: "Resume this webhook URL?",
			Intro: fmt.Sprintf("payhook will attempt %s again, and send its %d held notifications, oldest first, at the configured rate. "+
				"Resume only once the merchant's server answers again: if it keeps failing, the URL is disabled again.", u, h.Held),
			Facts:  []confirmField{{ID: "confirm-url", Name: "URL", Value: u}, {ID: "confirm-held", Name: "Held notifications", Value: strconv.Itoa(h.Held)}},
			Action: DashboardPath + "/endpoints/resume", Hidden: []confirmField{{Name: "url", Value: u}},
			Button: "Resume and send " + strconv.Itoa(h.Held) + " held", Back: DashboardPath + "/endpoints",
		})
	}
	if _, err := s.svc.ResumeEndpoint(r.Context(), u); err != nil {
		return err
	}
	seeOther(w, r, DashboardPath+"/endpoints", "endpoint_resumed")
	return nil
}

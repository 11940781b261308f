package mail

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"net/http"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/payhook/payhook"
)

// FailureEmail is what an error email tells (SPEC §8): one failed notification, the
// transaction it is about, what each attempt got, and the failures to the same URL that
// flood control held back since the last email.
type FailureEmail struct {
	// Notification is the failed notification with its attempts.
	Notification *payhook.Notification
	// Transaction is the notification's transaction; nil when it could not be read (a
	// deleted transaction), and the notification's own fields stand in.
	Transaction *payhook.Transaction
	// Held is how many other failures to the same URL were not emailed one by one, the
	// first of them at HeldSince.
	Held      int
	HeldSince time.Time
	// Summary marks an email that sums up held-back failures when no new one came: the
	// Notification is then the latest of them, and counted in Held.
	Summary bool
	// Interval is the flood-control window, named in the email to explain it.
	Interval time.Duration
	// BaseURL is how the dashboard and the API are reached, e.g. "https://pay.shop.example".
	BaseURL string
}

// Letter is a rendered email: its subject, plain-text body and HTML alternative.
type Letter struct {
	Subject string
	Text    string
	HTML    string
}

// maxListedAttempts bounds the attempts an email lists (the latest ones).
const maxListedAttempts = 20

// maxExcerpt bounds the start of an answer an email quotes.
const maxExcerpt = 300

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	textTemplate = texttemplate.Must(texttemplate.New("failure.txt.tmpl").Funcs(texttemplate.FuncMap{"wrap": wrap}).
			ParseFS(templateFS, "templates/failure.txt.tmpl"))
	htmlTemplate = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/failure.html.tmpl"))
)

// Render returns the email's subject and bodies.
func (e FailureEmail) Render() (Letter, error) {
	v := e.view()
	var text, html bytes.Buffer
	if err := textTemplate.Execute(&text, v); err != nil {
		return Letter{}, fmt.Errorf("render text: %w", err)
	}
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return Letter{}, fmt.Errorf("render html: %w", err)
	}
	return Letter{Subject: e.subject(v), Text: text.String(), HTML: html.String()}, nil
}

// Subject is the email's subject, e.g. "[payhook] Payment notification failed:
// shop.example (order ORDER-1001)".
func (e FailureEmail) Subject() string { return e.subject(e.view()) }

func (e FailureEmail) subject(v emailView) string {
	which := "session " + v.SessionID
	switch {
	case v.OrderNo != "":
		which = "order " + v.OrderNo
	case v.ReferenceNumber != "":
		which = "reference " + v.ReferenceNumber
	}
	var s string
	if e.Summary {
		s = fmt.Sprintf("[payhook] Notifications still failing: %s (%s, latest %s)", v.Host, v.HeldPhrase, which)
	} else {
		s = fmt.Sprintf("[payhook] %s notification failed: %s (%s)", v.KindTitle, v.Host, which)
		if e.Held > 0 {
			s += fmt.Sprintf(" and %s", v.HeldPhrase)
		}
	}
	return oneLine(s)
}

// emailView is what the templates show, every field ready to print.
type emailView struct {
	Summary                  bool
	Opening, HeldNote        string
	RedeliveryNote           string
	KindTitle, KindLower     string
	Host, URL                string
	NotificationID           string
	Status                   string
	SessionID, OrderNo       string
	ReferenceNumber          string
	OperationReference       string
	State                    string
	TransactionMissing       bool
	Problem                  string
	Attempts                 []attemptView
	EarlierAttempts          int
	Held                     int
	HeldPhrase, HeldSince    string
	Interval                 string
	DashboardURL, ResendURL  string
	NotificationURL, BaseURL string
}

type attemptView struct {
	Number   string // "#1"
	Time     string
	Duration string
	Outcome  string
	Excerpt  string
}

func (e FailureEmail) view() emailView {
	n := e.Notification
	base := strings.TrimSuffix(e.BaseURL, "/")
	v := emailView{
		Summary: e.Summary, URL: n.URL, Host: n.URL, NotificationID: n.ID, Status: string(n.Status),
		SessionID: n.SessionID, ReferenceNumber: n.ReferenceNumber, Held: e.Held,
		HeldPhrase: plural(e.Held, "more failure", "more failures"),
		Interval:   humanDuration(e.Interval), BaseURL: base,
		DashboardURL:    base + "/dashboard/transactions/" + url.PathEscape(n.SessionID),
		NotificationURL: base + "/dashboard/notifications/" + url.PathEscape(n.ID),
		ResendURL:       base + "/b/webhook/v1/notifications/" + url.PathEscape(n.ID) + "/resend/",
	}
	if !e.HeldSince.IsZero() {
		v.HeldSince = e.HeldSince.UTC().Format(time.RFC3339)
	}
	if u, err := url.Parse(n.URL); err == nil && u.Host != "" {
		v.Host = u.Host
	}
	v.KindLower = string(n.Kind)
	if v.KindLower == "" {
		v.KindLower = "webhook"
	}
	if op := operationName(n); op != "" {
		v.KindLower = op + " " + v.KindLower
	}
	v.KindTitle = strings.ToUpper(v.KindLower[:1]) + v.KindLower[1:]
	if t := e.Transaction; t != nil {
		v.SessionID, v.OrderNo, v.State = t.SessionID, t.OrderNo, string(t.State)
		v.ReferenceNumber = t.ReferenceNumber
		if n.ReferenceNumber != "" && n.ReferenceNumber != t.ReferenceNumber {
			v.OperationReference = n.ReferenceNumber
		}
	} else {
		v.TransactionMissing = true
	}

	attempts := n.Attempts
	if r := n.RoundAttempts; r > 0 && r <= len(attempts) {
		attempts = attempts[len(attempts)-r:] // the round that failed
	}
	if len(attempts) > maxListedAttempts {
		attempts = attempts[len(attempts)-maxListedAttempts:]
	}
	v.EarlierAttempts = len(n.Attempts) - len(attempts)
	for _, a := range attempts {
		v.Attempts = append(v.Attempts, attemptView{Number: fmt.Sprintf("#%d", a.Number), Time: a.StartedAt.UTC().Format(time.RFC3339),
			Duration: shortDuration(a.Duration), Outcome: outcome(a), Excerpt: excerpt(a.ResponseExcerpt)})
	}
	v.Problem = problem(attempts)
	window := fmt.Sprintf("held back by flood control (at most one email per URL every %s)", v.Interval)
	if e.Summary {
		v.Opening = fmt.Sprintf("Notifications to %s are still failing: %s to this URL since %s, %s. "+
			"This email sums them up. The latest: a %s notification that failed: %s.",
			v.URL, v.HeldPhrase, v.HeldSince, window, v.KindLower, v.Problem)
	} else {
		v.Opening = fmt.Sprintf("A %s notification to %s failed: %s.", v.KindLower, v.URL, v.Problem)
		if e.Held > 0 {
			v.HeldNote = fmt.Sprintf("And %s to this URL since %s, %s. This email sums them up.",
				v.HeldPhrase, v.HeldSince, window)
		}
	}
	if r := n.Redelivery; r != nil && !e.Summary {
		v.RedeliveryNote = fmt.Sprintf("Extended redelivery is on for this URL: payhook keeps trying this notification, "+
			"next at %s, until about %s (a later success shows in the delivery log as delivered; no other email "+
			"is sent about it). A re-send stops the schedule and starts a new round.",
			r.NextAttemptAt.UTC().Format(time.RFC3339), r.EndsAt.UTC().Format(time.RFC3339))
	}
	return v
}

// textWidth is where plain-text paragraphs wrap.
const textWidth = 76

// wrap breaks a paragraph into lines of at most textWidth characters, between words;
// a longer word (a URL) gets a line of its own.
func wrap(s string) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		l := len([]rune(w))
		switch {
		case n == 0:
		case n+1+l > textWidth:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += l
	}
	return b.String()
}

// problem says in one sentence what went wrong on the round's last attempt.
func problem(attempts []payhook.Attempt) string {
	if len(attempts) == 0 {
		return "it was not delivered"
	}
	last := attempts[len(attempts)-1]
	if last.StatusCode != 0 {
		return fmt.Sprintf("the server answered HTTP %d %s, and only 200 or 201 counts as delivered",
			last.StatusCode, http.StatusText(last.StatusCode))
	}
	return fmt.Sprintf("no answer after %s (the last: %s)",
		plural(len(attempts), "attempt", "attempts"), orDefault(last.Error, "no answer"))
}

func outcome(a payhook.Attempt) string {
	if a.StatusCode != 0 {
		return fmt.Sprintf("HTTP %d", a.StatusCode)
	}
	return "error: " + orDefault(a.Error, "no answer")
}

// operationName is the operation a JSON operation notification reports ("refund"), or "".
func operationName(n *payhook.Notification) string {
	if n.Kind != payhook.KindOperation || !strings.Contains(n.ContentType, "json") {
		return ""
	}
	var body struct {
		Operation string `json:"operation"`
	}
	if json.Unmarshal(n.Body, &body) != nil || len(body.Operation) > 40 {
		return ""
	}
	return oneLine(body.Operation)
}

func excerpt(s string) string {
	s = strings.TrimSpace(oneLine(s))
	if r := []rune(s); len(r) > maxExcerpt {
		s = string(r[:maxExcerpt]) + "…"
	}
	return s
}

// oneLine replaces control characters (CR and LF first) by spaces, so that merchant data
// cannot break a header or the layout.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// shortDuration prints an attempt's duration to the millisecond.
func shortDuration(d time.Duration) string {
	if d < time.Millisecond {
		return "<1ms"
	}
	return d.Round(time.Millisecond).String()
}

// humanDuration prints the flood-control window: "10 minutes", "1 hour", "90s".
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour", "hours")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute", "minutes")
	}
	return d.String()
}

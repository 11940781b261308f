package mail

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/payhook/payhook"
)

// Endpoint health emails (docs/endpoint-health.md): a URL that became failing or
// disabled is told to the error list once, through the same store-backed queue and flood
// control as the failure emails, under a flood-control key of its own per change
// (EndpointEmailKey), so that a failure email does not hold it back and a URL that flaps
// gets at most one email of each kind per interval.

// EndpointEmail is what an endpoint health email tells.
type EndpointEmail struct {
	Health  payhook.EndpointHealth
	Change  payhook.EndpointChange
	BaseURL string
	// Repeats is how many more changes of this kind flood control held back and this
	// email sums up.
	Repeats int
}

// EndpointEmailKey is the flood-control key of a change's emails for url.
func EndpointEmailKey(change payhook.EndpointChange, url string) string {
	return string(change) + " " + url
}

// endpointDetail is what the store keeps of an endpoint health email (its Detail).
type endpointDetail struct {
	Endpoint *payhook.EndpointHealth `json:"endpoint"`
	Change   payhook.EndpointChange  `json:"change"`
}

func decodeEndpointDetail(f payhook.ErrorEmailFailure) (endpointDetail, bool) {
	var d endpointDetail
	if len(f.Detail) == 0 || json.Unmarshal(f.Detail, &d) != nil || d.Endpoint == nil {
		return endpointDetail{}, false
	}
	return d, true
}

// Render returns the email's subject and plain-text body.
func (e EndpointEmail) Render() Letter {
	h := e.Health
	host := h.URL
	if u, err := url.Parse(h.URL); err == nil && u.Host != "" {
		host = u.Host
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	base := strings.TrimSuffix(e.BaseURL, "/")
	var b strings.Builder
	var subject string
	switch e.Change {
	case payhook.EndpointBecameDisabled:
		subject = "[payhook] Webhook URL disabled: " + host
		fmt.Fprintf(&b, "Every attempt to %s has failed since %s, so payhook disabled it.\n\n", h.URL, when(h.FirstFailureAt))
		b.WriteString(wrap("New notifications to this URL are held: stored, not sent, not lost. " +
			"When the merchant's server answers again, resume the URL: the held notifications are then sent, oldest first, at the configured rate."))
		b.WriteString("\n\n")
	default:
		subject = "[payhook] Webhook URL failing: " + host
		fmt.Fprintf(&b, "Every attempt to %s has failed since %s.\n\n", h.URL, when(h.FirstFailureAt))
		b.WriteString(wrap("payhook keeps sending to it; one success clears this state. " +
			"If it keeps failing, the URL will be disabled and new notifications to it held (see endpoint_disable_after)."))
		b.WriteString("\n\n")
	}
	fmt.Fprintf(&b, "URL:           %s\nState:         %s (since %s)\nFirst failure: %s\nLast failure:  %s\nLast success:  %s\n",
		h.URL, h.State, when(h.ChangedAt), when(h.FirstFailureAt), when(h.LastFailureAt), when(h.LastSuccessAt))
	if e.Repeats > 0 {
		fmt.Fprintf(&b, "\nThis happened %s since the last such email (held back by flood control).\n", plural(e.Repeats, "more time", "more times"))
	}
	fmt.Fprintf(&b, "\nEndpoints page: %s/dashboard/endpoints\n", base)
	if e.Change == payhook.EndpointBecameDisabled {
		fmt.Fprintf(&b, "Resume through the API: POST %s/b/webhook/v1/endpoints/resume/?url=%s\n", base, url.QueryEscape(h.URL))
	}
	return Letter{Subject: oneLine(subject), Text: b.String()}
}

// NotifyEndpoint hands over a change of a URL's health (failing or disabled; a recovery
// is not emailed). It never blocks, like NotifyFailure.
func (m *ErrorMailer) NotifyEndpoint(h payhook.EndpointHealth, change payhook.EndpointChange) {
	if change != payhook.EndpointBecameFailing && change != payhook.EndpointBecameDisabled {
		return
	}
	f := failure{at: m.cfg.Clock.Now(), endpoint: &endpointDetail{Endpoint: &h, Change: change}}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		m.log.Warn("endpoint change after close not emailed", "url", h.URL, "change", change)
		return
	}
	select {
	case m.events <- f:
	default:
		m.stats.dropped.Add(1)
		m.log.Warn("error email queue full: endpoint change dropped", "url", h.URL, "change", change)
	}
}

// endpointRecord is the store's record of an endpoint change: keyed by EndpointEmailKey.
func endpointRecord(f failure) payhook.ErrorEmailFailure {
	d := f.endpoint
	b, _ := json.Marshal(d) // plain data: cannot fail
	return payhook.ErrorEmailFailure{URL: EndpointEmailKey(d.Change, d.Endpoint.URL),
		NotificationID: string(d.Change), At: f.at, Detail: b}
}

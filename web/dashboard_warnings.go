package web

import (
	"strings"

	"github.com/payhook/payhook"
)

// configWarning is one warning of the Webhook Config pages: the element's id, the text,
// and, when the fix is elsewhere, a link to it.
type configWarning struct {
	ID, Text, Link, LinkText string
}

// The customer's redirect waits for the merchant's answer to the payment notification
// (SPEC §1): Ottu's documents ask merchants to answer within 25 s, and browsers and
// customers give up after about a minute.
const (
	answerWithin  = 25 // seconds: one attempt's timeout above this is warned about
	customerLimit = 60 // seconds: a worst case above this is warned about
)

// The timing warnings, with {s} for the seconds; the page's script shows the same texts
// while the numbers are typed (they reach it in data attributes).
const (
	timeoutWarning = "The timeout is {s} s: a customer's redirect after paying waits for your server's answer, " +
		"and one attempt alone may keep them waiting longer than the 25 s within which merchants are asked to answer. Use a timeout of 25 s or less."
	worstCaseWarning = "In the worst case a customer waits {s} s for the redirect after paying " +
		"(every attempt timing out, with the waits between them): longer than a browser or a customer will wait, about a minute. " +
		"The delivery goes on, but the customer may give up or see an error. Lower the timeout, the retries or the backoff factor."
)

// configWarnings returns the General tab's warnings for the settings st (as saved, or with
// the typed timing, so that the warnings match the form), the plugin configs, and whether
// an SMTP server is configured.
func configWarnings(st payhook.Settings, form configForm, plugins []payhook.PluginSettings, smtp bool) []configWarning {
	var out []configWarning
	if form.NotifyOnError && !smtp {
		out = append(out, configWarning{ID: "warn-no-smtp", Text: "Notify on Error is on, but no SMTP server is configured: no error email will be sent. " +
			"Start payhook with --smtp-url (PAYHOOK_SMTP_URL) to send them; until then failed notifications show only in the delivery log."})
	}
	if form.NotifyOnError && len(splitEmails(form.Emails)) == 0 {
		out = append(out, configWarning{ID: "warn-no-emails", Text: "Notify on Error is on, but the Email List is empty: no error email will be sent."})
	}
	if u := strings.TrimSpace(form.OperationsWebhookURL); isPlainHTTP(u) {
		out = append(out, configWarning{ID: "warn-http-operations", Text: httpWarning("The Operations webhook_url", u)})
	}
	out = append(out, pluginWarnings(plugins, true)...)
	if st.Timeout > answerWithin {
		out = append(out, configWarning{ID: "warn-timeout", Text: strings.Replace(timeoutWarning, "{s}", formatSeconds(st.Timeout), 1)})
	}
	if w := st.WorstCase().Seconds(); w > customerLimit {
		out = append(out, configWarning{ID: "warn-worst-case", Text: strings.Replace(worstCaseWarning, "{s}", formatSeconds(w), 1)})
	}
	return out
}

// pluginWarnings are the warnings of plugin configs: a plain http:// Webhook URL, and a
// state filter on with no state (nothing is sent). link adds a link to the plugin's page
// (on the General tab).
func pluginWarnings(plugins []payhook.PluginSettings, link bool) []configWarning {
	var out []configWarning
	for _, ps := range plugins {
		w := configWarning{}
		if link {
			w.Link, w.LinkText = DashboardPath+"/webhook/plugins/"+string(ps.Plugin), "Edit the "+pluginLabel(ps.Plugin)+" config"
		}
		if isPlainHTTP(ps.WebhookURL) {
			w.ID, w.Text = "warn-http-"+string(ps.Plugin), httpWarning("The "+pluginLabel(ps.Plugin)+" plugin's Webhook URL", ps.WebhookURL)
			out = append(out, w)
		}
		if ps.StateFilterEnabled && len(ps.States) == 0 {
			w.ID, w.Text = "warn-empty-filter-"+string(ps.Plugin), "The "+pluginLabel(ps.Plugin)+" plugin's state filter is on with no state chosen: "+
				"no payment notification of "+string(ps.Plugin)+" transactions is sent (each is recorded as not sent). Choose the states to send, or turn the filter off."
			out = append(out, w)
		}
	}
	return out
}

func isPlainHTTP(u string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(u)), "http://")
}

func httpWarning(what, u string) string {
	return what + " " + u + " is plain http://: notifications (with the customer's details and their signature) travel unencrypted and can be read " +
		"or changed on the way. Use https:// in production."
}

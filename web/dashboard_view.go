package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/payhook/payhook"
)

// dashPageSize is how many rows a dashboard list shows per page.
const dashPageSize = 50

// flashes are the messages a page shows after an action redirected back to it with
// ?done=KEY. Only these fixed texts are ever shown: the query never reaches the page.
var flashes = map[string]string{
	"config":           "Webhook configuration saved. It applies from the next notification.",
	"plugin_saved":     "Plugin configuration saved.",
	"plugin_deleted":   "Plugin configuration deleted.",
	"created":          "Payment request created. Send the checkout link to the customer.",
	"refund":           "Refund done. The operation notification is on its way.",
	"refund_declined":  "The gateway declined the refund; the operation notification reports it as failed.",
	"capture":          "Capture done. The operation notification is on its way.",
	"capture_declined": "The gateway declined the capture; the operation notification reports it as failed.",
	"void":             "Void done. The operation notification is on its way.",
	"void_declined":    "The gateway declined the void; the operation notification reports it as failed.",
	"cancel":           "Transaction canceled. The payment notification is on its way.",
	"notify":           "The payment notification was queued again, as a new notification.",
	"resend":           "Queued again with the same webhook-id and body.",
	"key_revoked":      "API key revoked. It stops working at once.",
	"user_added":       "User added. Give them their email and first password; they can change it under My account.",
	"user_role":        "Role saved. It applies from the user's next click.",
	"user_password":    "Password reset. The user's sessions have ended: they sign in with the new password.",
	"user_deactivated": "User deactivated. Their sessions have ended and they cannot sign in.",
	"user_activated":   "User activated again. They can sign in.",
	"password_changed": "Your password was changed. Your other sessions have ended.",
	"endpoint_resumed": "URL resumed: its held notifications are being sent, oldest first. Their progress shows below.",
}

// flash is the message of ?done=KEY, "" for an unknown key.
func flash(r *http.Request) string { return flashes[r.URL.Query().Get("done")] }

// reasonTexts explain why a notification was not sent.
var reasonTexts = map[payhook.Reason]string{
	payhook.ReasonDisabled:                "Not sent: webhook notifications are off (Webhook Config → Enable webhook notifications).",
	payhook.ReasonAPITransactionsDisabled: "Not sent: the transaction was created through the API and “Enable webhook notifications if transaction initiated from API” is off.",
	payhook.ReasonStateFiltered:           "Not sent: the plugin's state filter does not include this state.",
	payhook.ReasonNoURL:                   "Not sent: there is no webhook URL (none on the transaction, in the plugin config or, for operations, in Operations webhook_url).",
}

// fieldErr is one form field's validation messages, for the "ferr" template.
type fieldErr struct {
	Name string
	Msgs []string
}

// dashPageFuncs are the template functions of the dashboard pages (beside dashFuncs).
var dashPageFuncs = template.FuncMap{
	// ferr picks a field's messages from a payhook.FieldErrors.
	"ferr": func(errs payhook.FieldErrors, name string) fieldErr {
		msgs := make([]string, len(errs[name]))
		for i, m := range errs[name] {
			msgs[i] = upperFirst(m)
		}
		return fieldErr{Name: name, Msgs: msgs}
	},
	// describedby names a field's help text and, when it has any, its error messages.
	"describedby": func(errs payhook.FieldErrors, name string) string {
		if len(errs[name]) > 0 {
			return name + "-help " + name + "-err"
		}
		return name + "-help"
	},
	"secs":   formatSeconds,
	"reason": func(r payhook.Reason) string { return reasonTexts[r] },
	"has": func(list []payhook.State, s payhook.State) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
	"pluginLabel": pluginLabel,
	// words, coded and outcome show raw codes (not_sent, state_filtered, attempted…) in
	// words, with the code beside them.
	"words":   words,
	"action":  auditWord,
	"coded":   coded,
	"outcome": outcome,
	// note is what the "note" template needs: a notification, the form's CSRF token and
	// which page a re-send returns to ("transaction" or "notification").
	"note": func(n noteView, csrf, back string) noteCtx { return noteCtx{N: n, CSRF: csrf, Back: back} },
}

// noteCtx is the data of the "note" template.
type noteCtx struct {
	N          noteView
	CSRF, Back string
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// formatSeconds writes seconds without float noise: 55, 0.3, 4.25.
func formatSeconds(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}

func pluginLabel(p payhook.Plugin) string {
	switch p {
	case payhook.PluginECommerce:
		return "E-Commerce"
	case payhook.PluginPaymentRequest:
		return "Payment Request"
	}
	return string(p)
}

// pageParam reads ?page= (1 when absent or bad).
func pageParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 || n > 1<<20 {
		return 1
	}
	return n
}

// pager is a list's page links; the other query parameters (the filters) are kept.
type pager struct {
	Page, Pages, Total int
	Prev, Next         string
}

func newPager(r *http.Request, page, total int) pager {
	p := pager{Page: page, Total: total, Pages: max(1, (total+dashPageSize-1)/dashPageSize)}
	link := func(n int) string {
		q := url.Values{}
		for k, v := range r.URL.Query() {
			if k != "done" && k != "page" {
				q[k] = v
			}
		}
		if n > 1 {
			q.Set("page", strconv.Itoa(n))
		}
		if len(q) == 0 {
			return r.URL.Path
		}
		return r.URL.Path + "?" + q.Encode()
	}
	if page > 1 {
		p.Prev = link(min(page-1, p.Pages))
	}
	if page < p.Pages {
		p.Next = link(page + 1)
	}
	return p
}

// noteView is a notification as the dashboard shows it.
type noteView struct {
	*payhook.Notification
	Payload   string // the body as sent, indented when it is JSON
	CanResend bool
}

func newNoteView(n *payhook.Notification) noteView {
	body := string(n.Body)
	if json.Valid(n.Body) {
		var buf bytes.Buffer
		if json.Indent(&buf, n.Body, "", "  ") == nil {
			body = buf.String()
		}
	}
	return noteView{Notification: n, Payload: body,
		CanResend: n.URL != "" && (n.Status == payhook.StatusDelivered || n.Status == payhook.StatusFailed)}
}

// readOnly takes the Resend buttons away from a user whose role cannot re-send (the
// server refuses it anyway).
func readOnly(d *dash, views []noteView) []noteView {
	if !d.User.Can(payhook.RoleOperator) {
		for i := range views {
			views[i].CanResend = false
		}
	}
	return views
}

// Last is the latest attempt, nil before the first.
func (v noteView) Last() *payhook.Attempt {
	if len(v.Attempts) == 0 {
		return nil
	}
	return &v.Attempts[len(v.Attempts)-1]
}

func noteViews(list []*payhook.Notification) []noteView {
	out := make([]noteView, len(list))
	for i, n := range list {
		out[i] = newNoteView(n)
	}
	return out
}

// view returns a page's view for a signed-in user.
func (d *dash) view(r *http.Request, title, nav string, data any) *dashView {
	return &dashView{Title: title, Nav: nav, Me: d.User, CSRF: d.CSRF, Flash: flash(r), Data: data}
}

// seeOther redirects after a successful action (POST, redirect, GET).
func seeOther(w http.ResponseWriter, r *http.Request, path, done string) {
	if done != "" {
		path += "?done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// fieldErrors returns the per-field messages of a validation error, nil for others.
func fieldErrors(err error) payhook.FieldErrors {
	var e *payhook.Error
	if errors.As(err, &e) && e.Code == payhook.EINVALID && len(e.Fields) > 0 {
		return payhook.FieldErrors(e.Fields)
	}
	return nil
}

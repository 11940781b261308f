package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/payhook/payhook"
)

// Money actions (refund, capture, void, cancel) and destructive ones (revoking an API
// key, deleting a plugin config) are deliberate: their form's first POST changes nothing
// and answers a confirmation page that restates what will happen, with the values in
// hidden fields; only the confirmation's own POST, with confirm=1, does it. This works
// without JavaScript; the page's script may turn the same step into a dialog.

// confirmField is one value a confirmation page restates (ID names its element) or one
// hidden field its form carries back (Name, Value).
type confirmField struct {
	ID, Name, Value string
}

// confirmPage is the data of a confirmation page.
type confirmPage struct {
	Heading     string
	Intro       string         // what will happen, in one or two sentences
	Facts       []confirmField // the values restated
	Warning     string         // what cannot be undone, if anything
	Action      string         // where the confirmation posts
	Hidden      []confirmField // the values posted back (csrf_token and confirm=1 are added)
	Button      string         // e.g. "Confirm refund of 5.000 KWD"
	ButtonClass string
	Back        string // the "Go back" link
}

// confirmed reports whether a POST is the confirmation's own (confirm=1).
func confirmed(r *http.Request) bool { return r.PostForm.Get("confirm") == "1" }

// renderConfirm shows a confirmation page; nothing has been done.
func (s *Server) renderConfirm(w http.ResponseWriter, r *http.Request, d *dash, nav string, p confirmPage) error {
	v := d.view(r, p.Heading, nav, p)
	v.Flash = ""
	s.renderDash(w, http.StatusOK, "dash_confirm", v)
	return nil
}

// lastFour returns the last four digits of a masked card number ("411111******1111"),
// "" when it has none.
func lastFour(masked string) string {
	masked = strings.TrimSpace(masked)
	if len(masked) < 4 {
		return ""
	}
	tail := masked[len(masked)-4:]
	for _, c := range tail {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return tail
}

// operationNames are the operations as a sentence names them.
var operationNames = map[string]string{payhook.OpRefund: "refund", payhook.OpCapture: "capture",
	payhook.OpVoid: "void", payhook.OpCancel: "cancellation"}

// operationConfirmation is the confirmation page of an operation of amount (already
// planned: formatted in the transaction's currency) on t, carrying trackingKey so that
// the confirmation, sent twice, acts once.
func operationConfirmation(t *payhook.Transaction, op, amount string, full bool, trackingKey string) confirmPage {
	money := amount + " " + t.Currency
	card := ""
	if t.Card != nil {
		card = lastFour(t.Card.Masked)
	}
	onCard := ""
	if card != "" {
		onCard = " on the card ending " + card
	}
	order := ""
	if t.OrderNo != "" {
		order = ", order " + t.OrderNo
	}
	p := confirmPage{Action: DashboardPath + "/transactions/" + t.SessionID + "/operation",
		Back: DashboardPath + "/transactions/" + t.SessionID, ButtonClass: "danger",
		Button: "Confirm " + operationNames[op] + " of " + money}
	switch op {
	case payhook.OpRefund:
		p.Heading = "Confirm refund"
		p.Intro = "Refund " + money + onCard + " (transaction " + t.ReferenceNumber + order + "). The gateway sends the money back to the customer, and an operation notification goes out."
		if full {
			p.Intro += " This is the full remaining amount: nothing will remain to refund."
		}
		p.Warning = "A refund cannot be undone."
	case payhook.OpCapture:
		p.Heading = "Confirm capture"
		p.Intro = "Capture " + money + " of the " + t.Amount.Format(t.Currency) + " " + t.Currency + " authorized" + onCard +
			" (transaction " + t.ReferenceNumber + order + "). The customer is charged, and an operation notification goes out."
		p.Warning = "A capture cannot be undone; what is not captured can no longer be."
		p.ButtonClass = "primary"
	case payhook.OpVoid:
		p.Heading = "Confirm void"
		p.Intro = "Void the authorization of " + money + onCard + " (transaction " + t.ReferenceNumber + order +
			"). The hold on the customer's money is released, the transaction becomes canceled, and an operation notification goes out."
		p.Warning = "A voided authorization cannot be captured any more."
	case payhook.OpCancel:
		p.Heading = "Confirm cancellation"
		p.Intro = "Cancel the payment of " + money + " (transaction " + t.ReferenceNumber + order +
			"). The customer can no longer pay through its checkout link, and a payment notification with state canceled goes out."
		p.Warning = "A canceled payment cannot be reopened: create a new payment request instead."
	}
	p.Facts = []confirmField{{ID: "confirm-operation", Name: "Operation", Value: op}, {ID: "confirm-amount", Name: "Amount", Value: money}}
	if full {
		p.Facts[1].Value += " (the full remaining amount)"
	}
	if card != "" {
		p.Facts = append(p.Facts, confirmField{ID: "confirm-card", Name: "Card", Value: "•••• " + card})
	}
	orderNo := t.OrderNo
	if orderNo == "" {
		orderNo = "—"
	}
	p.Facts = append(p.Facts,
		confirmField{ID: "confirm-order-no", Name: "Order no.", Value: orderNo},
		confirmField{ID: "confirm-reference", Name: "Reference", Value: t.ReferenceNumber},
		confirmField{ID: "confirm-session", Name: "Session id", Value: t.SessionID})
	p.Hidden = []confirmField{{Name: "operation", Value: op}, {Name: "tracking_key", Value: trackingKey}}
	if op == payhook.OpRefund || op == payhook.OpCapture {
		p.Hidden = append(p.Hidden, confirmField{Name: "amount", Value: amount})
	}
	return p
}

// The flashes of the confirmed actions and of "Notify again" and "Resend" when they send
// nothing (see flashes).
func init() {
	for k, v := range map[string]string{
		"notify_not_sent_" + string(payhook.ReasonDisabled):                "Nothing was sent: webhook notifications are off. The notification is recorded as not sent (see below); turn notifications on in Webhook Config, then notify again.",
		"notify_not_sent_" + string(payhook.ReasonAPITransactionsDisabled): "Nothing was sent: this transaction was created through the API and notifications of API transactions are off. The notification is recorded as not sent (see below).",
		"notify_not_sent_" + string(payhook.ReasonNoURL):                   "Nothing was sent: there is no webhook URL for this transaction. The notification is recorded as not sent (see below); add a Webhook URL to its plugin config, then notify again.",
		"notify_not_sent_" + string(payhook.ReasonStateFiltered):           "Nothing was sent: the plugin's state filter does not include this state. The notification is recorded as not sent (see below).",
		"resend_while_off":       "Queued again with the same webhook-id and body. Webhook notifications are off, but a re-send by hand is sent anyway.",
		"resend_pending":         "Nothing new was queued: this notification is already being sent (pending); it was not queued twice.",
		"key_already_revoked":    "Nothing was done: this API key was already revoked.",
		"plugin_already_deleted": "Nothing was done: this plugin config was already deleted.",
	} {
		flashes[k] = v
	}
}

// apiKeyRevokeConfirmation is the confirmation page of revoking k.
func apiKeyRevokeConfirmation(k payhook.APIKey) confirmPage {
	id := strconv.FormatInt(k.ID, 10)
	return confirmPage{Heading: "Confirm revoking an API key",
		Intro: "Revoke the API key “" + k.Name + "” (" + k.Prefix + "…). Every request that uses it is refused from now on (401): the shop backend or script that uses it stops working until it is given another key.",
		Facts: []confirmField{{ID: "confirm-key-name", Name: "Name", Value: k.Name}, {ID: "confirm-key-prefix", Name: "Key starts with", Value: k.Prefix + "…"},
			{ID: "confirm-key-created", Name: "Created", Value: k.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC")}},
		Warning: "A revoked key cannot be restored: create a new one instead.",
		Action:  DashboardPath + "/api-keys/" + id + "/revoke", Button: "Revoke the key “" + k.Name + "”", ButtonClass: "danger",
		Back: DashboardPath + "/api-keys"}
}

// pluginDeleteConfirmation is the confirmation page of deleting a plugin's config.
func pluginDeleteConfirmation(ps payhook.PluginSettings) confirmPage {
	url := ps.WebhookURL
	if url == "" {
		url = "none"
	}
	filter := "off (every state)"
	if ps.StateFilterEnabled {
		filter = "only " + joinStates(ps.States)
	}
	intro := "Delete the " + pluginLabel(ps.Plugin) + " plugin config (" + string(ps.Plugin) + "). "
	if ps.WebhookURL != "" {
		intro += "Notifications of " + string(ps.Plugin) + " transactions will no longer go to " + ps.WebhookURL +
			" (a transaction's own webhook_url and the Operations webhook_url still get theirs), and its state filter is removed."
	} else {
		intro += "Its state filter is removed: payment notifications go out in every state."
	}
	return confirmPage{Heading: "Confirm deleting a plugin config", Intro: intro,
		Facts: []confirmField{{ID: "confirm-plugin", Name: "Plugin", Value: string(ps.Plugin)},
			{ID: "confirm-plugin-url", Name: "Webhook URL", Value: url}, {ID: "confirm-plugin-filter", Name: "State filter", Value: filter}},
		Action: DashboardPath + "/webhook/plugins/" + string(ps.Plugin) + "/delete", Button: "Delete the " + pluginLabel(ps.Plugin) + " config",
		ButtonClass: "danger", Back: DashboardPath + "/webhook/plugins"}
}

func joinStates(list []payhook.State) string {
	if len(list) == 0 {
		return "no state (nothing is sent)"
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

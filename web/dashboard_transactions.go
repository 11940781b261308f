package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/service"
)

// allStates are the transaction states, for the list's filter.
var allStates = []payhook.State{payhook.StateCreated, payhook.StatePending, payhook.StateAttempted, payhook.StateAuthorized,
	payhook.StatePaid, payhook.StateFailed, payhook.StateCanceled, payhook.StateExpired, payhook.StateInvalided,
	payhook.StateRefunded, payhook.StateCOD}

// transactionsPage is the data of the transactions list.
type transactionsPage struct {
	State    payhook.State
	Plugin   payhook.Plugin
	Query    string
	Webhook  payhook.Status
	Dates    dateRange
	States   []payhook.State
	Plugins  []payhook.Plugin
	Webhooks []statusOption
	Rows     []transactionRow
	Pager    pager
}

// transactionsGet is GET /dashboard/transactions: newest first, filtered by state,
// plugin, creation date (UTC) and the outcome of the latest notification, searched by
// part of order_no or customer email, session_id or reference_number (a child's too:
// its parent is listed), 50 a page. A bad filter is named and not applied.
func (s *Server) transactionsGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	q := r.URL.Query()
	p := transactionsPage{Query: strings.TrimSpace(q.Get("q")), States: allStates, Plugins: payhook.Plugins,
		Webhooks: statusOptions(webhookStatuses)}
	var problems []string
	if st := payhook.State(q.Get("state")); st != "" {
		if slices.Contains(allStates, st) {
			p.State = st
		} else {
			problems = append(problems, "Unknown state: the state filter was ignored.")
		}
	}
	if pl := payhook.Plugin(q.Get("plugin")); pl != "" {
		if pl.Valid() {
			p.Plugin = pl
		} else {
			problems = append(problems, "Unknown plugin: the plugin filter was ignored.")
		}
	}
	if wh := payhook.Status(q.Get("webhook")); wh != "" {
		if slices.Contains(webhookStatuses, wh) {
			p.Webhook = wh
		} else {
			problems = append(problems, "Unknown webhook status: the webhook filter was ignored.")
		}
	}
	var dateProblems []string
	p.Dates, dateProblems = parseDateRange(q)
	problems = append(problems, dateProblems...)
	page := pageParam(r)
	list, total, err := s.svc.Transactions(r.Context(), payhook.TransactionFilter{State: p.State, Plugin: p.Plugin, Query: p.Query,
		CreatedFrom: p.Dates.Since, CreatedUntil: p.Dates.Until, Webhook: p.Webhook,
		Limit: dashPageSize, Offset: (page - 1) * dashPageSize})
	if err != nil {
		return err
	}
	if p.Rows, err = s.transactionRows(r.Context(), list, p.Query); err != nil {
		return err
	}
	p.Pager = newPager(r, page, total)
	v := d.view(r, "Transactions", "transactions", p)
	v.Problem = strings.Join(problems, " ")
	s.renderDash(w, http.StatusOK, "dash_transactions", v)
	return nil
}

// paymentRequestForm is the "Create payment request" form.
type paymentRequestForm struct {
	Amount, CurrencyCode, OrderNo, CustomerEmail, CustomerFirstName, CustomerLastName, WebhookURL, RedirectURL string
	PGCodes                                                                                                    []string
}

// pgOption is a gateway the form offers.
type pgOption struct {
	Code, Name string
	Selected   bool
}

// paymentRequestPage is the data of the "Create payment request" page.
type paymentRequestPage struct {
	Form    paymentRequestForm
	Options []pgOption
	Errors  payhook.FieldErrors
	Other   []string // messages about fields the form does not show
}

// paymentRequestFields are the form's fields, by their Checkout API names.
var paymentRequestFields = []string{"amount", "currency_code", "pg_codes", "order_no", "customer_email",
	"customer_first_name", "customer_last_name", "webhook_url", "redirect_url"}

func (s *Server) paymentRequestPage(f paymentRequestForm, errs payhook.FieldErrors) paymentRequestPage {
	p := paymentRequestPage{Form: f, Errors: errs}
	for _, c := range s.svc.Gateways().Codes() {
		o := pgOption{Code: c, Name: c, Selected: slices.Contains(f.PGCodes, c)}
		if g, err := s.svc.Gateways().Get(c); err == nil {
			o.Name = g.Name() + " (" + c + ")"
		}
		p.Options = append(p.Options, o)
	}
	for name, msgs := range errs {
		if !slices.Contains(paymentRequestFields, name) {
			for _, m := range msgs {
				p.Other = append(p.Other, name+": "+m)
			}
		}
	}
	slices.Sort(p.Other)
	return p
}

// paymentRequestGet is GET /dashboard/transactions/new.
func (s *Server) paymentRequestGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	f := paymentRequestForm{CurrencyCode: "KWD"}
	if codes := s.svc.Gateways().Codes(); len(codes) > 0 {
		f.PGCodes = codes[:1]
	}
	s.renderDash(w, http.StatusOK, "dash_transaction_new", d.view(r, "Create payment request", "transactions", s.paymentRequestPage(f, nil)))
	return nil
}

// paymentRequestPost is POST /dashboard/transactions/new: the Checkout API's body, made
// from the form, through the same CreateCheckout, as a payment_request created in the
// dashboard (its creator is the initiator). On success, to the new transaction's page
// with its checkout link.
func (s *Server) paymentRequestPost(w http.ResponseWriter, r *http.Request, d *dash) error {
	pf := r.PostForm
	f := paymentRequestForm{Amount: strings.TrimSpace(pf.Get("amount")), CurrencyCode: strings.ToUpper(strings.TrimSpace(pf.Get("currency_code"))),
		OrderNo: strings.TrimSpace(pf.Get("order_no")), CustomerEmail: strings.TrimSpace(pf.Get("customer_email")),
		CustomerFirstName: strings.TrimSpace(pf.Get("customer_first_name")), CustomerLastName: strings.TrimSpace(pf.Get("customer_last_name")),
		WebhookURL: strings.TrimSpace(pf.Get("webhook_url")), RedirectURL: strings.TrimSpace(pf.Get("redirect_url"))}
	for _, c := range pf["pg_codes"] {
		if c = strings.TrimSpace(c); c != "" {
			f.PGCodes = append(f.PGCodes, c)
		}
	}
	body := map[string]json.RawMessage{}
	set := func(name string, v any) {
		b, _ := json.Marshal(v)
		body[name] = b
	}
	set("type", payhook.PluginPaymentRequest)
	if f.Amount != "" {
		set("amount", f.Amount)
	}
	if f.CurrencyCode != "" {
		set("currency_code", f.CurrencyCode)
	}
	if len(f.PGCodes) > 0 {
		set("pg_codes", f.PGCodes)
	}
	for name, v := range map[string]string{"order_no": f.OrderNo, "customer_email": f.CustomerEmail,
		"customer_first_name": f.CustomerFirstName, "customer_last_name": f.CustomerLastName,
		"webhook_url": f.WebhookURL, "redirect_url": f.RedirectURL} {
		if v != "" {
			set(name, v)
		}
	}
	t, err := s.svc.CreateCheckout(r.Context(), body, payhook.OriginDashboard)
	if errs := fieldErrors(err); errs != nil {
		if _, ok := errs["pg_codes"]; ok && len(f.PGCodes) == 0 {
			errs["pg_codes"] = []string{"Choose at least one gateway."}
		}
		v := d.view(r, "Create payment request", "transactions", s.paymentRequestPage(f, errs))
		v.Flash, v.Problem = "", "Nothing was created: correct the fields marked below."
		s.renderDash(w, http.StatusBadRequest, "dash_transaction_new", v)
		return nil
	}
	if err != nil {
		return err
	}
	seeOther(w, r, DashboardPath+"/transactions/"+t.SessionID, "created")
	return nil
}

// operationForms are the operations the page offers for the transaction's state (the
// rules of PlanOperation), with the most each amount can be.
type operationForms struct {
	Refund, Capture, Void, Cancel bool
	RefundMax, CaptureMax         string
}

func operationsFor(t *payhook.Transaction) operationForms {
	var o operationForms
	if !t.DeletedAt.IsZero() {
		return o
	}
	if p, err := payhook.PlanOperation(t, payhook.OpRefund, ""); err == nil {
		o.Refund, o.RefundMax = true, p.Amount.Format(t.Currency)
	}
	if p, err := payhook.PlanOperation(t, payhook.OpCapture, ""); err == nil {
		o.Capture, o.CaptureMax = true, p.Amount.Format(t.Currency)
	}
	_, err := payhook.PlanOperation(t, payhook.OpVoid, "")
	o.Void = err == nil
	_, err = payhook.PlanOperation(t, payhook.OpCancel, "")
	o.Cancel = err == nil
	return o
}

// transactionPage is the data of a transaction's page.
type transactionPage struct {
	T           *payhook.Transaction
	Remaining   string
	CheckoutURL string // while it can be paid
	Ops         operationForms
	Notes       []noteView
	NotesTotal  int
	Errors      payhook.FieldErrors
	TypedOp     string // the operation whose amount did not validate
	TypedAmount string
	TypedFull   bool
	// NotifyNothing, when set, says why "Notify again" would send nothing with the
	// configuration as it is now.
	NotifyNothing string
	// NotifyURLs are the URLs "Notify again" would send to.
	NotifyURLs []string
	// NotificationsOff is set while webhook notifications are off (Resend still sends).
	NotificationsOff bool
}

// renderTransaction shows a transaction's page; problem and errs, when set, report an
// action that failed (with code).
func (s *Server) renderTransaction(w http.ResponseWriter, r *http.Request, d *dash, code int, problem string, errs payhook.FieldErrors, typedOp, typedAmount string) error {
	ctx := r.Context()
	t, err := s.svc.Transaction(ctx, r.PathValue("session_id"))
	if err != nil {
		return err
	}
	notes, total, err := s.svc.Notifications(ctx, payhook.NotificationFilter{SessionID: t.SessionID, Limit: service.MaxPageSize})
	if err != nil {
		return err
	}
	p := transactionPage{T: t, Remaining: t.RemainingAmount().Format(t.Currency), Ops: operationsFor(t),
		Notes: readOnly(d, noteViews(notes)), NotesTotal: total, Errors: errs, TypedOp: typedOp, TypedAmount: typedAmount,
		TypedFull: typedOp != "" && r.Method == http.MethodPost && r.PostForm.Get("full") != ""}
	recipients, err := s.svc.NotifyAgainRecipients(ctx, t)
	if err != nil {
		return err
	}
	p.NotifyNothing, p.NotifyURLs = notifyOutlook(recipients)
	p.NotificationsOff = len(recipients) > 0 && recipients[0].Reason == payhook.ReasonDisabled
	if t.State.Payable() && s.svc.Open(t) && t.DeletedAt.IsZero() {
		p.CheckoutURL = s.svc.CheckoutURL(t.SessionID)
	}
	v := d.view(r, "Transaction "+t.ReferenceNumber, "transactions", p)
	if problem != "" {
		v.Flash, v.Problem = "", problem
	}
	s.renderDash(w, code, "dash_transaction", v)
	return nil
}

// notifyNothingTexts say, before "Notify again" is pressed, why it would send nothing.
var notifyNothingTexts = map[payhook.Reason]string{
	payhook.ReasonDisabled:                "Nothing will be sent: webhook notifications are off (Webhook Config → Enable webhook notifications). Pressing records a notification “not sent” in the delivery log.",
	payhook.ReasonAPITransactionsDisabled: "Nothing will be sent: this transaction was created through the API and “Enable webhook notifications if transaction initiated from API” is off (Webhook Config). Pressing records a notification “not sent” in the delivery log.",
	payhook.ReasonNoURL:                   "Nothing will be sent: there is no webhook URL (none on the transaction, none in its plugin config). Pressing records a notification “not sent” in the delivery log.",
	payhook.ReasonStateFiltered:           "Nothing will be sent: the plugin's state filter does not include this state. Pressing records a notification “not sent” in the delivery log.",
}

// notifyOutlook reads what a "Notify again" would do: why nothing would be sent, or the
// URLs it would reach.
func notifyOutlook(recipients []payhook.Recipient) (nothing string, urls []string) {
	for _, rc := range recipients {
		if rc.Reason != "" {
			return notifyNothingTexts[rc.Reason], nil
		}
		urls = append(urls, rc.URL)
	}
	return "", urls
}

// transactionGet is GET /dashboard/transactions/{session_id}.
// The session id of a refund, capture or void leads to its parent's page, at the child's
// row.
func (s *Server) transactionGet(w http.ResponseWriter, r *http.Request, d *dash) error {
	sid := r.PathValue("session_id")
	if _, err := s.svc.Transaction(r.Context(), sid); payhook.ErrorCode(err) == payhook.ENOTFOUND {
		list, _, lerr := s.svc.Transactions(r.Context(), payhook.TransactionFilter{Query: sid, Limit: 2})
		if lerr == nil && len(list) == 1 && list[0].SessionID != sid {
			http.Redirect(w, r, DashboardPath+"/transactions/"+list[0].SessionID+"#child-"+url.PathEscape(sid), http.StatusSeeOther)
			return nil
		}
	}
	return s.renderTransaction(w, r, d, http.StatusOK, "", nil, "", "")
}

// transactionNotify is POST /dashboard/transactions/{session_id}/notify: "Notify again",
// through the same NotifyAgain as the inquiry's notify option. The page it returns to says
// what happened: queued, or recorded as not sent and why.
func (s *Server) transactionNotify(w http.ResponseWriter, r *http.Request, d *dash) error {
	sid := r.PathValue("session_id")
	t, err := s.svc.Transaction(r.Context(), sid)
	if err != nil {
		return err
	}
	// What it does is decided by the same cached configuration NotifyAgain reads.
	recipients, err := s.svc.NotifyAgainRecipients(r.Context(), t)
	if err != nil {
		return err
	}
	if err := s.svc.NotifyAgain(r.Context(), sid); err != nil {
		if payhook.ErrorCode(err) == payhook.ETOOMANY {
			return s.renderTransaction(w, r, d, http.StatusTooManyRequests, payhook.ErrorMessage(err), nil, "", "")
		}
		return err
	}
	done := "notify"
	if len(recipients) > 0 && recipients[0].Reason != "" {
		done = "notify_not_sent_" + string(recipients[0].Reason)
	}
	seeOther(w, r, DashboardPath+"/transactions/"+sid, done)
	return nil
}

// dashboardOperations are the operations a transaction's page offers.
var dashboardOperations = []string{payhook.OpRefund, payhook.OpCapture, payhook.OpVoid, payhook.OpCancel}

// transactionOperation is POST /dashboard/transactions/{session_id}/operation. The
// page's form (refund, capture, void, cancel) first gets a confirmation page: the amount
// is checked (an empty refund or capture amount is an error unless "full" was chosen,
// which fills in what remains), nothing is done, and a new Tracking-Key is made for the
// confirmation. The confirmation's POST (confirm=1, with that key and the exact amount)
// carries out the Operations API's body through the same Operate; sent twice (a double
// click, a reload), it acts once.
func (s *Server) transactionOperation(w http.ResponseWriter, r *http.Request, d *dash) error {
	sid := r.PathValue("session_id")
	op := r.PostForm.Get("operation")
	if !slices.Contains(dashboardOperations, op) {
		return s.renderTransaction(w, r, d, http.StatusBadRequest, "Choose refund, capture, void or cancel.", nil, "", "")
	}
	withAmount := op == payhook.OpRefund || op == payhook.OpCapture
	amount, full := "", false
	if withAmount {
		amount = strings.TrimSpace(r.PostForm.Get("amount"))
		full = r.PostForm.Get("full") != "" && !confirmed(r)
		if amount == "" && !full {
			choice := map[string]string{payhook.OpRefund: "Full refund", payhook.OpCapture: "Full capture"}[op]
			return s.renderTransaction(w, r, d, http.StatusBadRequest, "The "+op+" was not done: enter an amount.",
				payhook.FieldErrors{"amount": {"Enter an amount, or choose " + choice + "."}}, op, amount)
		}
		if full {
			amount = "" // what remains, planned below
		}
	}
	if !confirmed(r) {
		return s.confirmOperation(w, r, d, op, amount, full)
	}
	key := strings.TrimSpace(r.PostForm.Get("tracking_key"))
	if key == "" {
		return s.renderTransaction(w, r, d, http.StatusBadRequest, "Nothing was done: this confirmation is incomplete. Start again from the button below.", nil, "", "")
	}
	req := map[string]string{"operation": op, "session_id": sid}
	if withAmount {
		req["amount"] = amount
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return err
	}
	a, err := s.svc.Operate(r.Context(), raw, body, key)
	if errs := fieldErrors(err); errs != nil {
		return s.renderTransaction(w, r, d, http.StatusBadRequest, "The "+op+" was not done: correct the amount.", errs, op, amount)
	}
	if payhook.ErrorCode(err) == payhook.EINVALID {
		return s.renderTransaction(w, r, d, http.StatusBadRequest, payhook.ErrorMessage(err), nil, "", "")
	}
	if err != nil {
		return err
	}
	var answer struct {
		Detail string `json:"detail"`
		Result string `json:"result"`
	}
	if err := json.Unmarshal(a.Body, &answer); err != nil {
		return err
	}
	if a.StatusCode != http.StatusOK {
		// The state forbids it (Ottu's {detail, operation, result: "failed"}).
		return s.renderTransaction(w, r, d, http.StatusConflict, answer.Detail, nil, "", "")
	}
	done := op
	if answer.Result == "failed" {
		done = op + "_declined"
	}
	seeOther(w, r, DashboardPath+"/transactions/"+sid, done)
	return nil
}

// confirmOperation checks an operation as the page's form asked for it and answers its
// confirmation page; nothing is done. amount is "" for void, cancel and a full refund or
// capture (what remains, filled in here).
func (s *Server) confirmOperation(w http.ResponseWriter, r *http.Request, d *dash, op, amount string, full bool) error {
	t, err := s.svc.Transaction(r.Context(), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	if !t.DeletedAt.IsZero() {
		return payhook.Errorf(payhook.ENOTFOUND, "No transaction with session_id %q.", t.SessionID)
	}
	plan, err := payhook.PlanOperation(t, op, amount)
	if errs := fieldErrors(err); errs != nil {
		return s.renderTransaction(w, r, d, http.StatusBadRequest, "The "+op+" was not done: correct the amount.", errs, op, amount)
	}
	if payhook.ErrorCode(err) == payhook.ECONFLICT {
		return s.renderTransaction(w, r, d, http.StatusConflict, payhook.ErrorMessage(err), nil, "", "")
	}
	if err != nil {
		return err
	}
	shown := plan.Amount
	if op == payhook.OpCancel {
		shown = t.Amount
	}
	// The key is made here, once per confirmation page: the confirmation sent twice
	// carries the same key and body, and Operate answers the second from the first.
	key := "dashboard-" + randomFormToken()
	return s.renderConfirm(w, r, d, "transactions", operationConfirmation(t, op, shown.Format(t.Currency), full, key))
}

package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/gateway"
	"github.com/payhook/payhook/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticRoot embed.FS

var staticFS, _ = fs.Sub(staticRoot, "static")

type pages struct {
	checkout *template.Template
	summary  *template.Template
}

func newPages() (*pages, error) {
	parse := func(name string) (*template.Template, error) {
		t, err := template.New("layout.html").Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return nil, err
		}
		// ParseFS names the set after its first file, the layout, whose own body is empty:
		// execute the page itself.
		return t.Lookup(name), nil
	}
	c, err := parse("checkout.html")
	if err != nil {
		return nil, err
	}
	s, err := parse("summary.html")
	if err != nil {
		return nil, err
	}
	return &pages{checkout: c, summary: s}, nil
}

// pageFuncs are the template functions of the customer's pages: codes in words, as on
// the dashboard.
var pageFuncs = template.FuncMap{"words": words}

// render writes a page; the body is built first so a template error becomes a 500.
func (s *Server) render(w http.ResponseWriter, t *template.Template, code int, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		s.log.Error("render page", "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the session id in the URL is the capability
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// sessionID finds the session in the path, the query, or the posted form.
func sessionID(r *http.Request) string {
	if id := r.PathValue("session_id"); id != "" {
		return id
	}
	if id := r.URL.Query().Get("session_id"); id != "" {
		return id
	}
	return r.PostFormValue("session_id")
}

type checkoutView struct {
	Title, Amount, Action, Summary, Problem, PGCode, Expiry, Holder string
	// Previous says that the latest try was declined or failed (the form is shown again).
	Previous string
	// TryToken identifies this rendering of the form: submitted twice, it makes one try.
	TryToken      string
	T             *payhook.Transaction
	Open, Sandbox bool
	Errors        map[string]string
}

// previousTry tells the customer, on the checkout page opened again, that the latest try
// did not go through and that they may try again ("" when there was none).
func previousTry(t *payhook.Transaction) string {
	if t.State != payhook.StateAttempted || len(t.Tries) == 0 {
		return ""
	}
	last := t.Tries[len(t.Tries)-1]
	what := "was declined"
	if last.Result == payhook.ResultError {
		what = "failed with a gateway error"
	}
	card := ""
	if last.Card != nil {
		card = " with card " + last.Card.Masked
	}
	msg := "Your previous payment try" + card + " " + what
	if last.Message != "" {
		msg += " (" + last.Message + ")"
	}
	return msg + ". Nothing was charged: you can try again, with another card if you like."
}

func (s *Server) checkoutView(r *http.Request, t *payhook.Transaction) *checkoutView {
	v := &checkoutView{Title: "Pay " + t.Amount.Format(t.Currency) + " " + t.Currency, Amount: t.Amount.Format(t.Currency),
		Action: r.URL.RequestURI(), Summary: s.svc.SummaryURL(t.SessionID), T: t, Open: t.State.Payable(),
		Sandbox: t.Sandbox, Errors: map[string]string{}, PGCode: r.URL.Query().Get("pg_code"), TryToken: payhook.NewSessionID()}
	if v.PGCode == "" && len(t.PGCodes) > 0 {
		v.PGCode = t.PGCodes[0]
	}
	if v.Open {
		v.Previous = previousTry(t)
	}
	return v
}

// checkoutPage shows the amount and the card form.
func (s *Server) checkoutPage(w http.ResponseWriter, r *http.Request) {
	t, err := s.svc.Transaction(r.Context(), sessionID(r))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := s.checkoutView(r, t)
	if v.Open && !s.svc.Open(t) {
		v.Open, v.Problem = false, "This payment link has expired."
	}
	s.render(w, s.pages.checkout, http.StatusOK, v)
}

// checkoutSubmit pays (card fields) or cancels (action=cancel), then sends the customer
// where the merchant's answer says, with a 303.
func (s *Server) checkoutSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		formReadError(w, err)
		return
	}
	if err := checkForm(r.Form); err != nil {
		s.checkoutFormRefused(w, r, err)
		return
	}
	id := sessionID(r)
	var o *service.PaymentOutcome
	var err error
	var card gateway.Card
	pg := r.PostForm.Get("pg_code")
	if pg == "" {
		pg = r.URL.Query().Get("pg_code")
	}
	if r.PostForm.Get("action") == "cancel" {
		o, err = s.svc.Cancel(r.Context(), id)
	} else {
		card = gateway.Card{
			Number: strings.NewReplacer(" ", "", "-", "").Replace(r.PostForm.Get("card_number")),
			Expiry: strings.ReplaceAll(r.PostForm.Get("card_expiry"), " ", ""),
			CVV:    strings.TrimSpace(r.PostForm.Get("card_cvv")),
			Holder: strings.TrimSpace(r.PostForm.Get("card_holder")),
		}
		o, err = s.svc.PayForm(r.Context(), id, pg, r.PostForm.Get("try_token"), card)
	}
	if err == nil {
		http.Redirect(w, r, o.Redirect, http.StatusSeeOther)
		return
	}
	if o == nil || o.Transaction == nil {
		s.pageError(w, r, err)
		return
	}
	v := s.checkoutView(r, o.Transaction)
	switch payhook.ErrorCode(err) {
	case payhook.EINVALID:
		v.Expiry, v.Holder, v.PGCode = card.Expiry, card.Holder, pg
		var e *payhook.Error
		errors.As(err, &e)
		for f, msgs := range e.Fields {
			v.Errors[f] = strings.Join(msgs, " ")
		}
		v.Problem = v.Errors["pg_code"] + v.Errors["try_token"]
		s.render(w, s.pages.checkout, http.StatusBadRequest, v)
	case payhook.ECONFLICT:
		v.Open, v.Problem = false, payhook.ErrorMessage(err)
		s.render(w, s.pages.checkout, http.StatusConflict, v)
	default:
		s.pageError(w, r, err)
	}
}

// checkoutFormRefused shows the checkout page again, 400, with the fields that break the
// input rules (invalid UTF-8, NUL) named; nothing was paid nor stored.
func (s *Server) checkoutFormRefused(w http.ResponseWriter, r *http.Request, err error) {
	t, terr := s.svc.Transaction(r.Context(), sessionID(r))
	if terr != nil {
		s.pageError(w, r, terr)
		return
	}
	v := s.checkoutView(r, t)
	var e *payhook.Error
	if errors.As(err, &e) {
		for f, msgs := range e.Fields {
			v.Errors[f] = strings.Join(msgs, " ")
		}
	}
	v.Problem = formError(err)
	s.render(w, s.pages.checkout, http.StatusBadRequest, v)
}

type summaryView struct {
	Title, Amount, Headline, Tone, Pay string
	T                                  *payhook.Transaction
	Open, Sandbox                      bool
}

// summaryPage shows the outcome of a payment and its references.
func (s *Server) summaryPage(w http.ResponseWriter, r *http.Request) {
	t, err := s.svc.Transaction(r.Context(), r.PathValue("session_id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := &summaryView{Title: "Payment summary", Amount: t.Amount.Format(t.Currency), T: t,
		Open: t.State.Payable() && s.svc.Open(t), Sandbox: t.Sandbox, Pay: s.svc.CheckoutURL(t.SessionID)}
	switch t.State {
	case payhook.StatePaid:
		v.Headline, v.Tone = "Payment successful", "good"
	case payhook.StateAuthorized:
		v.Headline, v.Tone = "Payment authorized", "good"
	case payhook.StateFailed:
		v.Headline, v.Tone = "Payment failed", "bad"
	case payhook.StateAttempted:
		v.Headline, v.Tone = "Payment not completed: you can try again", "bad"
		if t.Result == payhook.ResultFailed {
			v.Headline = "Payment declined: you can try again"
		}
	case payhook.StateCanceled:
		v.Headline, v.Tone = "Payment canceled", "neutral"
	case payhook.StateExpired:
		v.Headline, v.Tone = "Payment link expired", "neutral"
	case payhook.StateRefunded:
		v.Headline, v.Tone = "Payment refunded", "neutral"
	default:
		v.Headline, v.Tone = "Awaiting payment", "neutral"
	}
	s.render(w, s.pages.summary, http.StatusOK, v)
}

// pageError answers a page request that failed, in plain text.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	switch payhook.ErrorCode(err) {
	case payhook.ENOTFOUND:
		http.Error(w, "Payment not found. Check the link you were given.", http.StatusNotFound)
	case payhook.ECONFLICT:
		http.Error(w, payhook.ErrorMessage(err), http.StatusConflict)
	case payhook.EUNAVAILABLE:
		s.log.Error("page failed: the database cannot take writes", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, payhook.ErrorMessage(err), http.StatusServiceUnavailable)
	default:
		s.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
		http.Error(w, "Something went wrong on our side. Please try again.", http.StatusInternalServerError)
	}
}

package web

import (
	"bytes"
	"crypto/subtle"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/service"
)

// Dashboard cookies. The session cookie holds a random token (its hash is stored); the
// CSRF token of a signed-in user lives in the session and in every form; before sign-in,
// the sign-in form uses a double-submit cookie.
const (
	sessionCookie   = "payhook_session"
	loginCSRFCookie = "payhook_login_csrf"
	csrfField       = "csrf_token"
)

// DashboardPath is where the dashboard lives; error emails link to its pages.
const DashboardPath = "/dashboard"

// dash is what every dashboard handler gets: the signed-in user and their CSRF token.
type dash struct {
	User        *payhook.User
	CSRF        string
	SessionHash string // the stored hash of this session (kept on a password change)
}

// roleRefusal tells a user their role does not allow what they asked.
func roleRefusal(have, need payhook.Role) string {
	return "Your role (" + string(have) + ") cannot do this: it needs " + string(need) +
		". Nothing was done. Ask an admin if you need it."
}

// Can reports whether the signed-in user's role allows what needs role (the templates
// show only what the user may do; the server checks every request regardless).
func (v *dashView) Can(role string) bool { return v.Me.Can(payhook.Role(role)) }

// dashView is the data of every dashboard page: the page's own data in Data.
type dashView struct {
	Title   string
	Nav     string // which menu entry is current
	Me      *payhook.User
	CSRF    string
	Flash   string
	Problem string
	Data    any
	// Banners say, on every page of a signed-in user, what the configuration keeps from
	// being sent (see loadBanners); filled by renderDash.
	Banners []banner
}

// dashPages are the dashboard's templates, each parsed with the layout.
type dashPages map[string]*template.Template

var dashFuncs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"amount": func(a payhook.Amount, ccy string) string { return a.Format(ccy) + " " + ccy },
	// duration writes a duration for people: "250 ms", "1.0 s", "2 min 5 s". "ms" is
	// its old name, kept so that every page writes durations the same way.
	"duration":  humanDuration,
	"ms":        humanDuration,
	"join":      strings.Join,
	"hasSuffix": strings.HasSuffix,
}

func newDashPages() (dashPages, error) {
	names, err := fs.Glob(templateFS, "templates/dash_*.html")
	if err != nil {
		return nil, err
	}
	p := dashPages{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "dash_layout.html" || base == "dash_parts.html" {
			continue
		}
		t, err := template.New(base).Funcs(dashFuncs).Funcs(dashPageFuncs).ParseFS(templateFS, "templates/dash_layout.html", "templates/dash_parts.html", n)
		if err != nil {
			return nil, err
		}
		p[strings.TrimSuffix(base, ".html")] = t
	}
	return p, nil
}

// renderDash writes a dashboard page.
func (s *Server) renderDash(w http.ResponseWriter, code int, page string, v *dashView) {
	t := s.dashPages[page]
	if t == nil {
		s.log.Error("no dashboard template", "page", page)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	if v.Me != nil && v.Banners == nil {
		v.Banners = s.loadBanners()
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, page+".html", v); err != nil {
		s.log.Error("render dashboard page", "page", page, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// secureCookies is on when customers and staff reach payhook over https.
func (s *Server) secureCookies() bool { return strings.HasPrefix(s.svc.BaseURL(), "https://") }

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: DashboardPath, HttpOnly: true,
		Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge.Seconds())})
}

// dashHandler is a dashboard page's handler.
type dashHandler func(w http.ResponseWriter, r *http.Request, d *dash) error

// dashRoute registers a dashboard page that needs role need (see dashboard).
func (s *Server) dashRoute(method, path string, need payhook.Role, h dashHandler) {
	s.rules = append(s.rules, RouteRule{Method: method, Path: path, Role: need})
	s.route(method, path, s.dashboard(need, h))
}

// dashboard wraps a dashboard handler: a session is required (else to the sign-in page),
// every POST must carry the session's CSRF token (else 403, nothing done), and the user's
// role must allow need (else 403, nothing done).
func (s *Server) dashboard(need payhook.Role, h dashHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		var token string
		if err == nil {
			token = c.Value
		}
		ss, u, err := s.svc.SessionUser(r.Context(), token)
		if err != nil {
			if payhook.ErrorCode(err) != payhook.EUNAUTHORIZED {
				s.log.Error("load session", "err", err)
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, DashboardPath+"/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "Your session has ended: sign in again.", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := r.ParseForm(); err != nil {
				formReadError(w, err)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get(csrfField)), []byte(ss.CSRFToken)) != 1 {
				http.Error(w, "This form has expired or did not come from payhook (CSRF check failed). Reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		d := &dash{User: u, CSRF: ss.CSRFToken, SessionHash: ss.TokenHash}
		if !u.Can(need) {
			s.renderDash(w, http.StatusForbidden, "dash_error", &dashView{Title: "Not allowed", Me: u, CSRF: ss.CSRFToken,
				Problem: roleRefusal(u.Role, need)})
			return
		}
		ctx := service.WithInitiator(service.WithActor(r.Context(), u.Email), u.Initiator())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Input rules: invalid UTF-8 or NUL in any field is refused before the
			// handler sees the form, so nothing is stored altered.
			if err := checkForm(r.Form); err != nil {
				s.dashError(w, r, payhook.Errorf(payhook.EINVALID, "%s", formError(err)), d)
				return
			}
		}
		if err := h(w, r.WithContext(ctx), d); err != nil {
			s.dashError(w, r, err, d)
		}
	}
}

// dashError answers a dashboard request that failed: a page with the menu and the reason
// (for a signed-in user, d), else plain text. Internal details go to the log only.
func (s *Server) dashError(w http.ResponseWriter, r *http.Request, err error, d *dash) {
	code, msg := http.StatusInternalServerError, "Something went wrong on our side."
	switch payhook.ErrorCode(err) {
	case payhook.ENOTFOUND:
		code, msg = http.StatusNotFound, payhook.ErrorMessage(err)
	case payhook.EINVALID, payhook.ECONFLICT:
		code, msg = http.StatusBadRequest, payhook.ErrorMessage(err)
	case payhook.ETOOMANY:
		code, msg = http.StatusTooManyRequests, payhook.ErrorMessage(err)
	case payhook.EUNAVAILABLE:
		code, msg = http.StatusServiceUnavailable, payhook.ErrorMessage(err)
		s.log.Error("dashboard request failed: the database cannot take writes", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		s.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if d == nil {
		http.Error(w, msg, code)
		return
	}
	s.renderDash(w, code, "dash_error", &dashView{Title: http.StatusText(code), Me: d.User, CSRF: d.CSRF, Problem: msg})
}

// safeNext keeps a post-sign-in redirect inside the dashboard.
func safeNext(next string) string {
	if strings.HasPrefix(next, DashboardPath+"/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return DashboardPath + "/transactions"
}

type loginData struct {
	Email, Next string
}

// loginPage shows the sign-in form, with a fresh double-submit CSRF token.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	tok := randomFormToken()
	s.setCookie(w, loginCSRFCookie, tok, time.Hour)
	s.renderDash(w, http.StatusOK, "dash_login", &dashView{Title: "Sign in", CSRF: tok,
		Data: loginData{Next: safeNext(r.URL.Query().Get("next"))}})
}

// loginSubmit signs in: CSRF (double submit), throttle, password check, session cookie.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		formReadError(w, err)
		return
	}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get(csrfField))) != 1 {
		http.Error(w, "This form has expired or did not come from payhook (CSRF check failed). Reload the page and try again.", http.StatusForbidden)
		return
	}
	email, next := r.PostForm.Get("email"), safeNext(r.PostForm.Get("next"))
	if err := checkForm(r.Form); err != nil {
		s.renderDash(w, http.StatusBadRequest, "dash_login", &dashView{Title: "Sign in", CSRF: c.Value, Problem: formError(err),
			Data: loginData{Next: next}})
		return
	}
	token, ss, _, err := s.svc.SignIn(r.Context(), email, r.PostForm.Get("password"), clientAddr(r))
	if err != nil {
		code := http.StatusUnauthorized
		switch payhook.ErrorCode(err) {
		case payhook.ETOOMANY:
			code = http.StatusTooManyRequests
		case payhook.EUNAUTHORIZED:
		default:
			s.dashError(w, r, err, nil)
			return
		}
		tok := randomFormToken()
		s.setCookie(w, loginCSRFCookie, tok, time.Hour)
		s.renderDash(w, code, "dash_login", &dashView{Title: "Sign in", CSRF: tok, Problem: payhook.ErrorMessage(err),
			Data: loginData{Email: email, Next: next}})
		return
	}
	s.setCookie(w, loginCSRFCookie, "", -time.Second)
	s.setCookie(w, sessionCookie, token, time.Until(ss.ExpiresAt))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session (a POST with the CSRF token).
func (s *Server) logout(w http.ResponseWriter, r *http.Request, d *dash) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.svc.SignOut(r.Context(), c.Value); err != nil {
			return err
		}
	}
	s.setCookie(w, sessionCookie, "", -time.Second)
	http.Redirect(w, r, DashboardPath+"/login", http.StatusSeeOther)
	return nil
}

func randomFormToken() string { return strings.TrimRight(payhook.NewSessionID(), "=") }

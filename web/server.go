// Package web is payhook's HTTP layer: the Ottu-compatible APIs (checkout, webhook
// configuration, delivery log), the hosted checkout and summary pages, health and
// metrics. Handlers decode and encode; the service does the work.
package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/service"
)

// MaxBodyBytes is the largest request body accepted (1 MiB); a larger one is a 413.
const MaxBodyBytes = 1 << 20

// Server serves payhook's HTTP endpoints.
type Server struct {
	svc       *service.Service
	log       *slog.Logger
	mux       *http.ServeMux
	metrics   *prometheus.Registry
	pages     *pages
	dashPages dashPages
	rules     []RouteRule // every authenticated route and its role, for Rules
	bodies    *bodyGuard
}

// Config configures a server.
type Config struct {
	Service *service.Service
	Logger  *slog.Logger
	// Metrics is the registry /metrics serves; collectors of other packages go in it.
	Metrics *prometheus.Registry
	// BodyTimeout bounds how long a request body may take to arrive whole (default
	// DefaultBodyTimeout); a body still arriving then is cut off with a 408.
	BodyTimeout time.Duration
	// MaxBodyReads bounds the request bodies read at once (default DefaultMaxBodyReads);
	// a request with a body beyond it is a 503 with Retry-After.
	MaxBodyReads int
}

// New returns a server with every route registered.
func New(c Config) (*Server, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	p, err := newPages()
	if err != nil {
		return nil, err
	}
	dp, err := newDashPages()
	if err != nil {
		return nil, err
	}
	s := &Server{svc: c.Service, log: c.Logger, mux: http.NewServeMux(), metrics: c.Metrics, pages: p, dashPages: dp,
		bodies: newBodyGuard(c.BodyTimeout, c.MaxBodyReads)}
	s.routes()
	return s, nil
}

// RouteRule is one authenticated route and the least role a dashboard user needs for it
// (on the dashboard, or with Basic auth on the APIs; an API key may use every API).
type RouteRule struct {
	Method string
	Path   string
	Role   payhook.Role
}

// Rules lists every dashboard and API route with the role it needs, in registration order.
func (s *Server) Rules() []RouteRule { return append([]RouteRule(nil), s.rules...) }

// apiRoute registers an API route; a dashboard user on Basic auth needs role need.
func (s *Server) apiRoute(method, path string, need payhook.Role, h func(w http.ResponseWriter, r *http.Request) error) {
	s.rules = append(s.rules, RouteRule{Method: method, Path: path, Role: need})
	s.route(method, path, s.api(need, h))
}

// route registers h for method and path, with and without the trailing slash (both are
// routed, never redirected).
func (s *Server) route(method, path string, h http.HandlerFunc) {
	trimmed := strings.TrimSuffix(path, "/")
	s.mux.HandleFunc(method+" "+trimmed+"/{$}", h)
	s.mux.HandleFunc(method+" "+trimmed, h)
}

func (s *Server) routes() {
	const (
		viewer   = payhook.RoleViewer
		operator = payhook.RoleOperator
		admin    = payhook.RoleAdmin
	)
	// Checkout API (Ottu).
	s.apiRoute("POST", "/b/checkout/v1/pymt-txn/", operator, s.createCheckout)
	s.apiRoute("GET", "/b/checkout/v1/pymt-txn/{session_id}/", viewer, s.getCheckout)
	// Webhook configuration and delivery log.
	s.apiRoute("GET", "/b/webhook/v1/config/", viewer, s.getConfig)
	s.apiRoute("PATCH", "/b/webhook/v1/config/", admin, s.patchConfig)
	s.apiRoute("GET", "/b/webhook/v1/plugins/", viewer, s.listPlugins)
	s.apiRoute("GET", "/b/webhook/v1/plugins/{plugin}/", viewer, s.getPlugin)
	s.apiRoute("PUT", "/b/webhook/v1/plugins/{plugin}/", admin, s.putPlugin)
	s.apiRoute("DELETE", "/b/webhook/v1/plugins/{plugin}/", admin, s.deletePlugin)
	s.apiRoute("GET", "/b/webhook/v1/notifications/", viewer, s.listNotifications)
	s.apiRoute("GET", "/b/webhook/v1/notifications/{id}/", viewer, s.getNotification)
	s.apiRoute("POST", "/b/webhook/v1/notifications/{id}/resend/", operator, s.resendNotification)
	s.apiRoute("POST", "/b/webhook/v1/notifications/resend/", operator, s.resendMatching)
	s.apiRoute("GET", "/b/webhook/v1/reconciliation/", viewer, s.reconciliation) // docs/reconciliation.md
	s.apiRoute("GET", "/b/webhook/v1/digests/", viewer, s.digest)
	// Endpoint health (an extension, docs/endpoint-health.md).
	s.apiRoute("GET", "/b/webhook/v1/endpoints/", viewer, s.listEndpointHealth)
	s.apiRoute("POST", "/b/webhook/v1/endpoints/resume/", operator, s.resumeEndpoint)
	// Operations, inquiry, signing, payment methods (Ottu). The inquiry can send the
	// payment notification (operator); signing uses the HMAC key (admin).
	s.apiRoute("POST", "/b/pbl/v2/operation/", operator, s.operation)
	s.apiRoute("POST", "/b/pbl/v2/inquiry/", operator, s.inquiry)
	s.apiRoute("POST", "/b/pbl/v2/sign/", admin, s.sign)
	s.apiRoute("POST", "/b/pbl/v2/payment-methods/", viewer, s.paymentMethods)
	s.apiRoute("GET", "/b/pbl/v2/payment-methods/", viewer, s.paymentMethods)
	// Hosted checkout pages.
	s.route("GET", "/b/checkout/redirect/start/", s.checkoutPage)
	s.route("POST", "/b/checkout/redirect/start/", s.checkoutSubmit)
	s.route("GET", "/b/checkout/{session_id}/", s.checkoutPage)
	s.route("POST", "/b/checkout/{session_id}/", s.checkoutSubmit)
	s.route("GET", "/b/checkout/{session_id}/summary/", s.summaryPage)
	// Dashboard.
	s.route("GET", "/dashboard/login", s.loginPage)
	s.route("POST", "/dashboard/login", s.loginSubmit)
	s.dashRoute("POST", "/dashboard/logout", payhook.RoleViewer, s.logout)
	s.route("GET", "/dashboard/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, DashboardPath+"/transactions", http.StatusSeeOther)
	})
	s.dashboardRoutes()
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(staticFS)))
	// Operations.
	s.route("GET", "/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.route("GET", "/readyz", func(w http.ResponseWriter, r *http.Request) {
		// Ready means the database takes writes, not only reads: a full disk or a
		// read-only database makes every payment fail, so the process is taken out of
		// the load balancer's rotation until it clears.
		if err := s.svc.Ready(r.Context()); err != nil {
			s.log.Error("readiness: database", "err", err)
			detail := "The database does not answer."
			if payhook.ErrorCode(err) == payhook.EUNAVAILABLE {
				detail = payhook.ErrorMessage(err)
			}
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable", "detail": detail})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
}

// ServeHTTP implements http.Handler. Unrouted requests get Ottu's {"detail"} shape.
// Request bodies are bounded in size, in time and in how many are read at once.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	release, ok := s.bodies.wrap(w, r)
	if !ok {
		return
	}
	defer release()
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if _, pattern := s.mux.Handler(r); pattern == "" {
		rec := &statusRecorder{header: http.Header{}}
		s.mux.ServeHTTP(rec, r)
		switch rec.code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeDetail(w, http.StatusMethodNotAllowed, "Method \""+r.Method+"\" not allowed.")
		default:
			writeDetail(w, http.StatusNotFound, "Not found.")
		}
		return
	}
	s.mux.ServeHTTP(w, r)
}

// statusRecorder captures what the mux answers for an unrouted request.
type statusRecorder struct {
	header http.Header
	code   int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(code int)        { r.code = code }

// api wraps an API handler: authentication by Api-Key or, as Ottu allows, by a dashboard
// user's Basic auth (who then is the initiator of what they do); errors in Ottu's shapes.
//
// A dashboard user's role must allow need (else 403, nothing done); an API key is the
// merchant's server and may use every API.
func (s *Server) api(need payhook.Role, h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if email, password, ok := r.BasicAuth(); ok {
			if crossSite(r) {
				// A browser that cached Basic credentials must not be made to act by
				// another site (CSRF): merchants' servers send no such headers.
				s.writeError(w, r, payhook.Errorf(payhook.EFORBIDDEN, "Cross-site requests with Basic credentials are refused."))
				return
			}
			u, err := s.svc.AuthenticateBasic(ctx, email, password, clientAddr(r))
			if err != nil {
				if payhook.ErrorCode(err) == payhook.EUNAUTHORIZED {
					w.Header().Set("WWW-Authenticate", `Basic realm="payhook"`)
				}
				s.writeError(w, r, err)
				return
			}
			if !u.Can(need) {
				s.writeError(w, r, payhook.Errorf(payhook.EFORBIDDEN, "%s", roleRefusal(u.Role, need)))
				return
			}
			ctx = service.WithInitiator(service.WithActor(ctx, u.Email), u.Initiator())
		} else {
			key := apiKey(r)
			if err := s.svc.AuthenticateAPIKey(ctx, key); err != nil {
				s.writeError(w, r, err)
				return
			}
			ctx = service.WithActor(ctx, "API key "+keyPrefix(key))
		}
		r = r.WithContext(ctx)
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// crossSite reports whether a browser sent r from another site (Sec-Fetch-Site, or an
// Origin whose host is not this one's).
func crossSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == "null"
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host != r.Host
}

// clientAddr is the client's IP address (the throttle's key); the port is dropped.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// keyPrefix names an API key in the audit log without showing it: at most 7 characters,
// never more than a quarter of it.
func keyPrefix(key string) string {
	return key[:min(7, len(key)/4)] + "…"
}

// apiKey reads "Authorization: Api-Key <key>".
func apiKey(r *http.Request) string {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Api-Key") {
		return ""
	}
	return strings.TrimSpace(key)
}

// writeError answers an error in Ottu's shapes: field errors {"field": ["message"]},
// anything else {"detail": "message"}. Internal details go to the log only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeDetail(w, http.StatusRequestEntityTooLarge, "Request body is larger than 1 MiB.")
		return
	}
	if errors.Is(err, errBodyTimeout) {
		w.Header().Set("Connection", "close")
		writeDetail(w, http.StatusRequestTimeout, "The request body did not arrive in time ("+s.bodies.timeout.String()+"); send it again.")
		return
	}
	var e *payhook.Error
	if !errors.As(err, &e) {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeDetail(w, http.StatusInternalServerError, "Internal error.")
		return
	}
	switch e.Code {
	case payhook.EINVALID:
		if len(e.Fields) > 0 {
			writeJSON(w, http.StatusBadRequest, e.Fields)
			return
		}
		writeDetail(w, http.StatusBadRequest, e.Message)
	case payhook.ENOTFOUND:
		writeDetail(w, http.StatusNotFound, e.Message)
	case payhook.EUNAUTHORIZED:
		w.Header().Set("WWW-Authenticate", "Api-Key")
		writeDetail(w, http.StatusUnauthorized, e.Message)
	case payhook.EFORBIDDEN:
		writeDetail(w, http.StatusForbidden, e.Message)
	case payhook.ECONFLICT:
		writeDetail(w, http.StatusConflict, e.Message)
	case payhook.ETOOMANY:
		writeDetail(w, http.StatusTooManyRequests, e.Message)
	case payhook.EUNAVAILABLE:
		s.log.Error("request failed: the database cannot take writes", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeDetail(w, http.StatusServiceUnavailable, e.Message)
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeDetail(w, http.StatusInternalServerError, "Internal error.")
	}
}

func writeDetail(w http.ResponseWriter, code int, detail string) {
	writeJSON(w, code, map[string]string{"detail": detail})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"detail":"Internal error."}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// decodeObject reads a JSON object body into its fields, with Ottu-style errors for a
// body that is too large, malformed, not an object, or breaks the input rules (invalid
// UTF-8, NUL, duplicate keys at any depth: checkJSON).
func decodeObject(r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, payhook.Errorf(payhook.EINVALID, "Request body is empty: send a JSON object.")
	}
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&m); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, payhook.Errorf(payhook.EINVALID, "Expected a JSON object.")
		}
		return nil, payhook.Errorf(payhook.EINVALID, "JSON parse error - %s", err.Error())
	}
	if m == nil {
		return nil, payhook.Errorf(payhook.EINVALID, "Expected a JSON object.")
	}
	if d.More() {
		return nil, payhook.Errorf(payhook.EINVALID, "JSON parse error - extra data after the object")
	}
	return m, nil
}

// rfc3339 formats a time for the APIs (UTC, RFC 3339), or nil for the zero time.
func rfc3339(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// decodeStrict decodes one field's value, refusing null and values of another type.
func decodeStrict(raw json.RawMessage, v any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return errors.New("May not be null.")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		switch v.(type) {
		case *bool:
			return errors.New("Must be true or false.")
		case *string:
			return errors.New("Must be a string.")
		default:
			return errors.New("Has the wrong type.")
		}
	}
	return nil
}

package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/phtest"
)

const (
	staffEmail    = "ops@shop.example"
	staffPassword = "correct-horse-battery"
)

// browser is a dashboard user's browser: a cookie jar, no automatic redirects, and the
// session's CSRF token read from the pages as a browser would submit it.
type browser struct {
	t    *testing.T
	env  *phtest.Env
	c    *http.Client
	csrf string
}

// page is one answer to the browser.
type page struct {
	Code     int
	Body     string
	Location string
}

func newBrowser(t *testing.T, env *phtest.Env) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, env: env, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// createStaff creates the dashboard user the tests sign in with (an admin).
func createStaff(t *testing.T, env *phtest.Env) {
	t.Helper()
	createUser(t, env, staffEmail, payhook.RoleAdmin)
}

// createUser creates a dashboard user with role and the staff password.
func createUser(t *testing.T, env *phtest.Env, email string, role payhook.Role) {
	t.Helper()
	_, err := env.Service.CreateUser(context.Background(), email, staffPassword, role)
	require.NoError(t, err)
}

// signIn creates the staff user and returns a browser signed in as them.
func signIn(t *testing.T, env *phtest.Env) *browser {
	t.Helper()
	createStaff(t, env)
	b := newBrowser(t, env)
	p := b.login(staffEmail, staffPassword)
	require.Equal(t, http.StatusSeeOther, p.Code, "%s", p.Body)
	require.Equal(t, "/dashboard/transactions", p.Location)
	return b
}

// login fills in and submits the sign-in form.
func (b *browser) login(email, password string) page {
	b.t.Helper()
	form := b.get("/dashboard/login")
	require.Equal(b.t, http.StatusOK, form.Code)
	return b.send("POST", "/dashboard/login", url.Values{"email": {email}, "password": {password},
		"csrf_token": {csrfOf(b.t, form.Body)}, "next": {"/dashboard/transactions"}})
}

func (b *browser) send(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.env.URL+path, body)
	require.NoError(b.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	p := page{Code: resp.StatusCode, Body: string(raw), Location: resp.Header.Get("Location")}
	if m := csrfRe.FindStringSubmatch(p.Body); m != nil && strings.HasPrefix(path, "/dashboard/") && path != "/dashboard/login" {
		b.csrf = html.UnescapeString(m[1])
	}
	return p
}

// get GETs a page.
func (b *browser) get(path string) page {
	b.t.Helper()
	return b.send("GET", path, nil)
}

// getOK GETs a page that must answer 200.
func (b *browser) getOK(path string) string {
	b.t.Helper()
	p := b.get(path)
	require.Equal(b.t, http.StatusOK, p.Code, "GET %s: %s", path, p.Body)
	return p.Body
}

// post submits a form with the session's CSRF token, as the page's form does.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	if b.csrf == "" {
		b.getOK("/dashboard/transactions")
	}
	f := url.Values{"csrf_token": {b.csrf}}
	for k, v := range form {
		f[k] = v
	}
	return b.send("POST", path, f)
}

// postRedirect submits a form that must answer 303 to want (path and query), and
// returns the page it leads to.
func (b *browser) postRedirect(path string, form url.Values, want string) string {
	b.t.Helper()
	p := b.post(path, form)
	require.Equal(b.t, http.StatusSeeOther, p.Code, "POST %s: %s", path, p.Body)
	require.Equal(b.t, want, p.Location)
	return b.getOK(p.Location)
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	require.NotNil(t, m, "no csrf_token in %s", body)
	return html.UnescapeString(m[1])
}

// textOf returns the text of the element with that id (no nested elements), or fails.
func textOf(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	require.NotNil(t, m, "no element #%s in %s", id, body)
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// hasID reports whether the page has an element with that id.
func hasID(body, id string) bool { return strings.Contains(body, `id="`+id+`"`) }

// fieldError returns the message shown next to a field (class "err"), "" when none.
func fieldError(body, field string) string {
	m := regexp.MustCompile(`<p class="err" id="` + regexp.QuoteMeta(field) + `-err">([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// flashOf returns the page's flash message, "" when none.
func flashOf(body string) string {
	m := regexp.MustCompile(`<p class="flash" role="status">([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// configForm is the General tab's form as the page fills it in, so that a test changes
// only what it means to.
func configFormOf(t *testing.T, body string) url.Values {
	t.Helper()
	f := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="checkbox" id="[^"]+" name="([^"]+)" value="true"[^>]*?( checked)?>`).FindAllStringSubmatch(body, -1) {
		if m[2] != "" {
			f.Set(m[1], "true")
		}
	}
	for _, m := range regexp.MustCompile(`<input id="[^"]+" name="([^"]+)"[^>]* value="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	for _, m := range regexp.MustCompile(`(?s)<select id="[^"]+" name="([^"]+)".*?<option value="([^"]+)" selected>`).FindAllStringSubmatch(body, -1) {
		f.Set(m[1], m[2])
	}
	m := regexp.MustCompile(`(?s)<textarea id="emails" name="emails"[^>]*>(.*?)</textarea>`).FindStringSubmatch(body)
	require.NotNil(t, m, "no emails textarea")
	f.Set("emails", html.UnescapeString(m[1]))
	for _, name := range []string{"timeout", "retries", "backoff_factor", "version", "format", "user_agent", "operations_webhook_url"} {
		require.True(t, f.Has(name), "the form has no %s: %v", name, f)
	}
	return f
}

// countChanges counts the audit log's entries other than users being created and
// signing in (what the test set-up itself records).
func countChanges(t *testing.T, env *phtest.Env) int {
	t.Helper()
	entries, _, err := env.Service.AuditLog(context.Background(), payhook.AuditFilter{})
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if e.Action != "user.create" && !strings.HasPrefix(e.Action, "sign_in") {
			n++
		}
	}
	return n
}

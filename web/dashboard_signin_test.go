package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook/internal/phtest"
)

// dashboardPages are the dashboard's GET pages.
var dashboardPages = []string{"/dashboard/transactions", "/dashboard/transactions/new", "/dashboard/notifications",
	"/dashboard/webhook/config", "/dashboard/webhook/config/rotate-hmac-key", "/dashboard/webhook/plugins",
	"/dashboard/webhook/plugins/e_commerce", "/dashboard/api-keys", "/dashboard/audit"}

func TestDashboard_PagesNeedASession(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := newBrowser(t, env)
	for _, path := range dashboardPages {
		p := b.get(path)
		require.Equal(t, http.StatusSeeOther, p.Code, path)
		require.Equal(t, "/dashboard/login?next="+url.QueryEscape(path), p.Location, path)
	}
	for _, path := range []string{"/dashboard/webhook/config", "/dashboard/api-keys", "/dashboard/transactions/new"} {
		p := b.send("POST", path, url.Values{"name": {"x"}, "timeout": {"5"}})
		require.Equal(t, http.StatusUnauthorized, p.Code, path)
	}
	require.Equal(t, 1, countRows(t, env, "api_keys"), "only the Env's key")
}

func TestDashboard_SignInShowsEveryPageAndSignOutEndsIt(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	for _, path := range dashboardPages {
		body := b.getOK(path)
		require.Contains(t, body, staffEmail, "%s names who is signed in", path)
		require.Contains(t, body, `href="/static/dashboard.css"`, path)
	}

	p := b.post("/dashboard/logout", nil)
	require.Equal(t, http.StatusSeeOther, p.Code)
	require.Equal(t, "/dashboard/login", p.Location)
	require.Equal(t, http.StatusSeeOther, b.get("/dashboard/transactions").Code)
}

func TestDashboard_SignInWithAWrongPasswordIsRefused(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	createStaff(t, env)
	b := newBrowser(t, env)

	p := b.login(staffEmail, "not-the-password")
	require.Equal(t, http.StatusUnauthorized, p.Code)
	require.Contains(t, p.Body, "Email or password is not right.")
	require.Contains(t, p.Body, `value="`+staffEmail+`"`, "the email stays filled in")
	require.Equal(t, http.StatusSeeOther, b.get("/dashboard/transactions").Code, "no session")

	p = b.login("nobody@shop.example", staffPassword)
	require.Equal(t, http.StatusUnauthorized, p.Code, "an unknown email is refused the same way")
	require.Contains(t, p.Body, "Email or password is not right.")
}

func TestDashboard_SixthFailedSignInIsThrottled(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	createStaff(t, env)
	b := newBrowser(t, env)
	for i := 0; i < 5; i++ {
		require.Equal(t, http.StatusUnauthorized, b.login(staffEmail, "wrong-password-"+string(rune('a'+i))).Code, "failure %d", i+1)
	}
	p := b.login(staffEmail, "wrong-password-f")
	require.Equal(t, http.StatusTooManyRequests, p.Code)
	require.Contains(t, p.Body, "Too many failed sign-ins")

	p = b.login(staffEmail, staffPassword)
	require.Equal(t, http.StatusTooManyRequests, p.Code, "even the right password waits out the throttle")
	require.Equal(t, http.StatusSeeOther, b.get("/dashboard/transactions").Code)
}

func TestDashboard_PostWithoutTheCSRFTokenChangesNothing(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	b := signIn(t, env)
	before := getConfig(t, env)
	keys := countRows(t, env, "api_keys")

	for _, token := range []string{"", "wrong-token", strings.Repeat("x", 43)} {
		form := url.Values{"timeout": {"7"}, "enabled": {"true"}, "name": {"sneaky"}}
		if token != "" {
			form.Set("csrf_token", token)
		}
		for _, path := range []string{"/dashboard/webhook/config", "/dashboard/api-keys", "/dashboard/webhook/config/rotate-hmac-key",
			"/dashboard/webhook/plugins/e_commerce"} {
			p := b.send("POST", path, form)
			require.Equal(t, http.StatusForbidden, p.Code, "%s with token %q", path, token)
			require.Contains(t, p.Body, "CSRF check failed")
		}
	}
	require.JSONEq(t, string(before), string(getConfig(t, env)))
	require.Equal(t, keys, countRows(t, env, "api_keys"))
	require.Equal(t, 0, countRows(t, env, "plugin_settings"))
	require.Equal(t, 0, countChanges(t, env), "no change in the audit log beyond the sign-in")
}

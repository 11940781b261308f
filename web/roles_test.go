package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
	"github.com/payhook/payhook/internal/phtest"
	"github.com/payhook/payhook/web"
)

// basicDo sends an API request as a dashboard user (Basic auth); body, when not nil, is
// sent as JSON.
func basicDo(t *testing.T, env *phtest.Env, email, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		require.NoError(t, err)
		r = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, env.URL+path, r)
	require.NoError(t, err)
	req.SetBasicAuth(email, staffPassword)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := env.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// signInAs creates a user with role and returns a browser signed in as them.
func signInAs(t *testing.T, env *phtest.Env, email string, role payhook.Role) *browser {
	t.Helper()
	createUser(t, env, email, role)
	b := newBrowser(t, env)
	p := b.login(email, staffPassword)
	require.Equal(t, http.StatusSeeOther, p.Code, "%s", p.Body)
	return b
}

// stateOf is what a refused request must leave as it was: every table's row count, the
// configuration, the users, the transactions and the notifications.
func stateOf(t *testing.T, env *phtest.Env) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"transactions", "children", "notifications", "attempts", "api_keys", "plugin_settings", "users", "sessions", "gateway_calls"} {
		fmt.Fprintf(&b, "%s=%d\n", table, countRows(t, env, table))
	}
	fmt.Fprintf(&b, "changes=%d\n", countChanges(t, env))
	_, cfg := env.Do("GET", "/b/webhook/v1/config/", nil)
	b.Write(cfg)
	users, err := env.Service.Users(context.Background())
	require.NoError(t, err)
	for _, u := range users {
		fmt.Fprintf(&b, "\n%s %s %v %s", u.Email, u.Role, u.Active(), u.PasswordHash)
	}
	txns, _, err := env.Service.Transactions(context.Background(), payhook.TransactionFilter{Limit: 100})
	require.NoError(t, err)
	for _, x := range txns {
		fmt.Fprintf(&b, "\n%s %s %s", x.SessionID, x.State, x.RefundedAmount.Format(x.Currency))
	}
	return b.String()
}

// TestRoles_EveryRouteIsEnforcedForEveryRole walks every dashboard page and API route
// the server registers, as a viewer, an operator and an admin (dashboard session, or
// Basic auth on the APIs): a role below the route's is refused with 403 and changes
// nothing; a role at or above it is let through.
func TestRoles_EveryRouteIsEnforcedForEveryRole(t *testing.T) {
	t.Parallel()
	rc := phtest.NewReceiver(t)
	env := setupWebhooks(t, map[string]any{"operations_webhook_url": rc.URL})
	ctx := context.Background()
	sid := paidCheckout(t, env, rc, nil)
	notes := sessionNotifications(t, env, sid)
	require.NotEmpty(t, notes)
	_, err := env.Service.CreateAPIKey(ctx, "sweep target")
	require.NoError(t, err)
	keys, err := env.Service.APIKeys(ctx)
	require.NoError(t, err)
	var keyID int64
	for _, k := range keys {
		if k.Name == "sweep target" {
			keyID = k.ID
		}
	}
	require.NotZero(t, keyID)
	createUser(t, env, "target@shop.example", payhook.RoleViewer)
	target, err := env.Service.Users(ctx)
	require.NoError(t, err)
	targetID := target[len(target)-1].ID

	emails := map[payhook.Role]string{payhook.RoleViewer: "viewer@shop.example", payhook.RoleOperator: "operator@shop.example", payhook.RoleAdmin: "admin@shop.example"}
	browsers := map[payhook.Role]*browser{}
	for _, role := range payhook.Roles {
		browsers[role] = signInAs(t, env, emails[role], role)
	}

	rules := env.App.Handler.(*web.Server).Rules()
	require.GreaterOrEqual(t, len(rules), 45, "every dashboard page and API route is in the table")
	fill := func(p string) string {
		p = strings.ReplaceAll(p, "{session_id}", sid)
		p = strings.ReplaceAll(p, "{plugin}", "e_commerce")
		switch {
		case strings.Contains(p, "/notifications/{id}"), strings.Contains(p, "/endpoints/test/{id}"):
			p = strings.ReplaceAll(p, "{id}", notes[0].ID)
		case strings.Contains(p, "/api-keys/{id}"):
			p = strings.ReplaceAll(p, "{id}", strconv.FormatInt(keyID, 10))
		case strings.Contains(p, "/users/{id}"):
			p = strings.ReplaceAll(p, "{id}", strconv.FormatInt(targetID, 10))
		}
		require.NotContains(t, p, "{", "a path parameter the sweep does not know: %s", p)
		return p
	}
	call := func(role payhook.Role, r web.RouteRule) (int, string) {
		path := fill(r.Path)
		if strings.HasPrefix(path, web.DashboardPath) {
			b := browsers[role]
			var p page
			if r.Method == "GET" {
				p = b.get(path)
			} else {
				p = b.post(path, url.Values{})
			}
			return p.Code, p.Body
		}
		var body any
		if r.Method != "GET" && r.Method != "DELETE" {
			body = map[string]any{}
		}
		code, b := basicDo(t, env, emails[role], r.Method, path, body)
		return code, string(b)
	}

	// Refused first: nothing may change, whatever the route.
	before := stateOf(t, env)
	refused := 0
	for _, r := range rules {
		for _, role := range payhook.Roles {
			if role.Allows(r.Role) {
				continue
			}
			code, body := call(role, r)
			require.Equal(t, http.StatusForbidden, code, "%s %s as %s (needs %s): %s", r.Method, r.Path, role, r.Role, body)
			require.Contains(t, body, "Your role ("+string(role)+") cannot do this: it needs "+string(r.Role), "%s %s", r.Method, r.Path)
			refused++
		}
	}
	require.Equal(t, before, stateOf(t, env), "refused requests changed nothing")
	require.Greater(t, refused, 40)

	// Allowed: never refused for the role (the request may still be a bad one: the
	// sweep sends empty forms). Sign-out last, as it ends the session.
	for _, role := range payhook.Roles {
		for _, r := range rules {
			if !role.Allows(r.Role) || r.Path == "/dashboard/logout" {
				continue
			}
			code, body := call(role, r)
			require.NotEqual(t, http.StatusForbidden, code, "%s %s as %s: %s", r.Method, r.Path, role, body)
			require.NotEqual(t, http.StatusUnauthorized, code, "%s %s as %s: %s", r.Method, r.Path, role, body)
		}
	}
}

// TestRoles_TheRoleTable pins the roles of the routes that move money or change who can
// do what, so that a change to them is deliberate.
func TestRoles_TheRoleTable(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	got := map[string]payhook.Role{}
	for _, r := range env.App.Handler.(*web.Server).Rules() {
		got[r.Method+" "+r.Path] = r.Role
	}
	for route, want := range map[string]payhook.Role{
		"GET /dashboard/transactions":                         payhook.RoleViewer,
		"GET /dashboard/notifications":                        payhook.RoleViewer,
		"GET /dashboard/webhook/config":                       payhook.RoleViewer,
		"POST /dashboard/transactions/{session_id}/operation": payhook.RoleOperator,
		"POST /dashboard/transactions/{session_id}/notify":    payhook.RoleOperator,
		"POST /dashboard/notifications/{id}/resend":           payhook.RoleOperator,
		"POST /dashboard/transactions/new":                    payhook.RoleOperator,
		"POST /dashboard/webhook/config":                      payhook.RoleAdmin,
		"POST /dashboard/webhook/plugins/{plugin}/delete":     payhook.RoleAdmin,
		"POST /dashboard/api-keys/{id}/revoke":                payhook.RoleAdmin,
		"POST /dashboard/users/{id}/role":                     payhook.RoleAdmin,
		"GET /dashboard/audit":                                payhook.RoleAdmin,
		"POST /dashboard/account/password":                    payhook.RoleViewer,
		"POST /b/pbl/v2/operation/":                           payhook.RoleOperator,
		"PATCH /b/webhook/v1/config/":                         payhook.RoleAdmin,
		"POST /b/pbl/v2/sign/":                                payhook.RoleAdmin,
		"GET /b/webhook/v1/notifications/":                    payhook.RoleViewer,
	} {
		require.Equal(t, want, got[route], route)
	}
}

func TestRoles_ViewerSeesNoActionsAndNoAdminMenu(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	viewer := signInAs(t, env, "viewer@shop.example", payhook.RoleViewer)
	page := viewer.getOK(transactionPage(sid))
	require.NotContains(t, page, `href="/dashboard/users"`)
	require.NotContains(t, page, `href="/dashboard/api-keys"`)
	require.Contains(t, page, "viewer@shop.example (viewer)")

	admin := signInAs(t, env, "admin@shop.example", payhook.RoleAdmin)
	page = admin.getOK(transactionPage(sid))
	require.Contains(t, page, `href="/dashboard/users"`)
	require.Contains(t, page, `href="/dashboard/audit"`)
}

func TestRoles_BasicAuthOnTheAPIs(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	createUser(t, env, "viewer@shop.example", payhook.RoleViewer)
	createUser(t, env, "operator@shop.example", payhook.RoleOperator)

	code, _ := basicDo(t, env, "viewer@shop.example", "GET", "/b/webhook/v1/notifications/", nil)
	require.Equal(t, http.StatusOK, code, "a viewer reads the delivery log")
	refund := map[string]any{"operation": "refund", "session_id": sid, "amount": "5"}
	code, body := basicDo(t, env, "viewer@shop.example", "POST", "/b/pbl/v2/operation/", refund)
	require.Equal(t, http.StatusForbidden, code)
	phtest.Validate(t, "generic-error", body)
	require.Equal(t, "paid", checkoutState(t, env, sid), "nothing refunded")
	require.Equal(t, 0, countRows(t, env, "children"))

	code, body = basicDo(t, env, "operator@shop.example", "POST", "/b/pbl/v2/operation/", refund)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.Equal(t, 1, countRows(t, env, "children"))
	code, _ = basicDo(t, env, "operator@shop.example", "PATCH", "/b/webhook/v1/config/", map[string]any{"enabled": false})
	require.Equal(t, http.StatusForbidden, code, "an operator does not change the configuration")
	code, _ = basicDo(t, env, "operator@shop.example", "POST", "/b/pbl/v2/sign/", map[string]any{"amount": "1.000"})
	require.Equal(t, http.StatusForbidden, code, "an operator does not sign with the HMAC key")

	// The refund is in the audit log, by the operator, with its amount.
	entries, _, err := env.Service.AuditLog(context.Background(), payhook.AuditFilter{Action: "operation."})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "operator@shop.example", entries[0].Actor)
	require.Equal(t, "operation.refund", entries[0].Action)
	require.Contains(t, entries[0].Detail, "refund of 5.000 KWD on session "+sid)
	require.Contains(t, entries[0].Detail, ": success")
}

func TestUsers_AdminAddsChangesResetsAndDeactivates(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	admin := signInAs(t, env, "admin@shop.example", payhook.RoleAdmin)

	// Bad input: named, nothing added.
	p := admin.post("/dashboard/users", url.Values{"email": {"not-an-email"}, "role": {"boss"}, "password": {"short"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	for _, f := range []string{"email", "role", "password"} {
		require.NotEmpty(t, fieldError(p.Body, f), f)
	}
	before := countRows(t, env, "users")

	admin.postRedirect("/dashboard/users", url.Values{"email": {"ops2@shop.example"}, "role": {"operator"}, "password": {staffPassword}}, "/dashboard/users?done=user_added")
	require.Equal(t, before+1, countRows(t, env, "users"))
	p = admin.post("/dashboard/users", url.Values{"email": {"ops2@shop.example"}, "role": {"viewer"}, "password": {staffPassword}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, fieldError(p.Body, "email"), "exists")

	ops := newBrowser(t, env)
	require.Equal(t, http.StatusSeeOther, ops.login("ops2@shop.example", staffPassword).Code)
	require.Equal(t, http.StatusSeeOther, ops.post(transactionPage(sid)+"/notify", nil).Code, "an operator notifies again")

	users, err := env.Service.Users(context.Background())
	require.NoError(t, err)
	id := strconv.FormatInt(users[len(users)-1].ID, 10)
	admin.postRedirect("/dashboard/users/"+id+"/role", url.Values{"role": {"viewer"}}, "/dashboard/users/"+id+"?done=user_role")
	p = ops.post(transactionPage(sid)+"/notify", nil)
	require.Equal(t, http.StatusForbidden, p.Code, "the new role applies from the next request")

	// A reset ends the user's sessions; the new password works.
	admin.postRedirect("/dashboard/users/"+id+"/password", url.Values{"password": {"a-new-password-1"}}, "/dashboard/users/"+id+"?done=user_password")
	require.Equal(t, http.StatusSeeOther, ops.get("/dashboard/transactions").Code, "signed out")
	require.Equal(t, http.StatusUnauthorized, newBrowser(t, env).login("ops2@shop.example", staffPassword).Code)
	require.Equal(t, http.StatusSeeOther, ops.login("ops2@shop.example", "a-new-password-1").Code)

	// Deactivated: sessions end, sign-in refused, Basic auth refused.
	admin.postRedirect("/dashboard/users/"+id+"/active", url.Values{"active": {"false"}}, "/dashboard/users/"+id+"?done=user_deactivated")
	require.Equal(t, http.StatusSeeOther, ops.get("/dashboard/transactions").Code)
	p = newBrowser(t, env).login("ops2@shop.example", "a-new-password-1")
	require.Equal(t, http.StatusUnauthorized, p.Code)
	require.Contains(t, p.Body, "deactivated")
	admin.postRedirect("/dashboard/users/"+id+"/active", url.Values{"active": {"true"}}, "/dashboard/users/"+id+"?done=user_activated")
	require.Equal(t, http.StatusSeeOther, ops.login("ops2@shop.example", "a-new-password-1").Code)

	// The last admin stays an admin, and nobody deactivates themselves.
	me := strconv.FormatInt(users[0].ID, 10)
	for _, u := range users {
		if u.Email == "admin@shop.example" {
			me = strconv.FormatInt(u.ID, 10)
		}
	}
	p = admin.post("/dashboard/users/"+me+"/role", url.Values{"role": {"operator"}})
	require.Equal(t, http.StatusConflict, p.Code)
	require.Contains(t, p.Body, "At least one active admin must remain")
	p = admin.post("/dashboard/users/"+me+"/active", url.Values{"active": {"false"}})
	require.Equal(t, http.StatusConflict, p.Code)
	require.Contains(t, p.Body, "You cannot deactivate yourself")

	// Every change is in the audit log, by the admin.
	entries, _, err := env.Service.AuditLog(context.Background(), payhook.AuditFilter{Action: "user.", Actor: "admin@shop.example"})
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+": "+e.Detail)
	}
	require.Equal(t, []string{
		"user.reactivate: ops2@shop.example",
		"user.deactivate: ops2@shop.example",
		"user.password_reset: ops2@shop.example: password reset, sessions ended",
		"user.role: ops2@shop.example: operator → viewer",
		"user.create: ops2@shop.example as operator",
	}, got)
	failed, _, err := env.Service.AuditLog(context.Background(), payhook.AuditFilter{Action: "sign_in.failed"})
	require.NoError(t, err)
	require.Len(t, failed, 2, "the old password after the reset, and the deactivated user")
	require.Equal(t, "ops2@shop.example", failed[0].Actor)
}

func TestAccount_ChangeOwnPassword(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	laptop := signInAs(t, env, "vera@shop.example", payhook.RoleViewer)
	phone := newBrowser(t, env)
	require.Equal(t, http.StatusSeeOther, phone.login("vera@shop.example", staffPassword).Code)

	p := laptop.post("/dashboard/account/password", url.Values{"current_password": {"wrong"}, "password": {"x"}, "password_again": {"x"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.NotEmpty(t, fieldError(p.Body, "current_password"))
	require.NotEmpty(t, fieldError(p.Body, "password"))
	p = laptop.post("/dashboard/account/password", url.Values{"current_password": {staffPassword}, "password": {"new-password-1"}, "password_again": {"new-password-2"}})
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.NotEmpty(t, fieldError(p.Body, "password_again"))

	laptop.postRedirect("/dashboard/account/password", url.Values{"current_password": {staffPassword}, "password": {"new-password-1"}, "password_again": {"new-password-1"}},
		"/dashboard/account?done=password_changed")
	require.Equal(t, http.StatusOK, laptop.get("/dashboard/transactions").Code, "this session stays")
	require.Equal(t, http.StatusSeeOther, phone.get("/dashboard/transactions").Code, "the other session ended")
	require.Equal(t, http.StatusSeeOther, phone.login("vera@shop.example", "new-password-1").Code)
}

func TestAudit_FiltersAndCSVExport(t *testing.T) {
	t.Parallel()
	env := setupWebhooks(t, nil)
	admin := signInAs(t, env, "admin@shop.example", payhook.RoleAdmin)
	createUser(t, env, "operator@shop.example", payhook.RoleOperator)
	sid := paidCheckout(t, env, nil, nil)
	for _, amount := range []string{"1", "2"} {
		code, body := basicDo(t, env, "operator@shop.example", "POST", "/b/pbl/v2/operation/", map[string]any{"operation": "refund", "session_id": sid, "amount": amount})
		require.Equal(t, http.StatusOK, code, "%s", body)
	}
	// A value a spreadsheet would run as a formula.
	code, _ := basicDo(t, env, "operator@shop.example", "POST", "/b/checkout/v1/pymt-txn/", map[string]any{
		"type": "payment_request", "amount": "3", "currency_code": "KWD", "pg_codes": []string{"credit-card"}, "order_no": "=HYPERLINK(1)"})
	require.Equal(t, http.StatusCreated, code)

	page := admin.getOK("/dashboard/audit?actor=operator&action=operation.")
	require.Equal(t, 2, strings.Count(page, "<code>operation.refund</code>"))
	require.Contains(t, page, "refund of 2.000 KWD on session "+sid)
	require.NotContains(t, page, "payment_request.create</code>")
	page = admin.getOK("/dashboard/audit?q=1.000+KWD")
	require.Equal(t, 1, strings.Count(page, "<code>operation.refund</code>"))
	require.Contains(t, page, `href="/dashboard/audit.csv?q=1.000&#43;KWD"`, "the export has the same filter")
	p := admin.get("/dashboard/audit?from=yesterday")
	require.Equal(t, http.StatusBadRequest, p.Code)
	require.Contains(t, p.Body, "use a date like 2026-12-05")

	resp, err := admin.c.Get(env.URL + "/dashboard/audit.csv?actor=operator")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	rows, err := csv.NewReader(resp.Body).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"id", "at", "actor", "action", "detail"}, rows[0])
	require.Len(t, rows, 1+3, "the operator's two refunds and one payment request")
	require.Equal(t, "payment_request.create", rows[1][3])
	require.Contains(t, rows[1][4], "=HYPERLINK(1)", "kept in the detail, which does not start with it")
	require.Equal(t, "operation.refund", rows[2][3])

	viewer := signInAs(t, env, "viewer@shop.example", payhook.RoleViewer)
	require.Equal(t, http.StatusForbidden, viewer.get("/dashboard/audit.csv").Code)
}

func TestAudit_RecordsNotifyAgainAndResends(t *testing.T) {
	t.Parallel()
	rc := phtest.NewReceiver(t)
	env := setupWebhooks(t, nil)
	sid := paidCheckout(t, env, rc, nil)
	note := onlyNotification(t, env, sid)
	ops := signInAs(t, env, "operator@shop.example", payhook.RoleOperator)
	require.Equal(t, http.StatusSeeOther, ops.post(transactionPage(sid)+"/notify", nil).Code)
	waitRequests(t, 2, rc.Requests)

	code, body := basicDo(t, env, "operator@shop.example", "POST", "/b/webhook/v1/notifications/"+note.ID+"/resend/", nil)
	require.Equal(t, http.StatusAccepted, code, "%s", body)
	waitRequests(t, 3, rc.Requests)
	code, body = basicDo(t, env, "operator@shop.example", "POST", "/b/webhook/v1/notifications/resend/?session_id="+sid+"&status=delivered", nil)
	require.Equal(t, http.StatusAccepted, code, "%s", body)
	// The API key's re-sends are the merchant's server at work: not in the audit log.
	env.JSON("POST", "/b/webhook/v1/notifications/"+note.ID+"/resend/", nil, http.StatusAccepted)

	entries, _, err := env.Service.AuditLog(context.Background(), payhook.AuditFilter{Actor: "operator@shop.example"})
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Action)
	}
	require.Equal(t, []string{"notification.resend_bulk", "notification.resend", "transaction.notify_again", "sign_in"}, got)
	require.Contains(t, entries[0].Detail, "queued; filter: session_id="+sid+", status=delivered")
	require.Equal(t, note.ID+" to "+rc.URL+" (session "+sid+")", entries[1].Detail)
	require.Contains(t, entries[2].Detail, "session "+sid)
}

func TestRoles_PagesOfferOnlyWhatTheRoleMayDo(t *testing.T) {
	t.Parallel()
	rc := phtest.NewReceiver(t)
	env := setupWebhooks(t, nil)
	sid := paidCheckout(t, env, rc, nil)
	note := onlyNotification(t, env, sid)
	viewer := signInAs(t, env, "viewer@shop.example", payhook.RoleViewer)
	operator := signInAs(t, env, "operator@shop.example", payhook.RoleOperator)

	page := viewer.getOK(transactionPage(sid))
	require.False(t, hasID(page, "refund"))
	require.False(t, hasID(page, "notify-again"))
	require.False(t, hasID(page, "resend-"+note.ID))
	require.True(t, hasID(page, "read-only"))
	page = operator.getOK(transactionPage(sid))
	require.True(t, hasID(page, "refund"))
	require.True(t, hasID(page, "resend-"+note.ID))

	page = viewer.getOK("/dashboard/notifications/" + note.ID)
	require.False(t, hasID(page, "resend-"+note.ID))
	require.Contains(t, page, "Re-sending needs an operator or an admin (your role: viewer).")
	require.False(t, hasID(viewer.getOK("/dashboard/transactions"), "new-payment-request"))
	require.True(t, hasID(operator.getOK("/dashboard/transactions"), "new-payment-request"))
	require.False(t, hasID(viewer.getOK("/dashboard/endpoints"), "test-url"))
	require.True(t, hasID(operator.getOK("/dashboard/endpoints"), "test-url"))

	// The configuration: readable, not editable, without an admin.
	for _, b := range []*browser{viewer, operator} {
		page = b.getOK("/dashboard/webhook/config")
		require.True(t, hasID(page, "read-only"))
		require.Contains(t, page, `<fieldset class="plain" disabled>`)
		require.NotContains(t, page, "rotate-hmac-key")
		page = b.getOK("/dashboard/webhook/plugins/e_commerce")
		require.Contains(t, page, `<fieldset class="plain" disabled>`)
	}
	admin := signInAs(t, env, "admin@shop.example", payhook.RoleAdmin)
	page = admin.getOK("/dashboard/webhook/config")
	require.False(t, hasID(page, "read-only"))
	require.Contains(t, page, `<fieldset class="plain" >`)
	require.Contains(t, page, "rotate-hmac-key")
}

func TestAudit_ActionsReadInWords(t *testing.T) {
	t.Parallel()
	env := phtest.New(t)
	admin := signInAs(t, env, "admin@shop.example", payhook.RoleAdmin)
	page := admin.getOK("/dashboard/audit")
	require.Contains(t, page, "<td>Signed in <code>sign_in</code></td>")
	require.Contains(t, page, "<td>User added <code>user.create</code></td>")
	require.Contains(t, page, `<option value="operation." >Any operation (operation.*)</option>`)
}

// TestAudit_EveryActionHasWords: every action the service records reads in words on the
// audit page and can be chosen in its filter.
func TestAudit_EveryActionHasWords(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../service/*.go")
	require.NoError(t, err)
	re := regexp.MustCompile(`s\.(?:audit|auditPerson)\([^,]+, "([a-z_.]+)"`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			action := m[1]
			seen++
			if strings.HasSuffix(action, ".") {
				continue // operation.<name>: every operation has its words
			}
			require.NotEqual(t, action, web.AuditWord(action), "no words for %s", action)
		}
	}
	require.Greater(t, seen, 10)
}

package web_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/payhook/payhook"
)

// signInAs signs the tab in through the form as email (a user the test created).
func (tb *tab) signInAs(email string) {
	tb.t.Helper()
	tb.openOK("/dashboard/login")
	tb.fillSignIn(email, staffPassword)
	resp := tb.press(`form[action="/dashboard/login"] button[type=submit]`)
	require.EqualValues(tb.t, http.StatusOK, resp.Status)
	require.Equal(tb.t, "/dashboard/transactions", tb.path())
}

// selectValue picks an option of the select with id.
func (tb *tab) selectValue(id, value string) {
	tb.t.Helper()
	tb.do(chromedp.SetValue(byID(id), value))
}

// TestBrowserRoles: an admin adds an operator through the Users page, makes them a
// viewer; the viewer's menu has no admin entries, and an admin page refuses them.
func TestBrowserRoles(t *testing.T) {
	t.Parallel()
	browser := startChromium(t)
	env := setupWebhooks(t, nil)
	sid := paidCheckout(t, env, nil, nil)
	createUser(t, env, "admin@shop.example", payhook.RoleAdmin)

	admin := newTab(t, browser, env)
	admin.signInAs("admin@shop.example")
	require.True(t, admin.has(`nav[aria-label=Main] a[href="/dashboard/users"]`))
	admin.openOK("/dashboard/users")
	admin.typeInto("user-email", "ops@shop.example")
	admin.selectValue("user-role", "operator")
	admin.typeInto("user-password", staffPassword)
	resp := admin.pressID("add-user")
	require.EqualValues(t, http.StatusOK, resp.Status)
	require.Equal(t, "/dashboard/users?done=user_added", admin.path())
	require.Contains(t, admin.textAt(`#users`), "ops@shop.example")
	require.Contains(t, admin.textAt(`#users`), "operator")
	admin.screenshot("users")

	users, err := env.Service.Users(t.Context())
	require.NoError(t, err)
	opsID := strconv.FormatInt(users[len(users)-1].ID, 10)

	ops := newTab(t, browser, env)
	ops.signInAs("ops@shop.example")
	require.False(t, ops.has(`nav[aria-label=Main] a[href="/dashboard/users"]`), "no admin menu for an operator")
	require.Contains(t, ops.textAt(`header.top`), "ops@shop.example (operator)")

	admin.openOK("/dashboard/users/" + opsID)
	admin.selectValue("role", "viewer")
	resp = admin.pressID("save-role")
	require.EqualValues(t, http.StatusOK, resp.Status)
	require.Equal(t, "Role saved. It applies from the user's next click.", admin.textAt(`[role=status]`))

	// The viewer's next page: read only.
	ops.openOK(transactionPage(sid))
	require.Contains(t, ops.textAt(`header.top`), "ops@shop.example (viewer)")
	require.EqualValues(t, http.StatusForbidden, ops.open("/dashboard/users"))
	require.Contains(t, ops.textAt(`[role=alert]`), "Your role (viewer) cannot do this: it needs admin.")

	// The audit log shows both changes, filtered through the form.
	admin.openOK("/dashboard/audit")
	admin.selectValue("audit-action", "user.")
	resp = admin.pressID("audit-filter")
	require.EqualValues(t, http.StatusOK, resp.Status)
	require.Equal(t, 3, admin.count(`#audit tbody tr`), "the admin and the operator created, the role change")
	require.Contains(t, admin.textAt(`#audit`), "ops@shop.example: operator → viewer")
	admin.screenshot("audit")
}

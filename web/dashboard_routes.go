package web

import "github.com/payhook/payhook"

// dashboardRoutes registers the dashboard's pages, each with the least role it needs
// (each behind s.dashboard: a session, the role, and the CSRF token on every POST).
// Viewers read; operators also act on transactions and notifications; admins also
// change the configuration, keys and users. docs/dashboard.md has the table.
func (s *Server) dashboardRoutes() {
	const (
		d        = DashboardPath
		viewer   = payhook.RoleViewer
		operator = payhook.RoleOperator
		admin    = payhook.RoleAdmin
	)
	// Administration → Webhook → Webhook Config: General and Plugin configs tabs. Anyone
	// may read it (secrets masked); only admins change it.
	s.dashRoute("GET", d+"/webhook/config", viewer, s.configGet)
	s.dashRoute("POST", d+"/webhook/config", admin, s.configPost)
	for _, rot := range rotations {
		s.dashRoute("GET", d+"/webhook/config/"+rot.Slug, admin, s.rotateGet(rot))
		s.dashRoute("POST", d+"/webhook/config/"+rot.Slug, admin, s.rotatePost(rot))
	}
	s.dashRoute("GET", d+"/webhook/plugins", viewer, s.pluginsGet)
	s.dashRoute("GET", d+"/webhook/plugins/{plugin}", viewer, s.pluginGet)
	s.dashRoute("POST", d+"/webhook/plugins/{plugin}", admin, s.pluginPost)
	s.dashRoute("POST", d+"/webhook/plugins/{plugin}/delete", admin, s.pluginDelete)
	// Transactions.
	s.dashRoute("GET", d+"/transactions", viewer, s.transactionsGet)
	s.dashRoute("GET", d+"/transactions/new", operator, s.paymentRequestGet)
	s.dashRoute("POST", d+"/transactions/new", operator, s.paymentRequestPost)
	s.dashRoute("GET", d+"/transactions/{session_id}", viewer, s.transactionGet)
	s.dashRoute("POST", d+"/transactions/{session_id}/notify", operator, s.transactionNotify)
	s.dashRoute("POST", d+"/transactions/{session_id}/operation", operator, s.transactionOperation)
	// Delivery log.
	s.dashRoute("GET", d+"/notifications", viewer, s.notificationsGet)
	s.dashRoute("GET", d+"/notifications/resend", operator, s.resendFailedGet)
	s.dashRoute("POST", d+"/notifications/resend", operator, s.resendFailedPost)
	s.dashRoute("GET", d+"/notifications/{id}", viewer, s.notificationGet)
	s.dashRoute("POST", d+"/notifications/{id}/resend", operator, s.notificationResend)
	// Endpoint health (read) and test notifications (they send, like a re-send).
	s.dashRoute("GET", d+"/endpoints", viewer, s.endpointsGet)
	s.dashRoute("POST", d+"/endpoints/test", operator, s.endpointTestPost)
	s.dashRoute("GET", d+"/endpoints/test/{id}", viewer, s.endpointTestGet)
	// Endpoint health: resuming a disabled URL sends its held notifications (operators).
	s.dashRoute("POST", d+"/endpoints/resume", operator, s.endpointResumePost)
	// API keys, users and the audit log: admins.
	s.dashRoute("GET", d+"/api-keys", admin, s.apiKeysGet)
	s.dashRoute("POST", d+"/api-keys", admin, s.apiKeysPost)
	s.dashRoute("POST", d+"/api-keys/{id}/revoke", admin, s.apiKeyRevoke)
	s.dashRoute("GET", d+"/users", admin, s.usersGet)
	s.dashRoute("POST", d+"/users", admin, s.usersPost)
	s.dashRoute("GET", d+"/users/{id}", admin, s.userGet)
	s.dashRoute("POST", d+"/users/{id}/role", admin, s.userRolePost)
	s.dashRoute("POST", d+"/users/{id}/password", admin, s.userPasswordPost)
	s.dashRoute("POST", d+"/users/{id}/active", admin, s.userActivePost)
	s.dashRoute("GET", d+"/audit", admin, s.auditGet)
	s.dashRoute("GET", d+"/audit.csv", admin, s.auditCSV)
	// Everyone's own account: their password.
	s.dashRoute("GET", d+"/account", viewer, s.accountGet)
	s.dashRoute("POST", d+"/account/password", viewer, s.accountPasswordPost)
}

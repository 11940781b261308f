package web

// dashboardRoutes registers the dashboard's pages (each behind s.dashboard: a session,
// and the CSRF token on every POST).
func (s *Server) dashboardRoutes() {
	const d = DashboardPath
	// Administration → Webhook → Webhook Config: General and Plugin configs tabs.
	s.route("GET", d+"/webhook/config", s.dashboard(s.configGet))
	s.route("POST", d+"/webhook/config", s.dashboard(s.configPost))
	for _, rot := range rotations {
		s.route("GET", d+"/webhook/config/"+rot.Slug, s.dashboard(s.rotateGet(rot)))
		s.route("POST", d+"/webhook/config/"+rot.Slug, s.dashboard(s.rotatePost(rot)))
	}
	s.route("GET", d+"/webhook/plugins", s.dashboard(s.pluginsGet))
	s.route("GET", d+"/webhook/plugins/{plugin}", s.dashboard(s.pluginGet))
	s.route("POST", d+"/webhook/plugins/{plugin}", s.dashboard(s.pluginPost))
	s.route("POST", d+"/webhook/plugins/{plugin}/delete", s.dashboard(s.pluginDelete))
	// Transactions.
	s.route("GET", d+"/transactions", s.dashboard(s.transactionsGet))
	s.route("GET", d+"/transactions/new", s.dashboard(s.paymentRequestGet))
	s.route("POST", d+"/transactions/new", s.dashboard(s.paymentRequestPost))
	s.route("GET", d+"/transactions/{session_id}", s.dashboard(s.transactionGet))
	s.route("POST", d+"/transactions/{session_id}/notify", s.dashboard(s.transactionNotify))
	s.route("POST", d+"/transactions/{session_id}/operation", s.dashboard(s.transactionOperation))
	// Delivery log.
	s.route("GET", d+"/notifications", s.dashboard(s.notificationsGet))
	s.route("GET", d+"/notifications/resend", s.dashboard(s.resendFailedGet))
	s.route("POST", d+"/notifications/resend", s.dashboard(s.resendFailedPost))
	s.route("GET", d+"/notifications/{id}", s.dashboard(s.notificationGet))
	s.route("POST", d+"/notifications/{id}/resend", s.dashboard(s.notificationResend))
	// API keys and the audit log.
	s.route("GET", d+"/api-keys", s.dashboard(s.apiKeysGet))
	s.route("POST", d+"/api-keys", s.dashboard(s.apiKeysPost))
	s.route("POST", d+"/api-keys/{id}/revoke", s.dashboard(s.apiKeyRevoke))
	s.route("GET", d+"/audit", s.dashboard(s.auditGet))
}

package web

// dashboardRoutes registers the dashboard's pages (each behind s.dashboard: a session,
// and the CSRF token on every POST).
func (s *Server) dashboardRoutes() {
}

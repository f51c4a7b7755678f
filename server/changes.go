package server

// changesRoutes registers the change feed (GET /v1/tenants/{t}/changes).
func (s *Server) changesRoutes() {}

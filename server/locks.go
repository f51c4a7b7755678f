package server

// lockRoutes registers the lock routes (/v1/tenants/{t}/locks/{name}).
func (s *Server) lockRoutes() {}

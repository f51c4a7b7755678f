package server

import (
	"net/http"

	"github.com/quiredb/quire"
)

// actorRoutes registers the per-tenant actor's routes: counters, session
// state, and rate-limit settings of keys.
func (s *Server) actorRoutes() {}

// rateLimit refuses a request of tenant by p over its tenant's or key's
// rate limit with 429 and Retry-After, and sets the RateLimit-* headers.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, tenant string, p quire.Principal) error {
	return nil
}

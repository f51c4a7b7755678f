package server

import (
	"net/http"

	"github.com/quiredb/quire"
)

// handleUsage answers GET /v1/tenants/{t}/usage: the tenant's database size,
// documents by collection, collections, and its effective quotas.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	ur, ok := tr.store.(quire.UsageReporter)
	if !ok {
		return quire.Errorf(quire.ENotFound, "usage is not available for this tenant")
	}
	// Position before measuring: the usage reflects at least this bookmark.
	pos := tr.store.Position()
	u, err := ur.Usage(r.Context())
	if err != nil {
		return err
	}
	t, err := s.tenants.Tenant(r.Context(), tr.tenant)
	if err != nil {
		return err
	}
	u.Quotas = t.Quotas
	setBookmark(w, tr.store, pos)
	return writeJSON(w, http.StatusOK, u)
}

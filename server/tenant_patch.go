package server

import (
	"net/http"

	"github.com/quiredb/quire"
)

// tenantPatch is the body of PATCH /v1/tenants/{t}.
type tenantPatch struct {
	Quotas *quire.QuotasPatch `json:"quotas"`
}

// handlePatchTenant changes a tenant's quota overrides (admin token only).
func (s *Server) handlePatchTenant(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("tenant")
	if err := quire.CheckName("tenant", id); err != nil {
		return err
	}
	var p tenantPatch
	if err := decodeJSON(w, r, controlBodyLimit, &p); err != nil {
		return err
	}
	if p.Quotas == nil {
		return quire.Errorf(quire.EInvalid, `nothing to change: send {"quotas": {...}}`)
	}
	qs, ok := s.tenants.(quire.QuotaSetter)
	if !ok {
		return quire.Errorf(quire.EMethodNotAllowed, "this server cannot change quotas")
	}
	t, err := qs.SetTenantQuotas(r.Context(), id, *p.Quotas)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

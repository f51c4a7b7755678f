package server

import (
	"net/http"

	"github.com/quiredb/quire"
)

// tenantPatch is the body of PATCH /v1/tenants/{t}: quota overrides, a
// rate limit (null removes it), or both.
type tenantPatch struct {
	Quotas    *quire.QuotasPatch `json:"quotas"`
	RateLimit rateLimitField     `json:"rate_limit"`
}

// handlePatchTenant changes a tenant's quota overrides and rate limit
// (admin token only). The rate limit is checked before anything changes,
// so a bad one changes nothing.
func (s *Server) handlePatchTenant(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("tenant")
	if err := quire.CheckName("tenant", id); err != nil {
		return err
	}
	var p tenantPatch
	if err := decodeJSON(w, r, controlBodyLimit, &p); err != nil {
		return err
	}
	if p.Quotas == nil && !p.RateLimit.set {
		return quire.Errorf(quire.EInvalid, `nothing to change: send {"quotas": {...}} and/or {"rate_limit": {...} or null}`)
	}
	var qs quire.QuotaSetter
	var rs quire.RateLimitSetter
	if p.Quotas != nil {
		var ok bool
		if qs, ok = s.tenants.(quire.QuotaSetter); !ok {
			return quire.Errorf(quire.EMethodNotAllowed, "this server cannot change quotas")
		}
	}
	if p.RateLimit.set {
		var err error
		if rs, err = s.rateLimitSetter(); err != nil {
			return err
		}
	}
	var t *quire.Tenant
	var err error
	if qs != nil {
		if t, err = qs.SetTenantQuotas(r.Context(), id, *p.Quotas); err != nil {
			return err
		}
	}
	if rs != nil {
		if t, err = rs.SetTenantRateLimit(r.Context(), id, p.RateLimit.limit); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, t)
}

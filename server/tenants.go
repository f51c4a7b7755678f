package server

import (
	"net/http"

	"github.com/quiredb/quire"
)

const controlBodyLimit = 64 << 10

func (s *Server) handleCreateTenant(w http.ResponseWriter, r *http.Request) error {
	var c quire.TenantCreate
	if err := decodeJSON(w, r, controlBodyLimit, &c); err != nil {
		return err
	}
	t, err := s.tenants.CreateTenant(r.Context(), c)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/tenants/"+t.ID)
	return writeJSON(w, http.StatusCreated, t)
}

func (s *Server) handleListTenants(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.tenants.Tenants(r.Context())
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []*quire.Tenant{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tenants": ts})
}

func (s *Server) handleGetTenant(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	t, err := s.tenants.Tenant(r.Context(), tr.tenant)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, tr.store.Position())
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) handleDeleteTenant(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("tenant")
	if err := s.tenants.DeleteTenant(r.Context(), id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": id, "deleted": true})
}

// keyCreate is the body of a key creation request.
type keyCreate struct {
	Role quire.Role `json:"role"`
	Name string     `json:"name"`
}

// keyCreated is the answer to a key creation: the only time the secret is
// shown.
type keyCreated struct {
	*quire.Key
	Secret string `json:"secret"`
}

func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	var c keyCreate
	if err := decodeJSON(w, r, controlBodyLimit, &c); err != nil {
		return err
	}
	k, secret, err := s.tenants.CreateKey(r.Context(), tr.tenant, c.Role, c.Name)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, tr.store.Position())
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, keyCreated{Key: k, Secret: secret})
}

func (s *Server) handleListKeys(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	ks, err := s.tenants.Keys(r.Context(), tr.tenant)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, tr.store.Position())
	return writeJSON(w, http.StatusOK, map[string]any{"keys": ks})
}

func (s *Server) handleDeleteKey(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	id := r.PathValue("key")
	if err := s.tenants.DeleteKey(r.Context(), tr.tenant, id); err != nil {
		return err
	}
	setBookmark(w, tr.store, tr.store.Position())
	return writeJSON(w, http.StatusOK, map[string]any{"id": id, "deleted": true})
}

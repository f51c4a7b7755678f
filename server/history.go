package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/quiredb/quire"
)

// historyRoutes registers document history and erasure.
func (s *Server) historyRoutes() {
	s.route("/v1/tenants/{tenant}/collections/{coll}/docs/{id}/history", methods{"GET": s.tenant(quire.RoleRead, s.handleHistory)})
	s.route("/v1/tenants/{tenant}/collections/{coll}/docs/{id}/purge", methods{"POST": s.tenant(quire.RoleAdmin, s.handlePurge)})
}

// historyStore returns the tenant's store as a quire.HistoryStore.
func historyStore(tr *tenantRequest) (quire.HistoryStore, error) {
	hs, ok := tr.store.(quire.HistoryStore)
	if !ok {
		return nil, quire.Errorf(quire.ENotFound, "this store keeps no document history")
	}
	return hs, nil
}

// getDocOrVersion reads the path's document, or, with ?version=N, that
// version of it (current or kept in history).
func (s *Server) getDocOrVersion(r *http.Request, tr *tenantRequest) (*quire.Document, error) {
	coll, id := r.PathValue("coll"), r.PathValue("id")
	q := r.URL.Query()
	if !q.Has("version") {
		return tr.store.Get(r.Context(), coll, id)
	}
	n, err := strconv.ParseInt(q.Get("version"), 10, 64)
	if err != nil || n < 1 || len(q["version"]) != 1 {
		return nil, quire.Errorf(quire.EInvalid, "version must be one positive integer")
	}
	hs, err := historyStore(tr)
	if err != nil {
		return nil, err
	}
	return hs.GetVersion(r.Context(), coll, id, n)
}

// historyVersion is one entry of GET .../history.
type historyVersion struct {
	Version   int64           `json:"version"`
	Body      json.RawMessage `json:"body"`
	CreatedAt int64           `json:"created_at"`
	UpdatedAt int64           `json:"updated_at"`
	KeyID     string          `json:"key_id"`
	At        int64           `json:"at"`
	Bookmark  string          `json:"bookmark"`
	Op        string          `json:"op"`
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	hq := quire.HistoryQuery{Collection: r.PathValue("coll"), ID: r.PathValue("id")}
	for name, vals := range r.URL.Query() {
		if len(vals) != 1 {
			return quire.Errorf(quire.EInvalid, "query parameter %q given %d times", quire.ClipName(name), len(vals))
		}
		switch name {
		case "limit":
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 1 {
				return quire.Errorf(quire.EInvalid, "limit must be a positive integer")
			}
			hq.Limit = n
		case "after":
			hq.After = vals[0]
		default:
			return quire.Errorf(quire.EInvalid, "unknown query parameter %q (limit, after)", quire.ClipName(name))
		}
	}
	hs, err := historyStore(tr)
	if err != nil {
		return err
	}
	pos := tr.store.Position()
	vs, next, err := hs.History(r.Context(), hq)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, pos)
	out := make([]historyVersion, len(vs))
	for i, v := range vs {
		out[i] = historyVersion{Version: v.Version, Body: v.Body, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
			KeyID: v.KeyID, At: v.At, Bookmark: tr.store.FormatBookmark(v.Commit), Op: v.Op}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"versions": out, "next": next})
}

func (s *Server) handlePurge(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	hs, err := historyStore(tr)
	if err != nil {
		return err
	}
	coll, id := r.PathValue("coll"), r.PathValue("id")
	b, err := hs.Purge(r.Context(), coll, id, tr.who.KeyID())
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	return writeJSON(w, http.StatusOK, map[string]any{"collection": coll, "id": id, "purged": true, "bookmark": tr.store.FormatBookmark(b)})
}

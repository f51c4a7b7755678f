package server

import (
	"net/http"

	"github.com/quiredb/quire"
)

// collectionPut is the body of PUT .../collections/{c}.
type collectionPut struct {
	Indexes []quire.IndexSpec `json:"indexes"`
	// History turns document history on or off; absent keeps the current
	// setting (off for a new collection), so re-declaring indexes cannot
	// turn history off by omission.
	History *bool `json:"history"`
}

func (s *Server) handleListCollections(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	pos := tr.store.Position()
	cs, err := tr.store.Collections(r.Context())
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, pos)
	return writeJSON(w, http.StatusOK, map[string]any{"collections": cs})
}

func (s *Server) handleGetCollection(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	pos := tr.store.Position()
	c, err := tr.store.Collection(r.Context(), r.PathValue("coll"))
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, pos)
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) handlePutCollection(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	name := r.PathValue("coll")
	if err := quire.CheckName("collection", name); err != nil {
		return err
	}
	var body collectionPut
	if err := decodeJSON(w, r, controlBodyLimit, &body); err != nil {
		return err
	}
	cur, missing := tr.store.Collection(r.Context(), name)
	history := missing == nil && cur.History
	if body.History != nil {
		history = *body.History
	}
	c, b, err := tr.store.PutCollection(r.Context(), quire.Collection{Name: name, Indexes: body.Indexes, History: history})
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	status := http.StatusOK
	if missing != nil {
		status = http.StatusCreated
	}
	return writeJSON(w, status, c)
}

func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	name := r.PathValue("coll")
	b, err := tr.store.DeleteCollection(r.Context(), name)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "deleted": true})
}

func (s *Server) handleAddIndex(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	var ix quire.IndexSpec
	if err := decodeJSON(w, r, controlBodyLimit, &ix); err != nil {
		return err
	}
	c, b, err := tr.store.AddIndex(r.Context(), r.PathValue("coll"), ix)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) handleDropIndex(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	c, b, err := tr.store.DropIndex(r.Context(), r.PathValue("coll"), r.PathValue("field"))
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	return writeJSON(w, http.StatusOK, c)
}

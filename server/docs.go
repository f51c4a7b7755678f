package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/quiredb/quire"
)

// docBodyLimit is the most a single-document request may carry: the
// document limit plus room for whitespace the store compacts away.
func (s *Server) docBodyLimit() int64 { return int64(s.cfg.MaxDocBytes) + 64<<10 }

func (s *Server) handleGetDoc(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	pos := tr.store.Position()
	var d *quire.Document
	var err error
	if r.URL.Query().Has("version") {
		d, err = s.getDocOrVersion(r, tr)
	} else {
		var st quire.CacheStatus
		d, pos, st, err = tr.store.ReadDoc(r.Context(), quire.DocRead{
			Collection: r.PathValue("coll"), ID: r.PathValue("id"), After: tr.after, NoCache: noCache(r)})
		setCacheStatus(w, st)
	}
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, pos)
	etag := strconv.Quote(strconv.FormatInt(d.Version, 10))
	w.Header().Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == etag || inm == "*") {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeRaw(w, http.StatusOK, appendDocument(make([]byte, 0, len(d.Body)+128), d))
	return nil
}

// appendDocument encodes d with its stored body spliced in as is: the read
// path never decodes and re-encodes a document.
func appendDocument(b []byte, d *quire.Document) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, d.ID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, d.Version, 10)
	b = append(b, `,"created_at":`...)
	b = strconv.AppendInt(b, d.CreatedAt, 10)
	b = append(b, `,"updated_at":`...)
	b = strconv.AppendInt(b, d.UpdatedAt, 10)
	b = append(b, `,"body":`...)
	b = append(b, d.Body...)
	return append(b, '}')
}

func (s *Server) handleListDocs(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	q := quire.ListQuery{Collection: r.PathValue("coll")}
	for name, vals := range r.URL.Query() {
		if len(vals) != 1 {
			return quire.Errorf(quire.EInvalid, "query parameter %q given %d times", quire.ClipName(name), len(vals))
		}
		v := vals[0]
		switch name {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return quire.Errorf(quire.EInvalid, "limit must be a positive integer")
			}
			q.Limit = n
		case "after":
			q.After = v
		default:
			if q.Field != "" {
				return quire.Errorf(quire.EInvalid, "filter on one indexed field at a time (use the query endpoint for more)")
			}
			q.Field, q.Value = name, v
		}
	}
	pos := tr.store.Position()
	docs, next, err := tr.store.List(r.Context(), q)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, pos)
	buf := takeResponseBuffer(documentsSize(docs) + len(next))
	defer giveBackResponseBuffer(buf)
	b := append(*buf, `{"docs":[`...)
	for i, d := range docs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDocument(b, d)
	}
	b = append(b, `],"next":`...)
	b = append(appendJSONString(b, next), "}\n"...)
	writeRaw(w, http.StatusOK, b)
	*buf = b
	return nil
}

// writeOne applies a single-document write and answers with its result.
func (s *Server) writeOne(w http.ResponseWriter, r *http.Request, tr *tenantRequest, op quire.WriteOp) error {
	res, b, err := tr.store.Write(r.Context(), []quire.WriteOp{op}, tr.who.KeyID())
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	out := res[0]
	w.Header().Set("ETag", strconv.Quote(strconv.FormatInt(out.Version, 10)))
	status := http.StatusOK
	if out.Created {
		status = http.StatusCreated
		w.Header().Set("Location", "/v1/tenants/"+tr.tenant+"/collections/"+out.Collection+"/docs/"+escapeID(out.ID))
	}
	return writeJSON(w, status, out)
}

// escapeID escapes a document id as a path segment. PathEscape leaves the
// ids "." and ".." as they are, which path cleaning would treat as steps.
func escapeID(id string) string {
	switch id {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(id)
}

// docOp builds a write op on the path's document from the request's
// body and conditional headers.
func (s *Server) docOp(w http.ResponseWriter, r *http.Request, kind quire.OpKind, withBody bool) (quire.WriteOp, error) {
	op := quire.WriteOp{Op: kind, Collection: r.PathValue("coll"), ID: r.PathValue("id")}
	if withBody {
		body, err := readBody(w, r, s.docBodyLimit())
		if err != nil {
			return op, err
		}
		op.Body = body
	}
	if err := conditions(r, &op); err != nil {
		return op, err
	}
	return op, nil
}

// conditions reads If-Match and If-None-Match into op.
func conditions(r *http.Request, op *quire.WriteOp) error {
	if im := strings.TrimSpace(r.Header.Get("If-Match")); im != "" {
		if im == "*" {
			op.IfExists = true
		} else {
			v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(im, "W/"), `"`), 10, 64)
			if err != nil || v < 1 {
				return quire.Errorf(quire.EInvalid, `If-Match must be "*" or a document version such as "3"`)
			}
			op.IfVersion = &v
		}
	}
	if inm := strings.TrimSpace(r.Header.Get("If-None-Match")); inm != "" {
		if inm != "*" {
			return quire.Errorf(quire.EInvalid, `If-None-Match on a write must be "*"`)
		}
		op.IfAbsent = true
	}
	return nil
}

func (s *Server) handlePutDoc(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	op, err := s.docOp(w, r, quire.OpPut, true)
	if err != nil {
		return err
	}
	return s.writeOne(w, r, tr, op)
}

func (s *Server) handlePatchDoc(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	op, err := s.docOp(w, r, quire.OpPatch, true)
	if err != nil {
		return err
	}
	return s.writeOne(w, r, tr, op)
}

func (s *Server) handleDeleteDoc(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	op, err := s.docOp(w, r, quire.OpDelete, false)
	if err != nil {
		return err
	}
	return s.writeOne(w, r, tr, op)
}

func (s *Server) handleCreateDoc(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	body, err := readBody(w, r, s.docBodyLimit())
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	return s.writeOne(w, r, tr, quire.WriteOp{Op: quire.OpCreate, Collection: r.PathValue("coll"), ID: id.String(), Body: body})
}

// batchRequest is the body of POST .../batch.
type batchRequest struct {
	Ops []quire.WriteOp `json:"ops"`
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	var req batchRequest
	if err := decodeJSON(w, r, s.bodyLimit(r, tr.tenant), &req); err != nil {
		return err
	}
	for i := range req.Ops {
		if req.Ops[i].Op == quire.OpCreate && req.Ops[i].ID == "" {
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			req.Ops[i].ID = id.String()
		}
	}
	res, b, err := tr.store.Write(r.Context(), req.Ops, tr.who.KeyID())
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	return writeJSON(w, http.StatusOK, map[string]any{"results": res, "bookmark": tr.store.FormatBookmark(b)})
}

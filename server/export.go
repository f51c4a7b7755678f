package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/quiredb/quire"
)

// handleExport answers GET /v1/tenants/{t}/export[?collection=c] with the
// tenant's collections and documents as NDJSON (see quire.ExportLine), read
// from one snapshot. An error once lines have been sent cuts the response
// short, so a client never takes a partial export for a whole one.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	ex, ok := tr.store.(quire.Exporter)
	if !ok {
		return quire.Errorf(quire.ENotFound, "export is not available for this tenant")
	}
	coll := r.URL.Query().Get("collection")
	extendDeadlines(w)
	setBookmark(w, tr.store, tr.store.Position())
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	started := false
	_, err := ex.Export(r.Context(), coll, func(l *quire.ExportLine) error {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
		}
		return enc.Encode(l)
	})
	if err == nil && !started {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil && started {
		s.log.Warn("export cut short", "tenant", tr.tenant, "request_id", requestID(r), "err", err.Error())
		panic(http.ErrAbortHandler)
	}
	return err
}

// handleImport answers POST /v1/tenants/{t}/import[?first_line=N]: the body
// is a batch of NDJSON export lines, the first of them line N (default 1)
// of the file being imported. Lines that cannot be imported are reported
// by number; the others are imported.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	im, ok := tr.store.(quire.Importer)
	if !ok {
		return quire.Errorf(quire.ENotFound, "import is not available for this tenant")
	}
	first := 1
	if v := r.URL.Query().Get("first_line"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return quire.Errorf(quire.EInvalid, "first_line must be a positive integer")
		}
		first = n
	}
	extendDeadlines(w)
	body, err := readBody(w, r, s.bodyLimit(r, tr.tenant))
	if err != nil {
		return err
	}
	var lines []quire.ImportLine
	var bad []quire.ImportRejection
	for i, raw := range bytes.Split(body, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		l := quire.ImportLine{Line: first + i}
		if err := json.Unmarshal(raw, &l.ExportLine); err != nil {
			bad = append(bad, quire.ImportRejection{Line: l.Line, Error: quire.Errorf(quire.EInvalid, "not a JSON export line: %v", err)})
			continue
		}
		lines = append(lines, l)
	}
	res, pos, err := im.Import(r.Context(), lines, tr.who.KeyID())
	if err != nil {
		return err
	}
	res.Rejected = append(bad, res.Rejected...)
	slices.SortFunc(res.Rejected, func(a, b quire.ImportRejection) int { return a.Line - b.Line })
	res.Bookmark = tr.store.FormatBookmark(pos)
	setBookmark(w, tr.store, pos)
	return writeJSON(w, http.StatusOK, res)
}

package server

import (
	"errors"
	"net/http"

	"github.com/quiredb/quire"
)

// Cloudflare D1's REST API, so that D1 HTTP clients and ORMs work against
// Quire unchanged: POST /client/v4/accounts/{account_id}/d1/database/{db}/query
// and .../raw, where {db} is a Quire tenant and {account_id} is ignored.
// Authentication and bookmarks are those of every tenant route; answers and
// errors come in Cloudflare's v4 envelope.

// sqlRoutes registers the SQL endpoint and its D1-compatible twins.
func (s *Server) sqlRoutes() {
	s.route("/v1/tenants/{tenant}/sql", methods{"POST": s.tenant(quire.RoleRead, s.handleSQL)})
	for _, kind := range []string{"query", "raw"} {
		path := "/client/v4/accounts/{account_id}/d1/database/{tenant}/" + kind
		s.mux.Handle("POST "+path, s.wrapD1(s.tenant(quire.RoleRead, s.handleD1(kind == "raw"))))
		s.mux.Handle(path, s.wrapD1(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", "POST")
			return quire.Errorf(quire.EMethodNotAllowed, "method %s not allowed here; allowed: POST", r.Method)
		}))
	}
	s.mux.Handle("/client/v4/", s.wrapD1(func(w http.ResponseWriter, r *http.Request) error {
		return quire.Errorf(quire.ENotFound, "no route for %s %s: Quire serves only D1's database query and raw routes", r.Method, r.URL.Path)
	}))
}

// handleD1 serves D1's query (rows as objects) or raw (columns and arrays)
// route. Unlike /v1, one "sql" may hold several statements; each gets a
// result, as D1 does.
func (s *Server) handleD1(raw bool) tenantHandler {
	return func(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
		req, _, err := s.sqlRequest(w, r, tr, true)
		if err != nil {
			return err
		}
		res, err := execSQL(w, r, tr, req)
		if err != nil {
			return err
		}
		b := append(make([]byte, 0, 1024), `{"result":`...)
		b = appendResults(b, res, raw)
		b = append(b, `,"success":true,"errors":[],"messages":[]}`+"\n"...)
		writeRaw(w, http.StatusOK, b)
		return nil
	}
}

// d1Envelope is Cloudflare's v4 answer, here always a failure.
type d1Envelope struct {
	Result   any       `json:"result"`
	Success  bool      `json:"success"`
	Errors   []d1Error `json:"errors"`
	Messages []string  `json:"messages"`
}

// d1Error is an error in the v4 envelope: Cloudflare's numeric code plus
// Quire's own code and details.
type d1Error struct {
	Code      int            `json:"code"`
	Message   string         `json:"message"`
	QuireCode string         `json:"quire_code"`
	Details   map[string]any `json:"details,omitempty"`
}

// d1Code is the numeric code of an error: Cloudflare's 10000 for failed
// authentication, else 7000 plus the HTTP status (7400, 7403, 7408...).
func d1Code(code string) int {
	if code == quire.EUnauthorized {
		return 10000
	}
	return 7000 + quire.StatusOf(code)
}

// wrapD1 is wrap for the D1 routes: errors and panics become v4 envelopes.
func (s *Server) wrapD1(h handlerFunc) http.Handler { return s.wrapWith(h, s.writeD1Error) }

// writeD1Error answers with err in the v4 envelope, with the same status
// and headers as writeError.
func (s *Server) writeD1Error(w http.ResponseWriter, r *http.Request, err error) {
	code := quire.ErrorCode(err)
	e := d1Error{Code: d1Code(code), Message: quire.ErrorMessage(err), QuireCode: code}
	var qe *quire.Error
	if errors.As(err, &qe) {
		e.Details = qe.Details
	}
	status := quire.StatusOf(code)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err.Error())
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="quire"`)
	}
	writeJSON(w, status, d1Envelope{Success: false, Errors: []d1Error{e}, Messages: []string{}})
}

package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/quiredb/quire"
)

// headerTimeout sets a SQL request's deadline in milliseconds, on every
// SQL route (the body's timeout_ms wins where both are given).
const headerTimeout = "Quire-Timeout-Ms"

// sqlBody is the body of a SQL request: one statement, or a batch run as
// one transaction.
type sqlBody struct {
	SQL       *string           `json:"sql"`
	Params    []json.RawMessage `json:"params"`
	Batch     []sqlEntry        `json:"batch"`
	TimeoutMS *int64            `json:"timeout_ms"`
}

// sqlEntry is one statement of a batch.
type sqlEntry struct {
	SQL    *string           `json:"sql"`
	Params []json.RawMessage `json:"params"`
}

// sqlRequest reads a SQL request: its statements, whether they came as a
// batch, and its timeout. D1 clients send fields of their own (such as
// "method") that Cloudflare ignores, so on the D1 routes (d1) unknown
// fields are ignored too; /v1 refuses them.
func (s *Server) sqlRequest(w http.ResponseWriter, r *http.Request, tr *tenantRequest, d1 bool) (quire.SQLRequest, bool, error) {
	req := quire.SQLRequest{Role: quire.RoleAdmin, KeyID: tr.who.KeyID(), Since: tr.after, NoCache: noCache(r)}
	if tr.who.Key != nil {
		req.Role = tr.who.Key.Role
	}
	raw, err := readBody(w, r, s.bodyLimit(r, tr.tenant))
	if err != nil {
		return req, false, err
	}
	var body sqlBody
	if err := unmarshalObject(raw, &body, !d1); err != nil {
		return req, false, err
	}
	entries := body.Batch
	switch {
	case body.SQL != nil && body.Batch != nil:
		return req, false, quire.Errorf(quire.EInvalid, "send either sql and params, or batch, not both")
	case body.SQL != nil:
		entries = []sqlEntry{{SQL: body.SQL, Params: body.Params}}
	case body.Params != nil:
		return req, false, quire.Errorf(quire.EInvalid, "params go with sql (or inside each batch entry)")
	case len(entries) == 0:
		return req, false, quire.Errorf(quire.EInvalid, `missing SQL: send {"sql": "...", "params": [...]} or {"batch": [...]}`)
	}
	for i, e := range entries {
		st, err := sqlStatement(e)
		if err != nil {
			return req, false, quire.StatementError(err, i, len(entries))
		}
		req.Statements = append(req.Statements, st)
	}
	if req.Timeout, err = sqlTimeout(r, body.TimeoutMS); err != nil {
		return req, false, err
	}
	return req, body.Batch != nil, req.Validate()
}

// sqlStatement converts one entry, its parameters to SQLite values.
func sqlStatement(e sqlEntry) (quire.SQLStatement, *quire.Error) {
	if e.SQL == nil {
		return quire.SQLStatement{}, quire.Errorf(quire.EInvalid, "missing sql")
	}
	if len(e.Params) > quire.MaxSQLParams {
		return quire.SQLStatement{}, quire.Errorf(quire.EInvalid, "at most %d parameters per statement, got %d", quire.MaxSQLParams, len(e.Params))
	}
	st := quire.SQLStatement{SQL: *e.SQL, Params: make([]any, len(e.Params))}
	for j, p := range e.Params {
		v, ok := sqlParam(p)
		if !ok {
			return st, quire.Errorf(quire.EInvalid, "parameter %d must be a string, number, boolean or null", j+1)
		}
		st.Params[j] = v
	}
	return st, nil
}

// sqlParam converts a JSON parameter: a number without fraction or
// exponent that fits in 64 bits binds as INTEGER, any other as REAL.
func sqlParam(p json.RawMessage) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	switch t := v.(type) {
	case nil, string, bool:
		return t, true
	case json.Number:
		if !bytes.ContainsAny(p, ".eE") {
			if n, err := t.Int64(); err == nil {
				return n, true
			}
		}
		f, err := t.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	}
	return nil, false
}

// sqlTimeout is the request's deadline: the body's timeout_ms, else the
// Quire-Timeout-Ms header, else the default.
func sqlTimeout(r *http.Request, fromBody *int64) (time.Duration, error) {
	ms := int64(0)
	switch h := r.Header.Get(headerTimeout); {
	case fromBody != nil:
		ms = *fromBody
	case h != "":
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil {
			return 0, quire.Errorf(quire.EInvalid, "%s must be a number of milliseconds", headerTimeout)
		}
		ms = n
	default:
		return 0, nil
	}
	if ms < 1 || ms > quire.MaxSQLTimeout.Milliseconds() {
		return 0, quire.Errorf(quire.EInvalid, "the timeout must be 1 to %d milliseconds", quire.MaxSQLTimeout.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// execSQL runs a request on the tenant's store and sets the bookmark.
func execSQL(w http.ResponseWriter, r *http.Request, tr *tenantRequest, req quire.SQLRequest) ([]quire.SQLResult, error) {
	sq, ok := tr.store.(quire.SQLStore)
	if !ok {
		return nil, quire.Errorf(quire.ENotFound, "this store does not run SQL")
	}
	res, b, err := sq.ExecSQL(r.Context(), req)
	if err != nil {
		return nil, err
	}
	setBookmark(w, tr.store, b)
	if len(res) > 0 {
		setCacheStatus(w, res[0].Meta.Cache)
	}
	return res, nil
}

// handleSQL serves POST /v1/tenants/{t}/sql. Each "sql" holds one
// statement; a batch answers with an array of results.
func (s *Server) handleSQL(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	req, batch, err := s.sqlRequest(w, r, tr, false)
	if err != nil {
		return err
	}
	for i, st := range req.Statements {
		if n := len(quire.SplitSQL(st.SQL)); n > 1 {
			return quire.StatementError(quire.Errorf(quire.EInvalid,
				"the SQL holds %d statements: send one statement per sql, several as a batch", n), i, len(req.Statements))
		}
	}
	res, err := execSQL(w, r, tr, req)
	if err != nil {
		return err
	}
	b := make([]byte, 0, 1024)
	if batch {
		b = appendResults(b, res, false)
	} else {
		b = appendResult(b, &res[0], false)
	}
	writeRaw(w, http.StatusOK, append(b, '\n'))
	return nil
}

// appendResults encodes results as a JSON array.
func appendResults(b []byte, res []quire.SQLResult, raw bool) []byte {
	b = append(b, '[')
	for i := range res {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendResult(b, &res[i], raw)
	}
	return append(b, ']')
}

// appendResult encodes one statement's result in D1's shape: rows as
// objects in column order, or raw as {"columns": [...], "rows": [[...]]}.
func appendResult(b []byte, res *quire.SQLResult, raw bool) []byte {
	b = append(b, `{"results":`...)
	if raw {
		cols, _ := json.Marshal(res.Columns)
		b = append(append(append(b, `{"columns":`...), cols...), `,"rows":[`...)
		for i, row := range res.Rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for j, v := range row {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendValue(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, "]}"...)
	} else {
		b = appendObjects(b, res)
	}
	meta, _ := json.Marshal(res.Meta)
	b = append(append(b, `,"success":true,"meta":`...), meta...)
	return append(b, '}')
}

// appendObjects encodes rows as objects. A column name that repeats (a
// join's two "id"s) appears once, with the last column's value, where it
// first appeared: what a JavaScript object built from the row holds.
func appendObjects(b []byte, res *quire.SQLResult) []byte {
	type key struct {
		name []byte
		col  int
	}
	var keys []key
	seen := map[string]int{}
	for j, c := range res.Columns {
		if k, ok := seen[c]; ok {
			keys[k].col = j
			continue
		}
		name, _ := json.Marshal(c)
		seen[c] = len(keys)
		keys = append(keys, key{name, j})
	}
	b = append(b, '[')
	for i, row := range res.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for k, key := range keys {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendValue(append(append(b, key.name...), ':'), row[key.col])
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendValue encodes one SQLite value: INTEGER and REAL as numbers (an
// infinite REAL as ±9e999, like SQLite's JSON functions), TEXT as a string,
// NULL as null, BLOB as a base64 string.
func appendValue(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...)
	case int64:
		return strconv.AppendInt(b, t, 10)
	case float64:
		switch {
		case math.IsInf(t, 1):
			return append(b, "9e999"...)
		case math.IsInf(t, -1):
			return append(b, "-9e999"...)
		case math.IsNaN(t):
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, t, 'g', -1, 64)
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, t)
		return append(b, '"')
	}
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/quiredb/quire"
)

// SQLOptions adjusts a SQL request.
type SQLOptions struct {
	// Timeout is the request's deadline on the server, 1 ms to 30 s,
	// rounded up to a millisecond; 0 means the server's default (5 s).
	// A request still running then is stopped: a quire.ETimeout error.
	Timeout time.Duration
}

// SQL runs statements against tenant's database through the sandboxed SQL
// endpoint and returns one result per statement. One statement is sent as
// {"sql", "params"}; several as a batch, run in order as one transaction:
// if one fails, none takes effect, and the error's
// Details["statement_index"] names it. Each statement's SQL holds one
// statement. What a key may do depends on its role (a read key may only
// read: quire.EForbidden); SQLite's refusals are quire.ESQL errors.
//
// Params may be nil, a bool (bound as 1 or 0), a string, any Go integer
// that fits in an int64, a finite float32 or float64 (always bound as
// REAL, even when whole), or a json.Number (bound by the server's rule:
// INTEGER without fraction or exponent, else REAL). A []byte is refused:
// bind hex text and use unhex(?).
func (c *Client) SQL(ctx context.Context, tenant string, stmts ...quire.SQLStatement) ([]SQLResult, error) {
	return c.SQLWithOptions(ctx, tenant, SQLOptions{}, stmts...)
}

// SQLWithOptions is SQL with options, such as a deadline.
func (c *Client) SQLWithOptions(ctx context.Context, tenant string, opts SQLOptions, stmts ...quire.SQLStatement) ([]SQLResult, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, err
	}
	in, err := sqlBody(opts, stmts)
	if err != nil {
		return nil, err
	}
	req := request{method: http.MethodPost, path: tenantPath(tenant, "sql"), tenant: tenant}
	if len(stmts) == 1 {
		var out SQLResult
		if err := c.doJSON(ctx, req, in, &out); err != nil {
			return nil, err
		}
		return []SQLResult{out}, nil
	}
	var out []SQLResult
	if err := c.doJSON(ctx, req, in, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// sqlWire is the body of a SQL request.
type sqlWire struct {
	SQL       *string           `json:"sql,omitempty"`
	Params    []json.RawMessage `json:"params,omitempty"`
	Batch     []sqlEntryWire    `json:"batch,omitempty"`
	TimeoutMS int64             `json:"timeout_ms,omitempty"`
}

// sqlEntryWire is one statement of a batch.
type sqlEntryWire struct {
	SQL    string            `json:"sql"`
	Params []json.RawMessage `json:"params,omitempty"`
}

// sqlBody builds the request body: the statements and the timeout.
func sqlBody(opts SQLOptions, stmts []quire.SQLStatement) (*sqlWire, error) {
	if len(stmts) == 0 {
		return nil, quire.Errorf(quire.EInvalid, "no SQL statements")
	}
	if opts.Timeout < 0 {
		return nil, quire.Errorf(quire.EInvalid, "the SQL timeout must be positive, or 0 for the server's default")
	}
	w := &sqlWire{TimeoutMS: int64(opts.Timeout / time.Millisecond)}
	if opts.Timeout%time.Millisecond != 0 {
		w.TimeoutMS++ // round up: 0 would mean the default
	}
	for i, st := range stmts {
		params := make([]json.RawMessage, len(st.Params))
		for j, p := range st.Params {
			v, err := sqlParam(p)
			if err != nil {
				return nil, quire.StatementError(quire.Errorf(quire.EInvalid, "parameter %d %s", j+1, err.Message), i, len(stmts))
			}
			params[j] = v
		}
		if len(stmts) == 1 {
			w.SQL, w.Params = &st.SQL, params
			break
		}
		w.Batch = append(w.Batch, sqlEntryWire{SQL: st.SQL, Params: params})
	}
	return w, nil
}

// sqlParam encodes one parameter so that the server binds it with the
// type it has in Go.
func sqlParam(p any) (json.RawMessage, *quire.Error) {
	switch v := p.(type) {
	case nil:
		return json.RawMessage("null"), nil
	case json.Number:
		if _, err := strconv.ParseFloat(string(v), 64); err != nil || !json.Valid([]byte(v)) {
			return nil, quire.Errorf(quire.EInvalid, "is not a finite JSON number: %q", string(v))
		}
		return json.RawMessage(v), nil
	case []byte:
		return nil, quire.Errorf(quire.EInvalid, "is a []byte: the SQL endpoint binds no BLOB parameters; bind hex text and use unhex(?)")
	}
	switch v := reflect.ValueOf(p); v.Kind() {
	case reflect.Bool:
		return json.RawMessage(strconv.FormatBool(v.Bool())), nil
	case reflect.String:
		b, _ := json.Marshal(v.String())
		return b, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(nil, v.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > math.MaxInt64 {
			return nil, quire.Errorf(quire.EInvalid, "is larger than SQLite's largest integer")
		}
		return strconv.AppendUint(nil, v.Uint(), 10), nil
	case reflect.Float32, reflect.Float64:
		return floatParam(v.Float())
	}
	return nil, quire.Errorf(quire.EInvalid, "has type %T: use nil, a bool, a string, an integer, a float or json.Number", p)
}

// floatParam writes f with a fraction or an exponent, so that the server
// binds it as REAL even when it is whole.
func floatParam(f float64) (json.RawMessage, *quire.Error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, quire.Errorf(quire.EInvalid, "is not a finite number")
	}
	b := strconv.AppendFloat(nil, f, 'g', -1, 64)
	for _, c := range b {
		if c == '.' || c == 'e' {
			return b, nil
		}
	}
	return append(b, ".0"...), nil
}

// SQLResult is the result of one SQL statement. It decodes from, and
// encodes to, the endpoint's JSON (D1's shape): {"results": [{column:
// value}...], "success": true, "meta": {...}}; it also decodes the
// {"columns", "rows"} form of D1's raw route.
type SQLResult struct {
	// Columns are the result's column names, in order. The endpoint
	// sends rows as JSON objects, so they come from the rows' keys: a
	// result without rows has none, and a name that repeats (a join's two
	// "id"s) appears once, with the last such column's value.
	Columns []string
	// Rows hold, in column order, int64 (a JSON number without fraction
	// or exponent), float64 (±Inf for SQLite's ±9e999), string (TEXT, or
	// a BLOB as base64) or nil (NULL). A REAL with no fraction, such as
	// 3.0, comes as an int64: the JSON does not tell them apart.
	Rows [][]any
	// Meta describes the statement's execution, with D1's field names.
	Meta quire.SQLMeta
}

// UnmarshalJSON decodes one statement's result.
func (r *SQLResult) UnmarshalJSON(data []byte) error {
	var w struct {
		Results json.RawMessage `json:"results"`
		Meta    quire.SQLMeta   `json:"meta"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*r = SQLResult{Meta: w.Meta}
	t := bytes.TrimSpace(w.Results)
	if len(t) == 0 || string(t) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	if t[0] == '{' {
		var raw struct {
			Columns []string `json:"columns"`
			Rows    [][]any  `json:"rows"`
		}
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		for _, row := range raw.Rows {
			for j, v := range row {
				row[j] = sqlValue(v)
			}
		}
		r.Columns, r.Rows = raw.Columns, raw.Rows
		return nil
	}
	var err error
	r.Columns, r.Rows, err = decodeRows(dec)
	return err
}

// decodeRows reads an array of row objects, keeping their keys' order as
// the columns' order.
func decodeRows(dec *json.Decoder) ([]string, [][]any, error) {
	var cols []string
	var rows [][]any
	index := map[string]int{}
	if err := expectDelim(dec, '['); err != nil {
		return nil, nil, err
	}
	for dec.More() {
		if err := expectDelim(dec, '{'); err != nil {
			return nil, nil, err
		}
		row := make([]any, len(cols))
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return nil, nil, err
			}
			key, _ := t.(string)
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, nil, err
			}
			j, ok := index[key]
			if !ok { // a column no earlier row had
				j = len(cols)
				index[key] = j
				cols = append(cols, key)
				row = append(row, nil)
				for i := range rows {
					rows[i] = append(rows[i], nil)
				}
			}
			row[j] = sqlValue(v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, nil, err
		}
		rows = append(rows, row)
	}
	_, err := dec.Token()
	return cols, rows, err
}

// expectDelim reads a token that must be d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("results: got %v, want %v", t, d)
	}
	return nil
}

// sqlValue converts a decoded JSON value to a SQL result value: a number
// without fraction or exponent that fits becomes an int64, any other a
// float64 (±9e999 is ±Inf).
func sqlValue(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if !strings.ContainsAny(string(n), ".eE") {
		if i, err := n.Int64(); err == nil {
			return i
		}
	}
	f, _ := strconv.ParseFloat(string(n), 64) // ±Inf when out of range
	return f
}

// MarshalJSON encodes r in the endpoint's shape, rows as objects in column
// order (a repeated column name once, with the last such column's value).
func (r SQLResult) MarshalJSON() ([]byte, error) {
	keys, cols := []string{}, []int{}
	seen := map[string]int{}
	for j, c := range r.Columns {
		if k, ok := seen[c]; ok {
			cols[k] = j
			continue
		}
		seen[c] = len(keys)
		keys, cols = append(keys, c), append(cols, j)
	}
	b := append(make([]byte, 0, 256), `{"results":[`...)
	for i, row := range r.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for k, name := range keys {
			if k > 0 {
				b = append(b, ',')
			}
			kb, _ := marshalJSON(name)
			b = append(append(b, kb...), ':')
			var v any
			if cols[k] < len(row) {
				v = row[cols[k]]
			}
			vb, err := marshalSQLValue(v)
			if err != nil {
				return nil, err
			}
			b = append(b, vb...)
		}
		b = append(b, '}')
	}
	meta, err := marshalJSON(r.Meta)
	if err != nil {
		return nil, err
	}
	b = append(append(b, `],"success":true,"meta":`...), meta...)
	return append(b, '}'), nil
}

// marshalSQLValue encodes one value as the server does: ±Inf as ±9e999,
// NaN as null, a BLOB ([]byte) as base64.
func marshalSQLValue(v any) ([]byte, error) {
	if f, ok := v.(float64); ok {
		switch {
		case math.IsInf(f, 1):
			return []byte("9e999"), nil
		case math.IsInf(f, -1):
			return []byte("-9e999"), nil
		case math.IsNaN(f):
			return []byte("null"), nil
		}
	}
	return marshalJSON(v)
}

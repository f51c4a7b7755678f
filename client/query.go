package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/quiredb/quire"
)

// QueryResult is the answer to a query: a page of documents or, for a
// query with Explain, SQLite's plan. It encodes back to JSON in the
// server's shape.
type QueryResult struct {
	// Docs are the page's documents, in the query's sort order.
	Docs []QueryDoc
	// Next is the cursor of the next page (quire.Query.After); "" on the
	// last page.
	Next string
	// Count is the number of documents matching the filter, ignoring the
	// limit and the cursor; nil unless the query asked for it.
	Count *int64
	// Plan is SQLite's query plan, with Explain only (then Docs is nil).
	Plan []quire.PlanStep
	// SQL is, with Explain, the statement whose plan Plan is.
	SQL string
	// Meta describes how the query ran.
	Meta QueryMeta
}

// QueryMeta is the meta object of a query's answer.
type QueryMeta struct {
	// RowsRead counts the rows the page returned (with one look-ahead row)
	// plus, with Count, the rows counted; not SQLite's rows examined.
	RowsRead int64 `json:"rows_read"`
	// DurationMS is the time spent in the store, in milliseconds.
	DurationMS float64 `json:"duration_ms"`
	// Scan is true when the query may read every row of a collection: no
	// index narrows its filter, its sort or one of its joins.
	Scan bool `json:"scan"`
	// Bookmark is the position the query observed at least.
	Bookmark string `json:"bookmark"`
}

// QueryDoc is a document of a query's answer: the document and, per join
// of the query, the joined documents, under the join's name (its "as",
// by default the joined collection's name).
type QueryDoc struct {
	quire.Document
	Joins map[string][]quire.Document
}

// documentKeys are the keys of a query document that are not joins.
var documentKeys = []string{"id", "version", "created_at", "updated_at", "body"}

// UnmarshalJSON decodes a document of a query's answer; every key other
// than the document's own is a join.
func (d *QueryDoc) UnmarshalJSON(data []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return err
	}
	*d = QueryDoc{}
	if err := json.Unmarshal(data, &d.Document); err != nil {
		return err
	}
	for k, v := range keys {
		if slices.Contains(documentKeys, k) {
			continue
		}
		var docs []quire.Document
		if err := json.Unmarshal(v, &docs); err != nil {
			return fmt.Errorf("join %q: %w", k, err)
		}
		if d.Joins == nil {
			d.Joins = map[string][]quire.Document{}
		}
		d.Joins[k] = docs
	}
	return nil
}

// MarshalJSON encodes d as the server does: the document's keys followed
// by one key per join (in name order).
func (d QueryDoc) MarshalJSON() ([]byte, error) {
	b, err := marshalJSON(d.Document)
	if err != nil || len(d.Joins) == 0 {
		return b, err
	}
	b = b[:len(b)-1] // reopen the object
	names := make([]string, 0, len(d.Joins))
	for name := range d.Joins {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		docs := d.Joins[name]
		if docs == nil {
			docs = []quire.Document{}
		}
		k, _ := marshalJSON(name)
		v, err := marshalJSON(docs)
		if err != nil {
			return nil, err
		}
		b = append(append(append(append(b, ','), k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// queryWire is a query's answer as the server sends it.
type queryWire struct {
	Docs  []QueryDoc       `json:"docs"`
	Next  string           `json:"next"`
	Count *int64           `json:"count,omitempty"`
	Plan  []quire.PlanStep `json:"plan,omitempty"`
	SQL   string           `json:"sql,omitempty"`
	Meta  QueryMeta        `json:"meta"`
}

// UnmarshalJSON decodes a query's answer.
func (r *QueryResult) UnmarshalJSON(data []byte) error {
	var w queryWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*r = QueryResult(w)
	return nil
}

// MarshalJSON encodes r as the server does: {"docs", "next", "count",
// "meta"} for a page (docs never null), {"plan", "sql", "meta"} for a plan.
func (r QueryResult) MarshalJSON() ([]byte, error) {
	if r.Plan != nil {
		return marshalJSON(struct {
			Plan []quire.PlanStep `json:"plan"`
			SQL  string           `json:"sql"`
			Meta QueryMeta        `json:"meta"`
		}{r.Plan, r.SQL, r.Meta})
	}
	w := queryWire{Docs: r.Docs, Next: r.Next, Count: r.Count, Meta: r.Meta}
	if w.Docs == nil {
		w.Docs = []QueryDoc{}
	}
	return marshalJSON(w)
}

// Query runs q against collection q.Collection of tenant: its filter,
// sort, page (Limit, After), projection (Fields), count and joins; with
// Explain, it returns SQLite's plan instead of documents. Pass the result's
// Next as After, with the same Where and Sort, for the next page.
func (c *Client) Query(ctx context.Context, tenant string, q quire.Query) (*QueryResult, error) {
	if err := required("tenant id", tenant, "collection name", q.Collection); err != nil {
		return nil, err
	}
	var out QueryResult
	req := request{method: http.MethodPost, path: tenantPath(tenant, "collections", pathSegment(q.Collection), "query"), tenant: tenant}
	if err := c.doJSON(ctx, req, q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// marshalJSON is json.Marshal without escaping <, > and &, so that
// documents encode as stored.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

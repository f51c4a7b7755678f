package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quiredb/quire"
)

// Condition makes a single-document write conditional. The zero value
// writes unconditionally. A failed condition is a quire.EVersionMismatch
// error.
type Condition struct {
	// IfVersion, if not 0, lets the write happen only if the document is
	// at this version (If-Match: "N"): optimistic concurrency.
	IfVersion int64
	// IfAbsent lets a Put happen only if the document does not exist
	// (If-None-Match: *).
	IfAbsent bool
	// IfExists lets the write happen only if the document exists
	// (If-Match: *).
	IfExists bool
}

// header returns the request headers expressing cond.
func (cond Condition) header() (http.Header, error) {
	switch {
	case cond.IfVersion < 0:
		return nil, quire.Errorf(quire.EInvalid, "IfVersion must be a positive version, or 0 for none")
	case cond.IfVersion != 0 && cond.IfExists:
		return nil, quire.Errorf(quire.EInvalid, "set IfVersion or IfExists, not both: a version implies the document exists")
	case cond.IfAbsent && (cond.IfExists || cond.IfVersion != 0):
		return nil, quire.Errorf(quire.EInvalid, "IfAbsent contradicts IfExists and IfVersion")
	}
	h := http.Header{}
	if cond.IfVersion != 0 {
		h.Set("If-Match", strconv.Quote(strconv.FormatInt(cond.IfVersion, 10)))
	}
	if cond.IfExists {
		h.Set("If-Match", "*")
	}
	if cond.IfAbsent {
		h.Set("If-None-Match", "*")
	}
	return h, nil
}

// docPath is the escaped path of a document, or of a collection's
// documents when id is omitted.
func docPath(tenant, coll string, id ...string) string {
	segs := []string{"collections", pathSegment(coll), "docs"}
	for _, s := range id {
		segs = append(segs, pathSegment(s))
	}
	return tenantPath(tenant, segs...)
}

// Get returns document id of collection coll of tenant. Its Body is the
// stored JSON, as the server returned it.
func (c *Client) Get(ctx context.Context, tenant, coll, id string) (*quire.Document, error) {
	if err := required("tenant id", tenant, "collection name", coll, "document id", id); err != nil {
		return nil, err
	}
	var d quire.Document
	if err := c.do(ctx, request{method: http.MethodGet, path: docPath(tenant, coll, id), tenant: tenant}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Put creates or replaces document id with body, a JSON object. The
// result's Created tells which happened.
func (c *Client) Put(ctx context.Context, tenant, coll, id string, body json.RawMessage, cond Condition) (quire.WriteResult, error) {
	return c.writeDoc(ctx, http.MethodPut, tenant, coll, id, body, cond)
}

// Patch applies a JSON merge patch (RFC 7396: null removes a key) to the
// existing document id.
func (c *Client) Patch(ctx context.Context, tenant, coll, id string, patch json.RawMessage, cond Condition) (quire.WriteResult, error) {
	return c.writeDoc(ctx, http.MethodPatch, tenant, coll, id, patch, cond)
}

// Delete deletes document id. The result's Version is the version deleted.
func (c *Client) Delete(ctx context.Context, tenant, coll, id string, cond Condition) (quire.WriteResult, error) {
	return c.writeDoc(ctx, http.MethodDelete, tenant, coll, id, nil, cond)
}

// writeDoc sends a write of one document.
func (c *Client) writeDoc(ctx context.Context, method, tenant, coll, id string, body json.RawMessage, cond Condition) (quire.WriteResult, error) {
	var res quire.WriteResult
	if err := required("tenant id", tenant, "collection name", coll, "document id", id); err != nil {
		return res, err
	}
	h, err := cond.header()
	if err != nil {
		return res, err
	}
	if method != http.MethodDelete && body == nil {
		body = json.RawMessage{}
	}
	req := request{method: method, path: docPath(tenant, coll, id), tenant: tenant, body: body, header: h}
	err = c.do(ctx, req, &res)
	return res, err
}

// Create stores body as a new document of coll with an id the server
// chooses (a UUIDv7), returned in the result.
func (c *Client) Create(ctx context.Context, tenant, coll string, body json.RawMessage) (quire.WriteResult, error) {
	var res quire.WriteResult
	if err := required("tenant id", tenant, "collection name", coll); err != nil {
		return res, err
	}
	if body == nil {
		body = json.RawMessage{}
	}
	err := c.do(ctx, request{method: http.MethodPost, path: docPath(tenant, coll), tenant: tenant, body: body}, &res)
	return res, err
}

// List returns a page of q.Collection's documents in id order, and the
// cursor of the next page (q.After), "" after the last page. q.Field and
// q.Value select documents whose indexed field equals the value.
func (c *Client) List(ctx context.Context, tenant string, q quire.ListQuery) (docs []*quire.Document, next string, err error) {
	if err := required("tenant id", tenant, "collection name", q.Collection); err != nil {
		return nil, "", err
	}
	query := url.Values{}
	if q.Limit != 0 {
		query.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.After != "" {
		query.Set("after", q.After)
	}
	if q.Field != "" {
		if q.Field == "limit" || q.Field == "after" {
			return nil, "", quire.Errorf(quire.EInvalid, "the list API cannot filter on a field named %q: the name is taken by a query parameter", q.Field)
		}
		query.Set(q.Field, q.Value)
	}
	var out struct {
		Docs []*quire.Document `json:"docs"`
		Next string            `json:"next"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: docPath(tenant, q.Collection), query: query, tenant: tenant}, &out); err != nil {
		return nil, "", err
	}
	return out.Docs, out.Next, nil
}

// Batch applies ops to tenant's documents in one transaction: all of them
// or, on an error, none. It returns one result per op, in order, and the
// bookmark of the transaction. A create without an ID gets a UUIDv7.
// Conditions are per op: IfVersion, IfAbsent and IfExists. A failing op
// is named in the error's Details["op_index"].
func (c *Client) Batch(ctx context.Context, tenant string, ops []quire.WriteOp) ([]quire.WriteResult, string, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, "", err
	}
	in := struct {
		Ops []quire.WriteOp `json:"ops"`
	}{ops}
	var out struct {
		Results  []quire.WriteResult `json:"results"`
		Bookmark string              `json:"bookmark"`
	}
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: tenantPath(tenant, "batch"), tenant: tenant}, in, &out); err != nil {
		return nil, "", err
	}
	return out.Results, out.Bookmark, nil
}

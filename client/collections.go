package client

import (
	"context"
	"net/http"

	"github.com/quiredb/quire"
)

// indexBody is an index definition as sent: whether its column is STORED
// is the server's decision, not the client's.
type indexBody struct {
	Field  string          `json:"field"`
	Path   string          `json:"path"`
	Type   quire.IndexType `json:"type,omitempty"`
	Unique bool            `json:"unique,omitempty"`
}

func toIndexBody(ix quire.IndexSpec) indexBody {
	return indexBody{Field: ix.Field, Path: ix.Path, Type: ix.Type, Unique: ix.Unique}
}

// PutCollection creates collection coll.Name of tenant with coll.Indexes
// and coll.History, or, if it exists, makes its definition exactly that:
// indexes not listed are dropped, and history follows coll.History. It
// returns the collection as the server has it.
func (c *Client) PutCollection(ctx context.Context, tenant string, coll quire.Collection) (*quire.Collection, error) {
	if err := required("tenant id", tenant, "collection name", coll.Name); err != nil {
		return nil, err
	}
	in := struct {
		Indexes []indexBody `json:"indexes"`
		History bool        `json:"history"`
	}{Indexes: make([]indexBody, 0, len(coll.Indexes)), History: coll.History}
	for _, ix := range coll.Indexes {
		in.Indexes = append(in.Indexes, toIndexBody(ix))
	}
	var out quire.Collection
	req := request{method: http.MethodPut, path: tenantPath(tenant, "collections", pathSegment(coll.Name)), tenant: tenant}
	if err := c.doJSON(ctx, req, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Collection returns one collection of tenant.
func (c *Client) Collection(ctx context.Context, tenant, name string) (*quire.Collection, error) {
	if err := required("tenant id", tenant, "collection name", name); err != nil {
		return nil, err
	}
	var out quire.Collection
	req := request{method: http.MethodGet, path: tenantPath(tenant, "collections", pathSegment(name)), tenant: tenant}
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Collections returns every collection of tenant.
func (c *Client) Collections(ctx context.Context, tenant string) ([]*quire.Collection, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, err
	}
	var out struct {
		Collections []*quire.Collection `json:"collections"`
	}
	req := request{method: http.MethodGet, path: tenantPath(tenant, "collections"), tenant: tenant}
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return out.Collections, nil
}

// DeleteCollection drops a collection of tenant and all its documents.
func (c *Client) DeleteCollection(ctx context.Context, tenant, name string) error {
	if err := required("tenant id", tenant, "collection name", name); err != nil {
		return err
	}
	req := request{method: http.MethodDelete, path: tenantPath(tenant, "collections", pathSegment(name)), tenant: tenant}
	return c.do(ctx, req, nil)
}

// AddIndex adds an indexed field to collection coll of tenant and returns
// the collection. The server checks every existing document against it.
func (c *Client) AddIndex(ctx context.Context, tenant, coll string, ix quire.IndexSpec) (*quire.Collection, error) {
	if err := required("tenant id", tenant, "collection name", coll); err != nil {
		return nil, err
	}
	var out quire.Collection
	req := request{method: http.MethodPost, path: tenantPath(tenant, "collections", pathSegment(coll), "indexes"), tenant: tenant}
	if err := c.doJSON(ctx, req, toIndexBody(ix), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DropIndex removes the indexed field of collection coll of tenant and
// returns the collection.
func (c *Client) DropIndex(ctx context.Context, tenant, coll, field string) (*quire.Collection, error) {
	if err := required("tenant id", tenant, "collection name", coll, "index field", field); err != nil {
		return nil, err
	}
	var out quire.Collection
	req := request{method: http.MethodDelete, path: tenantPath(tenant, "collections", pathSegment(coll), "indexes", pathSegment(field)), tenant: tenant}
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

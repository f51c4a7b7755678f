package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quiredb/quire"
)

// HistoryVersion is one prior version of a document, as GET .../history
// answers it: the body it had, who wrote it and when it ended.
type HistoryVersion struct {
	Version   int64           `json:"version"`
	Body      json.RawMessage `json:"body"` // null once purged
	CreatedAt int64           `json:"created_at"`
	UpdatedAt int64           `json:"updated_at"`
	KeyID     string          `json:"key_id"`
	At        int64           `json:"at"`       // ms since the epoch: when the version was replaced or deleted
	Bookmark  string          `json:"bookmark"` // the commit that replaced or deleted it
	Op        string          `json:"op"`       // what ended it: "put", "delete" or "purge"
}

// HistoryPage is a page of a document's prior versions, newest first;
// Next, if set, is the After of the following page.
type HistoryPage struct {
	Versions []HistoryVersion `json:"versions"`
	Next     string           `json:"next"`
}

// History lists document id's prior versions, newest first, in a
// collection that keeps history (docs/api.md, "History and erasure").
// limit 0 takes the server's default; after is a previous page's Next.
func (c *Client) History(ctx context.Context, tenant, coll, id string, limit int, after string) (*HistoryPage, error) {
	if err := required("tenant id", tenant, "collection name", coll, "document id", id); err != nil {
		return nil, err
	}
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if after != "" {
		q.Set("after", after)
	}
	var page HistoryPage
	if err := c.do(ctx, request{method: http.MethodGet, path: docPath(tenant, coll, id) + "/history", query: q, tenant: tenant}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// GetVersion reads version n of document id: the current one, or a prior
// one kept in history.
func (c *Client) GetVersion(ctx context.Context, tenant, coll, id string, n int64) (*quire.Document, error) {
	if err := required("tenant id", tenant, "collection name", coll, "document id", id); err != nil {
		return nil, err
	}
	q := url.Values{"version": {strconv.FormatInt(n, 10)}}
	var d quire.Document
	if err := c.do(ctx, request{method: http.MethodGet, path: docPath(tenant, coll, id), query: q, tenant: tenant}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Purge erases document id and every kept version of it (GDPR erasure;
// a tenant admin key or the admin token). The purge itself is recorded,
// without content.
func (c *Client) Purge(ctx context.Context, tenant, coll, id string) error {
	if err := required("tenant id", tenant, "collection name", coll, "document id", id); err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodPost, path: docPath(tenant, coll, id) + "/purge", tenant: tenant}, nil)
}

// Usage reports the tenant's storage, documents per collection and
// quotas.
func (c *Client) Usage(ctx context.Context, tenant string) (*quire.Usage, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, err
	}
	var u quire.Usage
	if err := c.do(ctx, request{method: http.MethodGet, path: tenantPath(tenant, "usage"), tenant: tenant}, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

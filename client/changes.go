package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quiredb/quire"
)

// Changes returns a page of tenant's change feed after q.Since (see
// docs/changes.md): document changes in commit order. Poll with the
// page's Next as the following q.Since to see every change exactly once;
// an empty page means the feed is caught up for now. A Since older than
// the tenant's retention fails with quire.EChangesExpired, whose
// Details["oldest"] is where the retained history starts.
func (c *Client) Changes(ctx context.Context, tenant string, q quire.ChangesQuery) (*quire.ChangesPage, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, err
	}
	query := url.Values{}
	if q.Since != "" {
		query.Set("since", q.Since)
	}
	if q.Limit != 0 {
		query.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Collection != "" {
		query.Set("collection", q.Collection)
	}
	if q.Body {
		query.Set("body", "true")
	}
	var page quire.ChangesPage
	if err := c.do(ctx, request{method: http.MethodGet, path: tenantPath(tenant, "changes"), query: query, tenant: tenant}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

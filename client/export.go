package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quiredb/quire"
)

// Export writes tenant's export to w as NDJSON (see quire.ExportLine): the
// collection definitions, then every document with its version and
// timestamps, all from one snapshot. With collection not "", only that
// collection is exported. An export the server could not finish ends in an
// error, never in a silently short file.
func (c *Client) Export(ctx context.Context, tenant, collection string, w io.Writer) (int64, error) {
	if err := required("tenant id", tenant); err != nil {
		return 0, err
	}
	q := url.Values{}
	if collection != "" {
		q.Set("collection", collection)
	}
	resp, err := c.stream(ctx, http.MethodGet, tenantPath(tenant, "export"), q, tenant, nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("quire: receiving the export of %q: %w", tenant, err)
	}
	return n, nil
}

// Import sends one batch of NDJSON export lines to tenant, the first of
// them line firstLine of the file being imported, and returns what was
// imported, skipped (already present at the same or a newer version) and
// rejected (by line number).
func (c *Client) Import(ctx context.Context, tenant string, firstLine int, ndjson []byte) (*quire.ImportResult, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, err
	}
	var res quire.ImportResult
	err := c.do(ctx, request{method: http.MethodPost, path: tenantPath(tenant, "import"), tenant: tenant,
		query: url.Values{"first_line": {strconv.Itoa(firstLine)}}, body: ndjson}, &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/quiredb/quire"
)

// stream sends a request whose body, or answer, is too large to hold in
// memory (backups, exports). On a 2xx answer it returns the response, whose
// body the caller must close; any other answer becomes a *quire.Error.
func (c *Client) stream(ctx context.Context, method, path string, query url.Values, tenant string, body io.Reader, contentType string) (*http.Response, error) {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	hr, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	if c.userAgent != "" {
		hr.Header.Set("User-Agent", c.userAgent)
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.sendBookmarks && tenant != "" {
		if b := c.bookmarks.forTenant(tenant); b != "" {
			hr.Header.Set(BookmarkHeader, b)
		}
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, err
	}
	if tenant != "" {
		c.bookmarks.record(tenant, resp.Header.Get(BookmarkHeader))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp, nil
}

// Backup writes a backup file (.qbak) of tenant to w: a consistent copy
// taken while writes continue (admin token only). It returns the number of
// bytes written.
func (c *Client) Backup(ctx context.Context, tenant string, w io.Writer) (int64, error) {
	if err := required("tenant id", tenant); err != nil {
		return 0, err
	}
	resp, err := c.stream(ctx, http.MethodPost, tenantPath(tenant, "backup"), nil, "", nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("quire: receiving the backup of %q: %w", tenant, err)
	}
	return n, nil
}

// Restore restores the backup file read from r as tenant (created if it
// does not exist), in a new epoch: bookmarks of the tenant issued before
// are refused afterwards (admin token only).
func (c *Client) Restore(ctx context.Context, tenant string, r io.Reader) (*quire.RestoreResult, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, err
	}
	resp, err := c.stream(ctx, http.MethodPost, tenantPath(tenant, "restore"), nil, "", r, "application/vnd.quire.backup")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// The tenant has a new history: its old bookmarks are of no use.
	c.bookmarks.forget(tenant)
	var res quire.RestoreResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, fmt.Errorf("quire: decoding the answer to the restore of %q: %w", tenant, err)
	}
	c.bookmarks.record(tenant, res.Bookmark)
	return &res, nil
}

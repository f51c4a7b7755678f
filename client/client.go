// Package client is a Go client for Quire's HTTP API.
//
// A Client is safe for concurrent use and keeps connections alive between
// requests. Errors from the server come back as *quire.Error, so
// quire.ErrorCode(err) works as on the server:
//
//	c := client.New("http://127.0.0.1:8080", key)
//	doc, err := c.Get(ctx, "acme", "clients", "c1")
//	if quire.ErrorCode(err) == quire.ENotFound { ... }
//
// Every response of a tenant route carries a bookmark, a position in the
// tenant's history. Clients record them; a session (Client.Session) also
// sends the latest one it has seen with each request, so the server serves
// it from a state that includes everything the session wrote or read.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/quiredb/quire"
)

// BookmarkHeader is the header that carries bookmarks both ways.
const BookmarkHeader = "Quire-Bookmark"

// d1BookmarkHeader is the server's alias of BookmarkHeader, read from
// responses that lack the main one.
const d1BookmarkHeader = "X-D1-Bookmark"

// maxErrorBody is how much of an error response is read.
const maxErrorBody = 1 << 20

// Client talks to one Quire server with one token (the admin token or a
// tenant key's secret).
type Client struct {
	baseURL   string // without a trailing slash
	token     string
	http      *http.Client
	userAgent string

	// bookmarks records the bookmarks of this client's responses. A
	// session has its own and sends them (sendBookmarks).
	bookmarks     *bookmarkLog
	sendBookmarks bool
}

// Option configures a Client made by New.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc instead of its
// own keep-alive client. The client's own refuses to follow redirects, so
// that a write is never silently turned into another request; hc is used
// as it is.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.http = hc }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the server at baseURL (for example
// "http://127.0.0.1:8080") that authenticates with token.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		baseURL:   strings.TrimRight(baseURL, "/"),
		token:     token,
		userAgent: "quire-go-client",
		bookmarks: newBookmarkLog(),
	}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	return c
}

// defaultHTTPClient returns a client that keeps enough idle connections to
// one server for concurrent callers to reuse them, and returns redirects
// as responses instead of following them.
func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Session returns a view of c that shares its connections and token and
// sends, with every request to a tenant, the latest bookmark it has seen
// from that tenant: like D1's withSession, every read of a session sees
// the session's earlier writes and reads, whichever server answers. The
// session starts with no bookmarks.
func (c *Client) Session() *Client {
	s := *c
	s.bookmarks = newBookmarkLog()
	s.sendBookmarks = true
	return &s
}

// ResumeSession returns a Session that starts at bookmark for tenant, for
// example one an earlier session saved with Bookmark.
func (c *Client) ResumeSession(tenant, bookmark string) *Client {
	s := c.Session()
	s.bookmarks.record(tenant, bookmark)
	return s
}

// LastBookmark returns the bookmark of the most recent response that
// carried one, whichever tenant it came from, or "" if none did yet.
func (c *Client) LastBookmark() string { return c.bookmarks.lastSeen() }

// Bookmark returns the latest position of tenant this client has seen: the
// bookmark a session sends with its next request to tenant ("" if none).
func (c *Client) Bookmark(tenant string) string { return c.bookmarks.forTenant(tenant) }

// request is one API call.
type request struct {
	method string
	path   string // escaped, from "/v1/..."
	query  url.Values
	tenant string // the tenant the route belongs to, "" for /v1/tenants
	body   []byte // JSON, nil for none
	header http.Header
}

// do sends req and decodes a 2xx answer's JSON into out (if not nil). Any
// other answer becomes a *quire.Error.
func (c *Client) do(ctx context.Context, req request, out any) error {
	u := c.baseURL + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return err
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	hr.Header.Set("Accept", "application/json")
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		hr.Header.Set("User-Agent", c.userAgent)
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.sendBookmarks && req.tenant != "" {
		if b := c.bookmarks.forTenant(req.tenant); b != "" {
			hr.Header.Set(BookmarkHeader, b)
		}
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return err
	}
	defer func() {
		// Drain what is left so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
	}()
	if req.tenant != "" {
		token := resp.Header.Get(BookmarkHeader)
		if token == "" {
			token = resp.Header.Get(d1BookmarkHeader)
		}
		c.bookmarks.record(req.tenant, token)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(resp)
	}
	if out == nil {
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("quire: reading the answer to %s %s: %w", req.method, req.path, err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("quire: decoding the answer to %s %s: %w", req.method, req.path, err)
	}
	return nil
}

// doJSON is do with in encoded as the request body.
func (c *Client) doJSON(ctx context.Context, req request, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("quire: encoding the request body: %w", err)
	}
	req.body = b
	return c.do(ctx, req, out)
}

// responseError turns a non-2xx response into a *quire.Error: the
// server's own error if the body has the API's error shape, else one
// built from the status.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var eb struct {
		Error *quire.Error `json:"error"`
	}
	if json.Unmarshal(data, &eb) == nil && eb.Error != nil && eb.Error.Code != "" {
		return eb.Error
	}
	msg := strings.TrimSpace(string(data))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return &quire.Error{
		Code:    codeForStatus(resp.StatusCode),
		Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, msg),
		Details: map[string]any{"status": resp.StatusCode},
	}
}

// codeForStatus returns the error code of an HTTP status that came without
// the API's error body (from a proxy, say): the code quire.StatusOf maps to
// that status, or the closest one.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return quire.EInvalid
	case http.StatusUnauthorized:
		return quire.EUnauthorized
	case http.StatusForbidden:
		return quire.EForbidden
	case http.StatusNotFound:
		return quire.ENotFound
	case http.StatusMethodNotAllowed:
		return quire.EMethodNotAllowed
	case http.StatusConflict:
		return quire.EConflict
	case http.StatusPreconditionFailed:
		return quire.EVersionMismatch
	case http.StatusRequestEntityTooLarge:
		return quire.ETooLarge
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return quire.EUnavailable
	}
	if status >= 400 && status < 500 {
		return quire.EInvalid
	}
	return quire.EInternal
}

// pathSegment escapes one name or id for a URL path. "." and ".." are
// escaped too, or servers and proxies would resolve them as directories.
func pathSegment(s string) string {
	switch e := url.PathEscape(s); e {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	default:
		return e
	}
}

// required returns an EInvalid error for the first empty value of pairs
// (what, value, what, value...): an empty name would change the route.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return quire.Errorf(quire.EInvalid, "%s is empty", pairs[i])
		}
	}
	return nil
}

// tenantPath is the escaped path of a tenant's route: /v1/tenants/{t}
// followed by the escaped segments.
func tenantPath(tenant string, segments ...string) string {
	var b strings.Builder
	b.WriteString("/v1/tenants/")
	b.WriteString(pathSegment(tenant))
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(s)
	}
	return b.String()
}

// bookmarkLog records bookmarks per tenant.
type bookmarkLog struct {
	mu       sync.Mutex
	last     string
	byTenant map[string]string
}

func newBookmarkLog() *bookmarkLog {
	return &bookmarkLog{byTenant: map[string]string{}}
}

// record notes a bookmark of tenant. Of two tokens of the same tenant
// incarnation (same length and tag), the later position is kept: tokens
// sort in commit order, and answers to concurrent requests may arrive out
// of order. A token of another incarnation replaces the old one.
func (l *bookmarkLog) record(tenant, token string) {
	if token == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = token
	if cur, ok := l.byTenant[tenant]; ok && sameHistory(cur, token) && token < cur {
		return
	}
	l.byTenant[tenant] = token
}

func (l *bookmarkLog) lastSeen() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (l *bookmarkLog) forTenant(tenant string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byTenant[tenant]
}

func (l *bookmarkLog) forget(tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byTenant, tenant)
}

// sameHistory reports whether two bookmark tokens are comparable: same
// length and same tenant tag (the part after the last '-').
func sameHistory(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	i, j := strings.LastIndexByte(a, '-'), strings.LastIndexByte(b, '-')
	return i >= 0 && i == j && a[i:] == b[j:]
}

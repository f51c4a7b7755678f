package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/quiredb/quire"
)

// FenceHeader is the header a write carries its fences in.
const FenceHeader = "Quire-Fence"

// lockPath is the escaped path of a lock, with optional further segments.
func lockPath(tenant, name string, more ...string) string {
	return tenantPath(tenant, append([]string{"locks", pathSegment(name)}, more...)...)
}

// AcquireLock takes a lease on lock name of tenant and returns it with its
// fencing token, higher than every token the lock issued before. r.Owner
// labels the holder for others; r.TTLMillis is the lease's length (0: the
// server's default, 30 s). A lock held by someone else is a
// quire.ELockHeld error whose Details hold "expires_at" and
// "retry_after_ms" (and "owner" if the holder gave one).
func (c *Client) AcquireLock(ctx context.Context, tenant, name string, r quire.LockRequest) (*quire.Lock, error) {
	if err := required("tenant id", tenant, "lock name", name); err != nil {
		return nil, err
	}
	in := struct {
		Owner     string `json:"owner,omitempty"`
		TTLMillis int64  `json:"ttl_ms,omitempty"`
	}{r.Owner, r.TTLMillis}
	var l quire.Lock
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: lockPath(tenant, name), tenant: tenant}, in, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// RenewLock extends the lease of token to ttlMillis from now (0: the
// server's default). Only the current holder of a live lease may: anyone
// else, or a holder whose lease expired, gets quire.EStaleFence.
func (c *Client) RenewLock(ctx context.Context, tenant, name string, token, ttlMillis int64) (*quire.Lock, error) {
	if err := required("tenant id", tenant, "lock name", name); err != nil {
		return nil, err
	}
	in := struct {
		Token     int64 `json:"token"`
		TTLMillis int64 `json:"ttl_ms,omitempty"`
	}{token, ttlMillis}
	var l quire.Lock
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: lockPath(tenant, name, "renew"), tenant: tenant}, in, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// ReleaseLock frees lock name if token is its newest token; released
// reports whether the lease was still live (false: it had expired, or was
// released already). An older token is quire.EStaleFence: someone else
// acquired the lock since, and their lease is left alone.
func (c *Client) ReleaseLock(ctx context.Context, tenant, name string, token int64) (released bool, err error) {
	if err := required("tenant id", tenant, "lock name", name); err != nil {
		return false, err
	}
	var out struct {
		Released bool `json:"released"`
	}
	q := url.Values{"token": {strconv.FormatInt(token, 10)}}
	err = c.do(ctx, request{method: http.MethodDelete, path: lockPath(tenant, name), query: q, tenant: tenant}, &out)
	return out.Released, err
}

// GetLock returns the state of lock name: whether it is held, by whom and
// until when, and its newest token (0 if it was never acquired).
func (c *Client) GetLock(ctx context.Context, tenant, name string) (*quire.Lock, error) {
	if err := required("tenant id", tenant, "lock name", name); err != nil {
		return nil, err
	}
	var l quire.Lock
	if err := c.do(ctx, request{method: http.MethodGet, path: lockPath(tenant, name), tenant: tenant}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Fenced returns a view of c that sends fs as the Quire-Fence header of
// every request: each write it makes is refused with quire.EStaleFence
// unless every fence's token still holds its lock's live lease when the
// write commits. It shares c's connections, token and bookmarks:
//
//	l, err := c.AcquireLock(ctx, "acme", "invoices", quire.LockRequest{Owner: "worker-7"})
//	fc := c.Fenced(quire.Fence{Lock: "invoices", Token: l.Token})
//	_, err = fc.Put(ctx, "acme", "invoices", "inv-1", body, client.Condition{})
func (c *Client) Fenced(fs ...quire.Fence) *Client {
	f := *c
	if len(fs) == 0 {
		return &f
	}
	hc := *c.http
	hc.Transport = &fenceTransport{base: c.http.Transport, value: quire.FenceHeader(fs...)}
	f.http = &hc
	return &f
}

// fenceTransport adds a Quire-Fence header to every request; it wraps the
// client's transport so the rest of the client stays unaware of fences.
type fenceTransport struct {
	base  http.RoundTripper
	value string
}

func (t *fenceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	r2 := r.Clone(r.Context()) // a RoundTripper must not change its request
	if v := r2.Header.Get(FenceHeader); v != "" {
		r2.Header.Set(FenceHeader, v+", "+t.value)
	} else {
		r2.Header.Set(FenceHeader, t.value)
	}
	return base.RoundTrip(r2)
}

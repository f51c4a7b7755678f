package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/quiredb/quire"
)

var (
	_ quire.CounterService = (*Client)(nil)
	_ quire.StateService   = (*Client)(nil)
)

// counterAnswer is a counter as the server shows it.
type counterAnswer struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

// AddCounter adds delta (negative to subtract) to a counter of tenant and
// returns its new value. Counters live in the server's memory: they do not
// survive a restart.
func (c *Client) AddCounter(ctx context.Context, tenant, name string, delta int64) (int64, error) {
	if err := required("tenant id", tenant, "counter name", name); err != nil {
		return 0, err
	}
	var out counterAnswer
	in := struct {
		Delta int64 `json:"delta"`
	}{delta}
	err := c.doJSON(ctx, request{method: http.MethodPost, path: tenantPath(tenant, "counters", pathSegment(name)), tenant: tenant}, in, &out)
	return out.Value, err
}

// Counter returns a counter's value; an absent counter is 0.
func (c *Client) Counter(ctx context.Context, tenant, name string) (int64, error) {
	if err := required("tenant id", tenant, "counter name", name); err != nil {
		return 0, err
	}
	var out counterAnswer
	err := c.do(ctx, request{method: http.MethodGet, path: tenantPath(tenant, "counters", pathSegment(name)), tenant: tenant}, &out)
	return out.Value, err
}

// DeleteCounter removes a counter and reports whether it existed.
func (c *Client) DeleteCounter(ctx context.Context, tenant, name string) (bool, error) {
	if err := required("tenant id", tenant, "counter name", name); err != nil {
		return false, err
	}
	var out struct {
		Deleted bool `json:"deleted"`
	}
	err := c.do(ctx, request{method: http.MethodDelete, path: tenantPath(tenant, "counters", pathSegment(name)), tenant: tenant}, &out)
	return out.Deleted, err
}

// PutState stores value (JSON) under key for ttl, rounded down to whole
// milliseconds; 0 means the server's default (one hour).
func (c *Client) PutState(ctx context.Context, tenant, key string, value []byte, ttl time.Duration) (quire.StateEntry, error) {
	if err := required("tenant id", tenant, "state key", key); err != nil {
		return quire.StateEntry{}, err
	}
	req := request{method: http.MethodPut, path: tenantPath(tenant, "state", pathSegment(key)), tenant: tenant, body: value}
	if ttl != 0 {
		if ttl < time.Millisecond {
			return quire.StateEntry{}, quire.Errorf(quire.EInvalid, "ttl must be at least 1 ms")
		}
		req.query = url.Values{"ttl_ms": {strconv.FormatInt(ttl.Milliseconds(), 10)}}
	}
	if req.body == nil {
		req.body = []byte{} // an empty body, which the server refuses as not JSON
	}
	var out stateAnswer
	if err := c.do(ctx, req, &out); err != nil {
		return quire.StateEntry{}, err
	}
	return quire.StateEntry{Key: out.Key, Value: value, ExpiresAt: out.ExpiresAt}, nil
}

// stateAnswer is a session state value as the server shows it.
type stateAnswer struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// State returns the value of key; quire.ENotFound if absent or expired.
func (c *Client) State(ctx context.Context, tenant, key string) (quire.StateEntry, error) {
	if err := required("tenant id", tenant, "state key", key); err != nil {
		return quire.StateEntry{}, err
	}
	var out stateAnswer
	if err := c.do(ctx, request{method: http.MethodGet, path: tenantPath(tenant, "state", pathSegment(key)), tenant: tenant}, &out); err != nil {
		return quire.StateEntry{}, err
	}
	return quire.StateEntry{Key: out.Key, Value: out.Value, ExpiresAt: out.ExpiresAt}, nil
}

// DeleteState removes key; quire.ENotFound if absent or expired.
func (c *Client) DeleteState(ctx context.Context, tenant, key string) error {
	if err := required("tenant id", tenant, "state key", key); err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: tenantPath(tenant, "state", pathSegment(key)), tenant: tenant}, nil)
}

// SetTenantRateLimit sets tenant's request rate limit; nil removes it
// (admin token only).
func (c *Client) SetTenantRateLimit(ctx context.Context, tenant string, l *quire.RateLimit) (*quire.Tenant, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, err
	}
	in := struct {
		RateLimit *quire.RateLimit `json:"rate_limit"`
	}{l}
	var t quire.Tenant
	if err := c.doJSON(ctx, request{method: http.MethodPatch, path: tenantPath(tenant)}, in, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// SetKeyRateLimit sets the request rate limit of tenant's key id; nil
// removes it (admin token only).
func (c *Client) SetKeyRateLimit(ctx context.Context, tenant, id string, l *quire.RateLimit) (*quire.Key, error) {
	if err := required("tenant id", tenant, "key id", id); err != nil {
		return nil, err
	}
	in := struct {
		RateLimit *quire.RateLimit `json:"rate_limit"`
	}{l}
	var k quire.Key
	if err := c.doJSON(ctx, request{method: http.MethodPatch, path: tenantPath(tenant, "keys", pathSegment(id))}, in, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

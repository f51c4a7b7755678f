package client

import (
	"context"
	"net/http"

	"github.com/quiredb/quire"
)

// CreateTenant creates a tenant (admin token only). An empty Region means
// the server's default region.
func (c *Client) CreateTenant(ctx context.Context, tc quire.TenantCreate) (*quire.Tenant, error) {
	var t quire.Tenant
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: "/v1/tenants"}, tc, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Tenant returns one tenant.
func (c *Client) Tenant(ctx context.Context, id string) (*quire.Tenant, error) {
	if err := required("tenant id", id); err != nil {
		return nil, err
	}
	var t quire.Tenant
	if err := c.do(ctx, request{method: http.MethodGet, path: tenantPath(id), tenant: id}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Tenants returns every tenant, by id (admin token only).
func (c *Client) Tenants(ctx context.Context) ([]*quire.Tenant, error) {
	var out struct {
		Tenants []*quire.Tenant `json:"tenants"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/tenants"}, &out); err != nil {
		return nil, err
	}
	return out.Tenants, nil
}

// DeleteTenant deletes a tenant with its keys, collections and documents
// (admin token only).
func (c *Client) DeleteTenant(ctx context.Context, id string) error {
	if err := required("tenant id", id); err != nil {
		return err
	}
	if err := c.do(ctx, request{method: http.MethodDelete, path: tenantPath(id)}, nil); err != nil {
		return err
	}
	// A tenant re-created under this id has a new history.
	c.bookmarks.forget(id)
	return nil
}

// CreateKey creates an API key of tenant with role and returns it with its
// secret, the token to authenticate with. The server shows the secret only
// this once.
func (c *Client) CreateKey(ctx context.Context, tenant string, role quire.Role, name string) (*quire.Key, string, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, "", err
	}
	in := struct {
		Role quire.Role `json:"role"`
		Name string     `json:"name,omitempty"`
	}{role, name}
	var out struct {
		quire.Key
		Secret string `json:"secret"`
	}
	if err := c.doJSON(ctx, request{method: http.MethodPost, path: tenantPath(tenant, "keys"), tenant: tenant}, in, &out); err != nil {
		return nil, "", err
	}
	return &out.Key, out.Secret, nil
}

// Keys returns the keys of tenant, without their secrets.
func (c *Client) Keys(ctx context.Context, tenant string) ([]*quire.Key, error) {
	if err := required("tenant id", tenant); err != nil {
		return nil, err
	}
	var out struct {
		Keys []*quire.Key `json:"keys"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: tenantPath(tenant, "keys"), tenant: tenant}, &out); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// DeleteKey revokes a key of tenant; it stops working at once.
func (c *Client) DeleteKey(ctx context.Context, tenant, id string) error {
	if err := required("tenant id", tenant, "key id", id); err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: tenantPath(tenant, "keys", pathSegment(id)), tenant: tenant}, nil)
}

package quire

import (
	"context"
	"time"
)

// Tenant is one customer of the service: its own SQLite database, keys and
// region.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Region    string    `json:"region"`
	Domains   []string  `json:"domains,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Quotas    *Quotas   `json:"quotas,omitempty"` // effective limits (see quota.go)
	// RateLimit is the tenant's request rate limit (all its keys
	// together); nil: none. See actor.go.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
}

// TenantCreate is the body of a tenant creation request.
type TenantCreate struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Region  string   `json:"region"`
	Domains []string `json:"domains"`
}

// Role is what a key may do within its tenant. Roles are ordered: each
// includes the ones before it.
type Role string

// The roles, weakest first.
const (
	RoleRead  Role = "read"
	RoleWrite Role = "write"
	RoleAdmin Role = "admin"
)

var roleRank = map[Role]int{RoleRead: 1, RoleWrite: 2, RoleAdmin: 3}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return roleRank[r] > 0 }

// Allows reports whether a key with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return roleRank[r] >= roleRank[need] && roleRank[need] > 0 }

// Key is an API key of one tenant. Its secret is shown once at creation and
// stored only as a hash.
type Key struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Role      Role      `json:"role"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// RateLimit is this key's own request rate limit, on top of its
	// tenant's; nil: none.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
}

// Principal is who makes a request: the operator (admin token) or a key.
type Principal struct {
	Admin bool // the server's admin token: every tenant, every role
	Key   *Key // nil for the admin token
}

// KeyID returns the id recorded in the change log for writes by p.
func (p Principal) KeyID() string {
	if p.Key != nil {
		return p.Key.ID
	}
	return "admin"
}

// TenantService manages the tenant catalog and keys.
type TenantService interface {
	CreateTenant(ctx context.Context, c TenantCreate) (*Tenant, error)
	Tenant(ctx context.Context, id string) (*Tenant, error)
	Tenants(ctx context.Context) ([]*Tenant, error)
	DeleteTenant(ctx context.Context, id string) error
	// TenantForHost returns the tenant that listed host as a domain.
	TenantForHost(host string) (string, bool)

	CreateKey(ctx context.Context, tenant string, role Role, name string) (key *Key, secret string, err error)
	Keys(ctx context.Context, tenant string) ([]*Key, error)
	DeleteKey(ctx context.Context, tenant, id string) error
	// Authenticate returns the key whose secret this is, or EUnauthorized.
	Authenticate(secret string) (*Key, error)
}

package registry

import (
	"context"
	"sync"

	"github.com/quiredb/quire"
)

var (
	_ quire.RateLimitSource      = (*Registry)(nil)
	_ quire.RateLimitSetter      = (*Registry)(nil)
	_ quire.TenantDeleteNotifier = (*Registry)(nil)
)

// rateLimits is the registry's request-path view of tenants' rate limits,
// and the hooks told about deleted tenants. Limits are read on every
// request of every tenant, so they sit in a sync.Map rather than behind
// r.mu; they change only with the catalog, under r.mu.
type rateLimits struct {
	byTenant sync.Map // tenant id → *quire.RateLimit (absent: none)

	hooksMu  sync.Mutex
	onDelete []func(tenant string)
}

// loadRateLimits puts the catalog's rate limits on the loaded tenants and
// keys; r is not yet shared.
func (r *Registry) loadRateLimits(ctx context.Context) error {
	tls, kls, err := r.catalog.RateLimits(ctx)
	if err != nil {
		return err
	}
	for id, l := range tls {
		if t := r.tenants[id]; t != nil {
			t.RateLimit = l
			r.limits.byTenant.Store(id, l)
		}
	}
	for id, l := range kls {
		if k := r.keys[id]; k != nil {
			k.RateLimit = l
		}
	}
	return nil
}

// TenantRateLimit returns tenant's rate limit, nil for none: one sync.Map
// read, no lock shared with other tenants.
func (r *Registry) TenantRateLimit(tenant string) *quire.RateLimit {
	if v, ok := r.limits.byTenant.Load(tenant); ok {
		return v.(*quire.RateLimit)
	}
	return nil
}

// SetTenantRateLimit records tenant's rate limit (nil: none) and applies it
// from the next request.
func (r *Registry) SetTenantRateLimit(ctx context.Context, id string, l *quire.RateLimit) (*quire.Tenant, error) {
	l, err := normalize(l)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.tenants[id]
	if !ok {
		return nil, tenantNotFound(id)
	}
	if err := r.catalog.SetTenantRateLimit(ctx, id, l); err != nil {
		return nil, err
	}
	// Tenants are shared with readers of r.tenants: replace, never mutate.
	t := *cur
	t.RateLimit = l
	r.tenants[id] = &t
	if l == nil {
		r.limits.byTenant.Delete(id)
	} else {
		r.limits.byTenant.Store(id, l)
	}
	return &t, nil
}

// SetKeyRateLimit records the rate limit of tenant's key id (nil: none).
// Requests authenticated from then on carry it.
func (r *Registry) SetKeyRateLimit(ctx context.Context, tenant, id string, l *quire.RateLimit) (*quire.Key, error) {
	l, err := normalize(l)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.keys[id]
	if !ok || cur.Tenant != tenant {
		return nil, quire.Errorf(quire.ENotFound, "key not found")
	}
	if err := r.catalog.SetKeyRateLimit(ctx, id, l); err != nil {
		return nil, err
	}
	// Authenticate copies keys' public part, which points at the limit:
	// replace the key, never mutate the limit.
	k := *cur
	k.RateLimit = l
	r.keys[id] = &k
	pub := k.Key
	return &pub, nil
}

func normalize(l *quire.RateLimit) (*quire.RateLimit, error) {
	if l == nil {
		return nil, nil
	}
	return l.Normalize()
}

// OnTenantDeleted registers f to be called with the id of every tenant
// deleted from then on, once its in-flight requests have finished.
func (r *Registry) OnTenantDeleted(f func(tenant string)) {
	r.limits.hooksMu.Lock()
	r.limits.onDelete = append(r.limits.onDelete, f)
	r.limits.hooksMu.Unlock()
}

// tenantDeleted forgets a deleted tenant's rate limit and tells the hooks.
// It runs after the tenant's in-flight requests are done, so none of them
// can recreate what the hooks drop.
func (r *Registry) tenantDeleted(id string) {
	r.limits.byTenant.Delete(id)
	r.limits.hooksMu.Lock()
	hooks := r.limits.onDelete
	r.limits.hooksMu.Unlock()
	for _, f := range hooks {
		f(id)
	}
}

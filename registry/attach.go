package registry

import "github.com/quiredb/quire/sqlite"

// attach connects a freshly opened store of tenant to the node-wide
// services that follow its commits (read cache, change-feed notifier),
// before the store is shared.
func (r *Registry) attach(st *sqlite.Store, tenant string) {
	st.SetNotify(r.changes.notifier(st, tenant))
	if r.cfg.Cache != nil {
		st.SetCache(r.cfg.Cache.Tenant(tenant))
	}
}

// forget drops what node-wide services hold of a deleted tenant.
func (r *Registry) forget(tenant string) {
	r.changes.drop(tenant)
	if r.cfg.Cache != nil {
		r.cfg.Cache.DropTenant(tenant)
	}
}

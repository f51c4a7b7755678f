package registry

import "github.com/quiredb/quire/sqlite"

// attach connects a freshly opened store of tenant to the node-wide
// services that follow its commits (read cache, change-feed notifier),
// before the store is shared.
func (r *Registry) attach(st *sqlite.Store, tenant string) {
}

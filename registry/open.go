package registry

import (
	"container/list"
	"context"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/sqlite"
)

// openTenant is a tenant database that is open, opening or closing.
type openTenant struct {
	id       string
	ready    chan struct{} // closed when opening has finished (store or err set)
	store    *sqlite.Store
	err      error
	refs     int           // requests using the store
	lastUsed time.Time     // when refs last dropped to zero
	elem     *list.Element // in lru while open and idle-closable
	closing  chan struct{} // non-nil once closing; closed when closed
}

// OpenStore returns tenant's store, opening it if needed. The caller must
// call release when done; until then the store stays open.
func (r *Registry) OpenStore(ctx context.Context, tenant string) (quire.Store, func(), error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, nil, quire.Errorf(quire.EUnavailable, "server is shutting down")
		}
		t, ok := r.tenants[tenant]
		if !ok {
			r.mu.Unlock()
			return nil, nil, tenantNotFound(tenant)
		}
		// A data directory moved to a node that may not hold its region
		// must not be served there.
		if err := r.checkResidency(t); err != nil {
			r.mu.Unlock()
			return nil, nil, err
		}
		ot := r.open[tenant]
		if ot != nil && ot.closing != nil {
			// Never let two stores own one file: wait for the old one to close.
			closing := ot.closing
			r.mu.Unlock()
			<-closing
			continue
		}
		opener := ot == nil
		if opener {
			ot = &openTenant{id: tenant, ready: make(chan struct{})}
			r.open[tenant] = ot
		}
		ot.refs++
		r.mu.Unlock()

		if opener {
			st, err := sqlite.Open(r.tenantDir(tenant), tenant, r.cfg.Store)
			if err == nil {
				r.attach(st, tenant)
			}
			r.mu.Lock()
			ot.store, ot.err = st, err
			if err != nil {
				delete(r.open, tenant)
			} else {
				r.applyQuotas(st, tenant)
				ot.elem = r.lru.PushFront(ot)
			}
			close(ot.ready)
			r.mu.Unlock()
		} else {
			<-ot.ready
		}
		if ot.err != nil {
			return nil, nil, ot.err
		}
		released := false
		return ot.store, func() {
			if !released {
				released = true
				r.release(ot)
			}
		}, nil
	}
}

// release drops a reference and closes the least recently used idle
// tenants while more than MaxOpenTenants are open.
func (r *Registry) release(ot *openTenant) {
	r.mu.Lock()
	ot.refs--
	if ot.refs == 0 {
		ot.lastUsed = time.Now()
		if ot.elem != nil {
			r.lru.MoveToFront(ot.elem)
		}
	}
	var victims []*openTenant
	for e := r.lru.Back(); e != nil && len(r.open)-len(victims) > r.cfg.MaxOpenTenants; {
		prev := e.Prev()
		if v := e.Value.(*openTenant); v.refs == 0 {
			victims = append(victims, r.beginClose(v))
		}
		e = prev
	}
	r.mu.Unlock()
	finishClose(victims, r)
}

// beginClose marks an idle tenant as closing; r.mu must be held.
func (r *Registry) beginClose(ot *openTenant) *openTenant {
	ot.closing = make(chan struct{})
	r.lru.Remove(ot.elem)
	ot.elem = nil
	return ot
}

// finishClose closes the stores of tenants marked closing, outside r.mu.
func finishClose(victims []*openTenant, r *Registry) {
	for _, ot := range victims {
		ot.store.Close()
		r.mu.Lock()
		delete(r.open, ot.id)
		close(ot.closing)
		r.mu.Unlock()
	}
}

// closeTenant waits for a deleted tenant's in-flight requests and closes
// its store. New requests cannot arrive: it is gone from the catalog.
func (r *Registry) closeTenant(id string) {
	for {
		r.mu.Lock()
		ot := r.open[id]
		switch {
		case ot == nil:
			r.mu.Unlock()
			return
		case ot.closing != nil:
			closing := ot.closing
			r.mu.Unlock()
			<-closing
			return
		case ot.refs == 0 && ot.elem != nil:
			v := r.beginClose(ot)
			r.mu.Unlock()
			finishClose([]*openTenant{v}, r)
			return
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// janitor closes tenants that have been idle longer than IdleTimeout.
func (r *Registry) janitor() {
	defer close(r.janitorDone)
	tick := time.NewTicker(max(r.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-r.stopJanitor:
			return
		case now := <-tick.C:
			r.mu.Lock()
			var victims []*openTenant
			for e := r.lru.Back(); e != nil; {
				prev := e.Prev()
				if v := e.Value.(*openTenant); v.refs == 0 && now.Sub(v.lastUsed) > r.cfg.IdleTimeout {
					victims = append(victims, r.beginClose(v))
				}
				e = prev
			}
			r.mu.Unlock()
			finishClose(victims, r)
		}
	}
}

// OpenTenants reports how many tenant databases are open.
func (r *Registry) OpenTenants() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.open)
}

// OpenTenantDirs returns the directory of every open tenant database, by
// tenant id: a set bounded by MaxOpenTenants (and the tenants in use), so
// per-tenant metrics stay bounded however many tenants exist.
func (r *Registry) OpenTenantDirs() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	dirs := make(map[string]string, len(r.open))
	for id := range r.open {
		dirs[id] = r.tenantDir(id)
	}
	return dirs
}

// Ping reports whether the tenant catalog answers a query.
func (r *Registry) Ping(ctx context.Context) error { return r.catalog.Ping(ctx) }

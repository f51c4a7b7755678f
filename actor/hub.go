// Package actor is the per-tenant actor of a node (the seed's Durable
// Object): counters, ephemeral session state and the token buckets of rate
// limits, all in memory. One Hub serves every tenant of the node; a
// tenant's part is created on first use and dropped when the tenant is
// deleted. Nothing here is durable, and nothing depends on the tenant's
// database being open: an idle close of the database keeps it all.
package actor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/quiredb/quire"
)

var _ quire.ActorService = (*Hub)(nil)

// Config sets a Hub's limits; zero fields take quire's defaults.
type Config struct {
	MaxCounters       int           // counters per tenant
	MaxStateBytes     int64         // session state per tenant (keys, values, overhead)
	MaxStateValue     int           // largest session state value, in bytes
	DefaultTTL        time.Duration // TTL of a value put without one
	MaxTTL            time.Duration // longest TTL accepted
	MaxNodeStateBytes int64         // session state of all tenants together
	// SweepEvery is how often expired state and idle full buckets are
	// reclaimed (default 30 s). Expired state is never served meanwhile.
	SweepEvery time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxCounters <= 0 {
		c.MaxCounters = quire.DefaultMaxCounters
	}
	if c.MaxStateBytes <= 0 {
		c.MaxStateBytes = quire.DefaultMaxStateBytes
	}
	if c.MaxStateValue <= 0 {
		c.MaxStateValue = quire.DefaultMaxStateValue
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = quire.MaxStateTTL
	}
	if c.DefaultTTL <= 0 {
		c.DefaultTTL = min(quire.DefaultStateTTL, c.MaxTTL)
	}
	if c.MaxNodeStateBytes <= 0 {
		c.MaxNodeStateBytes = quire.DefaultMaxNodeState
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Hub holds the actors of every tenant of a node. Tenants never share a
// lock: each has its own actor, each bucket its own mutex, and the maps
// that find them are sync.Maps (read-mostly, keys stable).
type Hub struct {
	cfg        Config
	actors     sync.Map     // tenant → *tenantActor
	buckets    sync.Map     // bucketKey → *bucket
	stateBytes atomic.Int64 // session state of all tenants

	mu     sync.Mutex // guards timer and closed
	timer  *time.Timer
	closed bool
}

// New returns a Hub. It sweeps on a timer (no goroutine between sweeps);
// Close stops it.
func New(cfg Config) *Hub {
	h := &Hub{cfg: cfg.withDefaults()}
	h.schedule()
	return h
}

// Close stops the periodic sweep. The hub still answers (state expiry is
// then only lazy).
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.timer != nil {
		h.timer.Stop()
	}
	return nil
}

func (h *Hub) schedule() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.timer = time.AfterFunc(h.cfg.SweepEvery, func() {
			h.Sweep()
			h.schedule()
		})
	}
}

// tenantActor is one tenant's counters and session state. mu guards the
// maps and dead; counter values are atomics, so increments of existing
// counters share the read lock.
type tenantActor struct {
	mu         sync.RWMutex
	dead       bool // removed from the hub: retry with a fresh actor
	counters   map[string]*atomic.Int64
	state      map[string]*stateEntry
	stateBytes int64
	// nextExpiry is no later than the earliest expiry in state (zero:
	// state is empty), so a sweep skips tenants with nothing expired.
	nextExpiry time.Time
}

func (h *Hub) now() time.Time { return h.cfg.Now() }

// load returns tenant's actor if it has one.
func (h *Hub) load(tenant string) (*tenantActor, bool) {
	v, ok := h.actors.Load(tenant)
	if !ok {
		return nil, false
	}
	return v.(*tenantActor), true
}

// locked returns tenant's live actor, created if needed, write-locked.
func (h *Hub) locked(tenant string) *tenantActor {
	for {
		a, ok := h.load(tenant)
		if !ok {
			v, _ := h.actors.LoadOrStore(tenant, &tenantActor{counters: map[string]*atomic.Int64{}, state: map[string]*stateEntry{}})
			a = v.(*tenantActor)
		}
		a.mu.Lock()
		if !a.dead {
			return a
		}
		a.mu.Unlock()
	}
}

// DropTenant forgets tenant's counters, state and buckets. A request
// racing with it starts from nothing.
func (h *Hub) DropTenant(tenant string) {
	if v, ok := h.actors.LoadAndDelete(tenant); ok {
		a := v.(*tenantActor)
		a.mu.Lock()
		a.kill(h)
		a.mu.Unlock()
	}
	h.buckets.Range(func(k, v any) bool {
		if k.(bucketKey).tenant == tenant {
			b := v.(*bucket)
			b.mu.Lock()
			b.dead = true
			h.buckets.CompareAndDelete(k, b)
			b.mu.Unlock()
		}
		return true
	})
}

// kill marks a removed actor dead and returns its memory to the node's
// budget; a.mu must be held.
func (a *tenantActor) kill(h *Hub) {
	a.dead = true
	h.stateBytes.Add(-a.stateBytes)
	a.stateBytes = 0
	a.counters, a.state = nil, nil
}

// Sweep reclaims expired session state, actors left empty, and token
// buckets that are full and so no different from a new one. It runs
// periodically; tests call it directly.
func (h *Hub) Sweep() {
	now := h.now()
	h.actors.Range(func(k, v any) bool {
		a := v.(*tenantActor)
		a.mu.Lock()
		if !a.dead {
			a.reclaim(now, h)
			if len(a.counters) == 0 && len(a.state) == 0 && h.actors.CompareAndDelete(k, a) {
				a.kill(h)
			}
		}
		a.mu.Unlock()
		return true
	})
	h.buckets.Range(func(k, v any) bool {
		b := v.(*bucket)
		b.mu.Lock()
		if !b.dead && b.full(now) && h.buckets.CompareAndDelete(k, b) {
			b.dead = true
		}
		b.mu.Unlock()
		return true
	})
}

// MaxStateValue returns the largest session state value accepted, so that
// the server reads no larger request body.
func (h *Hub) MaxStateValue() int { return h.cfg.MaxStateValue }

package actor

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/quiredb/quire"
)

// AddCounter adds delta to a counter of tenant, creating it at 0 if
// absent, and returns the new value. The tenant may have at most
// MaxCounters counters; an overflow of int64 is refused, not wrapped.
func (h *Hub) AddCounter(ctx context.Context, tenant, name string, delta int64) (int64, error) {
	if err := quire.CheckName("counter", name); err != nil {
		return 0, err
	}
	// Fast path: an existing counter takes only the read lock (held
	// during the add, so a delete cannot lose it), then one CAS.
	if a, ok := h.load(tenant); ok {
		a.mu.RLock()
		if c := a.counters[name]; c != nil {
			v, err := add(c, name, delta)
			a.mu.RUnlock()
			return v, err
		}
		a.mu.RUnlock()
	}
	a := h.locked(tenant)
	defer a.mu.Unlock()
	c := a.counters[name]
	if c == nil {
		if len(a.counters) >= h.cfg.MaxCounters {
			return 0, quire.Errorf(quire.EQuotaExceeded, "tenant has %d counters, the most allowed; delete some first", h.cfg.MaxCounters)
		}
		c = new(atomic.Int64)
		a.counters[name] = c
	}
	return add(c, name, delta)
}

// add adds delta to c unless the sum overflows.
func add(c *atomic.Int64, name string, delta int64) (int64, error) {
	for {
		old := c.Load()
		if delta > 0 && old > math.MaxInt64-delta || delta < 0 && old < math.MinInt64-delta {
			return old, quire.Errorf(quire.EInvalid, "counter %q would overflow a 64-bit integer (value %d, delta %d)", name, old, delta)
		}
		if c.CompareAndSwap(old, old+delta) {
			return old + delta, nil
		}
	}
}

// Counter returns a counter's value; an absent counter is 0.
func (h *Hub) Counter(ctx context.Context, tenant, name string) (int64, error) {
	if err := quire.CheckName("counter", name); err != nil {
		return 0, err
	}
	a, ok := h.load(tenant)
	if !ok {
		return 0, nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if c := a.counters[name]; c != nil {
		return c.Load(), nil
	}
	return 0, nil
}

// DeleteCounter removes a counter and reports whether it existed.
func (h *Hub) DeleteCounter(ctx context.Context, tenant, name string) (bool, error) {
	if err := quire.CheckName("counter", name); err != nil {
		return false, err
	}
	a, ok := h.load(tenant)
	if !ok {
		return false, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, existed := a.counters[name]
	delete(a.counters, name)
	return existed, nil
}

package actor

import (
	"context"
	"encoding/json"
	"time"

	"github.com/quiredb/quire"
)

// stateEntryOverhead is what one entry costs beyond its key and value
// bytes (map slot, entry, headers), counted against the memory budget so
// that many tiny entries cannot exceed it.
const stateEntryOverhead = 128

// stateEntry is a stored value; value is never modified once stored, so
// readers may keep it after unlocking.
type stateEntry struct {
	value   []byte
	expires time.Time
	size    int64
}

// PutState stores value under key for ttl (0: the default). A put over
// the tenant's memory budget, after reclaiming its expired entries, is
// refused with EQuotaExceeded: evicting would silently drop another
// session's state, which its client relies on until the TTL it was given.
func (h *Hub) PutState(ctx context.Context, tenant, key string, value []byte, ttl time.Duration) (quire.StateEntry, error) {
	if err := quire.CheckStateKey(key); err != nil {
		return quire.StateEntry{}, err
	}
	if len(value) > h.cfg.MaxStateValue {
		return quire.StateEntry{}, quire.Errorf(quire.ETooLarge, "state value is larger than %d bytes", h.cfg.MaxStateValue)
	}
	if !json.Valid(value) {
		return quire.StateEntry{}, quire.Errorf(quire.EInvalid, "state value is not valid JSON")
	}
	if ttl == 0 {
		ttl = h.cfg.DefaultTTL
	}
	if ttl < time.Millisecond || ttl > h.cfg.MaxTTL {
		return quire.StateEntry{}, quire.Errorf(quire.EInvalid, "ttl must be between 1 ms and %d ms", h.cfg.MaxTTL.Milliseconds())
	}
	e := &stateEntry{value: append([]byte(nil), value...), size: int64(len(key)+len(value)) + stateEntryOverhead}
	a := h.locked(tenant)
	defer a.mu.Unlock()
	now := h.now()
	e.expires = now.Add(ttl)
	grow := e.size
	if old := a.state[key]; old != nil {
		grow -= old.size
	}
	if a.stateBytes+grow > h.cfg.MaxStateBytes {
		a.reclaim(now, h)
		grow = e.size
		if old := a.state[key]; old != nil {
			grow -= old.size
		}
		if a.stateBytes+grow > h.cfg.MaxStateBytes {
			return quire.StateEntry{}, quire.Errorf(quire.EQuotaExceeded, "session state of this tenant would exceed its %d bytes; delete keys or wait for them to expire", h.cfg.MaxStateBytes)
		}
	}
	if grow > 0 {
		if h.stateBytes.Add(grow) > h.cfg.MaxNodeStateBytes {
			h.stateBytes.Add(-grow)
			return quire.StateEntry{}, quire.Errorf(quire.EUnavailable, "this node's session state memory is full; retry later")
		}
	} else {
		h.stateBytes.Add(grow)
	}
	a.state[key] = e
	a.stateBytes += grow
	if a.nextExpiry.IsZero() || e.expires.Before(a.nextExpiry) {
		a.nextExpiry = e.expires
	}
	return quire.StateEntry{Key: key, Value: e.value, ExpiresAt: e.expires}, nil
}

// State returns the live value of key. An expired one reads as absent at
// once and is reclaimed here or by the next sweep.
func (h *Hub) State(ctx context.Context, tenant, key string) (quire.StateEntry, error) {
	if err := quire.CheckStateKey(key); err != nil {
		return quire.StateEntry{}, err
	}
	a, ok := h.load(tenant)
	if !ok {
		return quire.StateEntry{}, stateNotFound(key)
	}
	now := h.now()
	a.mu.RLock()
	e := a.state[key]
	a.mu.RUnlock()
	if e == nil {
		return quire.StateEntry{}, stateNotFound(key)
	}
	if !now.Before(e.expires) {
		a.mu.Lock()
		if a.state[key] == e {
			a.remove(key, e, h)
		}
		a.mu.Unlock()
		return quire.StateEntry{}, stateNotFound(key)
	}
	return quire.StateEntry{Key: key, Value: e.value, ExpiresAt: e.expires}, nil
}

// DeleteState removes key; ENotFound if it is absent or expired.
func (h *Hub) DeleteState(ctx context.Context, tenant, key string) error {
	if err := quire.CheckStateKey(key); err != nil {
		return err
	}
	a, ok := h.load(tenant)
	if !ok {
		return stateNotFound(key)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.state[key]
	if e == nil {
		return stateNotFound(key)
	}
	a.remove(key, e, h)
	if !h.now().Before(e.expires) {
		return stateNotFound(key)
	}
	return nil
}

func stateNotFound(key string) error {
	return quire.Errorf(quire.ENotFound, "state key %q not found (absent or expired)", quire.ClipName(key))
}

// remove deletes an entry and returns its bytes; a.mu must be held.
func (a *tenantActor) remove(key string, e *stateEntry, h *Hub) {
	delete(a.state, key)
	a.stateBytes -= e.size
	h.stateBytes.Add(-e.size)
}

// reclaim removes expired entries if any may have expired; a.mu must be
// held.
func (a *tenantActor) reclaim(now time.Time, h *Hub) {
	if a.nextExpiry.IsZero() || now.Before(a.nextExpiry) {
		return
	}
	var next time.Time
	for k, e := range a.state {
		if !now.Before(e.expires) {
			a.remove(k, e, h)
		} else if next.IsZero() || e.expires.Before(next) {
			next = e.expires
		}
	}
	a.nextExpiry = next
}

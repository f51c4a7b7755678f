// Package cache is Quire's bookmark-safe read cache (the seed's KV
// namespace): one bounded store of entries shared by every tenant on the
// node, and per-tenant namespaces (see namespace.go) that decide, in one
// place, when an entry may be served.
package cache

import "github.com/maypok86/otter/v2"

// Entry is a cached value and the commit position it was read or written
// at. Entries are never changed once stored.
type Entry struct {
	Value any
	Size  int    // bytes the value holds, for the memory budget
	At    uint64 // the tenant's sequence number the value reflects
	// Deps are the collections a result depends on; nil with AllDeps for
	// a result that may read any collection. Unused for documents.
	Deps    []string
	AllDeps bool
}

// Backend stores entries under keys that namespaces make unique per tenant.
// It is the seam for a shared cache serving several servers later; it may
// drop any entry at any time (memory pressure), and must never return an
// entry other than the one last stored under a key.
type Backend interface {
	Get(key string) (*Entry, bool)
	Set(key string, e *Entry)
	Delete(key string)
	// DeletePrefix removes every entry whose key starts with prefix (a
	// deleted tenant's entries). It may be slow: it is for rare events.
	DeletePrefix(prefix string)
	// Usage reports the entries held and their weight in bytes.
	Usage() (entries int, bytes uint64)
}

// entryOverhead approximates the bytes an entry costs beyond its value and
// key: the Entry, the document struct, the cache's node.
const entryOverhead = 160

// Local is the in-process Backend: a W-TinyLFU cache (otter) bounded by a
// memory budget across all tenants.
type Local struct {
	c        *otter.Cache[string, *Entry]
	maxBytes uint64
}

// NewLocal returns a Local holding at most maxBytes of entries.
func NewLocal(maxBytes uint64) *Local {
	c := otter.Must(&otter.Options[string, *Entry]{
		MaximumWeight: maxBytes,
		Weigher: func(k string, e *Entry) uint32 {
			return uint32(min(uint64(len(k)+e.Size+entryOverhead), 1<<31))
		},
	})
	return &Local{c: c, maxBytes: maxBytes}
}

// Get returns the entry stored under key.
func (l *Local) Get(key string) (*Entry, bool) { return l.c.GetIfPresent(key) }

// Set stores e under key, replacing any entry. An entry larger than an
// eighth of the budget is not stored: one huge result must not evict
// everything else.
func (l *Local) Set(key string, e *Entry) {
	if uint64(len(key)+e.Size+entryOverhead) > l.maxBytes/8 {
		l.c.Invalidate(key)
		return
	}
	l.c.Set(key, e)
}

// Delete removes key's entry.
func (l *Local) Delete(key string) { l.c.Invalidate(key) }

// DeletePrefix removes every entry whose key starts with prefix.
func (l *Local) DeletePrefix(prefix string) {
	for k := range l.c.Keys() {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			l.c.Invalidate(k)
		}
	}
}

// Usage reports the entries held and their weight.
func (l *Local) Usage() (int, uint64) { return l.c.EstimatedSize(), l.c.WeightedSize() }

// MaxBytes is the budget.
func (l *Local) MaxBytes() uint64 { return l.maxBytes }

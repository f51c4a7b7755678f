// Package cache is Quire's bookmark-safe read cache (the seed's KV
// namespace): one bounded store of entries shared by every tenant on the
// node, and per-tenant namespaces (see namespace.go) that decide, in one
// place, when an entry may be served.
package cache

import (
	"github.com/maypok86/otter/v2"

	"github.com/quiredb/quire"
)

// Entry is a cached value and the commit position it was read or written
// at. Entries are never changed once stored.
type Entry struct {
	Value any
	Size  int    // bytes the value holds, for the memory budget
	At    uint64 // the tenant's sequence number the value reflects
	// Deps are the collections a result depends on; nil with AllDeps for
	// a result that may read any collection.
	Deps    []string
	AllDeps bool
}

// Backend stores entries under keys that namespaces make unique per tenant.
// It is the seam for a shared cache serving several servers later; it may
// drop any entry at any time (memory pressure), and must never return an
// entry other than the one last stored under a key.
//
// Documents have methods of their own: they are most of what is cached,
// and a backend can hold them as bytes rather than as objects.
type Backend interface {
	Get(key string) (*Entry, bool)
	Set(key string, e *Entry)
	Delete(key string)
	// GetDoc returns a copy of the document stored under key, without its
	// ID (the caller knows it), and the sequence it was stored at.
	GetDoc(key string) (d *quire.Document, at uint64, ok bool)
	SetDoc(key string, d *quire.Document, at uint64)
	DeleteDoc(key string)
	// DeletePrefix removes every entry and document whose key starts with
	// prefix (a deleted tenant's). It may be slow: it is for rare events.
	DeletePrefix(prefix string)
	// Usage reports the entries held and their weight in bytes.
	Usage() (entries int, bytes uint64)
}

// entryOverhead approximates the bytes an entry costs beyond its value and
// key: the Entry, the cache's node.
const entryOverhead = 160

// Local is the in-process Backend, bounded by a memory budget across all
// tenants: half for documents, held in a ring of bytes the garbage
// collector need not trace (docring.go), and half for query
// and SQL results in a W-TinyLFU cache (otter).
type Local struct {
	c        *otter.Cache[string, *Entry]
	resBytes uint64
	docs     *docRing
	maxBytes uint64
}

// NewLocal returns a Local holding at most maxBytes of entries.
func NewLocal(maxBytes uint64) *Local {
	resBytes := maxBytes / 2
	c := otter.Must(&otter.Options[string, *Entry]{
		MaximumWeight: resBytes,
		Weigher: func(k string, e *Entry) uint32 {
			return uint32(min(uint64(len(k)+e.Size+entryOverhead), 1<<31))
		},
	})
	return &Local{c: c, resBytes: resBytes, docs: newDocRing(maxBytes - resBytes), maxBytes: maxBytes}
}

// Get returns the entry stored under key.
func (l *Local) Get(key string) (*Entry, bool) { return l.c.GetIfPresent(key) }

// Set stores e under key, replacing any entry. An entry larger than an
// eighth of the results' budget is not stored: one huge result must not
// evict everything else.
func (l *Local) Set(key string, e *Entry) {
	if uint64(len(key)+e.Size+entryOverhead) > l.resBytes/8 {
		l.c.Invalidate(key)
		return
	}
	l.c.Set(key, e)
}

// Delete removes key's entry.
func (l *Local) Delete(key string) { l.c.Invalidate(key) }

// GetDoc returns a copy of the document stored under key.
func (l *Local) GetDoc(key string) (*quire.Document, uint64, bool) { return l.docs.get(key) }

// SetDoc stores d under key. A document larger than the ring's chunks (a
// megabyte; less for budgets under 256 MiB) is not stored.
func (l *Local) SetDoc(key string, d *quire.Document, at uint64) { l.docs.set(key, d, at) }

// DeleteDoc removes key's document.
func (l *Local) DeleteDoc(key string) { l.docs.delete(key) }

// DeletePrefix removes every entry and document whose key starts with
// prefix.
func (l *Local) DeletePrefix(prefix string) {
	for k := range l.c.Keys() {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			l.c.Invalidate(k)
		}
	}
	l.docs.deletePrefix(prefix)
}

// Usage reports the entries and documents held and their weight: the
// results' weight, and the document ring's chunks allocated so far.
func (l *Local) Usage() (int, uint64) {
	docs, docBytes := l.docs.usage()
	return l.c.EstimatedSize() + docs, l.c.WeightedSize() + docBytes
}

// MaxBytes is the budget.
func (l *Local) MaxBytes() uint64 { return l.maxBytes }

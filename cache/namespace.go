package cache

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/quiredb/quire"
)

var (
	_ quire.TenantCache = (*Namespace)(nil)
	_ quire.ReadCache   = (*Cache)(nil)
)

// Cache is the node's read cache: one Backend shared by the namespaces of
// every open tenant.
type Cache struct {
	b     Backend
	gen   atomic.Uint64
	stats counters
}

// New returns a cache over b.
func New(b Backend) *Cache { return &Cache{b: b} }

// Tenant returns a new namespace for an opened store of tenant. Every open
// gets its own namespace (a fresh generation in its keys), so nothing
// cached before a close, a restore or a delete-and-recreate is reachable
// from it: entries are only ever served under the commit tracking of the
// store instance that made them.
func (c *Cache) Tenant(tenant string) quire.TenantCache { return c.Namespace(tenant) }

// Namespace is Tenant with the concrete type.
func (c *Cache) Namespace(tenant string) *Namespace {
	return &Namespace{c: c, prefix: tenantPrefix(tenant) + strconv.FormatUint(c.gen.Add(1), 36) + "\x00", anchors: newAnchorIndex()}
}

// DropTenant removes every entry of tenant, of every generation.
func (c *Cache) DropTenant(tenant string) { c.b.DeletePrefix(tenantPrefix(tenant)) }

// tenantPrefix starts every key of tenant. Tenant names cannot hold NUL.
func tenantPrefix(tenant string) string { return tenant + "\x00" }

// Namespace is one open tenant's view of the cache, and the one place the
// freshness rules are enforced (docs/consistency.md):
//
//  1. Every entry records the sequence number At it reflects: the store's
//     position loaded before the read that produced it, or the commit
//     that wrote it.
//  2. The writer calls BeforeCommit before COMMIT: it records the commit's
//     sequence as the last write of each collection it wrote (of every
//     collection, for writes of unknown extent), and deletes the entries of
//     the documents it wrote. An entry that depends on something written
//     after its At is never served; a fill whose At is older than the last
//     write of what it depends on is refused (the read that made it may
//     have raced the write). Fills and invalidations hold mu, so the check
//     and the store are one step.
//  3. A request with bookmark B is served an entry only if the entry's
//     own record proves it reflects at least B: either At >= B, or
//     nothing it depends on was written since At. Otherwise the request
//     bypasses the entry and reads the database. For documents this is a
//     second, independent guard on top of rule 2 (a shared cache whose
//     invalidations could lag would rely on it).
//  4. Anything unexpected (a panic in the cache) turns the namespace off:
//     every later read misses; nothing stale can be served.
//
// An anchored query page (FillPage) depends on no collection as a whole:
// its fill is refused as any other's (rule 2, against the last write of
// its collection), and once stored, BeforeCommit deletes it when a
// document it holds or a document that may satisfy its condition is
// written (anchors.go). Present, it reflects the present, unless a write
// of unknown extent came since.
type Namespace struct {
	c      *Cache
	prefix string

	mu       sync.Mutex    // orders fills and write-through against invalidations
	anyWrite atomic.Uint64 // sequence of the last commit
	allWrite atomic.Uint64 // sequence of the last commit of unknown extent
	colls    sync.Map      // collection → *atomic.Uint64, sequence of its last write
	anchors  *anchorIndex  // anchored query pages; under mu
	broken   atomic.Bool
}

// docKey is a document's key. The collection's length comes first, so no
// pair of (collection, id) strings can spell another's key.
func (n *Namespace) docKey(coll, id string) string {
	return n.prefix + "d" + strconv.Itoa(len(coll)) + ":" + coll + id
}
func (n *Namespace) resultKey(key string) string { return n.prefix + "r" + key }

// lastWrite is the sequence of the last commit that wrote coll.
func (n *Namespace) lastWrite(coll string) uint64 {
	w := n.allWrite.Load()
	if v, ok := n.colls.Load(coll); ok {
		w = max(w, v.(*atomic.Uint64).Load())
	}
	return w
}

// depsWritten is the sequence of the last commit that wrote anything e
// depends on.
func (n *Namespace) depsWritten(e *Entry) uint64 {
	if e.AllDeps {
		return n.anyWrite.Load()
	}
	w := n.allWrite.Load()
	for _, d := range e.Deps {
		w = max(w, n.lastWrite(d))
	}
	return w
}

// Doc implements quire.TenantCache.
func (n *Namespace) Doc(coll, id string, after, now quire.Bookmark) (d *quire.Document, at quire.Bookmark, st quire.CacheStatus) {
	defer n.contain(func() { d, st = nil, quire.CacheMiss })
	if n.broken.Load() {
		return nil, now, n.c.stats.count(quire.CacheMiss)
	}
	d, stored, ok := n.c.b.GetDoc(n.docKey(coll, id))
	if !ok || stored < n.allWrite.Load() {
		// Absent, or older than a write of unknown extent.
		return nil, now, n.c.stats.count(quire.CacheMiss)
	}
	// Present means no write of this document since stored: writes delete
	// the key before they commit. Whether it reflects the request's
	// bookmark is proven separately (rule 3).
	reflects := stored
	if n.lastWrite(coll) <= stored {
		reflects = max(reflects, now.Seq)
	}
	if reflects < after.Seq {
		return nil, now, n.c.stats.count(quire.CacheBypass)
	}
	// The response may carry now: a present entry is the document's
	// state at now, since every write of it up to now deleted it first.
	n.c.stats.count(quire.CacheHit)
	d.ID = id
	return d, now, quire.CacheHit
}

// FillDoc implements quire.TenantCache.
func (n *Namespace) FillDoc(coll, id string, d *quire.Document, at quire.Bookmark) {
	defer n.contain(nil)
	if n.broken.Load() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lastWrite(coll) > at.Seq {
		n.c.stats.refused.Add(1)
		return
	}
	n.c.b.SetDoc(n.docKey(coll, id), d, at.Seq)
	n.c.stats.fills.Add(1)
}

// Result implements quire.TenantCache.
func (n *Namespace) Result(key string, after, now quire.Bookmark) (v any, at quire.Bookmark, st quire.CacheStatus) {
	defer n.contain(func() { v, st = nil, quire.CacheMiss })
	if n.broken.Load() {
		return nil, now, n.c.stats.count(quire.CacheMiss)
	}
	e, ok := n.c.b.Get(n.resultKey(key))
	if !ok || n.depsWritten(e) > e.At {
		return nil, now, n.c.stats.count(quire.CacheMiss)
	}
	// Nothing it depends on was written since e.At: it reflects the
	// present, so every valid bookmark (never ahead of now) is satisfied.
	n.c.stats.count(quire.CacheHit)
	return e.Value, quire.Bookmark{Epoch: now.Epoch, Seq: max(e.At, now.Seq)}, quire.CacheHit
}

// FillResult implements quire.TenantCache.
func (n *Namespace) FillResult(key string, deps []string, v any, size int, at quire.Bookmark) {
	defer n.contain(nil)
	if n.broken.Load() {
		return
	}
	e := &Entry{Value: v, Size: size, At: at.Seq, Deps: deps, AllDeps: deps == nil}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.depsWritten(e) > at.Seq {
		n.c.stats.refused.Add(1)
		return
	}
	n.anchors.remove(key) // the key now holds a plain result
	n.c.b.Set(n.resultKey(key), e)
	n.c.stats.fills.Add(1)
}

// FillPage implements quire.TenantCache.
func (n *Namespace) FillPage(coll, key string, a *quire.PageAnchor, v any, size int, at quire.Bookmark) {
	defer n.contain(nil)
	if n.broken.Load() {
		return
	}
	e := &Entry{Value: v, Size: size, At: at.Seq, Deps: []string{}}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.lastWrite(coll) > at.Seq {
		n.c.stats.refused.Add(1)
		return
	}
	if len(n.anchors.pages) >= maxAnchoredPages {
		n.anchors.sweep(func(key string) bool {
			_, ok := n.c.b.Get(n.resultKey(key))
			return ok
		})
	}
	if len(n.anchors.pages) >= maxAnchoredPages {
		e.Deps = []string{coll} // too many to track: stale after any write of coll
		n.anchors.remove(key)
	} else {
		n.anchors.add(coll, key, a)
	}
	n.c.b.Set(n.resultKey(key), e)
	n.c.stats.fills.Add(1)
}

// BeforeCommit implements quire.TenantCache: it runs on the writer before
// COMMIT, so from the moment the commit is visible no entry it makes stale
// can be served or filled.
func (n *Namespace) BeforeCommit(c *quire.Commit) {
	defer n.contain(nil)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.anyWrite.Store(c.Seq)
	if c.All {
		n.allWrite.Store(c.Seq)
	}
	for _, coll := range c.Collections {
		v, _ := n.colls.LoadOrStore(coll, new(atomic.Uint64))
		v.(*atomic.Uint64).Store(c.Seq)
	}
	for _, d := range c.Docs {
		n.c.b.DeleteDoc(n.docKey(d.Collection, d.ID))
	}
	n.c.stats.invalidations.Add(uint64(len(c.Docs)))
	if c.All {
		// Every entry is stale now (rule 2 through allWrite).
		n.anchors = newAnchorIndex()
		return
	}
	for i := range c.Docs {
		for _, key := range n.anchors.stale(&c.Docs[i]) {
			n.c.b.Delete(n.resultKey(key))
			n.anchors.remove(key)
			n.c.stats.invalidations.Add(1)
		}
	}
}

// AfterCommit implements quire.TenantCache: the documents the group wrote
// are stored as they now are (write-through, in the writer's order), so
// recently written documents are served from memory. A group of unknown
// extent writes nothing through.
func (n *Namespace) AfterCommit(c *quire.Commit) {
	defer n.contain(nil)
	if c.All || n.broken.Load() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, d := range c.Docs {
		key := n.docKey(d.Collection, d.ID)
		if d.Doc == nil {
			n.c.b.DeleteDoc(key)
			continue
		}
		n.c.b.SetDoc(key, d.Doc, c.Seq)
	}
}

// contain turns a panic inside the cache into a namespace that misses
// forever (rule 4), running also (if set) to fix the caller's results.
func (n *Namespace) contain(also func()) {
	if p := recover(); p != nil {
		n.broken.Store(true)
		n.c.stats.failures.Add(1)
		if also != nil {
			also()
		}
	}
}

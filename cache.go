package quire

// CacheStatus says how a read used the tenant's read cache; it is the
// value of the Quire-Cache response header.
type CacheStatus string

// The cache outcomes of a read.
const (
	CacheHit    CacheStatus = "hit"    // served from the cache, provably fresh
	CacheMiss   CacheStatus = "miss"   // not cached (or invalidated): read from the database
	CacheBypass CacheStatus = "bypass" // cached entry not provably fresh for this request, or caching off: read from the database
)

// Commit describes one committed write group of a tenant: what its
// requests wrote, as far as the writer knows it.
type Commit struct {
	Seq uint64 // the group's last sequence number
	// All is set when some request's extent is unknown to the writer (SQL
	// writes, schema changes, imports, purges): treat every collection
	// and document as written.
	All bool
	// Collections lists the collections written (without repeats).
	Collections []string
	// Docs lists the document writes in commit order.
	Docs []DocChange
}

// DocChange is one document write of a Commit.
type DocChange struct {
	Collection string
	ID         string
	// Doc is the document as written, or nil for a delete.
	Doc *Document
}

// PageAnchor narrows what a cached query page depends on. Every document
// the page's query can match satisfies one condition on a text index
// column: the index at Path equal to Value, or starting with it (Prefix).
// IDs are the ids of the page's documents and, when there is a next page,
// of the first match past it. A write of a document changes such a page
// only if the document is one of IDs or matches after the write (its new
// body has a value at Path that may satisfy the condition).
type PageAnchor struct {
	Path   string // the index's JSON path, as "$.name.last"
	Prefix bool
	Value  string
	IDs    []string
}

// TenantCache is one tenant's namespace of the read cache, as an open
// store sees it. The store consults it on reads and tells it about every
// write group from its writer; the implementation alone decides whether an
// entry is fresh enough to serve. Every method must be safe for concurrent
// use and must not fail: a cache that cannot answer reports a miss.
//
// Reads pass two positions: after, the request's bookmark (zero for none),
// and now, the store's position loaded just before the call. A hit returns
// the position the value provably reflects (at least after); the response
// carries it as its bookmark.
type TenantCache interface {
	// Doc returns the cached document of collection and id.
	Doc(collection, id string, after, now Bookmark) (*Document, Bookmark, CacheStatus)
	// FillDoc offers a document read from the database at position at.
	FillDoc(collection, id string, d *Document, at Bookmark)
	// Result returns a cached read result (a query page or SQL read) by
	// key, on the same terms as Doc.
	Result(key string, after, now Bookmark) (any, Bookmark, CacheStatus)
	// FillResult offers a result read at position at that depends on the
	// given collections (nil: on every collection), costing size bytes.
	FillResult(key string, deps []string, v any, size int, at Bookmark)
	// FillPage offers a query page of collection that depends only on
	// the documents a, its anchor, describes: it is stale once a write
	// touches one of a.IDs or writes a document that may satisfy a's
	// condition. Anything else is as for FillResult.
	FillPage(collection, key string, a *PageAnchor, v any, size int, at Bookmark)
	// BeforeCommit is called by the writer once the group's requests
	// have run and before COMMIT; AfterCommit after COMMIT and before any
	// request of the group is answered.
	BeforeCommit(c *Commit)
	AfterCommit(c *Commit)
}

// ReadCache is the node's read cache: a namespace for each opened store
// of a tenant, and forgetting a deleted tenant.
type ReadCache interface {
	Tenant(tenant string) TenantCache
	DropTenant(tenant string)
}

package quire

import (
	"context"
	"encoding/json"
)

// DefaultMaxDocBytes is the default largest document body, like D1's 2 MB row limit.
const DefaultMaxDocBytes = 2 << 20

// MaxBatchOps is the most operations one batch may hold.
const MaxBatchOps = 1000

// Document is a stored JSON document. Body is the stored JSON text, passed
// through to responses without being decoded.
type Document struct {
	ID        string          `json:"id"`
	Version   int64           `json:"version"`
	CreatedAt int64           `json:"created_at"` // ms since the Unix epoch
	UpdatedAt int64           `json:"updated_at"` // ms since the Unix epoch
	Body      json.RawMessage `json:"body"`
}

// OpKind is the kind of one write operation.
type OpKind string

// The write operations.
const (
	OpPut    OpKind = "put"    // create or replace
	OpCreate OpKind = "create" // create; conflict if the id exists
	OpPatch  OpKind = "patch"  // JSON merge patch (RFC 7396) of an existing document
	OpDelete OpKind = "delete"
)

// DocRead is a read of one document by id.
type DocRead struct {
	Collection string
	ID         string
	After      Bookmark // the request's bookmark: reflect at least this
	NoCache    bool     // skip the read cache (Cache-Control: no-cache)
}

// WriteOp is one document write. IfVersion makes it conditional on the
// current version (optimistic concurrency); IfAbsent on the document not
// existing (If-None-Match: *); IfExists on it existing (If-Match: *).
type WriteOp struct {
	Op         OpKind          `json:"op"`
	Collection string          `json:"collection"`
	ID         string          `json:"id"`
	Body       json.RawMessage `json:"body,omitempty"`
	IfVersion  *int64          `json:"if_version,omitempty"`
	IfAbsent   bool            `json:"if_absent,omitempty"` // If-None-Match: *
	IfExists   bool            `json:"if_exists,omitempty"` // If-Match: *
}

// WriteResult is the outcome of one successful WriteOp.
type WriteResult struct {
	Op         OpKind `json:"op"`
	Collection string `json:"collection"`
	ID         string `json:"id"`
	Version    int64  `json:"version"`
	CreatedAt  int64  `json:"created_at,omitempty"`
	UpdatedAt  int64  `json:"updated_at"`
	Created    bool   `json:"created,omitempty"` // a put that created the document
}

// ListQuery selects documents of a collection in id order, optionally with
// equality on one indexed field, resuming after a cursor.
type ListQuery struct {
	Collection string
	After      string // opaque cursor from a previous page ("" = start)
	Limit      int
	Field      string // indexed field for equality, "" for none
	Value      string // its value, as text; converted to the field's type
}

// List limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// Store is one tenant's data: collections and documents. Reads observe at
// least every write acknowledged before they started.
type Store interface {
	// FormatBookmark renders a position of this tenant as a token.
	FormatBookmark(b Bookmark) string
	// CheckBookmark validates a request's bookmark token: it must belong to
	// this tenant, to its current epoch, and not lie in its future.
	CheckBookmark(token string) error
	// ParseBookmark is CheckBookmark returning the position.
	ParseBookmark(token string) (Bookmark, error)
	// Position returns the latest committed position.
	Position() Bookmark

	Collections(ctx context.Context) ([]*Collection, error)
	Collection(ctx context.Context, name string) (*Collection, error)
	// PutCollection creates the collection or reconciles its indexes with c.
	PutCollection(ctx context.Context, c Collection) (*Collection, Bookmark, error)
	DeleteCollection(ctx context.Context, name string) (Bookmark, error)
	AddIndex(ctx context.Context, collection string, ix IndexSpec) (*Collection, Bookmark, error)
	DropIndex(ctx context.Context, collection, field string) (*Collection, Bookmark, error)

	Get(ctx context.Context, collection, id string) (*Document, error)
	// ReadDoc reads a document through the tenant's read cache. It returns
	// the position the document reflects (the response's bookmark) and
	// how the cache was used.
	ReadDoc(ctx context.Context, r DocRead) (*Document, Bookmark, CacheStatus, error)
	List(ctx context.Context, q ListQuery) (docs []*Document, next string, err error)
	// Write applies ops atomically, as one transaction, on behalf of keyID.
	Write(ctx context.Context, ops []WriteOp, keyID string) ([]WriteResult, Bookmark, error)
	// Query runs a document query (see query.go), or explains its plan.
	Query(ctx context.Context, q Query) (*QueryResult, error)
}

// StoreOpener gives access to tenants' stores, opening them on demand.
// The release function must be called when the caller is done.
type StoreOpener interface {
	OpenStore(ctx context.Context, tenant string) (Store, func(), error)
}

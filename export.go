package quire

import (
	"context"
	"encoding/json"
)

// Kinds of export lines.
const (
	ExportCollection = "collection"
	ExportDocument   = "document"
)

// ExportLine is one line of a tenant's NDJSON export: a collection
// definition (Kind "collection", with its indexes), or a document with the
// version and timestamps it has (Kind "document"). An export lists every
// collection definition before any document.
type ExportLine struct {
	Kind       string          `json:"kind"`
	Collection string          `json:"collection"`
	Indexes    []IndexSpec     `json:"indexes,omitempty"`
	ID         string          `json:"id,omitempty"`
	Version    int64           `json:"version,omitempty"`
	CreatedAt  int64           `json:"created_at,omitempty"` // ms since the Unix epoch
	UpdatedAt  int64           `json:"updated_at,omitempty"` // ms since the Unix epoch
	Body       json.RawMessage `json:"body,omitempty"`
}

// ImportLine is an export line to import, with its line number in the
// import file (from 1).
type ImportLine struct {
	Line int
	ExportLine
}

// ImportRejection is one line an import refused, by its line number in the
// import file (from 1), and why.
type ImportRejection struct {
	Line  int    `json:"line"`
	Error *Error `json:"error"`
}

// ImportResult is the outcome of importing a batch of export lines.
type ImportResult struct {
	Collections int               `json:"collections"` // collections created
	Imported    int               `json:"imported"`    // documents written
	Skipped     int               `json:"skipped"`     // documents already present at the same or a newer version
	Rejected    []ImportRejection `json:"rejected"`
	Bookmark    string            `json:"bookmark,omitempty"`
}

// Exporter is a store that can export itself.
type Exporter interface {
	// Export calls emit with every line of an export of the tenant (or of
	// one collection), read from one snapshot, and returns its position.
	Export(ctx context.Context, collection string, emit func(*ExportLine) error) (Bookmark, error)
}

// Importer is a store that can import export lines.
type Importer interface {
	// Import writes lines on behalf of keyID:
	// collections are created if missing; documents are written with their
	// exported id, version and timestamps unless the tenant already holds
	// them at the same or a newer version. A line that cannot be imported
	// is reported and the others still are.
	Import(ctx context.Context, lines []ImportLine, keyID string) (*ImportResult, Bookmark, error)
}

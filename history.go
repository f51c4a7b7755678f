package quire

import (
	"context"
	"encoding/json"
)

// HistoryVersion is one prior version of a document, kept by a collection
// with history on. Version, Body, CreatedAt and UpdatedAt are the version
// as it was; KeyID, At, Seq and Op describe the write that ended it: "put"
// (replaced by the next version) or "delete".
type HistoryVersion struct {
	Version   int64           `json:"version"`
	Body      json.RawMessage `json:"body"`
	CreatedAt int64           `json:"created_at"`
	UpdatedAt int64           `json:"updated_at"`
	KeyID     string          `json:"key_id"`
	At        int64           `json:"at"`
	Op        string          `json:"op"`
	Commit    Bookmark        `json:"-"` // the write that ended the version
}

// HistoryQuery selects a page of a document's prior versions, newest
// first, resuming after a cursor.
type HistoryQuery struct {
	Collection string
	ID         string
	After      string // opaque cursor from a previous page ("" = start)
	Limit      int
}

// HistoryStore is implemented by stores that keep document history.
type HistoryStore interface {
	// History lists a document's prior versions, newest first.
	History(ctx context.Context, q HistoryQuery) (versions []*HistoryVersion, next string, err error)
	// GetVersion returns version n of a document, current or prior.
	GetVersion(ctx context.Context, collection, id string, n int64) (*Document, error)
	// Purge erases a document and all its history on behalf of keyID,
	// recording the erasure (without content) in the change log.
	Purge(ctx context.Context, collection, id, keyID string) (Bookmark, error)
}

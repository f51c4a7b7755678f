package quire

import (
	"context"
	"encoding/json"
)

// The change feed lists a tenant's document changes in commit order, from
// the change log every write path fills (see docs/changes.md).

// Change-feed page sizes.
const (
	DefaultChangesLimit = 100
	MaxChangesLimit     = 1000
)

// Change is one document change of the feed.
//
// Bookmark is the commit's position: a read that sends it as its bookmark
// sees the change. Cursor is the feed position just after this change:
// pass it as the next request's since (or SSE Last-Event-ID) to resume
// right after it. It equals Bookmark when the change is the last of its
// commit; inside a commit of many changes it is the bookmark followed by
// '.' and a position inside the commit, so a page may end anywhere.
type Change struct {
	Bookmark   string `json:"bookmark"`
	Cursor     string `json:"cursor"`
	Collection string `json:"collection"`
	ID         string `json:"id"`
	Op         string `json:"op"` // "put", "delete" or "purge"
	Version    int64  `json:"version"`
	At         int64  `json:"at"` // ms since the epoch, when the commit ran
	KeyID      string `json:"key_id"`
	// Body is set only when the query asked for bodies: the document as
	// this change left it (a delete: as it was deleted), or JSON null
	// when that version is no longer kept, with BodyAvailable false.
	Body          json.RawMessage `json:"body,omitempty"`
	BodyAvailable *bool           `json:"body_available,omitempty"`
}

// ChangesQuery selects a page of the feed.
type ChangesQuery struct {
	// Since is a cursor or bookmark; the page starts after it. "" starts
	// at the oldest change still retained.
	Since      string
	Limit      int    // 0 = DefaultChangesLimit
	Collection string // "" = every collection
	Body       bool   // include each change's body
}

// ChangesPage is a page of the feed. Next is where the following page
// starts: the cursor of the last change, or, on an empty page, the
// tenant's position when the page was read (there is nothing before it
// left to see). Polling with Next never misses or repeats a change.
type ChangesPage struct {
	Changes []*Change `json:"changes"`
	Next    string    `json:"next"`
	// Head is the tenant's position when the page was read: a page
	// shorter than the limit holds every change up to it.
	Head Bookmark `json:"-"`
}

// ChangeStore is implemented by stores that serve the change feed.
type ChangeStore interface {
	// Changes returns the changes after q.Since. A Since older than the
	// retained history is refused with EChangesExpired.
	Changes(ctx context.Context, q ChangesQuery) (*ChangesPage, error)
}

// ChangeWaiter tells change-feed readers that a tenant committed, without
// them holding the tenant's store open while they wait.
type ChangeWaiter interface {
	// ChangeSignal returns a channel that is closed once tenant has
	// committed a position after after (or at once if it already has),
	// and when the waiter shuts down. A reader re-reads the feed when it
	// is closed; a spurious wake-up only costs a read.
	ChangeSignal(tenant string, after Bookmark) <-chan struct{}
}

package client_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

func TestSessionReadsItsWrites(t *testing.T) {
	qs, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreateTenant(ctx, quire.TenantCreate{ID: "beta"}); err != nil {
		t.Fatalf("CreateTenant beta: %v", err)
	}

	if _, err := c.Get(ctx, "acme", "clients", "x"); quire.ErrorCode(err) != quire.ENotFound {
		t.Fatalf("Get x: %v", err)
	}
	if got := qs.lastBookmarkReceived(); got != "" {
		t.Errorf("a client that is not a session sent bookmark %q", got)
	}
	if c.LastBookmark() == "" {
		t.Errorf("the client did not record the bookmark of an error response")
	}

	s := c.Session()
	if got := s.LastBookmark(); got != "" {
		t.Errorf("a new session has bookmark %q, want none", got)
	}
	if _, err := s.Put(ctx, "acme", "clients", "s1", json.RawMessage(`{"age":1}`), client.Condition{}); err != nil {
		t.Fatalf("session Put: %v", err)
	}
	if got := qs.lastBookmarkReceived(); got != "" {
		t.Errorf("the session's first request sent bookmark %q, want none", got)
	}
	written := s.LastBookmark()
	if written == "" {
		t.Fatal("the session recorded no bookmark for its write")
	}
	if got, want := s.Bookmark("acme"), written; got != want {
		t.Errorf("Bookmark(acme) = %q, want %q", got, want)
	}

	d, err := s.Get(ctx, "acme", "clients", "s1")
	if err != nil {
		t.Fatalf("session Get: %v", err)
	}
	if got, want := qs.lastBookmarkReceived(), written; got != want {
		t.Errorf("the session's read sent bookmark %q, want its write's %q", got, want)
	}
	if got, want := d.Version, int64(1); got != want {
		t.Errorf("the session read version %d, want %d", got, want)
	}
	if s.Bookmark("acme") < written {
		t.Errorf("the session's bookmark went back from %q to %q", written, s.Bookmark("acme"))
	}

	// Another tenant's routes never get acme's bookmark.
	if _, err := s.Collections(ctx, "beta"); err != nil {
		t.Fatalf("session Collections(beta): %v", err)
	}
	if got := qs.lastBookmarkReceived(); got != "" {
		t.Errorf("a request to beta sent bookmark %q, want none (acme's would be refused)", got)
	}

	// A session resumed elsewhere from the saved bookmark sends it.
	resumed := client.New(qs.url, adminToken).ResumeSession("acme", written)
	if _, err := resumed.Get(ctx, "acme", "clients", "s1"); err != nil {
		t.Fatalf("resumed session Get: %v", err)
	}
	if got, want := qs.lastBookmarkReceived(), written; got != want {
		t.Errorf("the resumed session sent %q, want %q", got, want)
	}
	_, err = client.New(qs.url, adminToken).ResumeSession("beta", written).Collections(ctx, "beta")
	wantCode(t, err, quire.EInvalidBookmark)
}

func TestSessionKeepsLatestBookmarkUnderConcurrency(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	s := c.Session()
	var mu sync.Mutex
	var latest string
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "d" + string(rune('a'+i))
			_, b, err := s.Batch(ctx, "acme", []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: id, Body: json.RawMessage(`{}`)}})
			if err != nil {
				t.Errorf("Batch: %v", err)
				return
			}
			mu.Lock()
			latest = max(latest, b)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got, want := s.Bookmark("acme"), latest; got != want {
		t.Errorf("session bookmark = %q, want the latest write's %q", got, want)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	qs, c := setup(t)
	ctx := context.Background()
	before := qs.connections()
	for range 10 {
		_, err := c.Get(ctx, "acme", "clients", "missing") // error answers too
		wantCode(t, err, quire.ENotFound)
		if _, err := c.PutCollection(ctx, "acme", quire.Collection{Name: "tmp"}); err != nil {
			t.Fatalf("PutCollection: %v", err)
		}
		if err := c.DeleteCollection(ctx, "acme", "tmp"); err != nil { // an answer not decoded
			t.Fatalf("DeleteCollection: %v", err)
		}
	}
	if got := qs.connections() - before; got > 0 {
		t.Errorf("30 sequential requests opened %d new connections, want 0", got)
	}
}

package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

// TestSessionAfterRestore checks that a session keeps working across a
// restore: the client drops the tenant's pre-restore bookmark and takes
// the restore's.
func TestSessionAfterRestore(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	s := c.Session()
	if _, err := s.Put(ctx, "acme", "clients", "c1", json.RawMessage(`{"age":1}`), client.Condition{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.Backup(ctx, "acme", &buf); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if _, err := s.Put(ctx, "acme", "clients", "c2", json.RawMessage(`{"age":2}`), client.Condition{}); err != nil {
		t.Fatal(err)
	}
	before := s.Bookmark("acme")
	res, err := s.Restore(ctx, "acme", bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := s.Bookmark("acme"); got != res.Bookmark || got == before {
		t.Errorf("session bookmark %q after restore, want %q", got, res.Bookmark)
	}
	if _, err := s.Get(ctx, "acme", "clients", "c1"); err != nil {
		t.Errorf("Get after restore: %v", err)
	}
	if _, err := c.ResumeSession("acme", before).Get(ctx, "acme", "clients", "c1"); quire.ErrorCode(err) != quire.EInvalidBookmark {
		t.Errorf("pre-restore bookmark: %v, want invalid_bookmark", err)
	}
	_, err = c.Restore(ctx, "acme", bytes.NewReader(buf.Bytes()[:100]))
	if quire.ErrorCode(err) != quire.EInvalidBackup {
		t.Errorf("truncated restore: %v, want invalid_backup", err)
	}
}

func TestExportImport(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	if _, err := c.Put(ctx, "acme", "clients", "c1", json.RawMessage(`{"age":1}`), client.Condition{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := c.Export(ctx, "acme", "clients", &buf); err != nil {
		t.Fatalf("Export: %v", err)
	}
	if _, err := c.CreateTenant(ctx, quire.TenantCreate{ID: "copy"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Import(ctx, "copy", 1, buf.Bytes())
	if err != nil || res.Imported != 1 || res.Collections != 1 {
		t.Fatalf("Import: %+v, %v", res, err)
	}
	if _, err := c.Export(ctx, "acme", "nope", &buf); quire.ErrorCode(err) != quire.ENotFound {
		t.Errorf("export of a missing collection: %v", err)
	}
}

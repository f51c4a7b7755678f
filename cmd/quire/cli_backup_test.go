package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

// testClient is a client of the server startServer started.
func testClient() *client.Client {
	return client.New(os.Getenv("QUIRE_URL"), testAdminToken)
}

// seedTenant creates tenant with a collection "clients" (an index on
// $.email, unique) and n documents, some written more than once.
func seedTenant(t *testing.T, tenant string, n int) {
	t.Helper()
	mustRun(t, "", "tenant", "create", tenant)
	mustRun(t, "", "collection", "create", "--tenant", tenant, "clients", "--index", "email=$.email", "--unique", "email")
	c := testClient()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("c%03d", i)
		body := fmt.Sprintf(`{"email":"%s@example.com","n":%d}`, id, i)
		for v := 0; v <= i%3; v++ {
			if _, err := c.Put(context.Background(), tenant, "clients", id, json.RawMessage(body), client.Condition{}); err != nil {
				t.Fatalf("put: %v", err)
			}
		}
	}
}

func TestBackupRestoreCommands(t *testing.T) {
	startServer(t)
	ctx := context.Background()
	seedTenant(t, "acme", 20)
	file := filepath.Join(t.TempDir(), "acme.qbak")
	mustRun(t, "", "backup", "--tenant", "acme", "--out", file)

	// A write after the backup, and its bookmark.
	c := testClient()
	w, err := c.Put(ctx, "acme", "clients", "late", json.RawMessage(`{"email":"late@example.com"}`), client.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	_ = w
	old := c.Bookmark("acme")

	t.Run("OK", func(t *testing.T) {
		out := mustRun(t, "", "restore", "--tenant", "acme", "--in", file)
		var res quire.RestoreResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("restore output %q: %v", out, err)
		}
		if res.Epoch < 2 || res.Tenant != "acme" {
			t.Errorf("restore result %+v", res)
		}
		if _, err := c.Get(ctx, "acme", "clients", "late"); quire.ErrorCode(err) != quire.ENotFound {
			t.Errorf("document written after the backup: %v, want not_found", err)
		}
		if d, err := c.Get(ctx, "acme", "clients", "c005"); err != nil || d.Version != 3 {
			t.Errorf("c005 = %+v, %v; want version 3", d, err)
		}
		_, err := c.ResumeSession("acme", old).Get(ctx, "acme", "clients", "c001")
		if quire.ErrorCode(err) != quire.EInvalidBookmark || !strings.Contains(err.Error(), "restored") {
			t.Errorf("old bookmark after restore: %v, want invalid_bookmark naming the restore", err)
		}
	})
	t.Run("AsNewTenant", func(t *testing.T) {
		mustRun(t, "", "restore", "--tenant", "acme", "--in", file, "--as", "acme_copy")
		if d, err := c.Get(ctx, "acme_copy", "clients", "c005"); err != nil || d.Version != 3 {
			t.Errorf("acme_copy c005 = %+v, %v", d, err)
		}
		_, err := c.ResumeSession("acme_copy", old).Get(ctx, "acme_copy", "clients", "c001")
		if quire.ErrorCode(err) != quire.EInvalidBookmark {
			t.Errorf("acme bookmark on acme_copy: %v, want invalid_bookmark", err)
		}
	})
	t.Run("ErrInvalidBackup", func(t *testing.T) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "bad.qbak")
		os.WriteFile(bad, b[:len(b)/2], 0o600)
		res := runCLI(t, "", "restore", "--tenant", "acme", "--in", bad)
		if res.code != 1 || !strings.Contains(res.stderr, "invalid_backup") || !strings.Contains(res.stderr, "truncated") {
			t.Errorf("truncated restore: exit %d, stderr %q", res.code, res.stderr)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		if res := runCLI(t, "", "backup", "--tenant", "acme"); res.code != 2 {
			t.Errorf("backup without --out: exit %d", res.code)
		}
		if res := runCLI(t, "", "restore", "--tenant", "acme"); res.code != 2 {
			t.Errorf("restore without --in: exit %d", res.code)
		}
	})
}

// exportOf returns tenant's export with each document line as decoded.
func exportOf(t *testing.T, tenant string) []quire.ExportLine {
	t.Helper()
	out := mustRun(t, "", "export", "--tenant", tenant)
	var lines []quire.ExportLine
	for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
		var l quire.ExportLine
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("export line %q: %v", s, err)
		}
		lines = append(lines, l)
	}
	return lines
}

// TestExportImportRoundTrip exports a tenant, imports it into a new one and
// checks that both hold identical documents, versions and timestamps.
func TestExportImportRoundTrip(t *testing.T) {
	startServer(t)
	seedTenant(t, "acme", 30)
	file := filepath.Join(t.TempDir(), "acme.ndjson")
	mustRun(t, "", "export", "--tenant", "acme", "--out", file)
	mustRun(t, "", "tenant", "create", "acme2")
	out := mustRun(t, "", "import", "--tenant", "acme2", "--batch", "7", file)
	var res quire.ImportResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("import output %q: %v", out, err)
	}
	if res.Imported != 30 || res.Collections != 1 || len(res.Rejected) != 0 {
		t.Errorf("import result %+v", res)
	}
	a, b := exportOf(t, "acme"), exportOf(t, "acme2")
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("exports differ:\n%s\n%s", ja, jb)
	}
	if a[0].Kind != quire.ExportCollection || len(a[0].Indexes) != 1 || !a[0].Indexes[0].Unique {
		t.Errorf("collection line %+v", a[0])
	}

	t.Run("Rerun", func(t *testing.T) {
		out := mustRun(t, "", "import", "--tenant", "acme2", file)
		json.Unmarshal([]byte(out), &res)
		if res.Imported != 0 || res.Skipped != 30 {
			t.Errorf("rerun result %+v, want all skipped", res)
		}
	})
	t.Run("Stdin", func(t *testing.T) {
		mustRun(t, "", "tenant", "create", "acme3")
		data, _ := os.ReadFile(file)
		mustRun(t, string(data), "import", "--tenant", "acme3")
		if got := len(exportOf(t, "acme3")); got != 31 {
			t.Errorf("acme3 export has %d lines, want 31", got)
		}
	})
	t.Run("ResumeFrom", func(t *testing.T) {
		mustRun(t, "", "tenant", "create", "acme4")
		// Line 1, the collection, is still read.
		out := mustRun(t, "", "import", "--tenant", "acme4", "--resume-from", "12", file)
		json.Unmarshal([]byte(out), &res)
		if res.Imported != 20 || res.Collections != 1 {
			t.Errorf("resumed import result %+v, want 20 imported", res)
		}
	})
	t.Run("RejectedLines", func(t *testing.T) {
		mustRun(t, "", "tenant", "create", "acme5")
		input := `{"kind":"collection","collection":"notes"}
{"kind":"document","collection":"notes","id":"a","version":2,"created_at":10,"updated_at":20,"body":{"x":1}}
not json

{"kind":"document","collection":"missing","id":"b","version":1,"created_at":10,"updated_at":10,"body":{}}
{"kind":"document","collection":"notes","id":"c","version":0,"created_at":10,"updated_at":10,"body":{}}
{"kind":"document","collection":"notes","id":"d","version":1,"created_at":10,"updated_at":10,"body":{}}
`
		r := runCLI(t, input, "import", "--tenant", "acme5", "--batch", "2")
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		for _, want := range []string{"line 3: invalid", "line 5: not_found", "line 6: invalid"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr %q lacks %q", r.stderr, want)
			}
		}
		d, err := testClient().Get(context.Background(), "acme5", "notes", "a")
		if err != nil || d.Version != 2 || d.CreatedAt != 10 || d.UpdatedAt != 20 {
			t.Errorf("imported a = %+v, %v", d, err)
		}
	})
}

package sqlite

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/quiredb/quire"
)

func importLines(t *testing.T, s *Store, lines ...quire.ExportLine) *quire.ImportResult {
	t.Helper()
	in := make([]quire.ImportLine, len(lines))
	for i, l := range lines {
		in[i] = quire.ImportLine{Line: i + 1, ExportLine: l}
	}
	res, _, err := s.Import(context.Background(), in, "importer")
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

func docLine(id string, version, created, updated int64, body string) quire.ExportLine {
	return quire.ExportLine{Kind: quire.ExportDocument, Collection: "clients", ID: id, Version: version,
		CreatedAt: created, UpdatedAt: updated, Body: json.RawMessage(body)}
}

func TestImportPreservesVersions(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	res := importLines(t, s,
		quire.ExportLine{Kind: quire.ExportCollection, Collection: "clients", Indexes: clients.Indexes},
		docLine("c1", 7, 100, 200, `{"email":"a@x","age":3}`),
		docLine("c2", 1, 100, 100, `{"email":"a@x"}`), // unique index refuses it
		docLine("c3", 2, 300, 250, `{}`),              // updated before created
	)
	if res.Collections != 1 || res.Imported != 1 || len(res.Rejected) != 2 {
		t.Fatalf("result %+v", res)
	}
	if got, want := res.Rejected[0].Line, 4; got != want {
		t.Errorf("first rejected line %d, want %d", got, want)
	}
	if got, want := res.Rejected[1].Error.Code, quire.EUniqueViolation; got != want {
		t.Errorf("unique refusal code %q, want %q", got, want)
	}
	d, err := s.Get(ctx, "clients", "c1")
	if err != nil || d.Version != 7 || d.CreatedAt != 100 || d.UpdatedAt != 200 {
		t.Fatalf("c1 = %+v, %v", d, err)
	}
	var op string
	var version int64
	if err := s.rdb.QueryRow("SELECT op, version FROM _quire_changes WHERE doc_id = 'c1'").Scan(&op, &version); err != nil || op != "put" || version != 7 {
		t.Errorf("change log: %s %d, %v; want put 7", op, version, err)
	}

	t.Run("NewerReplacesOlderSkipped", func(t *testing.T) {
		res := importLines(t, s, docLine("c1", 9, 100, 300, `{"email":"b@x"}`), docLine("c1", 8, 100, 250, `{}`))
		if res.Imported != 1 || res.Skipped != 1 {
			t.Errorf("result %+v", res)
		}
		if d, _ := s.Get(ctx, "clients", "c1"); d.Version != 9 || d.UpdatedAt != 300 {
			t.Errorf("c1 = %+v", d)
		}
	})
	t.Run("OrdinaryWritesStillGuarded", func(t *testing.T) {
		put(t, s, "clients", "c1", `{"email":"c@x"}`)
		if d, _ := s.Get(ctx, "clients", "c1"); d.Version != 10 {
			t.Errorf("c1 after put = %+v, want version 10", d)
		}
		_, _, err := s.ExecSQL(ctx, quire.SQLRequest{Role: quire.RoleAdmin,
			Statements: []quire.SQLStatement{{SQL: "UPDATE clients SET _version = 99 WHERE id = 'c1'"}}})
		if err == nil {
			t.Error("SQL set _version outside an import")
		}
	})
}

// TestStaleTriggersReplaced opens a database whose collection triggers
// predate imports and checks that they are replaced.
func TestStaleTriggersReplaced(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "acme", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutCollection(context.Background(), clients); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := openImage(filepath.Join(dir, FileName), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER "trg.clients.insert"`,
		`CREATE TRIGGER "trg.clients.insert" AFTER INSERT ON clients BEGIN SELECT RAISE(ABORT, 'old'); END`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s = openTestStore(t, dir)
	res := importLines(t, s, docLine("c1", 3, 1, 2, `{}`))
	if res.Imported != 1 {
		t.Errorf("import through replaced triggers: %+v", res)
	}
}

func TestExportSnapshot(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	put(t, s, "clients", "a", `{"age":1}`)
	put(t, s, "clients", "a", `{"age":2}`)
	var lines []quire.ExportLine
	pos, err := s.Export(ctx, "", func(l *quire.ExportLine) error {
		lines = append(lines, *l)
		// A write during the export is not in it.
		if l.Kind == quire.ExportCollection {
			put(t, s, "clients", "b", `{}`)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[1].ID != "a" || lines[1].Version != 2 || pos.Seq != 3 {
		t.Errorf("export %+v at %+v", lines, pos)
	}
	if _, err := s.Export(ctx, "nope", func(*quire.ExportLine) error { return nil }); quire.ErrorCode(err) != quire.ENotFound {
		t.Errorf("export of a missing collection: %v", err)
	}
}

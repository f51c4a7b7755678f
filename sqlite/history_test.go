package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/quiredb/quire"
)

// historyStore opens a store with a collection "notes" keeping history.
func historyStore(t testing.TB) *Store {
	t.Helper()
	s := openTestStore(t, t.TempDir())
	c, _, err := s.PutCollection(context.Background(), quire.Collection{Name: "notes", History: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.History {
		t.Fatalf("PutCollection answered history off")
	}
	return s
}

// versionsOf lists a document's kept versions, newest first, as
// "version:op:key:body".
func versionsOf(t testing.TB, s *Store, id string) []string {
	t.Helper()
	vs, _, err := s.History(context.Background(), quire.HistoryQuery{Collection: "notes", ID: id, Limit: 1000})
	if err != nil {
		t.Fatalf("History(%s): %v", id, err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%d:%s:%s:%s", v.Version, v.Op, v.KeyID, v.Body))
	}
	return out
}

func write(t testing.TB, s *Store, op quire.OpKind, id, body, key string) {
	t.Helper()
	w := quire.WriteOp{Op: op, Collection: "notes", ID: id}
	if body != "" {
		w.Body = json.RawMessage(body)
	}
	if _, _, err := s.Write(context.Background(), []quire.WriteOp{w}, key); err != nil {
		t.Fatalf("%s %s: %v", op, id, err)
	}
}

func sameList(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestHistoryDocumentPath(t *testing.T) {
	s := historyStore(t)
	write(t, s, quire.OpPut, "n1", `{"a":1}`, "k1")
	write(t, s, quire.OpPut, "n1", `{"a":2}`, "k2")
	write(t, s, quire.OpPatch, "n1", `{"b":3}`, "k3")
	write(t, s, quire.OpPut, "n1", `{"a":2,"b":3}`, "k4") // same body: still a new version
	sameList(t, versionsOf(t, s, "n1"), []string{
		`3:put:k4:{"a":2,"b":3}`, `2:put:k3:{"a":2}`, `1:put:k2:{"a":1}`,
	})
	write(t, s, quire.OpDelete, "n1", "", "k5")
	sameList(t, versionsOf(t, s, "n1")[:1], []string{`4:delete:k5:{"a":2,"b":3}`})

	t.Run("Version", func(t *testing.T) {
		d, err := s.GetVersion(context.Background(), "notes", "n1", 2)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(d.Body), `{"a":2}`; got != want || d.Version != 2 {
			t.Fatalf("version 2 = %d %s, want %s", d.Version, got, want)
		}
	})
	t.Run("CurrentVersion", func(t *testing.T) {
		write(t, s, quire.OpPut, "n2", `{"x":1}`, "k1")
		d, err := s.GetVersion(context.Background(), "notes", "n2", 1)
		if err != nil || string(d.Body) != `{"x":1}` {
			t.Fatalf("GetVersion current = %v, %v", d, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := s.GetVersion(context.Background(), "notes", "n1", 9); quire.ErrorCode(err) != quire.ENotFound {
			t.Fatalf("GetVersion(9) = %v, want not found", err)
		}
		_, _, err := s.History(context.Background(), quire.HistoryQuery{Collection: "notes", ID: "never"})
		if quire.ErrorCode(err) != quire.ENotFound {
			t.Fatalf("History(never) = %v, want not found", err)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		var all []int64
		after := ""
		for {
			vs, next, err := s.History(context.Background(), quire.HistoryQuery{Collection: "notes", ID: "n1", Limit: 2, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				all = append(all, v.Version)
			}
			if next == "" {
				break
			}
			after = next
		}
		if got, want := fmt.Sprint(all), "[4 3 2 1]"; got != want {
			t.Fatalf("paged versions %s, want %s", got, want)
		}
	})
}

// TestHistorySQLPath checks that writes through the SQL endpoint keep the
// same history as the document API: one entry per prior version, even
// though a raw UPDATE fires the update triggers twice (the bump).
func TestHistorySQLPath(t *testing.T) {
	s := historyStore(t)
	write(t, s, quire.OpPut, "n1", `{"a":1}`, "k1")
	mustSQL(t, s, quire.RoleWrite, `UPDATE notes SET body = json_set(body, '$.a', 2) WHERE id = 'n1'`)
	mustSQL(t, s, quire.RoleWrite, `UPDATE notes SET body = '{"a":3}' WHERE id = 'n1'`)
	mustSQL(t, s, quire.RoleWrite, `INSERT INTO notes (id, body) VALUES ('n2', '{"z":1}')`)
	mustSQL(t, s, quire.RoleWrite, `INSERT OR REPLACE INTO notes (id, body) VALUES ('n2', '{"z":2}')`)
	mustSQL(t, s, quire.RoleWrite, `DELETE FROM notes WHERE id = 'n1'`)
	sameList(t, versionsOf(t, s, "n1"), []string{
		`3:delete:key-write:{"a":3}`, `2:put:key-write:{"a":2}`, `1:put:key-write:{"a":1}`,
	})
	sameList(t, versionsOf(t, s, "n2"), []string{`1:delete:key-write:{"z":1}`})

	t.Run("RefusedWriteKeepsNothing", func(t *testing.T) {
		write(t, s, quire.OpPut, "n3", `{"a":1}`, "k1")
		if _, _, err := execSQL(s, quire.RoleWrite, `UPDATE notes SET body = '[1]' WHERE id = 'n3'`); err == nil {
			t.Fatal("non-object body accepted")
		}
		sameList(t, versionsOf(t, s, "n3"), nil)
	})
	t.Run("HistoryTableHidden", func(t *testing.T) {
		if _, _, err := execSQL(s, quire.RoleAdmin, `SELECT * FROM _quire_history`); quire.ErrorCode(err) != quire.EForbidden {
			t.Fatalf("reading _quire_history through SQL: %v, want forbidden", err)
		}
	})
}

func TestHistoryFlag(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	ctx := context.Background()
	if c, _, err := s.PutCollection(ctx, quire.Collection{Name: "notes"}); err != nil || c.History {
		t.Fatalf("default collection: %+v, %v; want history off", c, err)
	}
	write(t, s, quire.OpPut, "n1", `{"a":1}`, "k1")
	write(t, s, quire.OpPut, "n1", `{"a":2}`, "k1")
	sameList(t, versionsOf(t, s, "n1"), nil)

	if c, _, err := s.PutCollection(ctx, quire.Collection{Name: "notes", History: true}); err != nil || !c.History {
		t.Fatalf("turning history on: %+v, %v", c, err)
	}
	write(t, s, quire.OpPut, "n1", `{"a":3}`, "k1")
	sameList(t, versionsOf(t, s, "n1"), []string{`2:put:k1:{"a":2}`})

	// The setting survives reopening: the triggers are its record.
	s.Close()
	s = openTestStore(t, dir)
	if c, err := s.Collection(ctx, "notes"); err != nil || !c.History {
		t.Fatalf("after reopen: %+v, %v; want history on", c, err)
	}

	if c, _, err := s.PutCollection(ctx, quire.Collection{Name: "notes"}); err != nil || c.History {
		t.Fatalf("turning history off: %+v, %v", c, err)
	}
	write(t, s, quire.OpPut, "n1", `{"a":4}`, "k1")
	sameList(t, versionsOf(t, s, "n1"), []string{`2:put:k1:{"a":2}`})

	// Dropping the collection drops its kept versions.
	if _, err := s.DeleteCollection(ctx, "notes"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM _quire_history`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("history rows after dropping the collection: %d, %v", n, err)
	}
}

func TestPurge(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "acme", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "notes", History: true}); err != nil {
		t.Fatal(err)
	}
	const marker = "ERASE-ME-7f3c9a1b"
	big := bytes.Repeat([]byte("x"), 20000) // overflow pages too
	write(t, s, quire.OpPut, "p1", `{"name":"`+marker+`-v1"}`, "k1")
	write(t, s, quire.OpPut, "p1", `{"pad":"`+string(big)+`","name":"`+marker+`-v2"}`, "k1") // on an overflow page
	write(t, s, quire.OpPut, "p1", `{"name":"`+marker+`-v3"}`, "k1")
	write(t, s, quire.OpPut, "keep", `{"name":"someone else"}`, "k1")

	b, err := s.Purge(ctx, "notes", "p1", "admin-key")
	if err != nil {
		t.Fatal(err)
	}
	if b.Seq == 0 {
		t.Fatal("purge returned no bookmark")
	}
	if _, err := s.Get(ctx, "notes", "p1"); quire.ErrorCode(err) != quire.ENotFound {
		t.Fatalf("Get after purge: %v", err)
	}
	if _, err := s.GetVersion(ctx, "notes", "p1", 1); quire.ErrorCode(err) != quire.ENotFound {
		t.Fatalf("GetVersion after purge: %v", err)
	}
	if _, _, err := s.History(ctx, quire.HistoryQuery{Collection: "notes", ID: "p1"}); quire.ErrorCode(err) != quire.ENotFound {
		t.Fatalf("History after purge: %v", err)
	}
	if _, err := s.Purge(ctx, "notes", "p1", "admin-key"); quire.ErrorCode(err) != quire.ENotFound {
		t.Fatalf("second purge: %v, want not found", err)
	}
	last := changes(t, s)
	if got := last[len(last)-1]; got.Op != "purge" || got.DocID != "p1" || got.KeyID != "admin-key" || got.Version != 3 {
		t.Fatalf("last change %+v, want the purge by admin-key", got)
	}
	t.Run("DeletedDocument", func(t *testing.T) {
		write(t, s, quire.OpPut, "gone", `{"a":1}`, "k1")
		write(t, s, quire.OpDelete, "gone", "", "k1")
		if _, err := s.Purge(ctx, "notes", "gone", "admin-key"); err != nil {
			t.Fatalf("purging the history of a deleted document: %v", err)
		}
		if _, err := s.GetVersion(ctx, "notes", "gone", 1); quire.ErrorCode(err) != quire.ENotFound {
			t.Fatalf("GetVersion after purge: %v", err)
		}
	})
	if d, err := s.Get(ctx, "notes", "keep"); err != nil || !bytes.Contains(d.Body, []byte("someone else")) {
		t.Fatalf("other document: %v, %v", d, err)
	}

	if _, err := s.wconn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{FileName, FileName + "-wal"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(marker)) {
			t.Errorf("%s still holds the purged content", name)
		}
	}
}

// BenchmarkUpdate measures the CPU and file cost of document updates
// (relaxed durability, batches of 100, 1,000 documents of ~1 KB rewritten
// in turn) with secure_delete on, fast and off, and history on and off.
// It reports updates/s and the database's bytes per update.
func BenchmarkUpdate(b *testing.B) {
	for _, sd := range []string{"OFF", "FAST", "ON"} {
		for _, hist := range []bool{false, true} {
			b.Run(fmt.Sprintf("secure_delete=%s/history=%v", sd, hist), func(b *testing.B) {
				dir := b.TempDir()
				s, err := Open(dir, "bench", Options{Durability: DurabilityRelaxed})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "notes", History: hist}); err != nil {
					b.Fatal(err)
				}
				if _, _, err := s.submit(ctx, groupSchema, func(t *txn) (any, error) {
					return nil, t.exec("PRAGMA secure_delete = " + sd)
				}); err != nil {
					b.Fatal(err)
				}
				pad := string(bytes.Repeat([]byte("p"), 1000))
				const batch, docs = 100, 1000
				b.ResetTimer()
				for i := range b.N {
					ops := make([]quire.WriteOp, batch)
					for j := range ops {
						n := i*batch + j
						ops[j] = quire.WriteOp{Op: quire.OpPut, Collection: "notes", ID: fmt.Sprintf("d%04d", n%docs),
							Body: json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, pad))}
					}
					if _, _, err := s.Write(ctx, ops, "bench"); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "updates/s")
				if _, err := s.wconn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err == nil {
					if fi, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
						b.ReportMetric(float64(fi.Size())/float64(b.N*batch), "dbbytes/update")
					}
				}
			})
		}
	}
}

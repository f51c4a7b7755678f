package sqlite

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/cache"
)

// pausingCache wraps a real namespace and runs hooks at the points where
// reads and writes race, to replay those races deterministically.
type pausingCache struct {
	quire.TenantCache
	beforeFill  func()
	afterCommit func()
}

func (p *pausingCache) FillDoc(coll, id string, d *quire.Document, at quire.Bookmark) {
	if f := p.beforeFill; f != nil {
		p.beforeFill = nil
		f()
	}
	p.TenantCache.FillDoc(coll, id, d, at)
}

func (p *pausingCache) AfterCommit(c *quire.Commit) {
	if f := p.afterCommit; f != nil {
		p.afterCommit = nil
		f()
	}
	p.TenantCache.AfterCommit(c)
}

func cachedStore(t *testing.T) (*Store, *pausingCache) {
	t.Helper()
	s := openTestStore(t, t.TempDir())
	p := &pausingCache{TenantCache: cache.New(cache.NewLocal(1 << 20)).Tenant("acme")}
	s.SetCache(p)
	if _, _, err := s.PutCollection(context.Background(), quire.Collection{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	return s, p
}

func readVersion(t *testing.T, s *Store, id string) (int64, quire.CacheStatus) {
	t.Helper()
	d, _, st, err := s.ReadDoc(context.Background(), quire.DocRead{Collection: "notes", ID: id})
	if err != nil {
		t.Fatalf("ReadDoc(%s): %v", id, err)
	}
	return d.Version, st
}

func putNote(t *testing.T, s *Store, id, body string) {
	t.Helper()
	op := quire.WriteOp{Op: quire.OpPut, Collection: "notes", ID: id, Body: json.RawMessage(body)}
	if _, _, err := s.Write(context.Background(), []quire.WriteOp{op}, "k"); err != nil {
		t.Fatal(err)
	}
}

// A read that loaded version 1 from the database, then stalled while a
// write of version 2 was acknowledged, must not leave version 1 in the
// cache.
func TestCacheRefusesFillThatRacedAWrite(t *testing.T) {
	s, p := cachedStore(t)
	putNote(t, s, "a", `{"v":1}`)
	// Drop the write-through entry, so the next read misses and fills.
	p.TenantCache.BeforeCommit(&quire.Commit{Seq: s.Position().Seq, Docs: []quire.DocChange{{Collection: "notes", ID: "a"}}})
	wrote := false
	p.beforeFill = func() { putNote(t, s, "a", `{"v":2}`); wrote = true }
	if v, _ := readVersion(t, s, "a"); v != 1 {
		t.Fatalf("the stalled read returned version %d, want 1 (it read before the write)", v)
	}
	if !wrote {
		t.Fatal("the read did not fill the cache")
	}
	v, st := readVersion(t, s, "a")
	if v != 2 {
		t.Fatalf("after the write was acknowledged, a read returned version %d (%s), want 2: a raced fill was cached", v, st)
	}
}

// Between COMMIT and the write-through, the cache must not serve the
// version the commit replaced: the database already answers the new one.
func TestCacheForgetsWrittenDocumentsBeforeCommit(t *testing.T) {
	s, p := cachedStore(t)
	putNote(t, s, "a", `{"v":1}`)
	if v, st := readVersion(t, s, "a"); v != 1 || st != quire.CacheHit {
		t.Fatalf("read after write: version %d %s, want 1 from the cache (write-through)", v, st)
	}
	var inWindow int64
	var status quire.CacheStatus
	p.afterCommit = func() { inWindow, status = readVersion(t, s, "a") }
	putNote(t, s, "a", `{"v":2}`)
	if inWindow != 2 {
		t.Fatalf("a read between COMMIT and the write-through returned version %d (%s), want 2", inWindow, status)
	}
	if v, st := readVersion(t, s, "a"); v != 2 || st != quire.CacheHit {
		t.Errorf("read after the write: version %d %s, want 2 from the cache", v, st)
	}
}

// A document too large for the cache's ring replacing a cached one: the
// old version must not be served, and the large one is read from the
// database every time until a small version is cached again.
func TestCacheDropsWhatALargeDocumentReplaced(t *testing.T) {
	s, _ := cachedStore(t) // 1 MiB budget: 4 KiB chunks for documents
	putNote(t, s, "a", `{"v":1}`)
	if v, st := readVersion(t, s, "a"); v != 1 || st != quire.CacheHit {
		t.Fatalf("small document: version %d %s, want 1 from the cache", v, st)
	}
	putNote(t, s, "a", `{"v":2,"pad":"`+strings.Repeat("x", 8<<10)+`"}`)
	for range 2 {
		if v, st := readVersion(t, s, "a"); v != 2 || st != quire.CacheMiss {
			t.Fatalf("large document: version %d %s, want 2 from the database", v, st)
		}
	}
	putNote(t, s, "a", `{"v":3}`)
	if v, st := readVersion(t, s, "a"); v != 3 || st != quire.CacheHit {
		t.Errorf("small again: version %d %s, want 3 from the cache", v, st)
	}
}

// Writes of unknown extent (the SQL endpoint) make every entry stale.
func TestCacheForgetsAllAfterSQLWrite(t *testing.T) {
	s, _ := cachedStore(t)
	putNote(t, s, "a", `{"v":1}`)
	readVersion(t, s, "a")
	_, _, err := s.ExecSQL(context.Background(), quire.SQLRequest{Role: quire.RoleWrite, KeyID: "k",
		Statements: []quire.SQLStatement{{SQL: `UPDATE notes SET body = '{"v":3}' WHERE id = 'a'`}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, st := readVersion(t, s, "a"); v != 2 || st == quire.CacheHit {
		t.Fatalf("after a SQL write: version %d (%s), want 2 from the database", v, st)
	}
}

func sqlRead(t *testing.T, s *Store, role quire.Role, q string) ([]quire.SQLResult, quire.CacheStatus) {
	t.Helper()
	res, _, err := s.ExecSQL(context.Background(), quire.SQLRequest{Role: role, KeyID: "k",
		Statements: []quire.SQLStatement{{SQL: q}}})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res, res[0].Meta.Cache
}

func TestSQLReadCache(t *testing.T) {
	s, _ := cachedStore(t)
	if _, _, err := s.PutCollection(context.Background(), quire.Collection{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	putNote(t, s, "a", `{"v":1}`)
	const count = "SELECT count(*) AS n, max(json_extract(body, '$.v')) AS v FROM notes"
	if _, st := sqlRead(t, s, quire.RoleRead, count); st != quire.CacheMiss {
		t.Fatalf("first read: %s, want miss", st)
	}
	if _, st := sqlRead(t, s, quire.RoleRead, count); st != quire.CacheHit {
		t.Fatalf("second read: %s, want hit", st)
	}
	// Another role is another entry: what a key may read depends on it.
	if _, st := sqlRead(t, s, quire.RoleAdmin, count); st == quire.CacheHit {
		t.Errorf("an admin read was served a read key's entry")
	}
	// A write to another collection leaves it; a write to notes does not.
	op := quire.WriteOp{Op: quire.OpPut, Collection: "other", ID: "x", Body: json.RawMessage(`{}`)}
	if _, _, err := s.Write(context.Background(), []quire.WriteOp{op}, "k"); err != nil {
		t.Fatal(err)
	}
	if _, st := sqlRead(t, s, quire.RoleRead, count); st != quire.CacheHit {
		t.Errorf("after a write to another collection: %s, want hit", st)
	}
	putNote(t, s, "b", `{"v":2}`)
	res, st := sqlRead(t, s, quire.RoleRead, count)
	if st == quire.CacheHit || res[0].Rows[0][0] != int64(2) {
		t.Errorf("after a write to notes: %v (%s), want 2 rows counted from the database", res[0].Rows, st)
	}
	// Functions that are not a function of the data are never cached.
	for _, q := range []string{"SELECT random() AS r FROM notes", "SELECT datetime('now') AS d", "SELECT count(*) + changes() FROM notes"} {
		sqlRead(t, s, quire.RoleRead, q)
		if _, st := sqlRead(t, s, quire.RoleRead, q); st == quire.CacheHit {
			t.Errorf("%s was served from the cache", q)
		}
	}
}

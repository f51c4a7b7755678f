package cache

import (
	"fmt"
	"strings"
	"testing"

	"github.com/quiredb/quire"
)

func bm(seq uint64) quire.Bookmark { return quire.Bookmark{Epoch: 1, Seq: seq} }

func doc(id string, version int64, body string) *quire.Document {
	return &quire.Document{ID: id, Version: version, Body: []byte(body)}
}

// commit runs a write group through a namespace as the writer does.
func commit(n *Namespace, c *quire.Commit) {
	n.BeforeCommit(c)
	n.AfterCommit(c)
}

func put(seq uint64, coll, id string, version int64) *quire.Commit {
	return &quire.Commit{Seq: seq, Collections: []string{coll},
		Docs: []quire.DocChange{{Collection: coll, ID: id, Doc: doc(id, version, `{"v":1}`)}}}
}

func wantDoc(t *testing.T, n *Namespace, coll, id string, after, now uint64, status quire.CacheStatus, version int64) quire.Bookmark {
	t.Helper()
	d, at, st := n.Doc(coll, id, bm(after), bm(now))
	if st != status {
		t.Fatalf("Doc(%s/%s, after %d, now %d) = %s, want %s", coll, id, after, now, st, status)
	}
	if status == quire.CacheHit && d.Version != version {
		t.Fatalf("Doc(%s/%s) version %d, want %d", coll, id, d.Version, version)
	}
	return at
}

func TestFillThenHit(t *testing.T) {
	n := New(NewLocal(1 << 20)).Namespace("acme")
	wantDoc(t, n, "c", "a", 0, 5, quire.CacheMiss, 0)
	n.FillDoc("c", "a", doc("a", 3, `{}`), bm(5))
	at := wantDoc(t, n, "c", "a", 0, 5, quire.CacheHit, 3)
	if at.Seq != 5 {
		t.Errorf("hit reflects %d, want 5", at.Seq)
	}
	commit(n, put(7, "c", "b", 1))
	// Another document was written: the entry is still a's state now
	// (a write of a would have deleted it), for a bookmark up to its At.
	if at := wantDoc(t, n, "c", "a", 5, 7, quire.CacheHit, 3); at.Seq != 7 {
		t.Errorf("hit reflects %d, want 7", at.Seq)
	}
	n.FillDoc("c", "a", doc("a", 3, `{}`), bm(7))
	// Nothing in the collection was written since: it serves any bookmark.
	if at := wantDoc(t, n, "c", "a", 9, 9, quire.CacheHit, 3); at.Seq != 9 {
		t.Errorf("hit reflects %d, want 9 (the present)", at.Seq)
	}
}

func TestWriteDeletesBeforeCommitAndWritesThrough(t *testing.T) {
	n := New(NewLocal(1 << 20)).Namespace("acme")
	n.FillDoc("c", "a", doc("a", 1, `{}`), bm(5))
	c := put(6, "c", "a", 2)
	n.BeforeCommit(c)
	// Between BeforeCommit and AfterCommit the old version is gone.
	wantDoc(t, n, "c", "a", 0, 5, quire.CacheMiss, 0)
	// A read that started before the write committed offers the old
	// version: refused.
	n.FillDoc("c", "a", doc("a", 1, `{}`), bm(5))
	wantDoc(t, n, "c", "a", 0, 5, quire.CacheMiss, 0)
	n.AfterCommit(c)
	wantDoc(t, n, "c", "a", 6, 6, quire.CacheHit, 2)
}

func TestNewerBookmarkBypasses(t *testing.T) {
	n := New(NewLocal(1 << 20)).Namespace("acme")
	n.FillDoc("c", "a", doc("a", 1, `{}`), bm(5))
	commit(n, put(8, "c", "b", 1)) // another document of the collection
	// The entry reflects 5 for sure; a bookmark at 7 is not proven.
	wantDoc(t, n, "c", "a", 7, 8, quire.CacheBypass, 0)
	wantDoc(t, n, "c", "a", 5, 8, quire.CacheHit, 1)
	// A fill at the present lifts it.
	n.FillDoc("c", "a", doc("a", 1, `{}`), bm(8))
	wantDoc(t, n, "c", "a", 8, 8, quire.CacheHit, 1)
}

func TestDeleteInGroupAfterPut(t *testing.T) {
	n := New(NewLocal(1 << 20)).Namespace("acme")
	c := put(3, "c", "a", 1)
	c.Docs = append(c.Docs, quire.DocChange{Collection: "c", ID: "a"})
	c.Seq = 4
	commit(n, c)
	wantDoc(t, n, "c", "a", 0, 4, quire.CacheMiss, 0)
}

func TestWriteOfUnknownExtentForgetsEverything(t *testing.T) {
	n := New(NewLocal(1 << 20)).Namespace("acme")
	n.FillDoc("c", "a", doc("a", 1, `{}`), bm(5))
	n.FillResult("q1", []string{"c"}, "result", 10, bm(5))
	n.FillResult("sql", nil, "rows", 10, bm(5))
	commit(n, &quire.Commit{Seq: 6, All: true})
	wantDoc(t, n, "c", "a", 0, 6, quire.CacheMiss, 0)
	for _, k := range []string{"q1", "sql"} {
		if _, _, st := n.Result(k, bm(0), bm(6)); st != quire.CacheMiss {
			t.Errorf("result %s after an unknown write: %s, want miss", k, st)
		}
	}
	// Fills from reads older than that write are refused.
	n.FillDoc("c", "a", doc("a", 1, `{}`), bm(5))
	wantDoc(t, n, "c", "a", 0, 6, quire.CacheMiss, 0)
}

func TestResultsDependOnTheirCollections(t *testing.T) {
	n := New(NewLocal(1 << 20)).Namespace("acme")
	n.FillResult("join", []string{"clients", "finances"}, "r", 10, bm(5))
	n.FillResult("notes", []string{"notes"}, "r", 10, bm(5))
	n.FillResult("sql", nil, "r", 10, bm(5))
	commit(n, put(6, "finances", "f1", 1))
	if _, _, st := n.Result("join", bm(0), bm(6)); st != quire.CacheMiss {
		t.Errorf("join result after a write to a joined collection: %s, want miss", st)
	}
	if _, at, st := n.Result("notes", bm(6), bm(6)); st != quire.CacheHit || at.Seq != 6 {
		t.Errorf("untouched result: %s at %d, want hit at 6", st, at.Seq)
	}
	if _, _, st := n.Result("sql", bm(0), bm(6)); st != quire.CacheMiss {
		t.Errorf("SQL result (depends on everything) after a write: %s, want miss", st)
	}
	// A fill that raced the write is refused.
	n.FillResult("join", []string{"clients", "finances"}, "old", 10, bm(5))
	if _, _, st := n.Result("join", bm(0), bm(6)); st != quire.CacheMiss {
		t.Errorf("raced fill served: %s", st)
	}
}

func TestTenantsAndGenerationsDoNotCollide(t *testing.T) {
	c := New(NewLocal(1 << 20))
	a, b := c.Namespace("acme"), c.Namespace("acme2")
	a.FillDoc("c", "x", doc("x", 1, `{"t":"acme"}`), bm(1))
	wantDoc(t, b, "c", "x", 0, 1, quire.CacheMiss, 0)
	// The same tenant reopened (or deleted and re-created) starts empty.
	a2 := c.Namespace("acme")
	wantDoc(t, a2, "c", "x", 0, 1, quire.CacheMiss, 0)
	// Names that would collide if keys were joined naively.
	a.FillDoc("c\x00x", "y", doc("y", 1, `{}`), bm(1))
	wantDoc(t, a, "c", "x\x00y", 0, 1, quire.CacheMiss, 0)
	c.DropTenant("acme")
	wantDoc(t, a, "c", "x", 0, 1, quire.CacheMiss, 0)
	b.FillDoc("c", "x", doc("x", 1, `{}`), bm(1))
	c.DropTenant("acme") // a prefix of acme2: must not touch it
	wantDoc(t, b, "c", "x", 0, 1, quire.CacheHit, 1)
}

func TestMemoryBudget(t *testing.T) {
	const budget = 256 << 10
	c := New(NewLocal(budget))
	n := c.Namespace("acme")
	body := `{"pad":"` + strings.Repeat("x", 300) + `"}` // fits the 1 KiB chunks
	for i := range 5000 {
		n.FillDoc("c", fmt.Sprint(i), doc(fmt.Sprint(i), 1, body), bm(1))
	}
	s := c.Stats()
	// The cache may briefly exceed while evicting; a 10% margin.
	if s.Bytes > budget*11/10 {
		t.Errorf("cache holds %d bytes, budget %d", s.Bytes, budget)
	}
	if s.Entries == 0 || s.Entries >= 5000 {
		t.Errorf("cache holds %d entries of 5000 offered, want some but not all", s.Entries)
	}
	// Larger than an eighth of the budget: not stored.
	big := doc("big", 1, `{"pad":"`+strings.Repeat("x", budget/4)+`"}`)
	n.FillDoc("c", "big", big, bm(1))
	wantDoc(t, n, "c", "big", 0, 1, quire.CacheMiss, 0)
}

// panicBackend fails like a broken cache would.
type panicBackend struct{ Backend }

func (panicBackend) GetDoc(string) (*quire.Document, uint64, bool) { panic("backend down") }

func TestFaultTurnsNamespaceOff(t *testing.T) {
	local := NewLocal(1 << 20)
	c := New(panicBackend{local})
	n := c.Namespace("acme")
	n.FillDoc("c", "a", doc("a", 1, `{}`), bm(1))
	if d, _, st := n.Doc("c", "a", bm(0), bm(1)); st != quire.CacheMiss || d != nil {
		t.Fatalf("faulty cache answered %v %s, want a miss", d, st)
	}
	if !n.broken.Load() || c.Stats().Failures != 1 {
		t.Errorf("fault not recorded: broken=%v failures=%d", n.broken.Load(), c.Stats().Failures)
	}
	// Once off, it stays off even if the backend recovers.
	c.b = local
	if _, _, st := n.Doc("c", "a", bm(0), bm(1)); st != quire.CacheMiss {
		t.Errorf("broken namespace answered %s", st)
	}
}

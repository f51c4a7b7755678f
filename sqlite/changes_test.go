package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quiredb/quire"
)

// feedAll reads the whole feed after since with pages of limit, checking
// that cursors only ever move forward, and returns the changes as
// "coll/id:op:version".
func feedAll(t *testing.T, s *Store, since, coll string, limit int) ([]string, string) {
	t.Helper()
	var out []string
	for range 10000 {
		p, err := s.Changes(context.Background(), quire.ChangesQuery{Since: since, Limit: limit, Collection: coll})
		if err != nil {
			t.Fatalf("Changes(since %q): %v", since, err)
		}
		for _, c := range p.Changes {
			out = append(out, fmt.Sprintf("%s/%s:%s:%d", c.Collection, c.ID, c.Op, c.Version))
			if !strings.HasPrefix(c.Cursor, c.Bookmark) {
				t.Fatalf("cursor %q is not inside commit %q", c.Cursor, c.Bookmark)
			}
		}
		if len(p.Changes) == 0 {
			return out, p.Next
		}
		since = p.Next
	}
	t.Fatal("feed never ended")
	return nil, ""
}

func batch(t *testing.T, s *Store, ops ...quire.WriteOp) {
	t.Helper()
	if _, _, err := s.Write(context.Background(), ops, "k1"); err != nil {
		t.Fatal(err)
	}
}

func putOp(coll, id, body string) quire.WriteOp {
	return quire.WriteOp{Op: quire.OpPut, Collection: coll, ID: id, Body: json.RawMessage(body)}
}

func TestChangesPagingInsideCommits(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	for _, c := range []string{"a", "b"} {
		if _, _, err := s.PutCollection(ctx, quire.Collection{Name: c}); err != nil {
			t.Fatal(err)
		}
	}
	var want, wantA []string
	for round := range 3 {
		// One commit of 50 changes over two collections.
		var ops []quire.WriteOp
		for i := range 50 {
			coll := []string{"a", "b"}[i%2]
			id := fmt.Sprintf("d%02d", i)
			ops = append(ops, putOp(coll, id, `{}`))
			change := fmt.Sprintf("%s/%s:put:%d", coll, id, round+1)
			want = append(want, change)
			if coll == "a" {
				wantA = append(wantA, change)
			}
		}
		batch(t, s, ops...)
	}
	batch(t, s, quire.WriteOp{Op: quire.OpDelete, Collection: "a", ID: "d00"})
	want = append(want, "a/d00:delete:3")
	wantA = append(wantA, "a/d00:delete:3")
	for _, limit := range []int{1, 7, 50, 1000} {
		got, next := feedAll(t, s, "", "", limit)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d:\ngot  %v\nwant %v", limit, got, want)
		}
		if next != s.FormatBookmark(s.Position()) {
			t.Fatalf("limit %d: final next %q, want the position", limit, next)
		}
		got, _ = feedAll(t, s, "", "a", limit)
		if fmt.Sprint(got) != fmt.Sprint(wantA) {
			t.Fatalf("limit %d, collection a:\ngot  %v\nwant %v", limit, got, wantA)
		}
	}
	// A cursor inside a commit is one only there; the last change of a
	// commit has the commit's bookmark as its cursor.
	p, err := s.Changes(ctx, quire.ChangesQuery{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range p.Changes {
		if inside := c.Cursor != c.Bookmark; inside != (i < 49) {
			t.Fatalf("change %d: cursor %q, bookmark %q", i, c.Cursor, c.Bookmark)
		}
	}
	// A filtered page that ends inside a commit resumes inside it.
	p, err = s.Changes(ctx, quire.ChangesQuery{Limit: 3, Collection: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Next == p.Changes[2].Bookmark {
		t.Fatalf("filtered page ending inside a commit got next %q", p.Next)
	}
}

func TestChangesCursorChecks(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	batch(t, s, putOp("a", "x", `{}`), putOp("a", "y", `{}`))
	p, err := s.Changes(ctx, quire.ChangesQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	inside := p.Next
	mark, row, _ := strings.Cut(inside, ".")
	if row == "" {
		t.Fatalf("next %q is not inside the commit", inside)
	}
	other, err := Open(t.TempDir(), "other", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, bad := range []string{
		"nope", mark + ".", mark + ".00000000000000A1", mark + "." + row + "0", mark + ".0000000000000000",
		mark + ".00000000000fffff", // no such change in that commit
		other.FormatBookmark(other.Position()),
		s.FormatBookmark(quire.Bookmark{Epoch: 1, Seq: 1 << 40}),
	} {
		_, err := s.Changes(ctx, quire.ChangesQuery{Since: bad})
		if quire.ErrorCode(err) != quire.EInvalidBookmark {
			t.Errorf("since %q: got %v, want invalid_bookmark", bad, err)
		}
	}
	for _, limit := range []int{-1, quire.MaxChangesLimit + 1} {
		if _, err := s.Changes(ctx, quire.ChangesQuery{Limit: limit}); quire.ErrorCode(err) != quire.EInvalid {
			t.Errorf("limit %d: got %v", limit, err)
		}
	}
	if _, err := s.Changes(ctx, quire.ChangesQuery{Collection: "Bad-Name"}); quire.ErrorCode(err) != quire.EInvalidName {
		t.Errorf("bad collection: got %v", err)
	}
	p, err = s.Changes(ctx, quire.ChangesQuery{Since: inside})
	if err != nil || len(p.Changes) != 1 || p.Changes[0].ID != "y" {
		t.Fatalf("resume inside commit: %+v, %v", p, err)
	}
}

// TestChangesQueryPlan keeps the page query on the seq index, in index
// order: no scan of the log and no sort, however long it grows.
func TestChangesQueryPlan(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN SELECT rowid, seq, collection, doc_id, op, version, at, key_id FROM _quire_changes
		WHERE seq >= 1 AND (seq > 1 OR rowid > 5) AND collection = 'a' ORDER BY seq, rowid LIMIT 10`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "_quire_changes_seq") || strings.Contains(got, "TEMP B-TREE") {
		t.Fatalf("plan: %s", got)
	}
}

func TestChangesBodies(t *testing.T) {
	ctx := context.Background()
	s := historyStore(t) // "notes" keeps history
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	for _, coll := range []string{"notes", "plain"} {
		// One commit, one millisecond: versions restart after the delete.
		batch(t, s, putOp(coll, "x", `{"n":1}`), quire.WriteOp{Op: quire.OpDelete, Collection: coll, ID: "x"}, putOp(coll, "x", `{"n":2}`))
		batch(t, s, putOp(coll, "y", `{"n":1}`))
		batch(t, s, putOp(coll, "y", `{"n":2}`))
	}
	write(t, s, quire.OpPut, "z", `{"n":1}`, "k1")
	if _, err := s.Purge(ctx, "notes", "z", "k1"); err != nil {
		t.Fatal(err)
	}
	p, err := s.Changes(ctx, quire.ChangesQuery{Body: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Changes {
		if c.BodyAvailable == nil || *c.BodyAvailable != (string(c.Body) != "null") {
			t.Fatalf("%+v: body_available does not match body", c)
		}
		got = append(got, fmt.Sprintf("%s/%s:%s:%d:%s", c.Collection, c.ID, c.Op, c.Version, c.Body))
	}
	want := []string{
		`notes/x:put:1:{"n":1}`, `notes/x:delete:1:{"n":1}`, `notes/x:put:1:{"n":2}`,
		`notes/y:put:1:{"n":1}`, `notes/y:put:2:{"n":2}`,
		`plain/x:put:1:null`, `plain/x:delete:1:null`, `plain/x:put:1:{"n":2}`,
		`plain/y:put:1:null`, `plain/y:put:2:{"n":2}`,
		`notes/z:put:1:null`, `notes/z:delete:1:null`, `notes/z:purge:1:null`,
	}
	sameList(t, got, want)
	p, _ = s.Changes(ctx, quire.ChangesQuery{Limit: 1})
	if c := p.Changes[0]; c.Body != nil || c.BodyAvailable != nil {
		t.Fatalf("body without asking: %+v", c)
	}
}

func TestChangesRetention(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), "acme", Options{ChangeRetention: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	start := s.FormatBookmark(s.Position())
	batch(t, s, putOp("a", "x", `{}`), putOp("a", "y", `{}`))
	p, err := s.Changes(ctx, quire.ChangesQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	inside := p.Next
	seen := s.FormatBookmark(s.Position()) // a reader that saw both changes
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := s.PruneChanges(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if n != 0 || time.Now().After(deadline) {
			t.Fatalf("pruned %d changes", n)
		}
		time.Sleep(time.Millisecond)
	}
	for _, since := range []string{start, inside} {
		_, err := s.Changes(ctx, quire.ChangesQuery{Since: since})
		var qe *quire.Error
		if quire.ErrorCode(err) != quire.EChangesExpired || !strings.Contains(err.Error(), seen) {
			t.Fatalf("since %q after pruning: %v", since, err)
		}
		if !errors.As(err, &qe) || qe.Details["oldest"] != seen {
			t.Fatalf("details %v", qe.Details)
		}
	}
	batch(t, s, putOp("a", "z", `{}`))
	for _, since := range []string{seen, ""} {
		got, _ := feedAll(t, s, since, "", 10)
		if fmt.Sprint(got) != "[a/z:put:1]" {
			t.Fatalf("since %q: %v", since, got)
		}
	}
	if _, err := s.Changes(ctx, quire.ChangesQuery{Since: seen}); err != nil {
		t.Fatal(err)
	}
}

// TestChangesPruneSteps prunes in steps smaller than a commit and stops
// at the first commit young enough to keep.
func TestChangesPruneSteps(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	defer func(n int) { pruneStep = n }(pruneStep)
	pruneStep = 3
	var marks []string
	for c := range 6 {
		// Each commit in a millisecond of its own.
		for ms := time.Now().UnixMilli(); time.Now().UnixMilli() == ms; {
			time.Sleep(100 * time.Microsecond)
		}
		var ops []quire.WriteOp
		for i := range 5 {
			ops = append(ops, putOp("a", fmt.Sprintf("c%d-%d", c, i), `{}`))
		}
		batch(t, s, ops...)
		marks = append(marks, s.FormatBookmark(s.Position()))
	}
	// Keep the last two commits: cut off at the time of the fifth.
	p, err := s.Changes(ctx, quire.ChangesQuery{Since: marks[3]})
	if err != nil {
		t.Fatal(err)
	}
	before := s.Position()
	n, err := s.pruneChangesBefore(ctx, p.Changes[0].At)
	if err != nil || n != 20 {
		t.Fatalf("pruned %d changes: %v", n, err)
	}
	if writes := s.Position().Seq - before.Seq; writes < 4 {
		t.Fatalf("pruned in %d writes, want one per commit (step %d)", writes, pruneStep)
	}
	kept, _ := feedAll(t, s, "", "", 4)
	if len(kept) != 10 || kept[0] != "a/c4-0:put:1" {
		t.Fatalf("kept %v", kept)
	}
	if _, err := s.Changes(ctx, quire.ChangesQuery{Since: marks[2]}); quire.ErrorCode(err) != quire.EChangesExpired {
		t.Fatalf("since a pruned commit: %v", err)
	}
	if _, err := s.Changes(ctx, quire.ChangesQuery{Since: marks[3]}); err != nil {
		t.Fatalf("since the last pruned commit: %v", err)
	}
}

// FuzzChangeCursor: a cursor is accepted only in its one spelling, and
// never with a foreign or future bookmark.
func FuzzChangeCursor(f *testing.F) {
	s := openTestStore(f, f.TempDir())
	if _, _, err := s.PutCollection(context.Background(), quire.Collection{Name: "notes"}); err != nil {
		f.Fatal(err)
	}
	op := quire.WriteOp{Op: quire.OpPut, Collection: "notes", ID: "a", Body: json.RawMessage(`{}`)}
	if _, _, err := s.Write(context.Background(), []quire.WriteOp{op}, "k"); err != nil {
		f.Fatal(err)
	}
	now := s.FormatBookmark(s.Position())
	for _, c := range []string{now, now + ".0000000000000001", now + ".0000000000000000", now + ".000000000000000A",
		now + ".1", now + ".", now + "..0000000000000001", "", "x", now[:len(now)-1] + "0"} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := s.parseCursor(token)
		if err != nil {
			if c := quire.ErrorCode(err); c != quire.EInvalidBookmark {
				t.Fatalf("parseCursor(%q): code %q", token, c)
			}
			return
		}
		if got := s.formatCursor(p); got != token {
			t.Fatalf("parseCursor(%q) = %+v, which formats as %q", token, p, got)
		}
		if s.Position().Less(p.Bookmark) {
			t.Fatalf("parseCursor(%q) accepted a future position", token)
		}
	})
}

// TestChangesNeverPassThePublishedPosition reads the feed while writers
// commit: a read transaction may already see a commit whose position the
// writer has not yet published, and a page must not show it, or its cursor
// would be refused as ahead of the tenant's history on the next request.
func TestChangesNeverPassThePublishedPosition(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 300 {
				put(t, s, "clients", fmt.Sprintf("w%d-%d", w, i%7), fmt.Sprintf(`{"age":%d}`, i))
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	since, pages := "", 0
	for {
		select {
		case <-done:
			if pages == 0 {
				t.Fatal("no page read while the writers ran")
			}
			return
		default:
		}
		p, err := s.Changes(ctx, quire.ChangesQuery{Since: since, Limit: 5})
		if err != nil {
			t.Fatalf("page %d from %q: %v", pages, since, err)
		}
		for _, c := range p.Changes {
			if b, err := s.ParseBookmark(c.Bookmark); err != nil || b.Seq > p.Head.Seq {
				t.Fatalf("change at %s past the page's head %d: %v", c.Bookmark, p.Head.Seq, err)
			}
		}
		since = p.Next
		pages++
	}
}

package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/quiredb/quire"
)

func openTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, "acme", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var clients = quire.Collection{Name: "clients", Indexes: []quire.IndexSpec{
	{Field: "last_name", Path: "$.name.last"},
	{Field: "postcode", Path: "address.postcode"},
	{Field: "email", Path: "$.email", Unique: true},
	{Field: "age", Path: "$.age", Type: quire.IndexInteger},
}}

func put(t testing.TB, s *Store, coll, id, body string) quire.WriteResult {
	t.Helper()
	res, _, err := s.Write(context.Background(), []quire.WriteOp{{Op: quire.OpPut, Collection: coll, ID: id, Body: json.RawMessage(body)}}, "k1")
	if err != nil {
		t.Fatalf("put %s: %v", id, err)
	}
	return res[0]
}

func TestStoreCRUD(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	r := put(t, s, "clients", "c1", `{"name":{"last":"Smith"},"email":"a@x","age":30}`)
	if !r.Created || r.Version != 1 {
		t.Fatalf("got %+v", r)
	}
	r = put(t, s, "clients", "c1", `{"name":{"last":"Smith"},"email":"a@x","age":31}`)
	if r.Created || r.Version != 2 {
		t.Fatalf("got %+v", r)
	}
	d, err := s.Get(ctx, "clients", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(d.Body), `{"name":{"last":"Smith"},"email":"a@x","age":31}`; got != want {
		t.Fatalf("body %s, want %s", got, want)
	}
	_, _, err = s.Write(ctx, []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: "c2", Body: json.RawMessage(`{"email":"a@x"}`)}}, "k1")
	if got := quire.ErrorCode(err); got != quire.EUniqueViolation {
		t.Fatalf("unique: got %v", err)
	}
	_, _, err = s.Write(ctx, []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: "c3", Body: json.RawMessage(`{"age":"old"}`)}}, "k1")
	if got := quire.ErrorCode(err); got != quire.EInvalidDocument {
		t.Fatalf("type: got %v", err)
	}
	_, _, err = s.Write(ctx, []quire.WriteOp{{Op: quire.OpPatch, Collection: "clients", ID: "c1", Body: json.RawMessage(`{"age":null,"x":1}`)}}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	d, _ = s.Get(ctx, "clients", "c1")
	if got, want := string(d.Body), `{"name":{"last":"Smith"},"email":"a@x","x":1}`; got != want || d.Version != 3 {
		t.Fatalf("patched body %s v%d, want %s v3", got, d.Version, want)
	}
	if _, _, err := s.AddIndex(ctx, "clients", quire.IndexSpec{Field: "x", Path: "$.x", Type: quire.IndexInteger}); err != nil {
		t.Fatal(err)
	}
	docs, _, err := s.List(ctx, quire.ListQuery{Collection: "clients", Field: "x", Value: "1"})
	if err != nil || len(docs) != 1 {
		t.Fatalf("list by x: %v %d", err, len(docs))
	}
	if _, _, err := s.DropIndex(ctx, "clients", "postcode"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.DropIndex(ctx, "clients", "last_name"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openTestStore(t, dir)
	c, err := s2.Collection(ctx, "clients")
	if err != nil || len(c.Indexes) != 3 {
		t.Fatalf("after reopen: %v %+v", err, c)
	}
	if got := s2.Position().Seq; got < 5 {
		t.Fatalf("seq %d", got)
	}
	_ = filepath.Join
}

func TestStoreConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	seqs := make([]uint64, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, b, err := s.Write(ctx, []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: fmt.Sprint("d", i), Body: json.RawMessage(`{"a":1}`)}}, "k")
			if err != nil {
				t.Error(err)
			}
			seqs[i] = b.Seq
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, q := range seqs {
		if seen[q] {
			t.Fatalf("sequence %d given twice", q)
		}
		seen[q] = true
	}
}

// TestCancelledReadIsNotInternal: a read whose client went away is
// reported as unavailable, not as a server fault.
func TestCancelledReadIsNotInternal(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(context.Background(), clients); err != nil {
		t.Fatal(err)
	}
	put(t, s, "clients", "c1", `{"email":"a@x"}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.List(ctx, quire.ListQuery{Collection: "clients"})
	if got, want := quire.ErrorCode(err), quire.EUnavailable; got != want {
		t.Errorf("list with a cancelled context: got %v, want code %s", err, want)
	}
}

// TestWriterWALSettings: the writer checkpoints at walCheckpointPages and
// cuts the WAL file back afterwards, so an active tenant's WAL is bounded,
// and its page cache can hold a large group's dirty pages.
func TestWriterWALSettings(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	want := map[string]int64{
		"wal_autocheckpoint": walCheckpointPages,
		"journal_size_limit": walKeepBytes,
		"cache_size":         -writerCacheKiB,
	}
	for pragma, v := range want {
		var got int64
		if err := s.wconn.QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("writer: %s = %d, want %d", pragma, got, v)
		}
	}
	if walKeepBytes < walCheckpointPages*4096 {
		t.Errorf("journal_size_limit %d is below the WAL's size at a checkpoint: the file would be cut and regrown every time", walKeepBytes)
	}
}

// TestOnlyTheWriterMapsTheFile: readers read through SQLite's page cache,
// which survives commits better than a map they would drop after each one
// (see mmapBytes), and so does the checkpointer; the writer keeps its map.
func TestOnlyTheWriterMapsTheFile(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	var writer, reader int64
	if err := s.wconn.QueryRowContext(context.Background(), "PRAGMA mmap_size").Scan(&writer); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.QueryRowContext(context.Background(), "PRAGMA mmap_size").Scan(&reader); err != nil {
		t.Fatal(err)
	}
	var checkpointer int64
	if err := s.ckpt.db.QueryRowContext(context.Background(), "PRAGMA mmap_size").Scan(&checkpointer); err != nil {
		t.Fatal(err)
	}
	if writer != mmapBytes || reader != 0 || checkpointer != 0 {
		t.Errorf("mmap_size: writer %d, reader %d, checkpointer %d; want %d, 0 and 0", writer, reader, checkpointer, mmapBytes)
	}
}

// TestCreateConflicts: a create whose id exists fails with conflict and
// changes nothing, a create whose unique field is taken fails with
// unique_violation, and neither disturbs the other writes of the group.
func TestCreateConflicts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	put(t, s, "clients", "c1", `{"email":"a@x"}`)
	before := s.Position()
	create := func(id, body string) error {
		_, _, err := s.Write(ctx, []quire.WriteOp{{Op: quire.OpCreate, Collection: "clients", ID: id, Body: json.RawMessage(body)}}, "k1")
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, c := range []struct{ id, body string }{{"c1", `{"email":"b@x"}`}, {"c2", `{"email":"a@x"}`}, {"c3", `{"email":"c@x"}`}} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = create(c.id, c.body) }()
	}
	wg.Wait()
	if quire.ErrorCode(errs[0]) != quire.EConflict || !strings.Contains(errs[0].Error(), `"c1" already exists`) {
		t.Errorf("create of an existing id: %v, want conflict", errs[0])
	}
	if quire.ErrorCode(errs[1]) != quire.EUniqueViolation {
		t.Errorf("create with a taken unique field: %v, want unique_violation", errs[1])
	}
	if errs[2] != nil {
		t.Errorf("create beside them: %v", errs[2])
	}
	d, err := s.Get(ctx, "clients", "c1")
	if err != nil || string(d.Body) != `{"email":"a@x"}` || d.Version != 1 {
		t.Errorf("c1 after the refused create: %+v, %v", d, err)
	}
	if _, err := s.Get(ctx, "clients", "c2"); quire.ErrorCode(err) != quire.ENotFound {
		t.Errorf("c2: %v, want not_found", err)
	}
	page, err := s.Changes(ctx, quire.ChangesQuery{Since: s.FormatBookmark(before)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Changes) != 1 || page.Changes[0].ID != "c3" {
		t.Errorf("changes after the creates: %+v, want only c3", page.Changes)
	}
}

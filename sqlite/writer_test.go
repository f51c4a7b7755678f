package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/quiredb/quire"
)

// countRows counts the rows of table, read on the writer's connection.
func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.wconn.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFailedRequestLeavesNothing fails the last op of a request that runs
// in a savepoint of a shared group, of one alone in its group (no
// savepoint: the transaction is rolled back), and of a batch large enough
// to commit alone. None of the ops before it may stay written, logged or
// counted.
func TestFailedRequestLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	put(t, s, "clients", "taken", `{"email":"taken@x"}`)
	for _, size := range []int{1, 2, aloneOps + 1, 4 * aloneOps} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			before, docs, changes := s.Position(), countRows(t, s, `"clients"`), countRows(t, s, "_quire_changes")
			ops := make([]quire.WriteOp, size)
			for i := range size - 1 {
				ops[i] = quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: fmt.Sprintf("b%d-%d", size, i),
					Body: json.RawMessage(fmt.Sprintf(`{"email":"b%d-%d@x"}`, size, i))}
			}
			// Last: a unique index refuses it inside SQLite, after the
			// other ops have written their rows.
			ops[size-1] = quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: fmt.Sprintf("b%d-last", size),
				Body: json.RawMessage(`{"email":"taken@x"}`)}
			if _, _, err := s.Write(ctx, ops, "k1"); quire.ErrorCode(err) != quire.EUniqueViolation {
				t.Fatalf("write: %v, want %s", err, quire.EUniqueViolation)
			}
			if got := s.Position(); got != before {
				t.Errorf("position moved from %v to %v", before, got)
			}
			if got := countRows(t, s, `"clients"`); got != docs {
				t.Errorf("%d documents, want %d", got, docs)
			}
			if got := countRows(t, s, "_quire_changes"); got != changes {
				t.Errorf("%d change-log rows, want %d", got, changes)
			}
			// The writer goes on: the same ops without the failing one commit.
			if _, _, err := s.Write(ctx, ops[:size-1], "k1"); size > 1 && err != nil {
				t.Fatalf("write after the failure: %v", err)
			}
		})
	}
}

// TestLargeBatchesCommitAmongSmallWrites writes batches large enough to
// commit alone while single writes stream in: every write commits once,
// under a sequence number of its own.
func TestLargeBatchesCommitAmongSmallWrites(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	const batches, small = 6, 200
	var mu sync.Mutex
	seqs := map[uint64]bool{}
	record := func(b quire.Bookmark) {
		mu.Lock()
		defer mu.Unlock()
		if seqs[b.Seq] {
			t.Errorf("sequence %d answered twice", b.Seq)
		}
		seqs[b.Seq] = true
	}
	var wg sync.WaitGroup
	for b := range batches {
		wg.Go(func() {
			ops := make([]quire.WriteOp, 3*aloneOps)
			for i := range ops {
				ops[i] = quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: fmt.Sprintf("big%d-%d", b, i), Body: json.RawMessage(`{"age":1}`)}
			}
			_, bm, err := s.Write(ctx, ops, "k1")
			if err != nil {
				t.Error(err)
				return
			}
			record(bm)
		})
	}
	for i := range small {
		wg.Go(func() {
			_, bm, err := s.Write(ctx, []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: fmt.Sprintf("small%d", i), Body: json.RawMessage(`{"age":2}`)}}, "k1")
			if err != nil {
				t.Error(err)
				return
			}
			record(bm)
		})
	}
	wg.Wait()
	if got, want := countRows(t, s, `"clients"`), batches*3*aloneOps+small; got != want {
		t.Errorf("%d documents, want %d", got, want)
	}
	if got, want := len(seqs), batches+small; got != want {
		t.Errorf("%d sequence numbers, want %d", got, want)
	}
	if got := s.Position().Seq; !seqs[got] {
		t.Errorf("position %d is not the sequence of any write", got)
	}
}

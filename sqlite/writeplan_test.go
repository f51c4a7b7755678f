package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/quiredb/quire"
)

// pragmaNow reads an integer pragma (page_count, page_size) on the
// writer's connection, between writes.
func pragmaNow(t *testing.T, s *Store, name string) int64 {
	t.Helper()
	var n int64
	if err := s.wconn.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSingleWritesFailAloneWithoutSavepoints sends single-op writes that
// share groups, many of which fail inside SQLite: creates of taken ids or
// emails, puts of taken emails, and patches whose result is over the size
// limit. Exactly the writes that succeeded are stored and logged, each
// under a sequence number of its own.
func TestSingleWritesFailAloneWithoutSavepoints(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), "acme", Options{MaxDocBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	put(t, s, "clients", "taken", `{"email":"taken@x"}`)
	put(t, s, "clients", "grow", `{"email":"grow@x"}`)
	before := s.Position()
	docsBefore, changesBefore := countRows(t, s, `"clients"`), countRows(t, s, "_quire_changes")

	const n = 300
	type outcome struct {
		id  string
		err error
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("w%03d", i)
			op := quire.WriteOp{Op: quire.OpCreate, Collection: "clients", ID: id, Body: json.RawMessage(fmt.Sprintf(`{"email":"%s@x"}`, id))}
			switch i % 6 {
			case 1:
				op.ID = "taken"
			case 2:
				op.Body = json.RawMessage(`{"email":"taken@x"}`)
			case 3:
				op = quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: id, Body: json.RawMessage(`{"email":"taken@x"}`)}
			case 4:
				op = quire.WriteOp{Op: quire.OpPatch, Collection: "clients", ID: "grow", Body: json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("p", 3000)+id))}
			}
			_, _, err := s.Write(ctx, []quire.WriteOp{op}, "k1")
			out[i] = outcome{op.ID, err}
		})
	}
	wg.Wait()

	ok := 0
	for i, o := range out {
		var want string
		switch i % 6 {
		case 1:
			want = quire.EConflict
		case 2, 3:
			want = quire.EUniqueViolation
		}
		// A patch of "grow" succeeds only while the body stays small: each
		// adds its own 3 kB pad, so all but the first two fail.
		if i%6 == 4 {
			if o.err != nil && quire.ErrorCode(o.err) != quire.ETooLarge {
				t.Errorf("patch %d: %v, want too_large or success", i, o.err)
			}
			if o.err == nil {
				ok++
			}
			continue
		}
		if got := quire.ErrorCode(o.err); got != want || (want == "" && o.err != nil) {
			t.Errorf("write %d (%s): %v, want %q", i, o.id, o.err, want)
		}
		if o.err == nil {
			ok++
		}
	}
	if got, want := s.Position().Seq-before.Seq, uint64(ok); got != want {
		t.Errorf("position moved by %d, want %d (one per successful write)", got, want)
	}
	if got, want := countRows(t, s, `"clients"`), docsBefore+n/6*2; got != want {
		t.Errorf("%d documents, want %d", got, want)
	}
	if got, want := countRows(t, s, "_quire_changes"), changesBefore+ok; got != want {
		t.Errorf("%d change-log rows, want %d", got, want)
	}
	d, err := s.Get(ctx, "clients", "grow")
	if err != nil || len(d.Body) > 4096 {
		t.Fatalf("grow: %v, %d bytes", err, len(d.Body))
	}
	if d.Version != int64(1+ok-n/6*2) {
		t.Errorf("grow is at version %d, want %d (one per successful patch)", d.Version, 1+ok-n/6*2)
	}
}

// TestPanicWithoutSavepointLosesTheGroup makes a self-undoing request
// panic after it wrote, in a group with other writes: with no savepoint to
// take its write back, the whole group must fail and nothing of it stay.
func TestPanicWithoutSavepointLosesTheGroup(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	before, docs := s.Position(), countRows(t, s, `"clients"`)

	// Hold the writer so that the next requests queue into one group.
	release := holdWriter(t, s)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _, errs[0] = s.submitPlanned(ctx, writePlan{mode: groupShared, selfUndoing: true}, func(t *txn) (any, error) {
			op := quire.WriteOp{Op: quire.OpCreate, Collection: "clients", ID: "doomed", Body: json.RawMessage(`{"age":1}`)}
			if _, err := t.apply(&op, "k1"); err != nil {
				return nil, err
			}
			panic("after the write")
		})
	})
	for i := 1; i < 3; i++ {
		wg.Go(func() {
			_, _, errs[i] = s.Write(ctx, []quire.WriteOp{{Op: quire.OpCreate, Collection: "clients", ID: fmt.Sprintf("beside%d", i), Body: json.RawMessage(`{"age":2}`)}}, "k1")
		})
	}
	release(3)
	wg.Wait()
	if !errors.Is(errs[0], errWritePanicked) {
		t.Errorf("panicking request: %v, want a panic error", errs[0])
	}
	for i, err := range errs[1:] {
		if err == nil {
			t.Errorf("write %d in the lost group succeeded", i+1)
		}
	}
	if got := s.Position(); got != before {
		t.Errorf("position moved from %v to %v", before, got)
	}
	if got := countRows(t, s, `"clients"`); got != docs {
		t.Errorf("%d documents, want %d", got, docs)
	}
	// The writer goes on.
	put(t, s, "clients", "after", `{"age":3}`)
}

// TestWriteGrowthBoundsRealGrowth creates, overwrites and deletes
// documents of many sizes, with long indexed values, one write per group,
// and checks each one's growth of the database against the bound that
// lets it skip the storage check.
func TestWriteGrowthBoundsRealGrowth(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	pageSize := pragmaNow(t, s, "page_size")
	rng := rand.New(rand.NewPCG(7, 7))
	var ids []string
	var most float64
	for i := range 600 {
		size := rng.IntN(12000)
		if i%3 == 0 {
			size = rng.IntN(200)
		}
		last := strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(size+1))
		body := fmt.Sprintf(`{"name":{"last":%q},"email":"%d-%s@x","address":{"postcode":%q},"age":%d}`,
			last, i, strings.Repeat("e", rng.IntN(size/4+1)), strings.Repeat("P", rng.IntN(size/4+1)), rng.IntN(100))
		op := quire.WriteOp{Op: quire.OpCreate, Collection: "clients", ID: fmt.Sprintf("g%04d", i), Body: json.RawMessage(body)}
		switch x := rng.IntN(10); {
		case x < 3 && len(ids) > 0:
			op.Op, op.ID = quire.OpPut, ids[rng.IntN(len(ids))]
		case x < 4 && len(ids) > 0:
			j := rng.IntN(len(ids))
			op = quire.WriteOp{Op: quire.OpDelete, Collection: "clients", ID: ids[j]}
			ids = append(ids[:j], ids[j+1:]...)
		default:
			ids = append(ids, op.ID)
		}
		ops := []quire.WriteOp{op}
		if err := s.checkOp(&ops[0]); err != nil {
			t.Fatal(err)
		}
		bound := s.writeGrowth(ops)().pages(pageSize)
		p0 := pragmaNow(t, s, "page_count")
		if _, _, err := s.Write(ctx, ops, "k1"); err != nil {
			t.Fatalf("%s %d: %v", op.Op, i, err)
		}
		grew := pragmaNow(t, s, "page_count") - p0
		if grew > bound {
			t.Fatalf("%s %d (%d bytes) grew the database by %d pages, over its bound of %d", op.Op, i, len(body), grew, bound)
		}
		most = max(most, float64(grew)/float64(bound))
	}
	if most == 0 {
		t.Fatal("no write grew the database")
	}
	t.Logf("the largest growth was %.1f%% of its bound", 100*most)

	if s.writeGrowth([]quire.WriteOp{{Op: quire.OpPatch, Collection: "clients"}}) != nil {
		t.Error("a patch has a growth bound; its result may be any size up to the limit")
	}
	kept := quire.Collection{Name: "kept", History: true}
	if _, _, err := s.PutCollection(ctx, kept); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []quire.OpKind{quire.OpPut, quire.OpDelete} {
		if g := s.writeGrowth([]quire.WriteOp{{Op: kind, Collection: "kept"}})(); g.pages(pageSize) != 0 {
			t.Errorf("a %s in a collection keeping history has a growth bound", kind)
		}
	}
}

// TestCreatesStopAtTheStorageQuota fills a tenant with creates up to a
// quota too close for their bounds to clear them, so each is counted: the
// database ends within the quota, every create that succeeded is stored,
// and a delete still passes.
func TestCreatesStopAtTheStorageQuota(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	pageSize := pragmaNow(t, s, "page_size")
	// Room for about 200 documents of 2 kB.
	limit := (pragmaNow(t, s, "page_count") + 200) * pageSize
	s.SetQuotas(quire.Quotas{StorageBytes: limit})
	pad := strings.Repeat("x", 2000)
	written, refused := 0, 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("q%d-%04d", w, i)
				_, _, err := s.Write(ctx, []quire.WriteOp{{Op: quire.OpCreate, Collection: "clients", ID: id,
					Body: json.RawMessage(fmt.Sprintf(`{"email":%q,"pad":%q}`, id, pad))}}, "k1")
				mu.Lock()
				if err == nil {
					written++
				} else if quire.ErrorCode(err) == quire.EStorageQuotaExceeded {
					refused++
				} else {
					t.Errorf("create %s: %v", id, err)
				}
				stop := refused >= 20 || i > 2000
				mu.Unlock()
				if stop {
					return
				}
			}
		})
	}
	wg.Wait()
	if refused == 0 {
		t.Fatalf("%d creates and none refused", written)
	}
	if got := pragmaNow(t, s, "page_count") * pageSize; got > limit {
		t.Errorf("database is %d bytes, over its quota of %d", got, limit)
	}
	if got := countRows(t, s, `"clients"`); got != written {
		t.Errorf("%d documents stored, %d creates succeeded", got, written)
	}
	if written < 50 {
		t.Errorf("only %d creates fit in 200 pages", written)
	}
	// A tenant at its quota can still free space and write in place.
	if _, _, err := s.Write(ctx, []quire.WriteOp{{Op: quire.OpDelete, Collection: "clients", ID: "q0-0000"}}, "k1"); err != nil {
		t.Errorf("delete at the quota: %v", err)
	}
}

// holdWriter blocks the writer until the returned function is called with
// the number of requests to wait for: those then run as one group.
func holdWriter(t *testing.T, s *Store) (release func(queued int)) {
	t.Helper()
	hold, held := make(chan struct{}), make(chan struct{})
	go s.submit(context.Background(), groupShared, func(t *txn) (any, error) {
		close(held)
		<-hold
		return nil, errors.New("holder")
	})
	<-held
	return func(queued int) {
		for len(s.reqs) < queued {
			runtime.Gosched()
		}
		close(hold)
	}
}

// TestQuotaLoweredMidGroup lowers the storage quota below the database's
// size between a create that skipped its storage check and a delete of the
// same group: the delete does not grow the database, so it must pass,
// which needs the size before it counted again.
func TestQuotaLoweredMidGroup(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(ctx, clients); err != nil {
		t.Fatal(err)
	}
	put(t, s, "clients", "old", `{"age":1}`)
	s.SetQuotas(quire.Quotas{StorageBytes: 1 << 30})
	release := holdWriter(t, s)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	submitted := func(n int) {
		for len(s.reqs) < n {
			runtime.Gosched()
		}
	}
	wg.Go(func() {
		_, _, errs[0] = s.Write(ctx, []quire.WriteOp{{Op: quire.OpCreate, Collection: "clients", ID: "big",
			Body: json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 64<<10)))}}, "k1")
	})
	submitted(1)
	wg.Go(func() {
		_, _, errs[1] = s.submit(ctx, groupShared, func(t *txn) (any, error) {
			s.SetQuotas(quire.Quotas{StorageBytes: 4096})
			t.touchesNothing()
			return nil, nil
		})
	})
	submitted(2)
	wg.Go(func() {
		_, _, errs[2] = s.Write(ctx, []quire.WriteOp{{Op: quire.OpDelete, Collection: "clients", ID: "old"}}, "k1")
	})
	release(3)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
}

// TestStorageCoveredCountsBounds follows the writer's accounting: far
// below the quota, requests with a bound are cleared and their bounds
// add up; once the next bound would pass the quota they are counted, and
// an exact count starts the sum again from the real size.
func TestStorageCoveredCountsBounds(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(context.Background(), clients); err != nil {
		t.Fatal(err)
	}
	// The writer is idle: its last answer ordered its fields before this.
	s.notePages()
	one := func() growth { return growth{trees: 1} }
	per := one().pages(s.pageSize)
	if per <= 0 {
		t.Fatalf("a bound of %d pages", per)
	}
	if !s.storageCovered(nil) {
		t.Error("a request without a bound is checked when there is no quota")
	}
	s.SetQuotas(quire.Quotas{StorageBytes: (s.pages + 10*per) * s.pageSize})
	for i := range 10 {
		if !s.storageCovered(one) {
			t.Fatalf("request %d of 10 that fit was not cleared", i+1)
		}
	}
	if got, want := s.pagesBound, s.pages+10*per; got != want {
		t.Errorf("bound %d pages after 10 requests, want %d", got, want)
	}
	if s.storageCovered(one) {
		t.Error("an eleventh request was cleared past the quota")
	}
	if s.storageCovered(nil) {
		t.Error("a request without a bound was cleared under a quota")
	}
	s.exactPages()
	if s.pagesBound != s.pages {
		t.Errorf("after a count the bound is %d, the size %d", s.pagesBound, s.pages)
	}
	if !s.storageCovered(one) {
		t.Error("not cleared after an exact count made room again")
	}
}

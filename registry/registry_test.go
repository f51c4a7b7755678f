package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/sqlite"
)

var ctx = context.Background()

// newRegistry opens a registry on dir and closes it when the test ends
// (Close is idempotent, so tests may close it earlier).
func newRegistry(t *testing.T, cfg registry.Config) *registry.Registry {
	t.Helper()
	r, err := registry.New(cfg)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registry.Close: %v", err)
		}
	})
	return r
}

func createTenant(t testing.TB, r *registry.Registry, id string, domains ...string) {
	t.Helper()
	if _, err := r.CreateTenant(ctx, quire.TenantCreate{ID: id, Domains: domains}); err != nil {
		t.Fatalf("CreateTenant %s: %v", id, err)
	}
}

// open opens tenant's store and fails the test if it cannot.
func open(t testing.TB, r *registry.Registry, tenant string) (quire.Store, func()) {
	t.Helper()
	st, release, err := r.OpenStore(ctx, tenant)
	if err != nil {
		t.Fatalf("OpenStore %s: %v", tenant, err)
	}
	return st, release
}

func putCollection(t testing.TB, st quire.Store, name string) {
	t.Helper()
	if _, _, err := st.PutCollection(ctx, quire.Collection{Name: name, Indexes: []quire.IndexSpec{{Field: "n", Path: "$.n", Type: quire.IndexInteger}}}); err != nil {
		t.Fatalf("PutCollection %s: %v", name, err)
	}
}

func putDoc(st quire.Store, coll, id, body string) (quire.WriteResult, quire.Bookmark, error) {
	res, b, err := st.Write(ctx, []quire.WriteOp{{Op: quire.OpPut, Collection: coll, ID: id, Body: json.RawMessage(body)}}, "test")
	if err != nil {
		return quire.WriteResult{}, b, err
	}
	return res[0], b, nil
}

func mustPut(t testing.TB, st quire.Store, coll, id, body string) quire.Bookmark {
	t.Helper()
	_, b, err := putDoc(st, coll, id, body)
	if err != nil {
		t.Fatalf("put %s/%s: %v", coll, id, err)
	}
	return b
}

func mustGet(t testing.TB, st quire.Store, coll, id string) *quire.Document {
	t.Helper()
	d, err := st.Get(ctx, coll, id)
	if err != nil {
		t.Fatalf("get %s/%s: %v", coll, id, err)
	}
	return d
}

// countDocs lists a whole collection, page by page.
func countDocs(t testing.TB, st quire.Store, coll string) int {
	t.Helper()
	n, after := 0, ""
	for {
		docs, next, err := st.List(ctx, quire.ListQuery{Collection: coll, After: after, Limit: quire.MaxListLimit})
		if err != nil {
			t.Fatalf("list %s: %v", coll, err)
		}
		n += len(docs)
		if next == "" {
			return n
		}
		after = next
	}
}

func wantCode(t testing.TB, what string, err error, code string) {
	t.Helper()
	if got := quire.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func tenantDir(dir, id string) string { return filepath.Join(dir, "tenants", id) }

// TestLazyOpen: creating a tenant records it but creates no database; the
// first OpenStore creates the file.
func TestLazyOpen(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir})
	createTenant(t, r, "acme")
	if exists(tenantDir(dir, "acme")) {
		t.Fatalf("CreateTenant created %s before first use", tenantDir(dir, "acme"))
	}
	if n := r.OpenTenants(); n != 0 {
		t.Fatalf("OpenTenants = %d after CreateTenant, want 0", n)
	}
	st, release := open(t, r, "acme")
	if !exists(filepath.Join(tenantDir(dir, "acme"), sqlite.FileName)) {
		t.Fatalf("OpenStore did not create the database file")
	}
	if n := r.OpenTenants(); n != 1 {
		t.Fatalf("OpenTenants = %d with one store open, want 1", n)
	}
	putCollection(t, st, "docs")
	mustPut(t, st, "docs", "a", `{"n":1}`)
	// A second open of the same tenant shares the store.
	st2, release2 := open(t, r, "acme")
	if st2 != st {
		t.Errorf("second OpenStore returned a different store while the first was in use")
	}
	release2()
	release()
	release() // releasing twice is harmless
	if n := r.OpenTenants(); n != 1 {
		t.Errorf("OpenTenants = %d after release (under the bound, not idle), want 1", n)
	}

	_, _, err := r.OpenStore(ctx, "nobody")
	wantCode(t, "OpenStore of unknown tenant", err, quire.ENotFound)
	_, _, err = r.OpenStore(ctx, "../etc")
	wantCode(t, "OpenStore of invalid name", err, quire.EInvalidName)
	if exists(tenantDir(dir, "nobody")) {
		t.Errorf("OpenStore of an unknown tenant created its directory")
	}
}

// TestMaxOpenTenantsBound opens, writes and releases 2000 tenants in turn
// with MaxOpenTenants=8: no more than 8 stay open, and every tenant's data
// survives being closed and reopened.
func TestMaxOpenTenantsBound(t *testing.T) {
	const max = 8
	n := 2000
	if testing.Short() {
		n = 200
	}
	dir := t.TempDir()
	// Relaxed durability: this test is about the open-file bound, and 2000
	// tenants × (schema + write) would otherwise be 4000 fsyncs.
	r := newRegistry(t, registry.Config{DataDir: dir, MaxOpenTenants: max, IdleTimeout: time.Hour,
		Store: sqlite.Options{Durability: sqlite.DurabilityRelaxed, Readers: 1}})
	id := func(i int) string { return fmt.Sprintf("t%04d", i) }
	start := time.Now()
	for i := range n {
		createTenant(t, r, id(i))
	}
	t.Logf("created %d tenants in %v", n, time.Since(start))
	start = time.Now()
	peak := 0
	for i := range n {
		st, release := open(t, r, id(i))
		putCollection(t, st, "docs")
		mustPut(t, st, "docs", "d", fmt.Sprintf(`{"n":%d}`, i))
		release()
		got := r.OpenTenants()
		peak = maxInt(peak, got)
		if got > max {
			t.Fatalf("after releasing tenant %d, OpenTenants = %d > MaxOpenTenants %d", i, got, max)
		}
		if i < max && got != i+1 {
			t.Fatalf("after releasing tenant %d, OpenTenants = %d, want %d (idle stores under the bound stay open)", i, got, i+1)
		}
	}
	if peak != max {
		t.Errorf("peak OpenTenants %d, want %d", peak, max)
	}
	t.Logf("wrote %d tenants in %v", n, time.Since(start))
	start = time.Now()
	defer func() { t.Logf("read back %d tenants in %v", n, time.Since(start)) }()
	for i := range n {
		st, release := open(t, r, id(i))
		d := mustGet(t, st, "docs", "d")
		if want := fmt.Sprintf(`{"n":%d}`, i); string(d.Body) != want || d.Version != 1 {
			t.Fatalf("tenant %s: doc v%d %s, want v1 %s", id(i), d.Version, d.Body, want)
		}
		release()
		if got := r.OpenTenants(); got > max {
			t.Fatalf("reading back tenant %d: OpenTenants = %d > %d", i, got, max)
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// TestConcurrentOpenEvict has 50 goroutines open random tenants among 100
// with MaxOpenTenants=4, so stores are closed and reopened constantly while
// others use them. No operation may fail and no write may be lost.
func TestConcurrentOpenEvict(t *testing.T) {
	const tenants, workers, max = 100, 50, 4
	iters := 40
	if testing.Short() {
		iters = 10
	}
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir, MaxOpenTenants: max, IdleTimeout: time.Hour,
		Store: sqlite.Options{Readers: 2}})
	id := func(i int) string { return fmt.Sprintf("c%03d", i) }
	for i := range tenants {
		createTenant(t, r, id(i))
		st, release := open(t, r, id(i))
		putCollection(t, st, "docs")
		release()
	}
	var written [tenants]atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	var maxOpen atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range iters {
				ti := rng.IntN(tenants)
				err := func() error {
					st, release, err := r.OpenStore(ctx, id(ti))
					if err != nil {
						return fmt.Errorf("open %s: %w", id(ti), err)
					}
					defer release()
					docID := fmt.Sprintf("w%02d-%03d", w, i)
					body := fmt.Sprintf(`{"n":%d,"w":%d}`, i, w)
					res, b, err := putDoc(st, "docs", docID, body)
					if err != nil {
						return fmt.Errorf("put %s/%s: %w", id(ti), docID, err)
					}
					written[ti].Add(1)
					if res.Version != 1 || !res.Created {
						return fmt.Errorf("put %s/%s: %+v, want a created v1", id(ti), docID, res)
					}
					if err := st.CheckBookmark(st.FormatBookmark(b)); err != nil {
						return fmt.Errorf("bookmark of own write refused: %w", err)
					}
					d, err := st.Get(ctx, "docs", docID)
					if err != nil {
						return fmt.Errorf("get %s/%s after write: %w", id(ti), docID, err)
					}
					if string(d.Body) != body {
						return fmt.Errorf("get %s/%s: %s, want %s", id(ti), docID, d.Body, body)
					}
					if _, _, err := st.List(ctx, quire.ListQuery{Collection: "docs", Field: "n", Value: fmt.Sprint(i), Limit: 5}); err != nil {
						return fmt.Errorf("list %s: %w", id(ti), err)
					}
					n := int64(r.OpenTenants())
					for old := maxOpen.Load(); n > old && !maxOpen.CompareAndSwap(old, n); old = maxOpen.Load() {
					}
					return nil
				}()
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got := r.OpenTenants(); got > max {
		t.Errorf("OpenTenants = %d after every store was released, want <= %d", got, max)
	}
	if got := maxOpen.Load(); got > max+workers {
		t.Errorf("OpenTenants peaked at %d with %d workers and MaxOpenTenants %d", got, workers, max)
	}
	total := int64(0)
	for i := range tenants {
		st, release := open(t, r, id(i))
		if got, want := countDocs(t, st, "docs"), written[i].Load(); int64(got) != want {
			t.Errorf("tenant %s: %d documents, want %d", id(i), got, want)
		}
		total += written[i].Load()
		release()
	}
	if total != int64(workers*iters) && !t.Failed() {
		t.Errorf("%d writes recorded, want %d", total, workers*iters)
	}
}

// TestIdleClose: unused tenants are closed after IdleTimeout; a store that
// is in use is not, however long it is held.
func TestIdleClose(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir, IdleTimeout: 50 * time.Millisecond})
	for _, id := range []string{"a", "b", "c", "held"} {
		createTenant(t, r, id)
		st, release := open(t, r, id)
		putCollection(t, st, "docs")
		mustPut(t, st, "docs", "x", `{"n":1}`)
		release()
	}
	waitOpenTenants(t, r, 0)

	held, release := open(t, r, "held")
	time.Sleep(300 * time.Millisecond)
	if n := r.OpenTenants(); n != 1 {
		t.Fatalf("OpenTenants = %d with one store held for 300ms, want 1", n)
	}
	// The held store is still fully usable.
	mustPut(t, held, "docs", "y", `{"n":2}`)
	if d := mustGet(t, held, "docs", "x"); d.Version != 1 {
		t.Errorf("held store: x is v%d", d.Version)
	}
	release()
	waitOpenTenants(t, r, 0)
	// Reopening after an idle close sees everything.
	st, release := open(t, r, "held")
	defer release()
	if got := countDocs(t, st, "docs"); got != 2 {
		t.Errorf("held: %d docs after idle close and reopen, want 2", got)
	}
}

// waitOpenTenants waits until r has want tenants open. It polls rather
// than sleeping a fixed time, so a loaded machine makes it slower, not flaky.
func waitOpenTenants(t *testing.T, r *registry.Registry, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.OpenTenants() != want {
		if time.Now().After(deadline) {
			t.Fatalf("OpenTenants = %d after 10s, want %d", r.OpenTenants(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInUseNeverEvicted: with MaxOpenTenants=2, a store held by a request
// survives any number of other tenants being opened and released.
func TestInUseNeverEvicted(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir, MaxOpenTenants: 2, IdleTimeout: time.Hour})
	createTenant(t, r, "held")
	held, releaseHeld := open(t, r, "held")
	putCollection(t, held, "docs")
	for i := range 20 {
		id := fmt.Sprintf("o%02d", i)
		createTenant(t, r, id)
		st, release := open(t, r, id)
		putCollection(t, st, "docs")
		mustPut(t, st, "docs", "x", `{"n":1}`)
		release()
		if n := r.OpenTenants(); n > 3 {
			t.Fatalf("OpenTenants = %d with MaxOpenTenants 2 and one store held", n)
		}
		// The held store keeps working between evictions.
		mustPut(t, held, "docs", id, fmt.Sprintf(`{"n":%d}`, i))
		mustGet(t, held, "docs", id)
	}
	if got := countDocs(t, held, "docs"); got != 20 {
		t.Errorf("held store has %d docs, want 20", got)
	}
	again, releaseAgain := open(t, r, "held")
	if again != held {
		t.Errorf("OpenStore of a held tenant returned another store: two stores own one file")
	}
	releaseAgain()
	releaseHeld()
	if n := r.OpenTenants(); n > 2 {
		t.Errorf("OpenTenants = %d after releasing everything, want <= 2", n)
	}
}

// TestDeleteTenant: deleting removes the files and the keys; re-creating
// the same id starts empty and refuses the old incarnation's bookmarks.
func TestDeleteTenant(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir})
	createTenant(t, r, "acme", "acme.example.com")
	_, secret, err := r.CreateKey(ctx, "acme", quire.RoleWrite, "w")
	if err != nil {
		t.Fatal(err)
	}
	st, release := open(t, r, "acme")
	putCollection(t, st, "docs")
	var old quire.Bookmark
	for i := range 10 {
		old = mustPut(t, st, "docs", fmt.Sprintf("d%d", i), fmt.Sprintf(`{"n":%d}`, i))
	}
	oldToken := st.FormatBookmark(old)
	release()

	if err := r.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	if exists(tenantDir(dir, "acme")) {
		t.Errorf("tenant directory still exists after delete")
	}
	if n := r.OpenTenants(); n != 0 {
		t.Errorf("OpenTenants = %d after deleting the only tenant", n)
	}
	_, err = r.Authenticate(secret)
	wantCode(t, "Authenticate with a deleted tenant's key", err, quire.EUnauthorized)
	_, _, err = r.OpenStore(ctx, "acme")
	wantCode(t, "OpenStore of deleted tenant", err, quire.ENotFound)
	_, err = r.Tenant(ctx, "acme")
	wantCode(t, "Tenant of deleted tenant", err, quire.ENotFound)
	_, err = r.Keys(ctx, "acme")
	wantCode(t, "Keys of deleted tenant", err, quire.ENotFound)
	if id, ok := r.TenantForHost("acme.example.com"); ok {
		t.Errorf("deleted tenant's domain still maps to %q", id)
	}
	wantCode(t, "second DeleteTenant", r.DeleteTenant(ctx, "acme"), quire.ENotFound)

	// Re-create: nothing of the old incarnation comes back.
	createTenant(t, r, "acme", "acme.example.com")
	_, err = r.Authenticate(secret)
	wantCode(t, "Authenticate with the old incarnation's key", err, quire.EUnauthorized)
	st, release = open(t, r, "acme")
	defer release()
	if cs, err := st.Collections(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("re-created tenant has collections %v (err %v), want none", cs, err)
	}
	_, err = st.Get(ctx, "docs", "d1")
	wantCode(t, "Get in re-created tenant", err, quire.ENotFound)
	putCollection(t, st, "docs")
	_, err = st.Get(ctx, "docs", "d1")
	wantCode(t, "Get of an old document in re-created tenant", err, quire.ENotFound)
	if n := countDocs(t, st, "docs"); n != 0 {
		t.Errorf("re-created tenant lists %d docs, want 0", n)
	}
	// Move the new incarnation past the old position, so only the
	// incarnation can tell the tokens apart.
	for i := range 15 {
		mustPut(t, st, "docs", fmt.Sprintf("n%d", i), `{"n":0}`)
	}
	if p := st.Position(); p.Seq <= old.Seq {
		t.Fatalf("new position %v not past old %v", p, old)
	}
	wantCode(t, "CheckBookmark of the old incarnation's token", st.CheckBookmark(oldToken), quire.EInvalidBookmark)
	if err := st.CheckBookmark(st.FormatBookmark(st.Position())); err != nil {
		t.Errorf("CheckBookmark of a current token: %v", err)
	}
	if res, _, err := putDoc(st, "docs", "d1", `{"n":1}`); err != nil || !res.Created || res.Version != 1 {
		t.Errorf("put of an old id in the new incarnation: %+v, %v; want created v1", res, err)
	}
}

// TestDeleteWaitsForInFlight: DeleteTenant waits for requests using the
// store, which keep working until they finish.
func TestDeleteWaitsForInFlight(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir})
	createTenant(t, r, "acme")
	st, release := open(t, r, "acme")
	putCollection(t, st, "docs")
	done := make(chan error, 1)
	go func() { done <- r.DeleteTenant(ctx, "acme") }()
	select {
	case err := <-done:
		t.Fatalf("DeleteTenant returned (%v) while a request held the store", err)
	case <-time.After(100 * time.Millisecond):
	}
	// The tenant is already gone for new requests...
	_, _, err := r.OpenStore(ctx, "acme")
	wantCode(t, "OpenStore during delete", err, quire.ENotFound)
	// ...but the in-flight one finishes normally.
	mustPut(t, st, "docs", "x", `{"n":1}`)
	mustGet(t, st, "docs", "x")
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("DeleteTenant: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("DeleteTenant did not return after the store was released")
	}
	if exists(tenantDir(dir, "acme")) {
		t.Errorf("tenant directory still exists after delete")
	}
}

// TestRecreateDuringDelete: a tenant re-created while its deletion is still
// waiting for an in-flight request must not be served the old store, and
// the finishing deletion must not remove the new tenant's files.
func TestRecreateDuringDelete(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir})
	createTenant(t, r, "acme")
	st, release := open(t, r, "acme")
	putCollection(t, st, "docs")
	mustPut(t, st, "docs", "old", `{"n":1}`)
	done := make(chan error, 1)
	go func() { done <- r.DeleteTenant(ctx, "acme") }()
	time.Sleep(50 * time.Millisecond)

	_, err := r.CreateTenant(ctx, quire.TenantCreate{ID: "acme"})
	if err != nil {
		// Refusing the re-creation until the delete has finished is fine.
		wantCode(t, "CreateTenant during delete", err, quire.EConflict)
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		createTenant(t, r, "acme")
	} else {
		st2, release2, err := r.OpenStore(ctx, "acme")
		if err == nil {
			if st2 == st {
				t.Errorf("re-created tenant was served the deleted incarnation's store")
			}
			if _, err := st2.Get(ctx, "docs", "old"); quire.ErrorCode(err) != quire.ENotFound {
				t.Errorf("re-created tenant sees the deleted incarnation's document (err %v)", err)
			}
			release2()
		}
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st3, release3 := open(t, r, "acme")
	if _, err := st3.Collection(ctx, "docs"); err == nil {
		t.Errorf("re-created tenant has the deleted incarnation's collection")
	}
	putCollection(t, st3, "docs")
	mustPut(t, st3, "docs", "new", `{"n":2}`)
	release3()
	// The new incarnation's files are the ones on disk.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := newRegistry(t, registry.Config{DataDir: dir})
	st4, release4 := open(t, r2, "acme")
	defer release4()
	if n := countDocs(t, st4, "docs"); n != 1 {
		t.Errorf("re-created tenant has %d docs after restart, want 1", n)
	}
	mustGet(t, st4, "docs", "new")
}

// TestKeys: a key authenticates with its exact secret only, and not once
// revoked.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir})
	createTenant(t, r, "acme")
	createTenant(t, r, "beta")
	k, secret, err := r.CreateKey(ctx, "acme", quire.RoleWrite, "writer")
	if err != nil {
		t.Fatal(err)
	}
	if k.Tenant != "acme" || k.Role != quire.RoleWrite || k.Name != "writer" || k.ID == "" {
		t.Errorf("created key %+v", k)
	}
	got, err := r.Authenticate(secret)
	if err != nil {
		t.Fatalf("Authenticate with the right secret: %v", err)
	}
	if got.ID != k.ID || got.Tenant != "acme" || got.Role != quire.RoleWrite {
		t.Errorf("Authenticate returned %+v, want %+v", got, k)
	}

	// Tampering with any part of the secret fails.
	tamper := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	bad := []string{
		"", "quire_", "quire_" + k.ID, "quire_" + k.ID + "_", secret + "x", secret[:len(secret)-1],
		tamper(secret, len(secret)-1), tamper(secret, len("quire_")+len(k.ID)+3),
		"Bearer " + secret, "QUIRE_" + secret[len("quire_"):],
	}
	for _, s := range bad {
		_, err := r.Authenticate(s)
		wantCode(t, fmt.Sprintf("Authenticate(%q)", s), err, quire.EUnauthorized)
	}
	// Another key of the same tenant with a swapped id does not match.
	k2, secret2, err := r.CreateKey(ctx, "acme", quire.RoleRead, "")
	if err != nil {
		t.Fatal(err)
	}
	swapped := "quire_" + k.ID + secret2[len("quire_")+len(k2.ID):]
	_, err = r.Authenticate(swapped)
	wantCode(t, "Authenticate with another key's secret under this key's id", err, quire.EUnauthorized)

	_, _, err = r.CreateKey(ctx, "acme", "owner", "")
	wantCode(t, "CreateKey with a bad role", err, quire.EInvalid)
	_, _, err = r.CreateKey(ctx, "nobody", quire.RoleRead, "")
	wantCode(t, "CreateKey for unknown tenant", err, quire.ENotFound)

	keys, err := r.Keys(ctx, "acme")
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys(acme) = %v, %v; want 2 keys", keys, err)
	}
	if keys, _ := r.Keys(ctx, "beta"); len(keys) != 0 {
		t.Errorf("Keys(beta) = %v, want none", keys)
	}
	wantCode(t, "DeleteKey via another tenant", r.DeleteKey(ctx, "beta", k.ID), quire.ENotFound)
	if _, err := r.Authenticate(secret); err != nil {
		t.Errorf("key stopped working after a refused delete: %v", err)
	}
	if err := r.DeleteKey(ctx, "acme", k.ID); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	_, err = r.Authenticate(secret)
	wantCode(t, "Authenticate with a deleted key", err, quire.EUnauthorized)
	if _, err := r.Authenticate(secret2); err != nil {
		t.Errorf("other key stopped working: %v", err)
	}
	wantCode(t, "DeleteKey twice", r.DeleteKey(ctx, "acme", k.ID), quire.ENotFound)
	keys, _ = r.Keys(ctx, "acme")
	if len(keys) != 1 || keys[0].ID != k2.ID {
		t.Errorf("Keys after delete = %v, want only %s", keys, k2.ID)
	}
}

// TestRestart: closing and reopening the registry on the same directory
// keeps tenants, domains, keys (and revocations) and data.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	r, err := registry.New(registry.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	createTenant(t, r, "acme", "acme.example.com", "ACME.example.org")
	createTenant(t, r, "beta")
	createTenant(t, r, "gone")
	_, secret, err := r.CreateKey(ctx, "acme", quire.RoleAdmin, "admin")
	if err != nil {
		t.Fatal(err)
	}
	rk, revoked, err := r.CreateKey(ctx, "beta", quire.RoleRead, "")
	if err != nil {
		t.Fatal(err)
	}
	_, goneSecret, err := r.CreateKey(ctx, "gone", quire.RoleRead, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteKey(ctx, "beta", rk.ID); err != nil {
		t.Fatal(err)
	}
	st, release := open(t, r, "acme")
	putCollection(t, st, "docs")
	b := mustPut(t, st, "docs", "x", `{"n":7}`)
	token := st.FormatBookmark(b)
	release()
	st, release = open(t, r, "gone")
	putCollection(t, st, "docs")
	release()
	if err := r.DeleteTenant(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	before, _ := r.Tenants(ctx)
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, _, err = r.OpenStore(ctx, "acme")
	wantCode(t, "OpenStore after Close", err, quire.EUnavailable)

	// A directory without a catalog entry (an interrupted delete) is
	// removed at start.
	orphan := tenantDir(dir, "orphan")
	if err := os.MkdirAll(orphan, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(orphan, sqlite.FileName), []byte("junk"), 0o600)

	r2 := newRegistry(t, registry.Config{DataDir: dir})
	after, _ := r2.Tenants(ctx)
	if len(after) != len(before) || len(after) != 2 {
		t.Fatalf("tenants after restart %v, before %v", after, before)
	}
	for i := range after {
		a, b := after[i], before[i]
		if a.ID != b.ID || a.Region != b.Region || !a.CreatedAt.Equal(b.CreatedAt) || fmt.Sprint(a.Domains) != fmt.Sprint(b.Domains) {
			t.Errorf("tenant %d after restart %+v, before %+v", i, a, b)
		}
	}
	if id, ok := r2.TenantForHost("acme.example.org"); !ok || id != "acme" {
		t.Errorf("TenantForHost(acme.example.org) = %q, %v after restart", id, ok)
	}
	if k, err := r2.Authenticate(secret); err != nil || k.Tenant != "acme" || k.Role != quire.RoleAdmin {
		t.Errorf("Authenticate after restart: %+v, %v", k, err)
	}
	_, err = r2.Authenticate(revoked)
	wantCode(t, "revoked key after restart", err, quire.EUnauthorized)
	_, err = r2.Authenticate(goneSecret)
	wantCode(t, "deleted tenant's key after restart", err, quire.EUnauthorized)
	if exists(orphan) {
		t.Errorf("orphan tenant directory survived the restart")
	}
	if _, err := os.Stat(tenantDir(dir, "gone")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleted tenant's directory: %v", err)
	}
	st, release = open(t, r2, "acme")
	defer release()
	if d := mustGet(t, st, "docs", "x"); string(d.Body) != `{"n":7}` || d.Version != 1 {
		t.Errorf("doc after restart: v%d %s", d.Version, d.Body)
	}
	if err := st.CheckBookmark(token); err != nil {
		t.Errorf("bookmark from before the restart refused: %v", err)
	}
	if got := st.Position(); got != b {
		t.Errorf("position after restart %v, want %v", got, b)
	}
}

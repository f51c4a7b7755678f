package registry_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/registry"
)

func ptr(n int64) *int64 { return &n }

// TestCatalogMigration opens a catalog written before quotas existed: its
// tenants load with the default quotas, and overrides can be stored.
func TestCatalogMigration(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL,
		domains TEXT NOT NULL DEFAULT '[]', created_at INTEGER NOT NULL) STRICT;
		INSERT INTO tenants VALUES ('acme', '', 'local', '[]', 0);`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := newRegistry(t, registry.Config{DataDir: dir, Quotas: quire.Quotas{MaxCollections: 7}})
	tn, err := r.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := quire.Quotas{StorageBytes: quire.DefaultStorageBytes, MaxDocBytes: quire.DefaultMaxDocBytes, MaxCollections: 7, MaxIndexes: quire.DefaultMaxIndexes,
		MaxBodyBytes: quire.DefaultMaxBodyBytes, MaxSQLRows: quire.MaxSQLRows, MaxSQLBytes: quire.MaxSQLResultBytes}
	if got := *tn.Quotas; got != want {
		t.Errorf("quotas = %+v, want %+v", got, want)
	}
	if _, err := r.SetTenantQuotas(ctx, "acme", quire.QuotasPatch{StorageBytes: ptr(1 << 20)}); err != nil {
		t.Fatalf("SetTenantQuotas: %v", err)
	}
	r.Close()
	r = newRegistry(t, registry.Config{DataDir: dir, Quotas: quire.Quotas{MaxCollections: 7}})
	tn, _ = r.Tenant(ctx, "acme")
	want.StorageBytes = 1 << 20
	if got := *tn.Quotas; got != want {
		t.Errorf("quotas after reopen = %+v, want %+v", got, want)
	}
}

// TestStoreQuotas checks that quotas reach the store, including a change
// while it is open, and that a full tenant keeps its data.
func TestStoreQuotas(t *testing.T) {
	r := newRegistry(t, registry.Config{DataDir: t.TempDir()})
	createTenant(t, r, "acme")
	st, release := open(t, r, "acme")
	defer release()
	putCollection(t, st, "notes")

	t.Run("ErrStorageQuotaExceeded", func(t *testing.T) {
		u, err := st.(quire.UsageReporter).Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.SetTenantQuotas(ctx, "acme", quire.QuotasPatch{StorageBytes: ptr(u.StorageBytes + 32<<10)}); err != nil {
			t.Fatal(err)
		}
		pad := strings.Repeat("y", 2000)
		n := 0
		for ; n < 200; n++ {
			_, _, err := putDoc(st, "notes", fmt.Sprint("d", n), fmt.Sprintf(`{"n":%d,"pad":%q}`, n, pad))
			if err != nil {
				if got, want := quire.ErrorCode(err), quire.EStorageQuotaExceeded; got != want {
					t.Fatalf("write %d: %v, want %s", n, err, want)
				}
				break
			}
		}
		if n == 0 || n == 200 {
			t.Fatalf("%d writes before the quota", n)
		}
		for i := range n {
			d, err := st.Get(ctx, "notes", fmt.Sprint("d", i))
			if err != nil {
				t.Fatalf("d%d lost: %v", i, err)
			}
			var body struct{ N int }
			if err := json.Unmarshal(d.Body, &body); err != nil || body.N != i {
				t.Fatalf("d%d = %s", i, d.Body)
			}
		}
	})

	t.Run("ErrQuotaExceeded", func(t *testing.T) {
		if _, err := r.SetTenantQuotas(ctx, "acme", quire.QuotasPatch{StorageBytes: ptr(0), MaxCollections: ptr(1)}); err != nil {
			t.Fatal(err)
		}
		_, _, err := st.PutCollection(ctx, quire.Collection{Name: "more"})
		if got, want := quire.ErrorCode(err), quire.EQuotaExceeded; got != want {
			t.Fatalf("PutCollection past the quota: %v, want %s", err, want)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		for _, p := range []quire.QuotasPatch{{StorageBytes: ptr(-1)}, {MaxDocBytes: ptr(-1)}, {MaxCollections: ptr(-1)}, {MaxDocBytes: ptr(quire.DefaultMaxDocBytes + 1)}} {
			if _, err := r.SetTenantQuotas(ctx, "acme", p); quire.ErrorCode(err) != quire.EInvalid {
				t.Errorf("SetTenantQuotas(%+v): %v, want invalid", p, err)
			}
		}
		if _, err := r.SetTenantQuotas(ctx, "ghost", quire.QuotasPatch{}); quire.ErrorCode(err) != quire.ENotFound {
			t.Errorf("unknown tenant: %v, want not_found", err)
		}
	})
}

func TestResidencyRegistry(t *testing.T) {
	t.Run("ErrInvalidConfig", func(t *testing.T) {
		if _, err := registry.New(registry.Config{DataDir: t.TempDir(), AllowRegions: []string{"UK"}}); err == nil {
			t.Error("bad allowed region accepted")
		}
	})
	t.Run("ErrRegionNotAllowed", func(t *testing.T) {
		dir := t.TempDir()
		r := newRegistry(t, registry.Config{DataDir: dir, Region: "eu"})
		if _, err := r.CreateTenant(ctx, quire.TenantCreate{ID: "acme"}); err != nil {
			t.Fatal(err)
		}
		r.Close()
		r = newRegistry(t, registry.Config{DataDir: dir, Region: "uk", AllowRegions: []string{"uk"}})
		if _, _, err := r.OpenStore(ctx, "acme"); quire.ErrorCode(err) != quire.ERegionNotAllowed {
			t.Errorf("OpenStore: %v, want %s", err, quire.ERegionNotAllowed)
		}
		if _, err := r.CreateTenant(ctx, quire.TenantCreate{ID: "other", Region: "eu"}); quire.ErrorCode(err) != quire.ERegionNotAllowed {
			t.Errorf("CreateTenant: %v, want %s", err, quire.ERegionNotAllowed)
		}
	})
}

// TestStorageQuotaGroupCommit writes concurrently into a tenant near its
// storage quota: writes refused with EStorageQuotaExceeded share groups
// with accepted ones, and every accepted write is there afterwards.
func TestStorageQuotaGroupCommit(t *testing.T) {
	r := newRegistry(t, registry.Config{DataDir: t.TempDir()})
	createTenant(t, r, "acme")
	st, release := open(t, r, "acme")
	defer release()
	putCollection(t, st, "notes")
	u, err := st.(quire.UsageReporter).Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetTenantQuotas(ctx, "acme", quire.QuotasPatch{StorageBytes: ptr(u.StorageBytes + 256<<10)}); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("z", 3000)
	var mu sync.Mutex
	var ok []string
	refused := 0
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				id := fmt.Sprintf("w%d_%d", w, i)
				_, _, err := putDoc(st, "notes", id, fmt.Sprintf(`{"id":%q,"pad":%q}`, id, pad))
				mu.Lock()
				switch {
				case err == nil:
					ok = append(ok, id)
				case quire.ErrorCode(err) == quire.EStorageQuotaExceeded:
					refused++
				default:
					t.Errorf("write %s: %v", id, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if refused == 0 || len(ok) == 0 {
		t.Fatalf("%d accepted, %d refused: want both", len(ok), refused)
	}
	for _, id := range ok {
		d, err := st.Get(ctx, "notes", id)
		if err != nil {
			t.Fatalf("accepted write %s lost: %v", id, err)
		}
		if !strings.Contains(string(d.Body), id) {
			t.Fatalf("%s = %.40s", id, d.Body)
		}
	}
	u, err = st.(quire.UsageReporter).Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Documents["notes"], int64(len(ok)); got != want {
		t.Errorf("documents = %d, want %d", got, want)
	}
}

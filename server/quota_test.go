package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
	"github.com/quiredb/quire/sqlite"
)

// usage is the body of GET /v1/tenants/{t}/usage.
type usage struct {
	StorageBytes int64            `json:"storage_bytes"`
	Documents    map[string]int64 `json:"documents"`
	Collections  int              `json:"collections"`
	Quotas       quire.Quotas     `json:"quotas"`
}

func (e *env) usage(t *testing.T, tenant, token string) usage {
	t.Helper()
	var u usage
	e.do(t, "GET", "/v1/tenants/"+tenant+"/usage", token, nil).expect(t, 200, "").into(t, &u)
	return u
}

func (e *env) setQuotas(t *testing.T, tenant string, q map[string]any) *resp {
	t.Helper()
	return e.do(t, "PATCH", "/v1/tenants/"+tenant, adminToken, map[string]any{"quotas": q})
}

func TestStorageQuota(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes").expect(t, 201, "")
	base := e.usage(t, "acme", k.read).StorageBytes
	e.setQuotas(t, "acme", map[string]any{"storage_bytes": base + 64<<10}).expect(t, 200, "")

	pad := strings.Repeat("x", 1000)
	var written []string
	full := false
	for i := 0; i < 1000 && !full; i++ {
		id := fmt.Sprintf("n%04d", i)
		r := e.doAny(t, "PUT", docPath("acme", "notes", id), k.write, map[string]any{"i": i, "pad": pad})
		switch r.status {
		case 201:
			written = append(written, id)
		case 507:
			r.expect(t, 507, "storage_quota_exceeded")
			full = true
		default:
			t.Fatalf("PUT %s: %s", id, r)
		}
	}
	if !full {
		t.Fatalf("wrote %d documents without reaching the storage quota", len(written))
	}
	if len(written) == 0 {
		t.Fatal("the quota refused the first document")
	}

	t.Run("ErrStorageQuotaExceededBatch", func(t *testing.T) {
		ops := []map[string]any{}
		for i := range 20 {
			ops = append(ops, map[string]any{"op": "put", "collection": "notes", "id": fmt.Sprintf("b%02d", i), "body": map[string]any{"pad": pad}})
		}
		e.doAny(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops}).expect(t, 507, "storage_quota_exceeded")
		e.do(t, "GET", docPath("acme", "notes", "b00"), k.read, nil).expect(t, 404, "not_found")
	})

	t.Run("ErrStorageQuotaExceededSQL", func(t *testing.T) {
		big := strings.Repeat("q", 200<<10)
		r := e.doAny(t, "POST", "/v1/tenants/acme/sql", k.admin, map[string]any{"batch": []map[string]any{
			{"sql": "CREATE TABLE big (x TEXT)"},
			{"sql": "INSERT INTO big VALUES (?)", "params": []any{big}},
		}})
		r.expect(t, 507, "storage_quota_exceeded")
		// The whole request was rolled back: no table "big".
		r = e.do(t, "POST", "/v1/tenants/acme/sql", k.read, map[string]any{"sql": "PRAGMA table_info(big)"}).expect(t, 200, "")
		if !strings.Contains(string(r.body), `"results":[]`) {
			t.Errorf("table big exists after a refused request: %s", r.body)
		}
	})

	t.Run("PriorDataIntact", func(t *testing.T) {
		for i, id := range written {
			d := e.getDoc(t, k.read, "acme", "notes", id)
			if got, want := compact(t, string(d.Body)), compact(t, fmt.Sprintf(`{"i":%d,"pad":%q}`, i, pad)); got != want {
				t.Fatalf("%s = %.60s..., want %.60s...", id, got, want)
			}
		}
		u := e.usage(t, "acme", k.read)
		if got, want := u.Documents["notes"], int64(len(written)); got != want {
			t.Errorf("documents = %d, want %d", got, want)
		}
		if u.StorageBytes > u.Quotas.StorageBytes {
			t.Errorf("storage %d is over the quota %d", u.StorageBytes, u.Quotas.StorageBytes)
		}
	})

	t.Run("DeleteStillWorks", func(t *testing.T) {
		e.do(t, "DELETE", docPath("acme", "notes", written[0]), k.write, nil).expect(t, 200, "")
	})

	t.Run("RaisedQuotaAcceptsWrites", func(t *testing.T) {
		e.setQuotas(t, "acme", map[string]any{"storage_bytes": 0}).expect(t, 200, "")
		e.do(t, "PUT", docPath("acme", "notes", "after"), k.write, map[string]any{"pad": pad}).expect(t, 201, "")
	})
}

func TestDocSizeQuota(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes").expect(t, 201, "")
	e.do(t, "PUT", docPath("acme", "notes", "small"), k.write, map[string]any{"s": "ok"}).expect(t, 201, "")
	e.setQuotas(t, "acme", map[string]any{"max_doc_bytes": 1000}).expect(t, 200, "")

	t.Run("ErrTooLarge", func(t *testing.T) {
		e.do(t, "PUT", docPath("acme", "notes", "big"), k.write, map[string]any{"s": strings.Repeat("x", 2000)}).expect(t, 413, "too_large")
		e.do(t, "PATCH", docPath("acme", "notes", "small"), k.write, map[string]any{"s": strings.Repeat("x", 2000)}).expect(t, 413, "too_large")
	})
	t.Run("OK", func(t *testing.T) {
		e.do(t, "PUT", docPath("acme", "notes", "mid"), k.write, map[string]any{"s": strings.Repeat("x", 500)}).expect(t, 201, "")
		if got, want := compact(t, string(e.getDoc(t, k.read, "acme", "notes", "small").Body)), `{"s":"ok"}`; got != want {
			t.Errorf("small = %s, want %s", got, want)
		}
	})
	t.Run("OtherTenantsKeepTheDefault", func(t *testing.T) {
		o := e.createTenant(t, "other")
		e.putCollection(t, "other", "notes").expect(t, 201, "")
		e.do(t, "PUT", docPath("other", "notes", "big"), o.write, map[string]any{"s": strings.Repeat("x", 2000)}).expect(t, 201, "")
	})
}

func TestCollectionQuota(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.setQuotas(t, "acme", map[string]any{"max_collections": 2}).expect(t, 200, "")
	e.putCollection(t, "acme", "a").expect(t, 201, "")
	e.putCollection(t, "acme", "b").expect(t, 201, "")
	e.do(t, "PUT", docPath("acme", "a", "x"), k.write, map[string]any{"n": 1}).expect(t, 201, "")

	t.Run("ErrQuotaExceeded", func(t *testing.T) {
		e.do(t, "PUT", "/v1/tenants/acme/collections/c", adminToken, map[string]any{}).expect(t, 409, "quota_exceeded")
		e.do(t, "GET", "/v1/tenants/acme/collections/c", k.read, nil).expect(t, 404, "not_found")
	})
	t.Run("ExistingStillChange", func(t *testing.T) {
		e.putCollection(t, "acme", "a", map[string]any{"field": "n", "path": "$.n", "type": "integer"}).expect(t, 200, "")
		e.getDoc(t, k.read, "acme", "a", "x")
	})
	t.Run("DeleteFreesOne", func(t *testing.T) {
		e.do(t, "DELETE", "/v1/tenants/acme/collections/b", k.admin, nil).expect(t, 200, "")
		e.putCollection(t, "acme", "c").expect(t, 201, "")
	})
}

func TestIndexQuota(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.setQuotas(t, "acme", map[string]any{"max_indexes": 1}).expect(t, 200, "")
	a := map[string]any{"field": "a", "path": "$.a"}
	b := map[string]any{"field": "b", "path": "$.b"}
	e.putCollection(t, "acme", "c", a).expect(t, 201, "")
	e.do(t, "POST", "/v1/tenants/acme/collections/c/indexes", k.admin, b).expect(t, 409, "quota_exceeded")
	e.do(t, "PUT", "/v1/tenants/acme/collections/d", k.admin, map[string]any{"indexes": []any{a, b}}).expect(t, 409, "quota_exceeded")
	// Raising the quota lets the index through, on the open tenant at once.
	e.setQuotas(t, "acme", map[string]any{"max_indexes": 40}).expect(t, 200, "")
	e.do(t, "POST", "/v1/tenants/acme/collections/c/indexes", k.admin, b).expect(t, 201, "")
}

// TestBodyAndSQLQuotas: a tenant's request-body and SQL-result quotas are
// its own, and what was written before stays intact.
func TestBodyAndSQLQuotas(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "c")
	for i := range 5 {
		e.do(t, "PUT", docPath("acme", "c", fmt.Sprint("d", i)), k.write, map[string]any{"n": i}).expect(t, 201, "")
	}
	e.setQuotas(t, "acme", map[string]any{"max_body_bytes": 200, "max_sql_rows": 3}).expect(t, 200, "")
	var ops []map[string]any
	for i := range 10 {
		ops = append(ops, map[string]any{"op": "put", "collection": "c", "id": fmt.Sprint("b", i), "body": map[string]any{"n": i}})
	}
	e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops}).expect(t, 413, "too_large")
	e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops[:1]}).expect(t, 200, "")
	e.do(t, "POST", sqlPath("acme"), k.read, map[string]any{"sql": "SELECT id FROM c"}).expect(t, 413, "too_large")
	e.do(t, "POST", sqlPath("acme"), k.read, map[string]any{"sql": "SELECT id FROM c LIMIT 3"}).expect(t, 200, "")
	// Other tenants keep the node's limits.
	k2 := e.createTenant(t, "beta")
	e.putCollection(t, "beta", "c")
	e.do(t, "POST", "/v1/tenants/beta/batch", k2.write, map[string]any{"ops": ops}).expect(t, 200, "")
	for i := range 5 {
		e.getDoc(t, k.read, "acme", "c", fmt.Sprint("d", i))
	}
}

func TestPatchTenant(t *testing.T) {
	top := t
	e := newNodeEnv(t, t.TempDir(), registry.Config{Store: sqliteMaxDoc(4 << 20)}, server.Config{MaxDocBytes: 4 << 20})
	k := e.createTenant(t, "acme")

	t.Run("OK", func(t *testing.T) {
		var tn struct{ Quotas quire.Quotas }
		e.do(t, "GET", "/v1/tenants/acme", k.read, nil).expect(t, 200, "").into(t, &tn)
		want := quire.Quotas{StorageBytes: quire.DefaultStorageBytes, MaxDocBytes: 4 << 20, MaxCollections: quire.DefaultMaxCollections, MaxIndexes: quire.DefaultMaxIndexes,
			MaxBodyBytes: quire.DefaultMaxBodyBytes, MaxSQLRows: quire.MaxSQLRows, MaxSQLBytes: quire.MaxSQLResultBytes}
		if tn.Quotas != want {
			t.Errorf("default quotas = %+v, want %+v", tn.Quotas, want)
		}
		e.setQuotas(t, "acme", map[string]any{"storage_bytes": 1 << 30, "max_collections": 5}).expect(t, 200, "").into(t, &tn)
		want.StorageBytes, want.MaxCollections = 1<<30, 5
		if tn.Quotas != want {
			t.Errorf("quotas = %+v, want %+v", tn.Quotas, want)
		}
		// Absent fields stay, 0 returns to the default.
		e.setQuotas(t, "acme", map[string]any{"max_collections": 0}).expect(t, 200, "")
		want.MaxCollections = quire.DefaultMaxCollections
		e.do(t, "GET", "/v1/tenants/acme", k.read, nil).expect(t, 200, "").into(t, &tn)
		if tn.Quotas != want {
			t.Errorf("quotas after reset = %+v, want %+v", tn.Quotas, want)
		}
		// Overrides survive a restart (stored in the catalog).
		e.stop()
		e2 := newNodeEnv(top, e.dir, registry.Config{Store: sqliteMaxDoc(4 << 20)}, server.Config{MaxDocBytes: 4 << 20})
		e2.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "").into(t, &tn)
		if tn.Quotas != want {
			t.Errorf("quotas after restart = %+v, want %+v", tn.Quotas, want)
		}
		e = e2
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		for _, body := range []string{
			`{"quotas": {"storage_bytes": -1}}`,
			`{"quotas": {"max_doc_bytes": -5}}`,
			`{"quotas": {"max_collections": -1}}`,
			`{"quotas": {"storage_bytes": "10GB"}}`,
			`{"quotas": {"max_collections": 1.5}}`,
			`{"quotas": {"max_collections": true}}`,
			`{"quotas": {"max_indexes": 65}}`,              // over the ceiling of 64
			`{"quotas": {"max_body_bytes": 999999999999}}`, // over the node's --max-body-bytes
			`{"quotas": {"max_sql_rows": 2000000}}`,
			`{"quotas": {"max_sql_bytes": -1}}`,
			`{"quotas": {"max_indexes": -1}}`,
			`{"quotas": {"max_indexs": 3}}`,
			`{"quotas": []}`,
			`{"quotas": 7}`,
			`{"name": "x"}`,
			`{}`,
			`[]`,
			`{"quotas": {"max_doc_bytes": 5000000}}`, // over this node's --max-doc-bytes
		} {
			r := e.do(t, "PATCH", "/v1/tenants/acme", adminToken, body)
			if r.status != 400 || r.code() != "invalid" {
				t.Errorf("PATCH %s: %s, want 400 invalid", body, r)
			}
		}
	})

	t.Run("ErrForbidden", func(t *testing.T) {
		e.do(t, "PATCH", "/v1/tenants/acme", k.admin, map[string]any{"quotas": map[string]any{"storage_bytes": 1}}).expect(t, 403, "forbidden")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		e.setQuotas(t, "ghost", map[string]any{"storage_bytes": 1}).expect(t, 404, "not_found")
	})
}

func TestUsage(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "clients").expect(t, 201, "")
	e.putCollection(t, "acme", "notes").expect(t, 201, "")
	e.putCollection(t, "acme", "empty").expect(t, 201, "")
	for i := range 3 {
		e.do(t, "PUT", docPath("acme", "clients", fmt.Sprint("c", i)), k.write, map[string]any{"n": i}).expect(t, 201, "")
	}
	for i := range 2 {
		e.do(t, "PUT", docPath("acme", "notes", fmt.Sprint("n", i)), k.write, map[string]any{"n": i}).expect(t, 201, "")
	}
	r := e.do(t, "GET", "/v1/tenants/acme/usage", k.read, nil).expect(t, 200, "")
	if r.bookmark() == "" {
		t.Error("usage answered without a bookmark")
	}
	var u usage
	r.into(t, &u)
	if got, want := fmt.Sprint(u.Documents), "map[clients:3 empty:0 notes:2]"; got != want {
		t.Errorf("documents = %s, want %s", got, want)
	}
	if got, want := u.Collections, 3; got != want {
		t.Errorf("collections = %d, want %d", got, want)
	}
	if u.StorageBytes <= 0 || u.StorageBytes%512 != 0 {
		t.Errorf("storage_bytes = %d, want a positive number of pages", u.StorageBytes)
	}
	if got, want := u.Quotas.StorageBytes, int64(quire.DefaultStorageBytes); got != want {
		t.Errorf("quotas.storage_bytes = %d, want %d", got, want)
	}
	o := e.createTenant(t, "other")
	e.do(t, "GET", "/v1/tenants/acme/usage", o.read, nil).expect(t, 403, "forbidden")
}

// sqliteMaxDoc returns store options with the largest document set.
func sqliteMaxDoc(n int) sqlite.Options { return sqlite.Options{MaxDocBytes: n} }

// doAny performs a request like do, without do's check that no response
// is a 5xx: 507 storage_quota_exceeded is one. The body must still not
// leak internals.
func (e *env) doAny(t *testing.T, method, path, token string, body any) *resp {
	t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &resp{method: method, url: path, status: res.StatusCode, header: res.Header, body: rb}
	if r.status >= 500 && r.status != 507 {
		t.Errorf("%s %s: server error %d: %s", method, path, r.status, clip(rb))
	}
	checkNoLeak(t, r)
	return r
}

package server_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quiredb/quire"
)

// slowLimit refills one request per 1000 s: in a test, a bucket of burst n
// allows exactly n requests.
func slowLimit(burst int) map[string]any {
	return map[string]any{"rate_limit": map[string]any{"requests_per_second": 0.001, "burst": burst}}
}

// expectLimitHeaders checks the RateLimit-* headers of a limited response.
func expectLimitHeaders(t *testing.T, r *resp, limit, remaining int) {
	t.Helper()
	if got := r.header.Get("RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Fatalf("%s: RateLimit-Limit %q, want %d", r, got, limit)
	}
	if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		t.Fatalf("%s: RateLimit-Remaining %q, want %d", r, got, remaining)
	}
	if reset, err := strconv.Atoi(r.header.Get("RateLimit-Reset")); err != nil || reset < 1 {
		t.Fatalf("%s: RateLimit-Reset %q, want whole seconds > 0", r, r.header.Get("RateLimit-Reset"))
	}
}

func TestTenantRateLimit(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.createTenant(t, "other")
	var tn quire.Tenant
	e.do(t, "PATCH", "/v1/tenants/acme", adminToken, slowLimit(3)).expect(t, 200, "").into(t, &tn)
	if tn.RateLimit == nil || *tn.RateLimit != (quire.RateLimit{RequestsPerSecond: 0.001, Burst: 3}) || tn.Quotas == nil {
		t.Fatalf("PATCH answered %+v", tn)
	}
	// The limit is the tenant's, shared by all its keys.
	for i, key := range []string{k.read, k.write, k.admin} {
		r := e.do(t, "GET", counterPath("acme", "n"), key, nil).expect(t, 200, "")
		expectLimitHeaders(t, r, 3, 2-i)
	}
	r := e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 429, quire.ERateLimited)
	expectLimitHeaders(t, r, 3, 0)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q, want whole seconds >= 1", r.header.Get("Retry-After"))
	}
	e.do(t, "POST", "/v1/tenants/acme/collections/c/docs", k.write, `{"a": 1}`).expect(t, 429, quire.ERateLimited)
	// The operator's token is never limited, and another tenant is not.
	r = e.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "")
	if r.header.Get("RateLimit-Limit") != "" {
		t.Fatalf("admin token got rate-limit headers: %v", r.header)
	}
	e.do(t, "GET", counterPath("other", "n"), adminToken, nil).expect(t, 200, "")

	// Removing the limit: null, or zeros.
	tn = quire.Tenant{}
	e.do(t, "PATCH", "/v1/tenants/acme", adminToken, `{"rate_limit": null}`).expect(t, 200, "").into(t, &tn)
	if tn.RateLimit != nil {
		t.Fatalf("rate limit not removed: %+v", tn.RateLimit)
	}
	for i := 0; i < 5; i++ {
		r := e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
		if r.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("unlimited tenant got rate-limit headers: %v", r.header)
		}
	}
	e.do(t, "PATCH", "/v1/tenants/acme", adminToken, slowLimit(1)).expect(t, 200, "")
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 429, quire.ERateLimited)
	tn = quire.Tenant{}
	e.do(t, "PATCH", "/v1/tenants/acme", adminToken, `{"rate_limit": {"requests_per_second": 0, "burst": 0}}`).expect(t, 200, "").into(t, &tn)
	if tn.RateLimit != nil {
		t.Fatalf("zeros did not remove the limit: %+v", tn.RateLimit)
	}
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
	r = e.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "")
	if strings.Contains(string(r.body), "rate_limit") {
		t.Fatalf("GET tenant shows a removed limit: %s", r.body)
	}

	// Quotas and rate limit in one PATCH; a bad rate limit changes nothing.
	e.do(t, "PATCH", "/v1/tenants/acme", adminToken, `{"quotas": {"max_collections": 7}, "rate_limit": {"requests_per_second": 100, "burst": 200}}`).expect(t, 200, "").into(t, &tn)
	if tn.Quotas.MaxCollections != 7 || tn.RateLimit == nil || tn.RateLimit.Burst != 200 {
		t.Fatalf("combined PATCH answered %+v", tn)
	}
	e.do(t, "PATCH", "/v1/tenants/acme", adminToken, `{"quotas": {"max_collections": 9}, "rate_limit": {"requests_per_second": -1}}`).expect(t, 400, quire.EInvalid)
	e.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "").into(t, &tn)
	if tn.Quotas.MaxCollections != 7 {
		t.Fatalf("a refused PATCH changed quotas: %+v", tn.Quotas)
	}
}

func TestKeyRateLimit(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	var key quire.Key
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["read"], adminToken, slowLimit(2)).expect(t, 200, "").into(t, &key)
	if key.ID != k.ids["read"] || key.RateLimit == nil || key.RateLimit.Burst != 2 {
		t.Fatalf("PATCH key answered %+v", key)
	}
	other, otherID := e.createKey(t, "acme", "read")
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+otherID, adminToken, slowLimit(1)).expect(t, 200, "")
	for i := 0; i < 2; i++ {
		r := e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
		expectLimitHeaders(t, r, 2, 1-i)
	}
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 429, quire.ERateLimited)
	// Another key of the same tenant has its own bucket; an unlimited one
	// none.
	e.do(t, "GET", counterPath("acme", "n"), other, nil).expect(t, 200, "")
	e.do(t, "GET", counterPath("acme", "n"), other, nil).expect(t, 429, quire.ERateLimited)
	for i := 0; i < 10; i++ {
		r := e.do(t, "GET", counterPath("acme", "n"), k.write, nil).expect(t, 200, "")
		if r.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("unlimited key got rate-limit headers")
		}
	}
	// Listing keys shows each key's limit.
	var list struct{ Keys []quire.Key }
	e.do(t, "GET", "/v1/tenants/acme/keys", adminToken, nil).expect(t, 200, "").into(t, &list)
	limits := map[string]int64{}
	for _, kk := range list.Keys {
		if kk.RateLimit != nil {
			limits[kk.ID] = kk.RateLimit.Burst
		}
	}
	if len(limits) != 2 || limits[k.ids["read"]] != 2 || limits[otherID] != 1 {
		t.Fatalf("keys list limits %v", limits)
	}
	// Removing the key's limit.
	key = quire.Key{}
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["read"], adminToken, `{"rate_limit": null}`).expect(t, 200, "").into(t, &key)
	if key.RateLimit != nil {
		t.Fatalf("key limit not removed: %+v", key)
	}
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
}

func TestRateLimitPersists(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.do(t, "PATCH", "/v1/tenants/acme", adminToken, slowLimit(5)).expect(t, 200, "")
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["read"], adminToken, slowLimit(2)).expect(t, 200, "")
	e.restart()
	var tn quire.Tenant
	e.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "").into(t, &tn)
	if tn.RateLimit == nil || tn.RateLimit.Burst != 5 || tn.RateLimit.RequestsPerSecond != 0.001 {
		t.Fatalf("tenant limit after restart: %+v", tn.RateLimit)
	}
	var list struct{ Keys []quire.Key }
	e.do(t, "GET", "/v1/tenants/acme/keys", adminToken, nil).expect(t, 200, "").into(t, &list)
	for _, kk := range list.Keys {
		if (kk.ID == k.ids["read"]) != (kk.RateLimit != nil) {
			t.Fatalf("key %s limit after restart: %+v", kk.ID, kk.RateLimit)
		}
	}
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 429, quire.ERateLimited)
	e.do(t, "GET", counterPath("acme", "n"), k.write, nil).expect(t, 200, "")
	e.do(t, "GET", counterPath("acme", "n"), k.write, nil).expect(t, 200, "")
	// The tenant's five tokens: two reads and two writes so far (the
	// read its key refused took none), so one write is left.
	e.do(t, "GET", counterPath("acme", "n"), k.write, nil).expect(t, 200, "")
	e.do(t, "GET", counterPath("acme", "n"), k.write, nil).expect(t, 429, quire.ERateLimited)
	// Removal persists too; a deleted tenant's limit does not come back.
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["read"], adminToken, `{"rate_limit": null}`).expect(t, 200, "")
	e.do(t, "DELETE", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "")
	k = e.createTenant(t, "acme")
	e.restart()
	tn = quire.Tenant{}
	e.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "").into(t, &tn)
	if tn.RateLimit != nil {
		t.Fatalf("re-created tenant inherited a limit: %+v", tn.RateLimit)
	}
	for i := 0; i < 10; i++ {
		e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
	}
}

func TestRateLimitBadInput(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	k2 := e.createTenant(t, "other")
	bad := []string{
		`{"rate_limit": {"requests_per_second": -1, "burst": 5}}`,
		`{"rate_limit": {"requests_per_second": 5, "burst": -1}}`,
		`{"rate_limit": {"requests_per_second": "500", "burst": 5}}`,
		`{"rate_limit": {"requests_per_second": 5, "burst": 1.5}}`,
		`{"rate_limit": {"requests_per_second": 5, "burst": "10"}}`,
		`{"rate_limit": {"rps": 5}}`,
		`{"rate_limit": {"requests_per_second": 5, "burst": 5, "window": 1}}`,
		`{"rate_limit": {"burst": 5}}`,
		`{"rate_limit": {"requests_per_second": 1e9}}`,
		`{"rate_limit": {"requests_per_second": 0.00001}}`,
		`{"rate_limit": {"requests_per_second": 5, "burst": 100000000}}`,
		`{"rate_limit": {"requests_per_second": 5, "burst": 9223372036854775808}}`,
		`{"rate_limit": 5}`, `{"rate_limit": "fast"}`, `{"rate_limit": []}`, `{"rate_limit": true}`,
		`{"rate_limit": {}, "extra": 1}`, `{}`, `[]`, `null`, ``, `{"rate_limit": {"requests_per_second": 5}`,
	}
	for _, body := range bad {
		e.do(t, "PATCH", "/v1/tenants/acme", adminToken, body).expect(t, 400, quire.EInvalid)
		e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["read"], adminToken, body).expect(t, 400, quire.EInvalid)
	}
	var tn quire.Tenant
	e.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "").into(t, &tn)
	if tn.RateLimit != nil {
		t.Fatalf("refused PATCHes set a limit: %+v", tn.RateLimit)
	}
	ok := slowLimit(5)
	// Only the operator sets limits: a tenant's admin key may not lift them.
	e.do(t, "PATCH", "/v1/tenants/acme", k.admin, ok).expect(t, 403, quire.EForbidden)
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["read"], k.admin, ok).expect(t, 403, quire.EForbidden)
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["read"], "", ok).expect(t, 401, quire.EUnauthorized)
	// A key of another tenant, or none, is not found; hostile names are
	// refused.
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k2.ids["read"], adminToken, ok).expect(t, 404, quire.ENotFound)
	e.do(t, "PATCH", "/v1/tenants/acme/keys/knope", adminToken, ok).expect(t, 404, quire.ENotFound)
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+escapeSegment("../x"), adminToken, ok).expect(t, 404, quire.ENotFound)
	e.do(t, "PATCH", "/v1/tenants/nosuch", adminToken, ok).expect(t, 404, quire.ENotFound)
	e.do(t, "PATCH", "/v1/tenants/nosuch/keys/"+k.ids["read"], adminToken, ok).expect(t, 404, quire.ENotFound)
	for _, name := range []string{"a;DROP", "../x", "ａcme", "Acme"} {
		e.do(t, "PATCH", "/v1/tenants/"+escapeSegment(name), adminToken, ok).expect(t, 400, quire.EInvalidName)
		e.do(t, "PATCH", "/v1/tenants/"+escapeSegment(name)+"/keys/"+k.ids["read"], adminToken, ok).expect(t, 400, quire.EInvalidName)
	}
	// A fractional rate and a defaulted burst are fine.
	var key quire.Key
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["read"], adminToken, `{"rate_limit": {"requests_per_second": 2.5}}`).expect(t, 200, "").into(t, &key)
	if key.RateLimit == nil || *key.RateLimit != (quire.RateLimit{RequestsPerSecond: 2.5, Burst: 3}) {
		t.Fatalf("defaulted burst: %+v", key.RateLimit)
	}
}

// TestNoisyNeighbour: tenant A, limited and hammered, gets 429s; tenant B,
// unlimited and running at the same time, gets no 429 and no error. B's
// throughput next to A relative to B alone is logged, never asserted.
func TestNoisyNeighbour(t *testing.T) {
	e := newEnv(t)
	ka := e.createTenant(t, "noisy")
	kb := e.createTenant(t, "quiet")
	e.do(t, "PATCH", "/v1/tenants/noisy", adminToken, `{"rate_limit": {"requests_per_second": 50, "burst": 50}}`).expect(t, 200, "")
	hc := keepAlive(t)
	const bWorkers, bEach = 8, 150

	runB := func() (time.Duration, error) {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, bWorkers)
		for w := 0; w < bWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < bEach; i++ {
					st, h, b, err := rawDo(hc, "POST", e.ts.URL+counterPath("quiet", "n"), kb.write, `{"delta": 1}`)
					if err != nil || st != 200 || h.Get("RateLimit-Limit") != "" {
						errs <- fmt.Errorf("tenant B request: status %d, %v: %s", st, err, b)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		return time.Since(start), <-errs
	}

	alone, err := runB()
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var aOK, a429, aOther atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000 && !stop.Load(); i++ {
				st, h, _, err := rawDo(hc, "GET", e.ts.URL+counterPath("noisy", "n"), ka.read, "")
				switch {
				case err != nil:
					aOther.Add(1)
				case st == 200:
					aOK.Add(1)
				case st == 429 && h.Get("Retry-After") != "":
					a429.Add(1)
				default:
					aOther.Add(1)
				}
			}
		}()
	}
	// Let A's bucket empty before B starts: poll, no sleep-and-hope.
	deadline := time.Now().Add(30 * time.Second)
	for a429.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	beside, err := runB()
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if a429.Load() == 0 || aOther.Load() != 0 {
		t.Fatalf("tenant A: %d allowed, %d refused with 429, %d other answers; want some 429s and nothing else", aOK.Load(), a429.Load(), aOther.Load())
	}
	var c struct{ Value int64 }
	e.do(t, "GET", counterPath("quiet", "n"), kb.read, nil).expect(t, 200, "").into(t, &c)
	if c.Value != 2*bWorkers*bEach {
		t.Fatalf("tenant B's counter = %d, want %d", c.Value, 2*bWorkers*bEach)
	}
	t.Logf("tenant A: %d allowed, %d refused (429); tenant B: %d requests alone in %v, beside A in %v: throughput ratio %.2f",
		aOK.Load(), a429.Load(), bWorkers*bEach, alone.Round(time.Millisecond), beside.Round(time.Millisecond), alone.Seconds()/beside.Seconds())
}

// TestRateLimitCatalogMigration: a catalog written before rate limits
// existed (no rate_limit columns) opens, keeps its tenants and keys, and
// takes limits.
func TestRateLimitCatalogMigration(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.stop()
	db, err := sql.Open("sqlite3", filepath.Join(e.dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`ALTER TABLE tenants DROP COLUMN rate_limit`, `ALTER TABLE keys DROP COLUMN rate_limit`} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	e.start()
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
	e.do(t, "PATCH", "/v1/tenants/acme", adminToken, slowLimit(1)).expect(t, 200, "")
	e.do(t, "PATCH", "/v1/tenants/acme/keys/"+k.ids["write"], adminToken, slowLimit(1)).expect(t, 200, "")
	e.restart()
	var tn quire.Tenant
	e.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "").into(t, &tn)
	if tn.RateLimit == nil || tn.RateLimit.Burst != 1 {
		t.Fatalf("limit after migration and restart: %+v", tn.RateLimit)
	}
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "")
	e.do(t, "GET", counterPath("acme", "n"), k.write, nil).expect(t, 429, quire.ERateLimited)
}

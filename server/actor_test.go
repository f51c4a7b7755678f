package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/actor"
	"github.com/quiredb/quire/client"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
)

func counterPath(tenant, name string) string {
	return "/v1/tenants/" + tenant + "/counters/" + escapeSegment(name)
}

func statePath(tenant, key string) string {
	return "/v1/tenants/" + tenant + "/state/" + escapeSegment(key)
}

// rawDo sends one request without a *testing.T, for goroutines.
func rawDo(hc *http.Client, method, url, token, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b, err
}

// keepAlive is an HTTP client that keeps enough connections for the
// concurrent tests (the default keeps 2 per host).
func keepAlive(t *testing.T) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestCountersAtomic(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	hc := keepAlive(t)
	const goroutines, each = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				st, _, b, err := rawDo(hc, "POST", e.ts.URL+counterPath("acme", "hits"), k.write, `{"delta": 1}`)
				if err != nil || st != 200 {
					errs <- fmt.Errorf("increment: %d %s %v", st, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var c struct {
		Name  string `json:"name"`
		Value int64  `json:"value"`
	}
	r := e.do(t, "GET", counterPath("acme", "hits"), k.read, nil).expect(t, 200, "")
	r.into(t, &c)
	if r.bookmark() == "" {
		t.Fatal("counter answer without a bookmark")
	}
	if c.Name != "hits" || c.Value != goroutines*each {
		t.Fatalf("counter = %+v, want %d", c, goroutines*each)
	}
	// Decrement, absent counters, delete.
	e.do(t, "POST", counterPath("acme", "hits"), k.write, `{"delta": -3200}`).expect(t, 200, "").into(t, &c)
	if c.Value != 0 {
		t.Fatalf("after decrement: %+v", c)
	}
	e.do(t, "GET", counterPath("acme", "never"), k.read, nil).expect(t, 200, "").into(t, &c)
	if c.Value != 0 {
		t.Fatalf("absent counter reads %d, want 0", c.Value)
	}
	var del struct{ Deleted bool }
	e.do(t, "DELETE", counterPath("acme", "hits"), k.write, nil).expect(t, 200, "").into(t, &del)
	if !del.Deleted {
		t.Fatal("deleting an existing counter answered deleted=false")
	}
	e.do(t, "DELETE", counterPath("acme", "hits"), k.write, nil).expect(t, 200, "").into(t, &del)
	if del.Deleted {
		t.Fatal("deleting an absent counter answered deleted=true")
	}
	// Overflow is refused and changes nothing.
	e.do(t, "POST", counterPath("acme", "big"), k.write, `{"delta": 9223372036854775807}`).expect(t, 200, "")
	e.do(t, "POST", counterPath("acme", "big"), k.write, `{"delta": 1}`).expect(t, 400, quire.EInvalid)
	e.do(t, "GET", counterPath("acme", "big"), k.read, nil).expect(t, 200, "").into(t, &c)
	if c.Value != 9223372036854775807 {
		t.Fatalf("refused overflow changed the counter: %d", c.Value)
	}
}

func TestCounterLimit(t *testing.T) {
	hub := actor.New(actor.Config{MaxCounters: 3})
	t.Cleanup(func() { hub.Close() })
	e := newEnvConfig(t, server.Config{Actors: hub})
	k := e.createTenant(t, "acme")
	for _, n := range []string{"a", "b", "c"} {
		e.do(t, "POST", counterPath("acme", n), k.write, `{"delta": 1}`).expect(t, 200, "")
	}
	e.do(t, "POST", counterPath("acme", "d"), k.write, `{"delta": 1}`).expect(t, 409, quire.EQuotaExceeded)
	e.do(t, "POST", counterPath("acme", "a"), k.write, `{"delta": 1}`).expect(t, 200, "")
	// The bound is per tenant.
	k2 := e.createTenant(t, "other")
	e.do(t, "POST", counterPath("other", "d"), k2.write, `{"delta": 1}`).expect(t, 200, "")
}

func TestStateTTLAndBounds(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	var sv struct {
		Key       string          `json:"key"`
		Value     json.RawMessage `json:"value"`
		ExpiresAt time.Time       `json:"expires_at"`
		TTLMs     int64           `json:"ttl_ms"`
	}
	e.do(t, "PUT", statePath("acme", "cart:42"), k.write, `{"items": [1, 2], "note": "é"}`).expect(t, 200, "").into(t, &sv)
	if sv.Key != "cart:42" || sv.TTLMs <= 59*60*1000 || sv.TTLMs > 3600*1000 {
		t.Fatalf("put answered %+v; want the default TTL of 1 h", sv)
	}
	r := e.do(t, "GET", statePath("acme", "cart:42"), k.read, nil).expect(t, 200, "")
	r.into(t, &sv)
	if r.bookmark() == "" {
		t.Fatal("state answer without a bookmark")
	}
	if compact(t, string(sv.Value)) != `{"items":[1,2],"note":"é"}` {
		t.Fatalf("value = %s", sv.Value)
	}
	// A short TTL expires: poll until the value is gone.
	e.do(t, "PUT", statePath("acme", "otp")+"?ttl_ms=50", k.write, `"123456"`).expect(t, 200, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.do(t, "GET", statePath("acme", "otp"), k.read, nil)
		if r.status == 404 {
			r.expect(t, 404, quire.ENotFound)
			break
		}
		r.expect(t, 200, "")
		if time.Now().After(deadline) {
			t.Fatal("state with ttl_ms=50 still served after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.do(t, "DELETE", statePath("acme", "otp"), k.write, nil).expect(t, 404, quire.ENotFound)

	// Size, JSON and TTL checks.
	big := `"` + strings.Repeat("x", 64<<10) + `"`
	e.do(t, "PUT", statePath("acme", "big"), k.write, big).expect(t, 413, quire.ETooLarge)
	for _, bad := range []string{`{"a":`, `{"a":1}}`, `nope`, `{'a':1}`, ``, `   `} {
		e.do(t, "PUT", statePath("acme", "bad"), k.write, bad).expect(t, 400, quire.EInvalid)
	}
	for _, ttl := range []string{"0", "-5", "abc", "1.5", "86400001", "99999999999999999999"} {
		e.do(t, "PUT", statePath("acme", "x")+"?ttl_ms="+ttl, k.write, `1`).expect(t, 400, quire.EInvalid)
	}
	e.do(t, "PUT", statePath("acme", "x")+"?ttl_ms=86400000", k.write, `1`).expect(t, 200, "")
	e.do(t, "DELETE", statePath("acme", "x"), k.write, nil).expect(t, 200, "")
	e.do(t, "GET", statePath("acme", "x"), k.read, nil).expect(t, 404, quire.ENotFound)

	// The tenant's memory is bounded: puts over 8 MiB are refused, and
	// nothing already stored is evicted.
	value := `"` + strings.Repeat("v", 60<<10) + `"`
	n := 0
	for ; n < 200; n++ {
		r := e.do(t, "PUT", statePath("acme", fmt.Sprintf("s%03d", n)), k.write, value)
		if r.status != 200 {
			r.expect(t, 409, quire.EQuotaExceeded)
			break
		}
	}
	if n < 100 || n > 140 {
		t.Fatalf("%d values of 60 KiB stored before the 8 MiB bound", n)
	}
	e.do(t, "GET", statePath("acme", "s000"), k.read, nil).expect(t, 200, "")
	e.do(t, "GET", statePath("acme", "cart:42"), k.read, nil).expect(t, 200, "")
	// Freeing some makes room again; other tenants have their own budget.
	e.do(t, "DELETE", statePath("acme", "s000"), k.write, nil).expect(t, 200, "")
	e.do(t, "PUT", statePath("acme", "again"), k.write, value).expect(t, 200, "")
	k2 := e.createTenant(t, "other")
	e.do(t, "PUT", statePath("other", "s000"), k2.write, value).expect(t, 200, "")
	e.do(t, "GET", statePath("other", "cart:42"), k2.read, nil).expect(t, 404, quire.ENotFound)
}

func TestActorBadInput(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	k2 := e.createTenant(t, "other")
	for _, name := range []string{"../x", "a;DROP", "Hits", "ｈits", "hіts", "a b", "x'--", strings.Repeat("a", 64), "sqlite_master", "é"} {
		p := counterPath("acme", name)
		e.do(t, "POST", p, k.write, `{"delta": 1}`).expect(t, 400, quire.EInvalidName)
		e.do(t, "GET", p, k.read, nil).expect(t, 400, quire.EInvalidName)
		e.do(t, "DELETE", p, k.write, nil).expect(t, 400, quire.EInvalidName)
	}
	for _, body := range []string{`{}`, `{"delta": "1"}`, `{"delta": 1.5}`, `{"delta": 1, "by": 2}`, `[]`, `null`, `1`,
		`{"delta": 9223372036854775808}`, `{"delta": true}`, `{"delta": 1} {}`, ``, `{"delta": null}`} {
		e.do(t, "POST", counterPath("acme", "n"), k.write, body).expect(t, 400, quire.EInvalid)
	}
	for _, key := range []string{"a\u202eb", "a\x00b", "a\nb", "zero\u200bwidth", strings.Repeat("k", 257)} {
		p := statePath("acme", key)
		e.do(t, "PUT", p, k.write, `1`).expect(t, 400, quire.EInvalid)
		e.do(t, "GET", p, k.read, nil).expect(t, 400, quire.EInvalid)
		e.do(t, "DELETE", p, k.write, nil).expect(t, 400, quire.EInvalid)
	}
	e.do(t, "GET", "/v1/tenants/acme/state/%FF", k.read, nil).expect(t, 400, quire.EInvalid)
	// Path-like keys are plain keys: "../x" is not "x", nor another tenant's.
	e.do(t, "PUT", statePath("acme", "../x"), k.write, `"dots"`).expect(t, 200, "")
	e.do(t, "GET", statePath("acme", "x"), k.read, nil).expect(t, 404, quire.ENotFound)
	e.do(t, "GET", statePath("acme", "../x"), k.read, nil).expect(t, 200, "")
	e.do(t, "GET", statePath("acme", strings.Repeat("k", 256)), k.read, nil).expect(t, 404, quire.ENotFound)

	// Roles and tenants.
	e.do(t, "POST", counterPath("acme", "n"), k.read, `{"delta": 1}`).expect(t, 403, quire.EForbidden)
	e.do(t, "DELETE", counterPath("acme", "n"), k.read, nil).expect(t, 403, quire.EForbidden)
	e.do(t, "PUT", statePath("acme", "s"), k.read, `1`).expect(t, 403, quire.EForbidden)
	e.do(t, "DELETE", statePath("acme", "s"), k.read, nil).expect(t, 403, quire.EForbidden)
	e.do(t, "GET", counterPath("acme", "n"), k2.admin, nil).expect(t, 403, quire.EForbidden)
	e.do(t, "POST", counterPath("acme", "n"), k2.write, `{"delta": 1}`).expect(t, 403, quire.EForbidden)
	e.do(t, "GET", statePath("acme", "s"), k2.read, nil).expect(t, 403, quire.EForbidden)
	e.do(t, "GET", counterPath("acme", "n"), "", nil).expect(t, 401, quire.EUnauthorized)
	e.do(t, "GET", counterPath("nosuch", "n"), adminToken, nil).expect(t, 404, quire.ENotFound)
	e.do(t, "GET", counterPath("Bad-Tenant", "n"), adminToken, nil).expect(t, 400, quire.EInvalidName)
	e.do(t, "PATCH", counterPath("acme", "n"), k.write, `{}`).expect(t, 405, quire.EMethodNotAllowed)
	e.do(t, "POST", statePath("acme", "s"), k.write, `1`).expect(t, 405, quire.EMethodNotAllowed)
	// The admin token may use every route.
	e.do(t, "POST", counterPath("acme", "n"), adminToken, `{"delta": 2}`).expect(t, 200, "")
	// Tenants do not share counters.
	var c struct{ Value int64 }
	e.do(t, "GET", counterPath("other", "n"), k2.read, nil).expect(t, 200, "").into(t, &c)
	if c.Value != 0 {
		t.Fatalf("tenant other sees acme's counter: %d", c.Value)
	}
}

// TestActorLifetime: actor state survives an idle close of the tenant's
// database, and not a tenant's deletion or a restart.
func TestActorLifetime(t *testing.T) {
	dir := t.TempDir()
	reg, err := registry.New(registry.Config{DataDir: dir, IdleTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	hub := actor.New(actor.Config{})
	defer hub.Close()
	ts := httptest.NewServer(server.New(server.Config{AdminToken: adminToken, Actors: hub}, reg, reg))
	defer ts.Close()
	e := &env{t: t, dir: dir, reg: reg, ts: ts}
	k := e.createTenant(t, "acme")
	e.do(t, "POST", counterPath("acme", "n"), k.write, `{"delta": 7}`).expect(t, 200, "")
	e.do(t, "PUT", statePath("acme", "s"), k.write, `{"v": 1}`).expect(t, 200, "")
	deadline := time.Now().Add(10 * time.Second)
	for reg.OpenTenants() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("tenant database not closed when idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var c struct{ Value int64 }
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "").into(t, &c)
	if c.Value != 7 {
		t.Fatalf("counter after idle close = %d, want 7", c.Value)
	}
	e.do(t, "GET", statePath("acme", "s"), k.read, nil).expect(t, 200, "")

	// Deleting the tenant drops its actor: a tenant re-created under the
	// same id starts empty.
	e.do(t, "DELETE", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "")
	k = e.createTenant(t, "acme")
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "").into(t, &c)
	if c.Value != 0 {
		t.Fatalf("counter survived the tenant's deletion: %d", c.Value)
	}
	e.do(t, "GET", statePath("acme", "s"), k.read, nil).expect(t, 404, quire.ENotFound)
	e.ts, e.reg = nil, nil
}

func TestActorRestart(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.do(t, "POST", counterPath("acme", "n"), k.write, `{"delta": 7}`).expect(t, 200, "")
	e.do(t, "PUT", statePath("acme", "s"), k.write, `1`).expect(t, 200, "")
	e.restart()
	var c struct{ Value int64 }
	e.do(t, "GET", counterPath("acme", "n"), k.read, nil).expect(t, 200, "").into(t, &c)
	if c.Value != 0 {
		t.Fatalf("counter survived a restart: %d", c.Value)
	}
	e.do(t, "GET", statePath("acme", "s"), k.read, nil).expect(t, 404, quire.ENotFound)
}

func TestActorClient(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	ctx := context.Background()
	c := client.New(e.ts.URL, k.write)
	if v, err := c.AddCounter(ctx, "acme", "n", 5); err != nil || v != 5 {
		t.Fatalf("AddCounter = %d, %v", v, err)
	}
	if v, err := c.Counter(ctx, "acme", "n"); err != nil || v != 5 {
		t.Fatalf("Counter = %d, %v", v, err)
	}
	if ok, err := c.DeleteCounter(ctx, "acme", "n"); err != nil || !ok {
		t.Fatalf("DeleteCounter = %v, %v", ok, err)
	}
	if _, err := c.AddCounter(ctx, "acme", "../x", 1); quire.ErrorCode(err) != quire.EInvalidName {
		t.Fatalf("hostile counter name: %v", err)
	}
	if _, err := c.PutState(ctx, "acme", "s/1", []byte(`{"a": 1}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	st, err := c.State(ctx, "acme", "s/1")
	if err != nil || !bytes.Equal(st.Value, []byte(`{"a":1}`)) && !bytes.Equal(st.Value, []byte(`{"a": 1}`)) || time.Until(st.ExpiresAt) > time.Minute {
		t.Fatalf("State = %+v, %v", st, err)
	}
	if err := c.DeleteState(ctx, "acme", "s/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.State(ctx, "acme", "s/1"); quire.ErrorCode(err) != quire.ENotFound {
		t.Fatalf("deleted state: %v", err)
	}
	if _, err := c.PutState(ctx, "acme", "s", nil, 0); quire.ErrorCode(err) != quire.EInvalid {
		t.Fatalf("empty value: %v", err)
	}
	// Rate limits through the client, and the error a limited key gets.
	admin := client.New(e.ts.URL, adminToken)
	if _, err := admin.SetKeyRateLimit(ctx, "acme", k.ids["write"], &quire.RateLimit{RequestsPerSecond: 0.001, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	c.Counter(ctx, "acme", "n")
	if _, err := c.Counter(ctx, "acme", "n"); quire.ErrorCode(err) != quire.ERateLimited {
		t.Fatalf("over the key's limit: %v", err)
	}
	tn, err := admin.SetTenantRateLimit(ctx, "acme", &quire.RateLimit{RequestsPerSecond: 10})
	if err != nil || tn.RateLimit == nil || *tn.RateLimit != (quire.RateLimit{RequestsPerSecond: 10, Burst: 10}) {
		t.Fatalf("SetTenantRateLimit = %+v, %v", tn, err)
	}
}

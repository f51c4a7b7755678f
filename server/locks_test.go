package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

func lockPath(tenant, name string) string { return "/v1/tenants/" + tenant + "/locks/" + name }

// lockState is a lock as the API returns it.
type lockState struct {
	Lock      string `json:"lock"`
	Token     int64  `json:"token"`
	Held      bool   `json:"held"`
	Owner     string `json:"owner"`
	ExpiresAt int64  `json:"expires_at"`
	Released  bool   `json:"released"`
}

func (r *resp) lock(t *testing.T) lockState {
	t.Helper()
	var l lockState
	r.into(t, &l)
	return l
}

// acquire takes lock name for owner, failing the test if it cannot.
func (e *env) acquire(t *testing.T, token, tenant, name, owner string, ttlMillis int) lockState {
	t.Helper()
	l := e.do(t, "POST", lockPath(tenant, name), token, map[string]any{"owner": owner, "ttl_ms": ttlMillis}).expect(t, 201, "").lock(t)
	if !l.Held || l.Owner != owner || l.Lock != name || l.Token < 1 {
		t.Fatalf("acquire answered %+v", l)
	}
	return l
}

func fence(name string, token int64) string { return name + "=" + strconv.FormatInt(token, 10) }

// rawDo sends a request without the testing.T helpers, for goroutines.
func (e *env) rawDo(method, path, token, body string, header ...string) (int, http.Header, []byte, error) {
	hr, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		hr.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b, err
}

// pollAcquire retries an acquire until it is granted, or fails the test
// after a generous deadline: lease expiry is never timed, only awaited.
func (e *env) pollAcquire(t *testing.T, token, tenant, name, owner string, ttlMillis int) lockState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.do(t, "POST", lockPath(tenant, name), token, map[string]any{"owner": owner, "ttl_ms": ttlMillis})
		if r.status == 201 {
			return r.lock(t)
		}
		r.expect(t, 409, "lock_held")
		if time.Now().After(deadline) {
			t.Fatalf("lock %s never freed: %s", name, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockEnv is a server with tenant acme, collection c and document d1.
func lockEnv(t *testing.T) (*env, keys) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "c")
	e.do(t, "PUT", docPath("acme", "c", "d1"), k.write, `{"v":"original"}`).expect(t, 201, "")
	return e, k
}

// bodyOf returns the body of acme's document id.
func (e *env) bodyOf(t *testing.T, k keys, id string) string {
	t.Helper()
	return string(e.getDoc(t, k.read, "acme", "c", id).Body)
}

func TestLockAPI(t *testing.T) {
	e, k := lockEnv(t)
	p := lockPath("acme", "job")

	l := e.do(t, "GET", p, k.read, nil).expect(t, 200, "").lock(t)
	if l.Held || l.Token != 0 || l.Lock != "job" {
		t.Fatalf("fresh lock: %+v", l)
	}
	// An empty body takes the defaults.
	r := e.do(t, "POST", p, k.write, nil).expect(t, 201, "")
	a := r.lock(t)
	if a.Token != 1 || !a.Held || a.Owner != "" || r.bookmark() == "" {
		t.Fatalf("acquire: %s", r)
	}
	if left := a.ExpiresAt - time.Now().UnixMilli(); left > quire.DefaultLockTTLMillis || left < quire.DefaultLockTTLMillis-60_000 {
		t.Fatalf("default lease ends in %d ms", left)
	}
	got := e.do(t, "GET", p, k.read, nil, "Quire-Bookmark", r.bookmark()).expect(t, 200, "").lock(t)
	if !got.Held || got.Token != 1 || got.ExpiresAt != a.ExpiresAt {
		t.Fatalf("get after acquire: %+v", got)
	}

	rn := e.do(t, "POST", p+"/renew", k.write, map[string]any{"token": 1, "ttl_ms": 600_000}).expect(t, 200, "").lock(t)
	if rn.Token != 1 || !rn.Held || rn.ExpiresAt <= a.ExpiresAt {
		t.Fatalf("renew: %+v", rn)
	}
	e.do(t, "POST", p+"/renew", k.write, map[string]any{"token": 2}).expect(t, 409, "stale_fence")

	// Release by header or by query; a retried release is harmless.
	rel := e.do(t, "DELETE", p, k.write, nil, "Quire-Fence", "job=1").expect(t, 200, "").lock(t)
	if !rel.Released || rel.Held || rel.Token != 1 {
		t.Fatalf("release: %+v", rel)
	}
	rel = e.do(t, "DELETE", p+"?token=1", k.write, nil).expect(t, 200, "").lock(t)
	if rel.Released {
		t.Fatalf("second release: %+v", rel)
	}
	e.do(t, "POST", p+"/renew", k.write, map[string]any{"token": 1}).expect(t, 409, "stale_fence")
	if l := e.do(t, "GET", p, k.read, nil).expect(t, 200, "").lock(t); l.Held || l.Token != 1 || l.Owner != "" {
		t.Fatalf("released lock: %+v", l)
	}
	// The counter survives the release, and an old token cannot free the
	// new lease.
	b := e.acquire(t, k.write, "acme", "job", "w2", 60_000)
	if b.Token != 2 {
		t.Fatalf("token after release: %d", b.Token)
	}
	e.do(t, "DELETE", p+"?token=1", k.write, nil).expect(t, 409, "stale_fence")
	e.do(t, "DELETE", lockPath("acme", "nosuch")+"?token=1", k.write, nil).expect(t, 409, "stale_fence")
	// A Quire-Fence header on a lock route is not checked as a fence.
	e.do(t, "POST", lockPath("acme", "other"), k.write, nil, "Quire-Fence", "job=1").expect(t, 201, "")
	e.do(t, "PUT", p, k.write, nil).expect(t, 405, "method_not_allowed")
}

func TestLockContention(t *testing.T) {
	e, k := lockEnv(t)
	type result struct {
		status int
		header http.Header
		body   []byte
		err    error
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body := fmt.Sprintf(`{"owner":"worker-%d","ttl_ms":60000}`, i)
			s, h, b, err := e.rawDo("POST", lockPath("acme", "job"), k.write, body)
			results[i] = result{s, h, b, err}
		}()
	}
	close(start)
	wg.Wait()
	won, lost := -1, -1
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Fatal(r.err)
		case r.status == 201:
			won = i
		case r.status == 409:
			lost = i
		}
	}
	if won < 0 || lost < 0 {
		t.Fatalf("want one winner and one loser: %d %s / %d %s", results[0].status, results[0].body, results[1].status, results[1].body)
	}
	loser := &resp{method: "POST", status: 409, header: results[lost].header, body: results[lost].body}
	if loser.code() != "lock_held" {
		t.Fatalf("loser: %s", loser.body)
	}
	d := loser.errDetails()
	var winner lockState
	json.Unmarshal(results[won].body, &winner)
	if d["owner"] != fmt.Sprintf("worker-%d", won) || d["expires_at"] != float64(winner.ExpiresAt) || d["lock"] != "job" {
		t.Fatalf("lock_held details %v, winner %+v", d, winner)
	}
	if _, ok := d["token"]; ok {
		t.Fatalf("lock_held shows the holder's token: %v", d)
	}
	if ra, err := strconv.Atoi(loser.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", loser.header.Get("Retry-After"))
	}
}

func TestLockLeaseExpiry(t *testing.T) {
	e, k := lockEnv(t)
	a := e.acquire(t, k.write, "acme", "job", "a", 50)
	b := e.pollAcquire(t, k.write, "acme", "job", "b", 60_000)
	if b.Token != a.Token+1 || b.Owner != "b" {
		t.Fatalf("after expiry: %+v", b)
	}
	e.do(t, "POST", lockPath("acme", "job")+"/renew", k.write, map[string]any{"token": a.Token}).expect(t, 409, "stale_fence")
	if l := e.do(t, "GET", lockPath("acme", "job"), k.read, nil).expect(t, 200, "").lock(t); !l.Held || l.Owner != "b" || l.Token != b.Token {
		t.Fatalf("state: %+v", l)
	}
}

// staleWrites are the write routes a fence applies to, each meant to
// change acme's document d1 (or add one).
func staleWrites(k keys) []req {
	return []req{
		{method: "PUT", path: docPath("acme", "c", "d1"), token: k.write, body: `{"v":"stale"}`},
		{method: "PATCH", path: docPath("acme", "c", "d1"), token: k.write, body: `{"v":"stale"}`},
		{method: "DELETE", path: docPath("acme", "c", "d1"), token: k.write},
		{method: "POST", path: "/v1/tenants/acme/collections/c/docs", token: k.write, body: `{"v":"stale"}`},
		{method: "POST", path: "/v1/tenants/acme/batch", token: k.write,
			body: `{"ops":[{"op":"put","collection":"c","id":"d2","body":{}},{"op":"put","collection":"c","id":"d1","body":{"v":"stale"}}]}`},
		{method: "POST", path: "/v1/tenants/acme/sql", token: k.write,
			body: `{"sql":"UPDATE c SET body = json_object('v','stale') WHERE id = 'd1'"}`},
		{method: "POST", path: "/v1/tenants/acme/sql", token: k.admin,
			body: `{"batch":[{"sql":"INSERT INTO c(id, body) VALUES ('d3', '{}')"},{"sql":"DELETE FROM c"}]}`},
	}
}

// expectRefused sends every stale write with the fence header, expects
// stale_fence, and checks nothing changed.
func (e *env) expectRefused(t *testing.T, k keys, fenceHeader, reason string) {
	t.Helper()
	before := e.getDoc(t, k.read, "acme", "c", "d1")
	for _, rq := range staleWrites(k) {
		rq.header = map[string]string{"Quire-Fence": fenceHeader}
		r := e.send(t, rq).expect(t, 409, "stale_fence")
		if reason != "" && r.errDetails()["reason"] != reason {
			t.Fatalf("%s %s: details %v, want reason %s", rq.method, rq.path, r.errDetails(), reason)
		}
	}
	after := e.getDoc(t, k.read, "acme", "c", "d1")
	if after.Version != before.Version || string(after.Body) != string(before.Body) {
		t.Fatalf("refused writes changed the document: %+v → %+v", before, after)
	}
	list := e.do(t, "GET", "/v1/tenants/acme/collections/c/docs", k.read, nil).expect(t, 200, "")
	var page struct{ Docs []doc }
	list.into(t, &page)
	if len(page.Docs) != 1 {
		t.Fatalf("refused writes added documents: %s", list.body)
	}
}

func TestStaleFenceRefused(t *testing.T) {
	e, k := lockEnv(t)
	e.expectRefused(t, k, "job=1", "unknown")
	a := e.acquire(t, k.write, "acme", "job", "a", 60_000)
	e.do(t, "DELETE", lockPath("acme", "job")+"?token=1", k.write, nil).expect(t, 200, "")
	e.expectRefused(t, k, fence("job", a.Token), "released")
	b := e.acquire(t, k.write, "acme", "job", "b", 60_000)
	e.expectRefused(t, k, fence("job", a.Token), "superseded")
	e.expectRefused(t, k, fence("job", b.Token+1), "unknown")
	// Every fence must hold: one stale fence among live ones refuses.
	o := e.acquire(t, k.write, "acme", "other", "b", 60_000)
	e.expectRefused(t, k, fence("job", b.Token)+", "+fence("other", o.Token+7), "")

	// The live token writes, on every path.
	h := []string{"Quire-Fence", fence("job", b.Token) + ", " + fence("other", o.Token)}
	e.do(t, "PUT", docPath("acme", "c", "d1"), k.write, `{"v":"b"}`, h...).expect(t, 200, "")
	e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"patch","collection":"c","id":"d1","body":{"w":1}}]}`, h...).expect(t, 200, "")
	e.do(t, "POST", "/v1/tenants/acme/sql", k.write, `{"sql":"UPDATE c SET body = json_set(body, '$.x', 2) WHERE id = 'd1'"}`, h...).expect(t, 200, "")
	if got := e.bodyOf(t, k, "d1"); got != `{"v":"b","w":1,"x":2}` {
		t.Fatalf("body %s", got)
	}
}

// TestPausedClient is the case fencing exists for: A's lease runs out
// while A is paused, B takes the lock and writes, then A wakes up and
// writes with its old token.
func TestPausedClient(t *testing.T) {
	e, k := lockEnv(t)
	a := e.acquire(t, k.write, "acme", "job", "a", 50)
	e.do(t, "GET", docPath("acme", "c", "d1"), k.read, nil).expect(t, 200, "") // A reads, then pauses
	b := e.pollAcquire(t, k.write, "acme", "job", "b", 60_000)
	if b.Token <= a.Token {
		t.Fatalf("tokens %d then %d", a.Token, b.Token)
	}
	e.do(t, "PUT", docPath("acme", "c", "d1"), k.write, `{"v":"b"}`, "Quire-Fence", fence("job", b.Token)).expect(t, 200, "")
	r := e.do(t, "PUT", docPath("acme", "c", "d1"), k.write, `{"v":"a"}`, "Quire-Fence", fence("job", a.Token)).expect(t, 409, "stale_fence")
	if d := r.errDetails(); d["reason"] != "superseded" || d["lock"] != "job" || d["token"] != float64(a.Token) {
		t.Fatalf("details %v", d)
	}
	if got := e.bodyOf(t, k, "d1"); got != `{"v":"b"}` {
		t.Fatalf("B's write did not stand: %s", got)
	}
}

// TestExpiredLeaseFenceRefused: a lease that ran out refuses its holder's
// writes even though nobody acquired the lock since.
func TestExpiredLeaseFenceRefused(t *testing.T) {
	e, k := lockEnv(t)
	a := e.acquire(t, k.write, "acme", "job", "a", 30)
	deadline := time.Now().Add(10 * time.Second)
	for e.do(t, "GET", lockPath("acme", "job"), k.read, nil).expect(t, 200, "").lock(t).Held {
		if time.Now().After(deadline) {
			t.Fatal("lease never expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.expectRefused(t, k, fence("job", a.Token), "expired")
	e.do(t, "POST", lockPath("acme", "job")+"/renew", k.write, map[string]any{"token": a.Token}).expect(t, 409, "stale_fence")
	// Its holder may still release it (nobody else holds it).
	rel := e.do(t, "DELETE", lockPath("acme", "job")+"?token="+strconv.FormatInt(a.Token, 10), k.write, nil).expect(t, 200, "").lock(t)
	if rel.Released {
		t.Fatalf("release of an expired lease: %+v", rel)
	}
}

// TestLockTokensConcurrent runs acquire→release loops on one lock from 16
// goroutines: every token is issued once, and in the order the grants
// committed (their bookmarks' order), tokens strictly increase.
func TestLockTokensConcurrent(t *testing.T) {
	e, k := lockEnv(t)
	type grant struct {
		token    int64
		bookmark string
	}
	var mu sync.Mutex
	var grants []grant
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	const workers, rounds = 16, 8
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(60 * time.Second)
			for n := 0; n < rounds; {
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("worker %d: only %d grants", g, n)
					return
				}
				st, h, b, err := e.rawDo("POST", lockPath("acme", "job"), k.write, fmt.Sprintf(`{"owner":"w%d","ttl_ms":60000}`, g))
				if err != nil || st != 201 && st != 409 {
					errs <- fmt.Errorf("acquire: %d %s %v", st, b, err)
					return
				}
				if st == 409 {
					time.Sleep(time.Millisecond)
					continue
				}
				var l lockState
				if err := json.Unmarshal(b, &l); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				grants = append(grants, grant{l.Token, h.Get("Quire-Bookmark")})
				mu.Unlock()
				st, _, b, err = e.rawDo("DELETE", lockPath("acme", "job")+"?token="+strconv.FormatInt(l.Token, 10), k.write, "")
				if err != nil || st != 200 {
					errs <- fmt.Errorf("release: %d %s %v", st, b, err)
					return
				}
				n++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(grants) != workers*rounds {
		t.Fatalf("%d grants", len(grants))
	}
	seen := map[int64]bool{}
	for _, g := range grants {
		if seen[g.token] {
			t.Fatalf("token %d granted twice", g.token)
		}
		seen[g.token] = true
	}
	sort.Slice(grants, func(i, j int) bool { return grants[i].bookmark < grants[j].bookmark })
	for i := 1; i < len(grants); i++ {
		if grants[i].token <= grants[i-1].token {
			t.Fatalf("grant %d (bookmark %s) has token %d after %d", i, grants[i].bookmark, grants[i].token, grants[i-1].token)
		}
	}
}

func TestLockTokensAfterRestart(t *testing.T) {
	e, k := lockEnv(t)
	a := e.acquire(t, k.write, "acme", "job", "a", 60_000)
	e.do(t, "DELETE", lockPath("acme", "job")+"?token=1", k.write, nil).expect(t, 200, "")
	b := e.acquire(t, k.write, "acme", "job", "b", 60_000)
	e.restart()

	// The lease and its token survive: B still holds the lock and may
	// write; others are refused.
	l := e.do(t, "GET", lockPath("acme", "job"), k.read, nil).expect(t, 200, "").lock(t)
	if !l.Held || l.Token != b.Token || l.Owner != "b" || l.ExpiresAt != b.ExpiresAt {
		t.Fatalf("after restart: %+v, want %+v", l, b)
	}
	e.do(t, "POST", lockPath("acme", "job"), k.write, nil).expect(t, 409, "lock_held")
	e.do(t, "PUT", docPath("acme", "c", "d1"), k.write, `{"v":"b"}`, "Quire-Fence", fence("job", b.Token)).expect(t, 200, "")
	e.expectRefused(t, k, fence("job", a.Token), "superseded")
	e.do(t, "DELETE", lockPath("acme", "job"), k.write, nil, "Quire-Fence", fence("job", b.Token)).expect(t, 200, "")
	e.restart()
	c := e.acquire(t, k.write, "acme", "job", "c", 60_000)
	if c.Token != b.Token+1 {
		t.Fatalf("token after restarts: %d, want %d", c.Token, b.Token+1)
	}
}

func TestLockBadInput(t *testing.T) {
	e, k := lockEnv(t)
	p := lockPath("acme", "job")
	for _, body := range []string{
		`{"ttl_ms":`, `[]`, `null`, `"job"`, `{"ttl_ms":30000}x`, `{"ttl_ms":"30000"}`, `{"ttl_ms":-1}`, `{"ttl_ms":0}`,
		`{"ttl_ms":1e30}`, `{"ttl_ms":600001}`, `{"ttl_ms":1.5}`, `{"ttl_ms":9223372036854775807}`, `{"owner":5}`,
		`{"owner":"` + strings.Repeat("é", 129) + `"}`, `{"owner":"a\u0000b"}`, `{"owner":"a\u202eb"}`,
		`{"extra":1}`, `{"token":1}`, `{"ttl_ms":1000,"ttl_ms":"x"}`,
	} {
		e.do(t, "POST", p, k.write, body).expect(t, 400, "")
	}
	e.do(t, "POST", p, k.write, `{"owner":"`+strings.Repeat("é", 128)+`"}`).expect(t, 201, "")
	for _, body := range []string{`{}`, ``, `{"token":"1"}`, `{"token":-1}`, `{"token":0}`, `{"token":1,"owner":"x"}`, `{"token":1,"ttl_ms":-5}`, `{"token":1.5}`} {
		e.do(t, "POST", p+"/renew", k.write, body).expect(t, 400, "")
	}
	for _, q := range []string{"", "?token=abc", "?token=0", "?token=-1", "?token=1&token=1", "?foo=1", "?token=99999999999999999999"} {
		e.do(t, "DELETE", p+q, k.write, nil).expect(t, 400, "")
	}
	e.do(t, "DELETE", p+"?token=1", k.write, nil, "Quire-Fence", "job=2").expect(t, 400, "invalid")
	e.do(t, "GET", p+"?x=1", k.read, nil).expect(t, 400, "invalid")

	// Hostile names, escaped so that they reach the handler as they are.
	for _, name := range []string{"../x", "a;DROP TABLE c", "Job", "jоb" /* Cyrillic о */, "ｊob", "job\u200b",
		"_quire_locks", "sqlite_master", "1job", strings.Repeat("a", 64), "job x", "job'--", "%00"} {
		ep := lockPath("acme", escapeSegment(name))
		e.do(t, "GET", ep, k.read, nil).expect(t, 400, "invalid_name")
		e.do(t, "POST", ep, k.write, nil).expect(t, 400, "invalid_name")
		e.do(t, "POST", ep+"/renew", k.write, `{"token":1}`).expect(t, 400, "invalid_name")
		e.do(t, "DELETE", ep+"?token=1", k.write, nil).expect(t, 400, "invalid_name")
	}

	// Malformed fences refuse the write before it happens.
	for _, h := range []string{"job", "job=", "=1", "job=abc", "job=0", "job=-1", "job=1.0", "../x=1", "Job=1", "jоb=1",
		"job=1,", "job=1;other=2", "job=99999999999999999999", strings.Repeat("a=1,", quire.MaxFences) + "a=1"} {
		e.do(t, "PUT", docPath("acme", "c", "d1"), k.write, `{"v":"x"}`, "Quire-Fence", h).expect(t, 400, "")
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"delete","collection":"c","id":"d1"}]}`, "Quire-Fence", h).expect(t, 400, "")
	}
	if got := e.bodyOf(t, k, "d1"); got != `{"v":"original"}` {
		t.Fatalf("document changed: %s", got)
	}
}

func TestLockAuth(t *testing.T) {
	e, k := lockEnv(t)
	other := e.createTenant(t, "beta")
	p := lockPath("acme", "job")
	e.do(t, "POST", p, k.read, nil).expect(t, 403, "forbidden")
	e.do(t, "POST", p+"/renew", k.read, `{"token":1}`).expect(t, 403, "forbidden")
	e.do(t, "DELETE", p+"?token=1", k.read, nil).expect(t, 403, "forbidden")
	e.do(t, "POST", p, "", nil).expect(t, 401, "unauthorized")
	for _, key := range []string{other.write, other.admin, other.read} {
		e.do(t, "POST", p, key, nil).expect(t, 403, "forbidden")
		e.do(t, "GET", p, key, nil).expect(t, 403, "forbidden")
		e.do(t, "DELETE", p+"?token=1", key, nil).expect(t, 403, "forbidden")
	}
	// The admin token may do anything.
	e.do(t, "POST", p, adminToken, nil).expect(t, 201, "")
	e.do(t, "GET", p, k.read, nil).expect(t, 200, "")
}

// TestFenceOtherTenant: a fence names a lock of the writer's own tenant.
// Presenting another tenant's lock and token is refused and says nothing
// about that tenant's lock.
func TestFenceOtherTenant(t *testing.T) {
	e, k := lockEnv(t)
	kb := e.createTenant(t, "beta")
	e.putCollection(t, "beta", "c")
	a := e.acquire(t, k.write, "acme", "job", "acme-secret-owner", 60_000)
	r := e.do(t, "PUT", docPath("beta", "c", "d1"), kb.write, `{"v":"x"}`, "Quire-Fence", fence("job", a.Token)).expect(t, 409, "stale_fence")
	if strings.Contains(string(r.body), "acme") || strings.Contains(string(r.body), strconv.FormatInt(a.ExpiresAt, 10)) {
		t.Fatalf("refusal leaks acme's lock: %s", r.body)
	}
	if d := r.errDetails(); d["reason"] != "unknown" {
		t.Fatalf("details %v", d)
	}
	e.do(t, "GET", docPath("beta", "c", "d1"), kb.read, nil).expect(t, 404, "not_found")
	if l := e.do(t, "GET", lockPath("beta", "job"), kb.read, nil).expect(t, 200, "").lock(t); l.Held || l.Token != 0 {
		t.Fatalf("beta sees a lock: %+v", l)
	}
	// Beta's lock of the same name is its own, with its own counter.
	b := e.acquire(t, kb.write, "beta", "job", "beta", 60_000)
	if b.Token != 1 {
		t.Fatalf("beta's token %d", b.Token)
	}
	if l := e.do(t, "GET", lockPath("acme", "job"), k.read, nil).expect(t, 200, "").lock(t); !l.Held || l.Owner != "acme-secret-owner" {
		t.Fatalf("acme's lock changed: %+v", l)
	}
}

// TestLockClient runs the multi-step write of docs/locks.md through the Go
// client: acquire, read, write with the fence, release.
func TestLockClient(t *testing.T) {
	e, k := lockEnv(t)
	ctx := context.Background()
	c := client.New(e.ts.URL, k.write)
	l, err := c.AcquireLock(ctx, "acme", "job", quire.LockRequest{Owner: "worker-7", TTLMillis: 60_000})
	if err != nil || l.Token != 1 || !l.Held || l.Owner != "worker-7" {
		t.Fatalf("acquire: %+v %v", l, err)
	}
	if _, err := c.AcquireLock(ctx, "acme", "job", quire.LockRequest{}); quire.ErrorCode(err) != quire.ELockHeld {
		t.Fatalf("second acquire: %v", err)
	}
	d, err := c.Get(ctx, "acme", "c", "d1")
	if err != nil {
		t.Fatal(err)
	}
	fc := c.Fenced(quire.Fence{Lock: "job", Token: l.Token})
	if _, err := fc.Put(ctx, "acme", "c", "d1", json.RawMessage(`{"v":"fenced"}`), client.Condition{IfVersion: d.Version}); err != nil {
		t.Fatal(err)
	}
	if l, err = c.RenewLock(ctx, "acme", "job", l.Token, 1000); err != nil || !l.Held {
		t.Fatalf("renew: %+v %v", l, err)
	}
	if g, err := c.GetLock(ctx, "acme", "job"); err != nil || g.Token != 1 || !g.Held {
		t.Fatalf("get: %+v %v", g, err)
	}
	released, err := fc.ReleaseLock(ctx, "acme", "job", l.Token)
	if err != nil || !released {
		t.Fatalf("release: %v %v", released, err)
	}
	if _, err := fc.Put(ctx, "acme", "c", "d1", json.RawMessage(`{"v":"late"}`), client.Condition{}); quire.ErrorCode(err) != quire.EStaleFence {
		t.Fatalf("write after release: %v", err)
	}
	if _, err := c.Put(ctx, "acme", "c", "d2", json.RawMessage(`{}`), client.Condition{}); err != nil {
		t.Fatalf("the unfenced client must not carry the fence: %v", err)
	}
	if _, err := c.RenewLock(ctx, "acme", "job", 1, 0); quire.ErrorCode(err) != quire.EStaleFence {
		t.Fatalf("renew after release: %v", err)
	}
	if got := e.bodyOf(t, k, "d1"); got != `{"v":"fenced"}` {
		t.Fatalf("body %s", got)
	}
}

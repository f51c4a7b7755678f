package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// checkBookmark fails unless r carries a bookmark, the same in both headers.
func checkBookmark(t *testing.T, r *resp) string {
	t.Helper()
	q, d := r.header.Get("Quire-Bookmark"), r.header.Get("X-D1-Bookmark")
	if q == "" {
		t.Errorf("%s %s (%d): no Quire-Bookmark header", r.method, r.url, r.status)
	}
	if q != d {
		t.Errorf("%s %s (%d): Quire-Bookmark %q != X-D1-Bookmark %q", r.method, r.url, r.status, q, d)
	}
	return q
}

// tenantRoutes is one request on every tenant route that succeeds, and one
// that fails, for tenant acme with collection people and document p1.
func tenantRoutes(keyID string) []req {
	const tp = "/v1/tenants/acme"
	return []req{
		{method: "GET", path: tp},
		{method: "POST", path: tp + "/keys", body: `{"role":"read"}`},
		{method: "POST", path: tp + "/keys", body: `{"role":"root"}`},
		{method: "GET", path: tp + "/keys"},
		{method: "DELETE", path: tp + "/keys/" + keyID},
		{method: "DELETE", path: tp + "/keys/knope"},
		{method: "GET", path: tp + "/collections"},
		{method: "GET", path: tp + "/collections/people"},
		{method: "GET", path: tp + "/collections/nope"},
		{method: "GET", path: tp + "/collections/NOPE"},
		{method: "PUT", path: tp + "/collections/people", body: `{"indexes":[{"field":"age","path":"$.age","type":"integer"}]}`},
		{method: "PUT", path: tp + "/collections/people", body: `{"indexes":"x"}`},
		{method: "PUT", path: tp + "/collections/tmp", body: `{}`},
		{method: "DELETE", path: tp + "/collections/tmp"},
		{method: "DELETE", path: tp + "/collections/tmp"},
		{method: "POST", path: tp + "/collections/people/indexes", body: `{"field":"nick","path":"$.nick"}`},
		{method: "POST", path: tp + "/collections/people/indexes", body: `{"field":"nick","path":"$.nick"}`},
		{method: "DELETE", path: tp + "/collections/people/indexes/nick"},
		{method: "DELETE", path: tp + "/collections/people/indexes/nick"},
		{method: "POST", path: tp + "/collections/people/docs", body: `{"age":1}`},
		{method: "POST", path: tp + "/collections/people/docs", body: `[]`},
		{method: "GET", path: tp + "/collections/people/docs"},
		{method: "GET", path: tp + "/collections/people/docs?limit=0"},
		{method: "GET", path: tp + "/collections/people/docs/p1"},
		{method: "GET", path: tp + "/collections/people/docs/p1", header: map[string]string{"If-None-Match": "*"}},
		{method: "GET", path: tp + "/collections/people/docs/nope"},
		{method: "PUT", path: tp + "/collections/people/docs/p1", body: `{"age":2}`},
		{method: "PUT", path: tp + "/collections/people/docs/p1", body: `{"age":"two"}`},
		{method: "PUT", path: tp + "/collections/people/docs/p1", body: `{}`, header: map[string]string{"If-Match": `"999"`}},
		{method: "PATCH", path: tp + "/collections/people/docs/p1", body: `{"b":1}`},
		{method: "PATCH", path: tp + "/collections/people/docs/nope", body: `{"b":1}`},
		{method: "DELETE", path: tp + "/collections/people/docs/p2"},
		{method: "DELETE", path: tp + "/collections/people/docs/p2"},
		{method: "POST", path: tp + "/batch", body: `{"ops":[{"op":"put","collection":"people","id":"p3","body":{}}]}`},
		{method: "POST", path: tp + "/batch", body: `{"ops":[]}`},
		{method: "POST", path: tp + "/batch", body: `{`},
		{method: "POST", path: tp + "/collections/people/query", body: `{}`},
		{method: "POST", path: tp + "/collections/people/query", body: `{"bogus":1}`},
		{method: "POST", path: tp + "/collections/nope/query", body: `{}`},
	}
}

// TestBookmarkOnEveryTenantResponse checks that every answer of a tenant
// route, errors included, carries one bookmark in both headers.
func TestBookmarkOnEveryTenantResponse(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "people", map[string]any{"field": "age", "path": "$.age", "type": "integer"})
	e.do(t, "PUT", docPath("acme", "people", "p1"), k.write, `{"age":1}`).expect(t, 201, "")
	e.do(t, "PUT", docPath("acme", "people", "p2"), k.write, `{"age":1}`).expect(t, 201, "")
	_, spare := e.createKey(t, "acme", "read")
	statuses := map[int]bool{}
	for _, token := range []struct{ name, secret string }{{"tenant admin key", k.admin}, {"operator token", adminToken}} {
		t.Run(token.name, func(t *testing.T) {
			for _, rq := range tenantRoutes(spare) {
				rq.token = token.secret
				r := e.send(t, rq)
				statuses[r.status] = true
				checkBookmark(t, r)
			}
		})
		// The second pass deletes nothing new: re-create what the first consumed.
		_, spare = e.createKey(t, "acme", "read")
		e.do(t, "PUT", docPath("acme", "people", "p2"), k.write, `{"age":1}`).expect(t, 201, "")
	}
	// The walk must have covered successes and the main error statuses.
	for _, s := range []int{200, 201, 304, 400, 404, 409, 412} {
		if !statuses[s] {
			t.Errorf("no tenant route answered %d; the walk is incomplete", s)
		}
	}
	t.Run("role refusal within the tenant", func(t *testing.T) {
		r := e.do(t, "PUT", "/v1/tenants/acme/collections/people", k.read, `{}`).expect(t, 403, "forbidden")
		// A refusal before the store is opened may lack a bookmark; if it
		// has one, both headers must agree.
		if r.bookmark() != r.header.Get("X-D1-Bookmark") {
			t.Errorf("headers disagree: %v", r.header)
		}
	})
}

// TestBookmarkOrder checks that write bookmarks increase strictly in string
// order, that reads return at least the last write's, and that requests
// carrying bad bookmarks are refused.
func TestBookmarkOrder(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	kb := e.createTenant(t, "beta")
	e.putCollection(t, "acme", "c")
	e.putCollection(t, "beta", "c")
	e.do(t, "PUT", docPath("beta", "c", "x"), kb.write, `{}`).expect(t, 201, "")

	last := ""
	writes := []req{
		{method: "PUT", path: docPath("acme", "c", "a"), body: `{"n":1}`},
		{method: "PUT", path: docPath("acme", "c", "a"), body: `{"n":2}`},
		{method: "PATCH", path: docPath("acme", "c", "a"), body: `{"n":3}`},
		{method: "POST", path: "/v1/tenants/acme/collections/c/docs", body: `{}`},
		{method: "POST", path: "/v1/tenants/acme/batch", body: `{"ops":[{"op":"put","collection":"c","id":"b","body":{}},{"op":"put","collection":"c","id":"d","body":{}}]}`},
		{method: "DELETE", path: docPath("acme", "c", "b")},
		{method: "PUT", path: "/v1/tenants/acme/collections/d", body: `{}`},
		{method: "POST", path: "/v1/tenants/acme/collections/d/indexes", body: `{"field":"f","path":"f"}`},
		{method: "DELETE", path: "/v1/tenants/acme/collections/d/indexes/f"},
		{method: "DELETE", path: "/v1/tenants/acme/collections/d"},
	}
	for i := 0; i < 30; i++ {
		writes = append(writes, req{method: "PUT", path: docPath("acme", "c", fmt.Sprint("n", i)), body: `{}`})
	}
	for _, w := range writes {
		w.token = k.admin
		r := e.send(t, w)
		if r.status != 200 && r.status != 201 {
			t.Fatalf("write failed: %s", r)
		}
		b := checkBookmark(t, r)
		if b <= last {
			t.Fatalf("%s %s: bookmark %q does not follow %q", w.method, w.path, b, last)
		}
		last = b
		// A read right after sees a position at least this write's.
		for _, path := range []string{docPath("acme", "c", "a"), "/v1/tenants/acme/collections", "/v1/tenants/acme"} {
			rb := checkBookmark(t, e.do(t, "GET", path, k.read, nil).expect(t, 200, ""))
			if rb < last {
				t.Fatalf("read bookmark %q is before the last write's %q", rb, last)
			}
		}
	}
	// A failed write does not move the position.
	r := e.do(t, "PUT", docPath("acme", "c", "a"), k.write, `{}`, "If-Match", `"99"`).expect(t, 412, "version_mismatch")
	if got := checkBookmark(t, r); got != last {
		t.Errorf("failed write answered bookmark %q, want the last position %q", got, last)
	}

	// The last bookmark is accepted, in either header, on reads and writes.
	for _, h := range []string{"Quire-Bookmark", "X-D1-Bookmark", "x-d1-bookmark", "quire-bookmark"} {
		e.do(t, "GET", docPath("acme", "c", "a"), k.read, nil, h, last).expect(t, 200, "")
		if r := e.do(t, "PUT", docPath("acme", "c", "z"), k.write, `{}`, h, last); r.status != 200 && r.status != 201 {
			t.Errorf("write with a valid bookmark in %s: %s", h, r)
		}
	}
	last = e.do(t, "GET", "/v1/tenants/acme", k.read, nil).bookmark()
	betaBookmark := e.do(t, "GET", "/v1/tenants/beta", kb.read, nil).expect(t, 200, "").bookmark()

	// Bump the sequence digits (positions 9-24) past the present.
	future := last[:9] + fmt.Sprintf("%016x", hexval(t, last[9:25])+1) + last[25:]
	farFuture := last[:9] + "ffffffffffffffff" + last[25:]
	otherEpoch := fmt.Sprintf("%08x", hexval(t, last[:8])+1) + last[8:]
	pastEpoch := "00000000" + last[8:]
	bad := []struct{ name, token string }{
		{"malformed", "not-a-bookmark"},
		{"empty-ish", "-"},
		{"upper case hex", strings.ToUpper(last)},
		{"truncated", last[:len(last)-1]},
		{"extended", last + "0"},
		{"spaces", " " + last[1:]},
		{"other tenant", betaBookmark},
		{"future sequence", future},
		{"far future sequence", farFuture},
		{"other epoch", otherEpoch},
		{"past epoch", pastEpoch},
		{"wrong tag", last[:26] + "zzzzzzzz"},
		{"signed hex", last[:9] + "+" + last[10:]},
	}
	routes := []req{
		{method: "GET", path: docPath("acme", "c", "a"), token: k.read},
		{method: "GET", path: "/v1/tenants/acme/collections/c/docs", token: k.read},
		{method: "GET", path: "/v1/tenants/acme", token: k.read},
		{method: "PUT", path: docPath("acme", "c", "new"), token: k.write, body: `{}`},
		{method: "POST", path: "/v1/tenants/acme/batch", token: k.write, body: `{"ops":[{"op":"put","collection":"c","id":"new","body":{}}]}`},
		{method: "PUT", path: "/v1/tenants/acme/collections/e", token: k.admin, body: `{}`},
	}
	for _, b := range bad {
		for _, h := range []string{"Quire-Bookmark", "X-D1-Bookmark"} {
			t.Run(b.name+"/"+h, func(t *testing.T) {
				for _, rq := range routes {
					rq.header = map[string]string{h: b.token}
					r := e.send(t, rq).expect(t, 400, "invalid_bookmark")
					checkBookmark(t, r)
				}
			})
		}
	}
	// Nothing the refused requests carried was written.
	e.do(t, "GET", docPath("acme", "c", "new"), k.read, nil).expect(t, 404, "not_found")
	e.do(t, "GET", "/v1/tenants/acme/collections/e", k.read, nil).expect(t, 404, "not_found")

	t.Run("bookmark of a deleted and re-created tenant", func(t *testing.T) {
		e.do(t, "DELETE", "/v1/tenants/beta", adminToken, nil).expect(t, 200, "")
		kb2 := e.createTenant(t, "beta")
		e.putCollection(t, "beta", "c")
		for i := 0; i < 3; i++ {
			e.do(t, "PUT", docPath("beta", "c", fmt.Sprint(i)), kb2.write, `{}`).expect(t, 201, "")
		}
		e.do(t, "GET", "/v1/tenants/beta/collections", kb2.read, nil, "Quire-Bookmark", betaBookmark).expect(t, 400, "invalid_bookmark")
	})
}

func hexval(t *testing.T, s string) uint64 {
	t.Helper()
	var v uint64
	if _, err := fmt.Sscanf(s, "%x", &v); err != nil {
		t.Fatalf("bookmark part %q is not hex: %v", s, err)
	}
	return v
}

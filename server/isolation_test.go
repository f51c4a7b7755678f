package server_test

import (
	"strings"
	"testing"
)

// routesOf lists a request on every tenant route of tenant t, every method,
// with bodies that would succeed for an authorised caller.
func routesOf(t, keyID string) []req {
	tp := "/v1/tenants/" + t
	doc := tp + "/collections/c/docs/d"
	return []req{
		{method: "GET", path: tp},
		{method: "POST", path: tp + "/keys", body: `{"role":"admin"}`},
		{method: "GET", path: tp + "/keys"},
		{method: "DELETE", path: tp + "/keys/" + keyID},
		{method: "GET", path: tp + "/collections"},
		{method: "GET", path: tp + "/collections/c"},
		{method: "PUT", path: tp + "/collections/c", body: `{"indexes":[]}`},
		{method: "PUT", path: tp + "/collections/c2", body: `{"indexes":[]}`},
		{method: "DELETE", path: tp + "/collections/c"},
		{method: "POST", path: tp + "/collections/c/indexes", body: `{"field":"f","path":"$.f"}`},
		{method: "DELETE", path: tp + "/collections/c/indexes/n"},
		{method: "POST", path: tp + "/collections/c/docs", body: `{"stolen":true}`},
		{method: "GET", path: tp + "/collections/c/docs"},
		{method: "GET", path: tp + "/collections/c/docs?n=1"},
		{method: "GET", path: doc},
		{method: "PUT", path: doc, body: `{"stolen":true}`},
		{method: "PATCH", path: doc, body: `{"stolen":true}`},
		{method: "DELETE", path: doc},
		{method: "POST", path: tp + "/batch", body: `{"ops":[{"op":"put","collection":"c","id":"d","body":{"stolen":true}}]}`},
		{method: "POST", path: tp + "/collections/c/query", body: `{}`},
	}
}

// adminOnly lists the operator's routes.
func adminOnly(victim string) []req {
	return []req{
		{method: "POST", path: "/v1/tenants", body: `{"id":"intruder"}`},
		{method: "GET", path: "/v1/tenants"},
		{method: "DELETE", path: "/v1/tenants/" + victim},
	}
}

// TestTenantIsolation checks that one tenant's keys, whatever their role,
// can do nothing to another tenant, and that roles are enforced.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant(t, "alpha")
	b := e.createTenant(t, "beta")
	for _, tn := range []string{"alpha", "beta"} {
		e.putCollection(t, tn, "c", map[string]any{"field": "n", "path": "$.n", "type": "integer"})
	}
	e.do(t, "PUT", docPath("beta", "c", "d"), b.write, `{"n":1,"secret":"beta's"}`).expect(t, 201, "")
	bBefore := e.do(t, "GET", "/v1/tenants/beta", b.read, nil).expect(t, 200, "").bookmark()

	for _, key := range []struct{ role, secret string }{{"read", a.read}, {"write", a.write}, {"admin", a.admin}} {
		t.Run("alpha "+key.role+" key on beta", func(t *testing.T) {
			for _, rq := range routesOf("beta", b.ids["read"]) {
				rq.token = key.secret
				r := e.send(t, rq).expect(t, 403, "forbidden")
				if strings.Contains(string(r.body), "beta's") || r.header.Get("ETag") != "" {
					t.Errorf("%s %s: refusal leaks data: %v %s", rq.method, rq.path, r.header, r.body)
				}
				if r.bookmark() != "" {
					t.Errorf("%s %s: refusal carries beta's bookmark %q", rq.method, rq.path, r.bookmark())
				}
			}
		})
		t.Run("alpha "+key.role+" key on a missing tenant", func(t *testing.T) {
			for _, rq := range routesOf("ghost", b.ids["read"]) {
				rq.token = key.secret
				e.send(t, rq).expect(t, 403, "forbidden")
			}
		})
		t.Run("alpha "+key.role+" key on admin routes", func(t *testing.T) {
			for _, rq := range adminOnly("beta") {
				rq.token = key.secret
				e.send(t, rq).expect(t, 403, "forbidden")
			}
			for _, rq := range adminOnly("alpha") {
				rq.token = key.secret
				e.send(t, rq).expect(t, 403, "forbidden")
			}
		})
	}

	t.Run("beta is untouched", func(t *testing.T) {
		d := e.getDoc(t, b.read, "beta", "c", "d")
		if d.Version != 1 || string(d.Body) != `{"n":1,"secret":"beta's"}` {
			t.Errorf("beta's doc is v%d %s", d.Version, d.Body)
		}
		r := e.do(t, "GET", "/v1/tenants/beta/keys", b.admin, nil).expect(t, 200, "")
		var ks struct{ Keys []struct{ ID string } }
		r.into(t, &ks)
		if got, want := len(ks.Keys), 3; got != want {
			t.Errorf("beta has %d keys, want %d", got, want)
		}
		if got := e.do(t, "GET", "/v1/tenants/beta", b.read, nil).bookmark(); got != bBefore {
			t.Errorf("beta's position moved from %s to %s", bBefore, got)
		}
		e.do(t, "GET", "/v1/tenants/beta/collections/c2", b.read, nil).expect(t, 404, "not_found")
		e.do(t, "GET", "/v1/tenants/intruder", adminToken, nil).expect(t, 404, "not_found")
	})

	// Within its own tenant, each role may do exactly what it needs.
	need := map[string]string{} // "METHOD path-suffix" → weakest role
	for _, rq := range routesOf("alpha", "") {
		role := "read"
		switch {
		case strings.Contains(rq.path, "/keys"):
			role = "admin"
		case rq.method == "GET" || strings.HasSuffix(rq.path, "/query"):
			role = "read"
		case strings.Contains(rq.path, "/docs") || strings.HasSuffix(rq.path, "/batch"):
			role = "write"
		default: // collection and index changes
			role = "admin"
		}
		need[rq.method+" "+rq.path] = role
	}
	rank := map[string]int{"read": 1, "write": 2, "admin": 3}
	for _, key := range []struct{ role, secret string }{{"read", a.read}, {"write", a.write}} {
		t.Run("alpha "+key.role+" key beyond its role", func(t *testing.T) {
			refused := 0
			for _, rq := range routesOf("alpha", a.ids["admin"]) {
				if rank[need[rq.method+" "+rq.path]] <= rank[key.role] {
					continue
				}
				rq.token = key.secret
				e.send(t, rq).expect(t, 403, "forbidden")
				refused++
			}
			if refused == 0 {
				t.Fatal("no route refused; the role table is wrong")
			}
		})
	}
	t.Run("alpha is untouched by refused requests", func(t *testing.T) {
		e.do(t, "GET", docPath("alpha", "c", "d"), a.read, nil).expect(t, 404, "not_found")
		e.do(t, "GET", "/v1/tenants/alpha/collections/c2", a.read, nil).expect(t, 404, "not_found")
		r := e.do(t, "GET", "/v1/tenants/alpha/collections/c", a.read, nil).expect(t, 200, "")
		if got := indexFields(t, r); len(got) != 1 || got[0] != "n" {
			t.Errorf("alpha's collection indexes changed: %v", got)
		}
		// The admin key still works: no refused request revoked it.
		e.do(t, "GET", "/v1/tenants/alpha/keys", a.admin, nil).expect(t, 200, "")
	})
	t.Run("write key may read and write documents", func(t *testing.T) {
		e.do(t, "PUT", docPath("alpha", "c", "w"), a.write, `{"n":2}`).expect(t, 201, "")
		e.do(t, "GET", "/v1/tenants/alpha/collections/c", a.write, nil).expect(t, 200, "")
		e.do(t, "GET", docPath("alpha", "c", "w"), a.read, nil).expect(t, 200, "")
	})

	t.Run("unauthenticated", func(t *testing.T) {
		bad := []struct{ name, header string }{
			{"no header", ""},
			{"empty bearer", "Bearer "},
			{"basic auth", "Basic YWRtaW46YWRtaW4="},
			{"lower-case scheme", "bearer " + adminToken},
			{"unknown key", "Bearer quire_kdeadbeef_AAAA"},
			{"non-ASCII garbage", "Bearer \xff\xfeé"},
			{"admin token prefix", "Bearer " + adminToken[:5]},
			{"key with suffix", "Bearer " + a.admin + "x"},
		}
		routes := append(routesOf("alpha", a.ids["read"]), adminOnly("alpha")...)
		for _, c := range bad {
			t.Run(c.name, func(t *testing.T) {
				for _, rq := range routes {
					if c.header != "" {
						rq.header = map[string]string{"Authorization": c.header}
					}
					r := e.send(t, rq).expect(t, 401, "unauthorized")
					if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
						t.Errorf("%s %s: WWW-Authenticate %q", rq.method, rq.path, got)
					}
				}
			})
		}
	})

	t.Run("revoked key", func(t *testing.T) {
		secret, id := e.createKey(t, "alpha", "admin")
		e.do(t, "GET", "/v1/tenants/alpha/keys", secret, nil).expect(t, 200, "")
		e.do(t, "DELETE", "/v1/tenants/alpha/keys/"+id, a.admin, nil).expect(t, 200, "")
		for _, rq := range routesOf("alpha", a.ids["read"]) {
			rq.token = secret
			r := e.send(t, rq).expect(t, 401, "unauthorized")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", rq.method, rq.path)
			}
		}
	})

	t.Run("a tenant cannot delete another's key", func(t *testing.T) {
		e.do(t, "DELETE", "/v1/tenants/alpha/keys/"+b.ids["read"], a.admin, nil).expect(t, 404, "not_found")
		e.do(t, "GET", "/v1/tenants/beta", b.read, nil).expect(t, 200, "")
	})

	t.Run("keys of a deleted tenant stop working", func(t *testing.T) {
		e.do(t, "DELETE", "/v1/tenants/beta", adminToken, nil).expect(t, 200, "")
		e.do(t, "GET", "/v1/tenants/beta", b.admin, nil).expect(t, 401, "unauthorized")
		e.do(t, "POST", "/v1/tenants", adminToken, `{"id":"beta"}`).expect(t, 201, "")
		e.do(t, "GET", "/v1/tenants/beta", b.admin, nil).expect(t, 401, "unauthorized")
		e.do(t, "GET", docPath("beta", "c", "d"), adminToken, nil).expect(t, 404, "not_found")
	})
}

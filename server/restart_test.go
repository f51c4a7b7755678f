package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestPersistenceAcrossRestart writes tenants, keys, collections and
// documents, restarts the registry and server on the same directory, and
// reads everything back.
func TestPersistenceAcrossRestart(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme", "acme.example.com")
	kb := e.createTenant(t, "beta")
	e.putCollection(t, "acme", "people",
		map[string]any{"field": "age", "path": "$.age", "type": "integer"},
		map[string]any{"field": "email", "path": "$.email", "unique": true})
	e.do(t, "POST", "/v1/tenants/acme/collections/people/indexes", k.admin, `{"field":"city","path":"$.address.city"}`).expect(t, 201, "")
	e.putCollection(t, "acme", "dropped")
	e.do(t, "DELETE", "/v1/tenants/acme/collections/dropped", k.admin, nil).expect(t, 200, "")
	e.putCollection(t, "beta", "things")

	type stored struct {
		version int64
		body    string
	}
	want := map[string]stored{}
	for i := range 40 {
		id := fmt.Sprintf("p%02d", i)
		body := fmt.Sprintf(`{"age":%d,"email":"p%d@example.com","address":{"city":"c%d"}}`, i, i, i%3)
		e.do(t, "PUT", docPath("acme", "people", id), k.write, body).expect(t, 201, "")
		want[id] = stored{1, body}
	}
	for i := range 5 { // several versions of one document
		body := fmt.Sprintf(`{"age":%d,"email":"multi@example.com"}`, 100+i)
		e.do(t, "PUT", docPath("acme", "people", "multi/ü"), k.write, body)
		want["multi/ü"] = stored{int64(i + 1), body}
	}
	e.do(t, "PATCH", docPath("acme", "people", "p01"), k.write, `{"age":null,"nick":"one"}`).expect(t, 200, "")
	want["p01"] = stored{2, `{"email":"p1@example.com","address":{"city":"c1"},"nick":"one"}`}
	e.do(t, "DELETE", docPath("acme", "people", "p02"), k.write, nil).expect(t, 200, "")
	delete(want, "p02")
	e.do(t, "PUT", docPath("beta", "things", "t"), kb.write, `{"x":1}`).expect(t, 201, "")

	lastWrite := e.do(t, "POST", "/v1/tenants/acme/batch", k.write,
		`{"ops":[{"op":"put","collection":"people","id":"b1","body":{"age":500}},{"op":"put","collection":"people","id":"b2","body":{"age":500}}]}`).expect(t, 200, "").bookmark()
	want["b1"] = stored{1, `{"age":500}`}
	want["b2"] = stored{1, `{"age":500}`}
	betaBookmark := e.do(t, "GET", "/v1/tenants/beta", kb.read, nil).bookmark()
	collBefore := e.do(t, "GET", "/v1/tenants/acme/collections/people", k.read, nil).expect(t, 200, "").body
	revoked, revokedID := e.createKey(t, "acme", "write")
	e.do(t, "DELETE", "/v1/tenants/acme/keys/"+revokedID, k.admin, nil).expect(t, 200, "")

	for round := range 2 {
		e.restart()
		t.Run(fmt.Sprint("after restart ", round+1), func(t *testing.T) {
			// Old bookmarks are still accepted and the position has not moved.
			r := e.do(t, "GET", "/v1/tenants/acme/collections", k.read, nil, "Quire-Bookmark", lastWrite).expect(t, 200, "")
			if got := r.bookmark(); got != lastWrite {
				t.Errorf("position after restart %s, want %s", got, lastWrite)
			}
			e.do(t, "GET", "/v1/tenants/beta", kb.read, nil, "X-D1-Bookmark", betaBookmark).expect(t, 200, "")
			e.do(t, "GET", "/v1/tenants/beta", kb.read, nil, "Quire-Bookmark", lastWrite).expect(t, 400, "invalid_bookmark")

			for id, w := range want {
				d := e.getDoc(t, k.read, "acme", "people", id)
				if d.Version != w.version || string(d.Body) != w.body {
					t.Errorf("%s: v%d %s, want v%d %s", id, d.Version, d.Body, w.version, w.body)
				}
			}
			e.do(t, "GET", docPath("acme", "people", "p02"), k.read, nil).expect(t, 404, "not_found")
			var page struct{ Docs []doc }
			e.do(t, "GET", "/v1/tenants/acme/collections/people/docs?limit=1000", k.read, nil).expect(t, 200, "").into(t, &page)
			if got := len(page.Docs); got != len(want) {
				t.Errorf("%d docs listed, want %d", got, len(want))
			}
			// Indexes survive, with their types and uniqueness enforced.
			if got := e.do(t, "GET", "/v1/tenants/acme/collections/people", k.read, nil).expect(t, 200, "").body; string(got) != string(collBefore) {
				t.Errorf("collection is now %s, was %s", got, collBefore)
			}
			e.do(t, "GET", "/v1/tenants/acme/collections/dropped", k.read, nil).expect(t, 404, "not_found")
			e.do(t, "GET", "/v1/tenants/acme/collections/people/docs?age=500", k.read, nil).expect(t, 200, "").into(t, &page)
			if len(page.Docs) != 2 {
				t.Errorf("age=500 finds %d docs, want 2", len(page.Docs))
			}
			e.do(t, "GET", "/v1/tenants/acme/collections/people/docs?city=c1", k.read, nil).expect(t, 200, "").into(t, &page)
			if len(page.Docs) == 0 {
				t.Error("the added index finds nothing after restart")
			}
			e.do(t, "PUT", docPath("acme", "people", "dup"), k.write, `{"email":"p3@example.com"}`).expect(t, 409, "unique_violation")
			e.do(t, "PUT", docPath("acme", "people", "bad"), k.write, `{"age":"old"}`).expect(t, 400, "invalid_document")
			// Keys and tenants survive; revoked keys stay revoked.
			e.do(t, "GET", "/v1/tenants/acme/keys", k.admin, nil).expect(t, 200, "")
			e.do(t, "GET", "/v1/tenants/acme", revoked, nil).expect(t, 401, "unauthorized")
			e.do(t, "GET", "/v1/tenants/beta", k.admin, nil).expect(t, 403, "forbidden")
			d := e.getDoc(t, kb.read, "beta", "things", "t")
			if d.Version != 1 || string(d.Body) != `{"x":1}` {
				t.Errorf("beta's doc is v%d %s", d.Version, d.Body)
			}
			r = e.send(t, req{method: "GET", path: "/v1/collections/people/docs/p00", token: k.read, host: "acme.example.com"}).expect(t, 200, "")
			if !strings.Contains(string(r.body), `"id":"p00"`) {
				t.Errorf("host routing after restart: %s", r.body)
			}
			// Writes continue from where they were, with later bookmarks
			// and versions.
			r = e.do(t, "PUT", docPath("acme", "people", "multi/ü"), k.write, `{"age":1}`).expect(t, 200, "")
			if got := r.bookmark(); got <= lastWrite {
				t.Errorf("write after restart has bookmark %s, not after %s", got, lastWrite)
			}
			lastWrite = r.bookmark()
			w := want["multi/ü"]
			want["multi/ü"] = stored{w.version + 1, `{"age":1}`}
			if got := e.getDoc(t, k.read, "acme", "people", "multi/ü").Version; got != w.version+1 {
				t.Errorf("version after restart %d, want %d", got, w.version+1)
			}
		})
	}
}

// TestHostRouting checks that a tenant's domain serves its routes without
// the /v1/tenants/{t} prefix, and only its own.
func TestHostRouting(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme", "acme.example.com", "Docs.Acme.Example")
	kb := e.createTenant(t, "beta", "beta.example.com")
	e.putCollection(t, "acme", "people")
	e.putCollection(t, "beta", "people")
	e.do(t, "PUT", docPath("acme", "people", "p1"), k.write, `{"who":"acme"}`).expect(t, 201, "")
	e.do(t, "PUT", docPath("acme", "people", "a/b"), k.write, `{"who":"slash"}`).expect(t, 201, "")
	e.do(t, "PUT", docPath("beta", "people", "p1"), kb.write, `{"who":"beta"}`).expect(t, 201, "")

	host := func(t *testing.T, h, method, path, token string, body any) *resp {
		t.Helper()
		return e.send(t, req{method: method, path: path, token: token, host: h, body: body})
	}
	t.Run("get by host", func(t *testing.T) {
		r := host(t, "acme.example.com", "GET", "/v1/collections/people/docs/p1", k.read, nil).expect(t, 200, "")
		if !strings.Contains(string(r.body), `"who":"acme"`) {
			t.Errorf("got %s", r.body)
		}
		checkBookmark(t, r)
	})
	t.Run("host with port", func(t *testing.T) {
		host(t, "acme.example.com:8443", "GET", "/v1/collections/people/docs/p1", k.read, nil).expect(t, 200, "")
	})
	t.Run("host is case-insensitive", func(t *testing.T) {
		host(t, "ACME.example.COM", "GET", "/v1/collections/people/docs/p1", k.read, nil).expect(t, 200, "")
		host(t, "docs.acme.example", "GET", "/v1/collections/people/docs/p1", k.read, nil).expect(t, 200, "")
	})
	t.Run("other tenant's host", func(t *testing.T) {
		r := host(t, "beta.example.com", "GET", "/v1/collections/people/docs/p1", kb.read, nil).expect(t, 200, "")
		if !strings.Contains(string(r.body), `"who":"beta"`) {
			t.Errorf("got %s", r.body)
		}
		// acme's key on beta's host is refused.
		host(t, "beta.example.com", "GET", "/v1/collections/people/docs/p1", k.read, nil).expect(t, 403, "forbidden")
		host(t, "beta.example.com", "PUT", "/v1/collections/people/docs/p1", k.admin, `{}`).expect(t, 403, "forbidden")
	})
	t.Run("every tenant route by host", func(t *testing.T) {
		host(t, "acme.example.com", "GET", "/v1/collections", k.read, nil).expect(t, 200, "")
		host(t, "acme.example.com", "GET", "/v1/collections/people", k.read, nil).expect(t, 200, "")
		host(t, "acme.example.com", "GET", "/v1/collections/people/docs", k.read, nil).expect(t, 200, "")
		host(t, "acme.example.com", "POST", "/v1/collections/people/docs", k.write, `{"via":"host"}`).expect(t, 201, "")
		host(t, "acme.example.com", "PUT", "/v1/collections/people/docs/h1", k.write, `{"via":"host"}`).expect(t, 201, "")
		host(t, "acme.example.com", "PATCH", "/v1/collections/people/docs/h1", k.write, `{"n":1}`).expect(t, 200, "")
		host(t, "acme.example.com", "DELETE", "/v1/collections/people/docs/h1", k.write, nil).expect(t, 200, "")
		host(t, "acme.example.com", "POST", "/v1/batch", k.write, `{"ops":[{"op":"put","collection":"people","id":"h2","body":{}}]}`).expect(t, 200, "")
		host(t, "acme.example.com", "GET", "/v1/keys", k.admin, nil).expect(t, 200, "")
		host(t, "acme.example.com", "PUT", "/v1/collections/more", k.admin, `{}`).expect(t, 201, "")
		e.getDoc(t, k.read, "acme", "people", "h2")
		e.do(t, "GET", docPath("beta", "people", "h2"), kb.read, nil).expect(t, 404, "not_found")
	})
	t.Run("escaped ids by host", func(t *testing.T) {
		r := host(t, "acme.example.com", "GET", "/v1/collections/people/docs/a%2Fb", k.read, nil).expect(t, 200, "")
		if !strings.Contains(string(r.body), `"who":"slash"`) {
			t.Errorf("got %s", r.body)
		}
		host(t, "acme.example.com", "PUT", "/v1/collections/people/docs/%2E%2E", k.write, `{"dots":true}`).expect(t, 201, "")
		if d := e.getDoc(t, k.read, "acme", "people", ".."); string(d.Body) != `{"dots":true}` {
			t.Errorf("id \"..\" by host stored %s", d.Body)
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		host(t, "evil.example.com", "GET", "/v1/collections/people/docs/p1", k.read, nil).expect(t, 404, "not_found")
		host(t, "example.com", "GET", "/v1/collections/people/docs/p1", k.read, nil).expect(t, 404, "not_found")
		host(t, "acme.example.com.evil.com", "GET", "/v1/collections/people/docs/p1", k.read, nil).expect(t, 404, "not_found")
	})
	t.Run("tenant paths are not rewritten", func(t *testing.T) {
		host(t, "acme.example.com", "GET", "/v1/tenants/beta/collections/people/docs/p1", kb.read, nil).expect(t, 200, "")
		host(t, "acme.example.com", "GET", "/v1/tenants", adminToken, nil).expect(t, 200, "")
		// A path cannot smuggle another tenant in through the rewrite.
		r := host(t, "acme.example.com", "GET", "/v1/..%2Ftenants/beta/collections", k.read, nil)
		if r.status == 200 {
			t.Errorf("smuggled path answered %s", r)
		}
	})
	t.Run("domain conflicts", func(t *testing.T) {
		e.do(t, "POST", "/v1/tenants", adminToken, `{"id":"gamma","domains":["acme.example.com"]}`).expect(t, 409, "conflict")
		e.do(t, "POST", "/v1/tenants", adminToken, `{"id":"gamma","domains":["ACME.EXAMPLE.COM"]}`).expect(t, 409, "conflict")
		e.do(t, "GET", "/v1/tenants/gamma", adminToken, nil).expect(t, 404, "not_found")
	})
	t.Run("deleted tenant's domain", func(t *testing.T) {
		e.do(t, "DELETE", "/v1/tenants/beta", adminToken, nil).expect(t, 200, "")
		host(t, "beta.example.com", "GET", "/v1/collections/people/docs/p1", adminToken, nil).expect(t, 404, "not_found")
		e.do(t, "POST", "/v1/tenants", adminToken, `{"id":"gamma","domains":["beta.example.com"]}`).expect(t, 201, "")
	})
}

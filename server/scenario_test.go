package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// scenario is one request of an API walk-through and what must come back.
// Strings may hold {var} placeholders, filled from vars captured by earlier
// scenarios ("admin" is the operator token).
type scenario struct {
	name     string
	method   string
	url      string
	token    string // a var name: "admin", "acme.admin", ...; "" for none
	headers  map[string]string
	body     string
	status   int
	code     string   // expected error code, for errors
	contains []string // substrings the body must contain
	absent   []string // substrings the body must not contain
	check    func(t *testing.T, r *resp, vars map[string]string)
}

func fill(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// runScenarios runs ss in order against e, each as a subtest; a failed
// step stops the walk, since later steps depend on earlier ones.
func runScenarios(t *testing.T, e *env, ss []scenario) {
	vars := map[string]string{"admin": adminToken}
	for _, s := range ss {
		ok := t.Run(s.name, func(t *testing.T) {
			rq := req{method: s.method, path: fill(s.url, vars)}
			if s.token != "" {
				tok, ok := vars[s.token]
				if !ok {
					t.Fatalf("no token %q captured", s.token)
				}
				rq.token = tok
			}
			if s.body != "" {
				rq.body = fill(s.body, vars)
			}
			if s.headers != nil {
				rq.header = map[string]string{}
				for k, v := range s.headers {
					rq.header[k] = fill(v, vars)
				}
			}
			r := e.send(t, rq)
			if got, want := r.status, s.status; got != want {
				t.Fatalf("status %d, want %d; body %s", got, want, clip(r.body))
			}
			if s.code != "" {
				if got, want := r.code(), s.code; got != want {
					t.Fatalf("error code %q, want %q; body %s", got, want, clip(r.body))
				}
			}
			if r.status >= 400 && r.code() == "" {
				t.Errorf("error response without an error code: %s", clip(r.body))
			}
			for _, c := range s.contains {
				if c = fill(c, vars); !strings.Contains(string(r.body), c) {
					t.Errorf("body does not contain %q: %s", c, clip(r.body))
				}
			}
			for _, c := range s.absent {
				if c = fill(c, vars); strings.Contains(string(r.body), c) {
					t.Errorf("body contains %q: %s", c, clip(r.body))
				}
			}
			if s.check != nil {
				s.check(t, r, vars)
			}
		})
		if !ok {
			t.Fatalf("scenario %q failed; stopping the walk", s.name)
		}
	}
}

// captureKey stores a created key's secret and id under prefix.
func captureKey(prefix string) func(t *testing.T, r *resp, vars map[string]string) {
	return func(t *testing.T, r *resp, vars map[string]string) {
		var k struct{ ID, Secret, Role, Tenant string }
		r.into(t, &k)
		if !strings.HasPrefix(k.Secret, "quire_") || k.ID == "" {
			t.Fatalf("key creation answered %s", r.body)
		}
		if got, want := r.header.Get("Cache-Control"), "no-store"; got != want {
			t.Errorf("Cache-Control %q, want %q", got, want)
		}
		vars[prefix] = k.Secret
		vars[prefix+".id"] = k.ID
	}
}

// indexFields returns the fields of a collection response, in order.
func indexFields(t *testing.T, r *resp) []string {
	t.Helper()
	var c struct {
		Name    string
		Indexes []struct {
			Field, Path, Type string
			Unique, Stored    bool
		}
	}
	r.into(t, &c)
	var out []string
	for _, ix := range c.Indexes {
		out = append(out, ix.Field)
	}
	return out
}

func wantFields(want ...string) func(t *testing.T, r *resp, vars map[string]string) {
	return func(t *testing.T, r *resp, vars map[string]string) {
		got := indexFields(t, r)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("index fields %v, want %v", got, want)
		}
	}
}

func wantETag(version int) func(t *testing.T, r *resp, vars map[string]string) {
	return func(t *testing.T, r *resp, vars map[string]string) {
		if got, want := r.header.Get("ETag"), fmt.Sprintf(`"%d"`, version); got != want {
			t.Errorf("ETag %s, want %s", got, want)
		}
		if r.status != 304 {
			var res struct{ Version int }
			r.into(t, &res)
			if got, want := res.Version, version; got != want {
				t.Errorf("version %d, want %d", got, want)
			}
		}
	}
}

const p1Body = `{ "name": {"first": "Ada", "last": "Lovelace"},
	"age": 36, "email": "ada@example.com", "z": [1, 2, {"b": null}], "a": "\u00e9\"\\", "nick": "ada" }`

// TestAPIScenarios walks every route of the API in order, checking status,
// error code and the interesting parts of each answer.
func TestAPIScenarios(t *testing.T) {
	e := newEnv(t)
	const tp = "/v1/tenants/acme"
	ss := []scenario{
		// Routing basics.
		{name: "healthz", method: "GET", url: "/healthz", status: 200, contains: []string{`"ok"`}},
		{name: "readyz", method: "GET", url: "/readyz", status: 200, contains: []string{`"ok"`}},
		{name: "unknown route", method: "GET", url: "/v1/nope", token: "admin", status: 404, code: "not_found"},
		{name: "wrong method on tenants", method: "PATCH", url: "/v1/tenants", token: "admin", status: 405, code: "method_not_allowed",
			check: func(t *testing.T, r *resp, _ map[string]string) {
				allow := r.header.Get("Allow")
				if !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
					t.Errorf("Allow %q, want GET and POST", allow)
				}
			}},

		// Tenants.
		{name: "create tenant", method: "POST", url: "/v1/tenants", token: "admin", body: `{"id":"acme","name":"Acme Inc."}`, status: 201,
			contains: []string{`"id":"acme"`, `"name":"Acme Inc."`, `"region":"local"`},
			check: func(t *testing.T, r *resp, _ map[string]string) {
				if got, want := r.header.Get("Location"), "/v1/tenants/acme"; got != want {
					t.Errorf("Location %q, want %q", got, want)
				}
			}},
		{name: "create tenant twice", method: "POST", url: "/v1/tenants", token: "admin", body: `{"id":"acme"}`, status: 409, code: "conflict"},
		{name: "create second tenant", method: "POST", url: "/v1/tenants", token: "admin", body: `{"id":"other","region":"eu-west"}`, status: 201,
			contains: []string{`"region":"eu-west"`}},
		{name: "create tenant bad region", method: "POST", url: "/v1/tenants", token: "admin", body: `{"id":"third","region":"EU WEST"}`, status: 400, code: "invalid"},
		{name: "list tenants", method: "GET", url: "/v1/tenants", token: "admin", status: 200,
			check: func(t *testing.T, r *resp, _ map[string]string) {
				var l struct{ Tenants []struct{ ID string } }
				r.into(t, &l)
				var ids []string
				for _, x := range l.Tenants {
					ids = append(ids, x.ID)
				}
				if got, want := strings.Join(ids, ","), "acme,other"; got != want {
					t.Errorf("tenants %s, want %s", got, want)
				}
			}},
		{name: "get tenant", method: "GET", url: tp, token: "admin", status: 200, contains: []string{`"id":"acme"`}},
		{name: "get missing tenant", method: "GET", url: "/v1/tenants/ghost", token: "admin", status: 404, code: "not_found"},

		// Keys.
		{name: "create admin key", method: "POST", url: tp + "/keys", token: "admin", body: `{"role":"admin","name":"ops"}`, status: 201,
			contains: []string{`"role":"admin"`, `"tenant":"acme"`, `"name":"ops"`}, check: captureKey("acme.admin")},
		{name: "create write key with tenant admin key", method: "POST", url: tp + "/keys", token: "acme.admin", body: `{"role":"write"}`, status: 201,
			check: captureKey("acme.write")},
		{name: "create read key", method: "POST", url: tp + "/keys", token: "acme.admin", body: `{"role":"read"}`, status: 201,
			check: captureKey("acme.read")},
		{name: "create temporary key", method: "POST", url: tp + "/keys", token: "acme.admin", body: `{"role":"read","name":"tmp"}`, status: 201,
			check: captureKey("tmp")},
		{name: "create key bad role", method: "POST", url: tp + "/keys", token: "acme.admin", body: `{"role":"owner"}`, status: 400, code: "invalid",
			contains: []string{"role"}},
		{name: "create key missing role", method: "POST", url: tp + "/keys", token: "acme.admin", body: `{}`, status: 400, code: "invalid"},
		{name: "create key for missing tenant", method: "POST", url: "/v1/tenants/ghost/keys", token: "admin", body: `{"role":"read"}`, status: 404, code: "not_found"},
		{name: "list keys", method: "GET", url: tp + "/keys", token: "acme.admin", status: 200,
			contains: []string{"{acme.admin.id}", "{acme.write.id}", "{acme.read.id}", "{tmp.id}"},
			absent:   []string{"secret", "hash", "{acme.admin}"}},
		{name: "temporary key works", method: "GET", url: tp + "/collections", token: "tmp", status: 200},
		{name: "delete key", method: "DELETE", url: tp + "/keys/{tmp.id}", token: "acme.admin", status: 200, contains: []string{`"deleted":true`}},
		{name: "deleted key is refused", method: "GET", url: tp + "/collections", token: "tmp", status: 401, code: "unauthorized"},
		{name: "delete key twice", method: "DELETE", url: tp + "/keys/{tmp.id}", token: "acme.admin", status: 404, code: "not_found"},
		{name: "list keys after delete", method: "GET", url: tp + "/keys", token: "acme.admin", status: 200, absent: []string{"{tmp.id}"}},

		// Collections.
		{name: "list collections empty", method: "GET", url: tp + "/collections", token: "acme.read", status: 200, contains: []string{`"collections":[]`}},
		{name: "create collection", method: "PUT", url: tp + "/collections/people", token: "acme.admin",
			body:   `{"indexes":[{"field":"last","path":"name.last"},{"field":"age","path":"$.age","type":"integer"},{"field":"email","path":"$.email","unique":true}]}`,
			status: 201, contains: []string{`"name":"people"`, `"path":"$.name.last"`, `"type":"text"`, `"type":"integer"`, `"unique":true`, `"stored":true`},
			check: wantFields("last", "age", "email")},
		{name: "re-put collection is idempotent", method: "PUT", url: tp + "/collections/people", token: "acme.admin",
			body:   `{"indexes":[{"field":"last","path":"$.name.last"},{"field":"age","path":"age","type":"integer"},{"field":"email","path":"$.email","unique":true}]}`,
			status: 200, absent: []string{`"stored":false`}, check: wantFields("last", "age", "email")},
		{name: "reconcile drops and adds indexes", method: "PUT", url: tp + "/collections/people", token: "acme.admin",
			body:   `{"indexes":[{"field":"last","path":"$.name.last"},{"field":"age","path":"$.age","type":"integer"},{"field":"city","path":"$.address.city"}]}`,
			status: 200, contains: []string{`"field":"city","path":"$.address.city","type":"text","stored":false`}, absent: []string{`"email"`},
			check: wantFields("last", "age", "city")},
		{name: "get collection", method: "GET", url: tp + "/collections/people", token: "acme.read", status: 200, check: wantFields("last", "age", "city")},
		{name: "get missing collection", method: "GET", url: tp + "/collections/missing", token: "acme.read", status: 404, code: "not_found"},
		{name: "add index", method: "POST", url: tp + "/collections/people/indexes", token: "acme.admin", body: `{"field":"nick","path":"$.nick"}`,
			status: 201, check: wantFields("last", "age", "city", "nick")},
		{name: "add index twice", method: "POST", url: tp + "/collections/people/indexes", token: "acme.admin", body: `{"field":"nick","path":"$.nick"}`,
			status: 409, code: "conflict"},
		{name: "add index to missing collection", method: "POST", url: tp + "/collections/missing/indexes", token: "acme.admin", body: `{"field":"nick","path":"$.nick"}`,
			status: 404, code: "not_found"},
		{name: "drop index", method: "DELETE", url: tp + "/collections/people/indexes/nick", token: "acme.admin", status: 200, check: wantFields("last", "age", "city")},
		{name: "drop index twice", method: "DELETE", url: tp + "/collections/people/indexes/nick", token: "acme.admin", status: 404, code: "not_found"},
		{name: "drop stored index", method: "DELETE", url: tp + "/collections/people/indexes/last", token: "acme.admin", status: 200, check: wantFields("age", "city")},
		{name: "re-add unique email index", method: "POST", url: tp + "/collections/people/indexes", token: "acme.admin",
			body: `{"field":"email","path":"email","unique":true}`, status: 201, check: wantFields("age", "city", "email")},
		{name: "create scratch collection", method: "PUT", url: tp + "/collections/scratch", token: "acme.admin", body: `{"indexes":[]}`, status: 201},
		{name: "list collections", method: "GET", url: tp + "/collections", token: "acme.read", status: 200,
			check: func(t *testing.T, r *resp, _ map[string]string) {
				var l struct{ Collections []struct{ Name string } }
				r.into(t, &l)
				var names []string
				for _, c := range l.Collections {
					names = append(names, c.Name)
				}
				if got, want := strings.Join(names, ","), "people,scratch"; got != want {
					t.Errorf("collections %s, want %s", got, want)
				}
			}},
		{name: "put doc in scratch", method: "PUT", url: tp + "/collections/scratch/docs/x", token: "acme.write", body: `{"a":1}`, status: 201},
		{name: "delete collection", method: "DELETE", url: tp + "/collections/scratch", token: "acme.admin", status: 200, contains: []string{`"deleted":true`}},
		{name: "deleted collection is gone", method: "GET", url: tp + "/collections/scratch", token: "acme.read", status: 404, code: "not_found"},
		{name: "deleted collection's docs are gone", method: "GET", url: tp + "/collections/scratch/docs/x", token: "acme.read", status: 404, code: "not_found"},
		{name: "delete collection twice", method: "DELETE", url: tp + "/collections/scratch", token: "acme.admin", status: 404, code: "not_found"},

		// Documents.
		{name: "post doc", method: "POST", url: tp + "/collections/people/docs", token: "acme.write", body: `{"name":{"last":"Hopper"},"age":85}`, status: 201,
			check: func(t *testing.T, r *resp, vars map[string]string) {
				var res struct {
					ID      string
					Version int
					Created bool
				}
				r.into(t, &res)
				u, err := uuid.Parse(res.ID)
				if err != nil {
					t.Fatalf("id %q is not a UUID: %v", res.ID, err)
				}
				if got, want := u.Version(), uuid.Version(7); got != want {
					t.Errorf("id %s is UUID version %d, want %d", res.ID, got, want)
				}
				if got, want := r.header.Get("Location"), tp+"/collections/people/docs/"+res.ID; got != want {
					t.Errorf("Location %q, want %q", got, want)
				}
				if res.Version != 1 || !res.Created {
					t.Errorf("result %s, want version 1 created", r.body)
				}
				vars["posted"] = res.ID
			}},
		{name: "get posted doc", method: "GET", url: tp + "/collections/people/docs/{posted}", token: "acme.read", status: 200,
			contains: []string{`"id":"{posted}"`, `"version":1`, `"body":{"name":{"last":"Hopper"},"age":85}`}},
		{name: "post non-object doc", method: "POST", url: tp + "/collections/people/docs", token: "acme.write", body: `[1]`, status: 400, code: "invalid_document"},
		{name: "post to missing collection", method: "POST", url: tp + "/collections/missing/docs", token: "acme.write", body: `{}`, status: 404, code: "not_found"},
		{name: "put creates", method: "PUT", url: tp + "/collections/people/docs/p1", token: "acme.write", body: p1Body, status: 201,
			contains: []string{`"created":true`},
			check: func(t *testing.T, r *resp, vars map[string]string) {
				wantETag(1)(t, r, vars)
				if got, want := r.header.Get("Location"), tp+"/collections/people/docs/p1"; got != want {
					t.Errorf("Location %q, want %q", got, want)
				}
			}},
		{name: "get created doc byte-identical", method: "GET", url: tp + "/collections/people/docs/p1", token: "acme.read", status: 200,
			check: func(t *testing.T, r *resp, vars map[string]string) {
				wantETag(1)(t, r, vars)
				var d doc
				r.into(t, &d)
				if got, want := string(d.Body), compact(t, p1Body); got != want {
					t.Errorf("body\n%s\nwant\n%s", got, want)
				}
			}},
		{name: "put replaces", method: "PUT", url: tp + "/collections/people/docs/p1", token: "acme.write", body: p1Body, status: 200,
			absent: []string{`"created"`}, check: wantETag(2)},
		{name: "get replaced doc", method: "GET", url: tp + "/collections/people/docs/p1", token: "acme.read", status: 200, check: wantETag(2)},
		{name: "get if-none-match current", method: "GET", url: tp + "/collections/people/docs/p1", token: "acme.read",
			headers: map[string]string{"If-None-Match": `"2"`}, status: 304,
			check: func(t *testing.T, r *resp, vars map[string]string) {
				wantETag(2)(t, r, vars)
				if len(r.body) != 0 {
					t.Errorf("304 with body %q", r.body)
				}
			}},
		{name: "get if-none-match star", method: "GET", url: tp + "/collections/people/docs/p1", token: "acme.read",
			headers: map[string]string{"If-None-Match": `*`}, status: 304},
		{name: "get if-none-match stale", method: "GET", url: tp + "/collections/people/docs/p1", token: "acme.read",
			headers: map[string]string{"If-None-Match": `"1"`}, status: 200, check: wantETag(2)},
		{name: "patch merges", method: "PATCH", url: tp + "/collections/people/docs/p1", token: "acme.write",
			body: `{"nick":null,"name":{"first":null,"middle":"A."},"age":37,"extra":{"k":[1]}}`, status: 200, check: wantETag(3)},
		{name: "get patched doc", method: "GET", url: tp + "/collections/people/docs/p1", token: "acme.read", status: 200,
			check: func(t *testing.T, r *resp, vars map[string]string) {
				wantETag(3)(t, r, vars)
				var d doc
				r.into(t, &d)
				var got, want any
				json.Unmarshal(d.Body, &got)
				json.Unmarshal([]byte(`{"name":{"last":"Lovelace","middle":"A."},"age":37,"email":"ada@example.com","z":[1,2,{"b":null}],"a":"é\"\\","extra":{"k":[1]}}`), &want)
				if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
					t.Errorf("patched body %s, want %s", g, w)
				}
				if strings.Contains(string(d.Body), `"nick"`) {
					t.Errorf("null in a merge patch did not remove the key: %s", d.Body)
				}
			}},
		{name: "list by patched index", method: "GET", url: tp + "/collections/people/docs?age=37", token: "acme.read", status: 200,
			contains: []string{`"id":"p1"`}},
		{name: "patch missing doc", method: "PATCH", url: tp + "/collections/people/docs/nobody", token: "acme.write", body: `{"a":1}`, status: 404, code: "not_found"},
		{name: "patch with non-object", method: "PATCH", url: tp + "/collections/people/docs/p1", token: "acme.write", body: `"x"`, status: 400, code: "invalid_document"},
		{name: "put unique violation", method: "PUT", url: tp + "/collections/people/docs/p2", token: "acme.write", body: `{"email":"ada@example.com"}`,
			status: 409, code: "unique_violation"},
		{name: "unique violation wrote nothing", method: "GET", url: tp + "/collections/people/docs/p2", token: "acme.read", status: 404, code: "not_found"},
		{name: "batch", method: "POST", url: tp + "/batch", token: "acme.write",
			body: `{"ops":[{"op":"put","collection":"people","id":"b1","body":{"age":1}},{"op":"create","collection":"people","body":{"age":2}},` +
				`{"op":"patch","collection":"people","id":"p1","body":{"age":38}},{"op":"delete","collection":"people","id":"{posted}"}]}`,
			status: 200,
			check: func(t *testing.T, r *resp, vars map[string]string) {
				var b struct {
					Results []struct {
						Op, ID  string
						Version int
					}
					Bookmark string
				}
				r.into(t, &b)
				if got, want := len(b.Results), 4; got != want {
					t.Fatalf("%d results, want %d: %s", got, want, r.body)
				}
				if b.Bookmark == "" || b.Bookmark != r.bookmark() {
					t.Errorf("body bookmark %q, header %q: want equal and set", b.Bookmark, r.bookmark())
				}
				if _, err := uuid.Parse(b.Results[1].ID); err != nil {
					t.Errorf("batch create got id %q: %v", b.Results[1].ID, err)
				}
				if got, want := b.Results[2].Version, 4; got != want {
					t.Errorf("patched version %d, want %d", got, want)
				}
			}},
		{name: "batch deleted doc", method: "GET", url: tp + "/collections/people/docs/{posted}", token: "acme.read", status: 404, code: "not_found"},
		{name: "delete doc", method: "DELETE", url: tp + "/collections/people/docs/p1", token: "acme.write", status: 200, contains: []string{`"op":"delete"`, `"version":4`}},
		{name: "get deleted doc", method: "GET", url: tp + "/collections/people/docs/p1", token: "acme.read", status: 404, code: "not_found"},
		{name: "delete doc twice", method: "DELETE", url: tp + "/collections/people/docs/p1", token: "acme.write", status: 404, code: "not_found"},
		{name: "put after delete starts again", method: "PUT", url: tp + "/collections/people/docs/p1", token: "acme.write", body: `{}`, status: 201, check: wantETag(1)},
		{name: "list docs", method: "GET", url: tp + "/collections/people/docs", token: "acme.read", status: 200,
			contains: []string{`"id":"b1"`, `"id":"p1"`, `"next":""`}, absent: []string{`"id":"{posted}"`}},

		{name: "query docs", method: "POST", url: tp + "/collections/people/query", token: "acme.read", body: `{"limit":1}`, status: 200,
			contains: []string{`"docs":[{"id":"`}, absent: []string{`"next":""`, `},{"id"`}},
		{name: "query with unknown key", method: "POST", url: tp + "/collections/people/query", token: "acme.read", body: `{"bogus":1}`, status: 400, code: "invalid"},

		// Tenant deletion.
		{name: "delete tenant", method: "DELETE", url: "/v1/tenants/other", token: "admin", status: 200, contains: []string{`"deleted":true`}},
		{name: "deleted tenant is gone", method: "GET", url: "/v1/tenants/other", token: "admin", status: 404, code: "not_found"},
		{name: "delete tenant twice", method: "DELETE", url: "/v1/tenants/other", token: "admin", status: 404, code: "not_found"},
		{name: "recreate deleted tenant", method: "POST", url: "/v1/tenants", token: "admin", body: `{"id":"other"}`, status: 201},
		{name: "recreated tenant is empty", method: "GET", url: "/v1/tenants/other/collections", token: "admin", status: 200, contains: []string{`"collections":[]`}},
	}
	runScenarios(t, e, ss)
}

// TestListPaging pages through 120 documents with several page sizes and
// checks that every document comes exactly once, in id order.
func TestListPaging(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "items")
	var ids []string
	for i := range 120 {
		ids = append(ids, fmt.Sprintf("d%03d", i))
	}
	// Insert in random order, partly through batches, so id order is not
	// insertion order.
	shuffled := slices.Clone(ids)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for i := 0; i < 60; i++ {
		e.do(t, "PUT", docPath("acme", "items", shuffled[i]), k.write, fmt.Sprintf(`{"n":%q}`, shuffled[i])).expect(t, 201, "")
	}
	var ops []map[string]any
	for _, id := range shuffled[60:] {
		ops = append(ops, map[string]any{"op": "create", "collection": "items", "id": id, "body": map[string]any{"n": id}})
	}
	e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops}).expect(t, 200, "")

	for _, limit := range []int{1, 7, 50, 119, 120, 121, 1000} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			var got []string
			seen := map[string]bool{}
			after := ""
			for pages := 0; ; pages++ {
				if pages > 200 {
					t.Fatal("paging does not end")
				}
				u := fmt.Sprintf("/v1/tenants/acme/collections/items/docs?limit=%d", limit)
				if after != "" {
					u += "&after=" + url.QueryEscape(after)
				}
				var page struct {
					Docs []doc
					Next string
				}
				e.do(t, "GET", u, k.read, nil).expect(t, 200, "").into(t, &page)
				if len(page.Docs) > limit {
					t.Fatalf("page of %d docs, limit %d", len(page.Docs), limit)
				}
				for _, d := range page.Docs {
					if seen[d.ID] {
						t.Fatalf("document %s listed twice", d.ID)
					}
					seen[d.ID] = true
					got = append(got, d.ID)
					if want := fmt.Sprintf(`{"n":%q}`, d.ID); string(d.Body) != want {
						t.Errorf("doc %s body %s, want %s", d.ID, d.Body, want)
					}
				}
				if page.Next == "" {
					break
				}
				if len(page.Docs) != limit {
					t.Fatalf("short page (%d of %d) with a next cursor", len(page.Docs), limit)
				}
				after = page.Next
			}
			if !slices.Equal(got, ids) {
				t.Fatalf("listed %d docs %v..., want %d in id order", len(got), got[:min(5, len(got))], len(ids))
			}
		})
	}

	t.Run("default limit", func(t *testing.T) {
		var page struct {
			Docs []doc
			Next string
		}
		e.do(t, "GET", "/v1/tenants/acme/collections/items/docs", k.read, nil).expect(t, 200, "").into(t, &page)
		if got, want := len(page.Docs), 50; got != want {
			t.Errorf("default page has %d docs, want %d", got, want)
		}
		if page.Next == "" {
			t.Error("default page has no next cursor")
		}
	})

	bad := []struct{ name, query string }{
		{"zero limit", "limit=0"},
		{"negative limit", "limit=-1"},
		{"text limit", "limit=ten"},
		{"limit over max", "limit=1001"},
		{"huge limit", "limit=99999999999999999999"},
		{"repeated limit", "limit=1&limit=2"},
		{"malformed cursor", "after=%21%21%21"},
		{"padded cursor", "after=ZDAwMQ=="},
		{"oversized cursor", "after=" + strings.Repeat("QUFB", 100)},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			e.do(t, "GET", "/v1/tenants/acme/collections/items/docs?"+b.query, k.read, nil).expect(t, 400, "invalid")
		})
	}
}

// TestListFilter lists by equality on text and integer indexes.
func TestListFilter(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "people",
		map[string]any{"field": "last", "path": "$.name.last"},
		map[string]any{"field": "age", "path": "$.age", "type": "integer"},
		map[string]any{"field": "score", "path": "$.score", "type": "real"},
	)
	people := []struct {
		id, last string
		age      int
	}{
		{"a", "Smith", 30}, {"b", "Jones", 30}, {"c", "Smith", 41}, {"d", "Smith", 30}, {"e", "O'Brien", 30}, {"f", "Jones", 7}, {"g", "30", 99},
	}
	for _, p := range people {
		body := fmt.Sprintf(`{"name":{"last":%q},"age":%d,"score":%d.5}`, p.last, p.age, p.age)
		e.do(t, "PUT", docPath("acme", "people", p.id), k.write, body).expect(t, 201, "")
	}
	// A document without the indexed fields is stored and never matches.
	e.do(t, "PUT", docPath("acme", "people", "h"), k.write, `{}`).expect(t, 201, "")

	list := func(t *testing.T, query string) []string {
		t.Helper()
		var page struct{ Docs []doc }
		e.do(t, "GET", "/v1/tenants/acme/collections/people/docs?"+query, k.read, nil).expect(t, 200, "").into(t, &page)
		var ids []string
		for _, d := range page.Docs {
			ids = append(ids, d.ID)
		}
		return ids
	}
	cases := []struct{ name, query, want string }{
		{"text", "last=Smith", "a,c,d"},
		{"text with quote", "last=" + url.QueryEscape("O'Brien"), "e"},
		{"text that looks like a number", "last=30", "g"},
		{"text no match", "last=smith", ""},
		{"integer", "age=30", "a,b,d,e"},
		{"integer other", "age=7", "f"},
		{"integer with plus sign", "age=%2B30", "a,b,d,e"},
		{"integer no match", "age=31", ""},
		{"real", "score=30.5", "a,b,d,e"},
		{"integer filter with limit", "age=30&limit=2", "a,b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Join(list(t, c.query), ","); got != c.want {
				t.Errorf("?%s listed %q, want %q", c.query, got, c.want)
			}
		})
	}
	t.Run("integer filter pages", func(t *testing.T) {
		var page struct {
			Docs []doc
			Next string
		}
		e.do(t, "GET", "/v1/tenants/acme/collections/people/docs?age=30&limit=2", k.read, nil).expect(t, 200, "").into(t, &page)
		if page.Next == "" {
			t.Fatal("no next cursor after a full page")
		}
		if got, want := strings.Join(list(t, "age=30&limit=2&after="+url.QueryEscape(page.Next)), ","), "d,e"; got != want {
			t.Errorf("second page %q, want %q", got, want)
		}
	})
	bad := []struct{ name, query string }{
		{"integer index with text", "age=old"},
		{"integer index with fraction", "age=30.5"},
		{"real index with text", "score=high"},
		{"unindexed field", "nick=x"},
		{"reserved column", "body=x"},
		{"internal column", "_version=1"},
		{"two fields", "age=30&last=Smith"},
		{"repeated field", "age=30&age=7"},
		{"hostile field", url.QueryEscape(`a" OR 1=1 --`) + "=1"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			e.do(t, "GET", "/v1/tenants/acme/collections/people/docs?"+b.query, k.read, nil).expect(t, 400, "invalid")
		})
	}
	// The ordering of results from any query is by id.
	if ids := list(t, "limit=1000"); !sort.StringsAreSorted(ids) || len(ids) != len(people)+1 {
		t.Errorf("full list %v: want all %d in id order", ids, len(people)+1)
	}
}

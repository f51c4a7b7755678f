package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/quiredb/quire/server"
)

// hostileNames are refused in every name position: tenant, collection and
// index field.
var hostileNames = []string{
	"../x", "..%2Fx", "a;DROP TABLE x", "A", "Abc", `x"y`, "x'y", "x`y", "é", "caf\u00e9",
	"a\u200bb", "a\u202eb", "\u202eabc", "a\ufeffb", "a\x00b", "a\nb", "a b", " a", "a ", "a.b", "a/b", "a-b", "a\\b",
	strings.Repeat("a", 64), strings.Repeat("b", 200), "sqlite_master", "sqlite_schema",
	"1abc", "_x", "_quire_meta", "*", "%", "a%00b",
}

// jsonString encodes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// leakFree checks that an error message says nothing of SQL.
func leakFree(t *testing.T, r *resp) {
	t.Helper()
	for _, m := range []string{"DROP TABLE", "syntax error", "near \""} {
		if strings.Contains(r.errMessage(), m) && !strings.Contains(r.errMessage(), "is not allowed") {
			t.Errorf("%s %s: message looks like SQL ran: %s", r.method, r.url, r.errMessage())
		}
	}
}

// badInputEnv is a server with tenant acme, a typed collection with data,
// and the keys to use it.
type badInputEnv struct {
	*env
	k keys
}

// golden is the data written before the hostile requests; it must be
// intact afterwards.
var golden = map[string]string{
	"g1":    `{"name":"one","age":1,"tags":["a","b"]}`,
	"g2":    `{"name":"two","age":2,"nested":{"x":[1,{"y":null}]}}`,
	"grüße": `{"name":"unicode","age":3}`,
}

func newBadInputEnv(t *testing.T) *badInputEnv {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "c",
		map[string]any{"field": "age", "path": "$.age", "type": "integer"},
		map[string]any{"field": "name", "path": "$.name", "unique": true})
	e.putCollection(t, "acme", "plain")
	for id, body := range golden {
		e.do(t, "PUT", docPath("acme", "c", id), k.write, body).expect(t, 201, "")
	}
	return &badInputEnv{env: e, k: k}
}

// checkIntact checks that the server still serves and the golden documents
// are unchanged.
func (e *badInputEnv) checkIntact(t *testing.T) {
	t.Helper()
	e.do(t, "GET", "/healthz", "", nil).expect(t, 200, "")
	for id, body := range golden {
		d := e.getDoc(t, e.k.read, "acme", "c", id)
		if d.Version != 1 || string(d.Body) != body || d.ID != id {
			t.Errorf("document %q is now v%d %s", id, d.Version, d.Body)
		}
	}
	r := e.do(t, "GET", "/v1/tenants/acme/collections/c", e.k.read, nil).expect(t, 200, "")
	if got := strings.Join(indexFields(t, r), ","); got != "age,name" {
		t.Errorf("collection c indexes are now %s", got)
	}
	var l struct{ Collections []struct{ Name string } }
	e.do(t, "GET", "/v1/tenants/acme/collections", e.k.read, nil).expect(t, 200, "").into(t, &l)
	if len(l.Collections) != 2 {
		t.Errorf("collections are now %+v", l.Collections)
	}
	var ts struct{ Tenants []struct{ ID string } }
	e.do(t, "GET", "/v1/tenants", adminToken, nil).expect(t, 200, "").into(t, &ts)
	if len(ts.Tenants) != 1 || ts.Tenants[0].ID != "acme" {
		t.Errorf("tenants are now %+v", ts.Tenants)
	}
}

// TestHostileNames sends every hostile name in every name position.
func TestHostileNames(t *testing.T) {
	e := newBadInputEnv(t)
	k := e.k
	for _, name := range hostileNames {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			esc := escapeSegment(name)
			// Body positions: the name travels in JSON, so nothing can
			// hide it from validation.
			body := []req{
				{method: "POST", path: "/v1/tenants", token: adminToken, body: `{"id":` + jsonString(name) + `}`},
				{method: "PUT", path: "/v1/tenants/acme/collections/c2", token: k.admin, body: `{"indexes":[{"field":` + jsonString(name) + `,"path":"$.a"}]}`},
				{method: "POST", path: "/v1/tenants/acme/collections/c/indexes", token: k.admin, body: `{"field":` + jsonString(name) + `,"path":"$.a"}`},
				{method: "POST", path: "/v1/tenants/acme/batch", token: k.write, body: `{"ops":[{"op":"put","collection":` + jsonString(name) + `,"id":"x","body":{}}]}`},
			}
			// Path positions, escaped so the server sees the name itself.
			tp := "/v1/tenants/acme/collections/" + esc
			path := []req{
				{method: "GET", path: "/v1/tenants/" + esc, token: adminToken},
				{method: "DELETE", path: "/v1/tenants/" + esc, token: adminToken},
				{method: "GET", path: "/v1/tenants/" + esc + "/collections", token: adminToken},
				{method: "POST", path: "/v1/tenants/" + esc + "/keys", token: adminToken, body: `{"role":"admin"}`},
				{method: "PUT", path: "/v1/tenants/" + esc + "/collections/c", token: adminToken, body: `{}`},
				{method: "GET", path: tp, token: k.read},
				{method: "PUT", path: tp, token: k.admin, body: `{"indexes":[]}`},
				{method: "DELETE", path: tp, token: k.admin},
				{method: "POST", path: tp + "/indexes", token: k.admin, body: `{"field":"f","path":"$.f"}`},
				{method: "DELETE", path: tp + "/indexes/age", token: k.admin},
				{method: "DELETE", path: "/v1/tenants/acme/collections/c/indexes/" + esc, token: k.admin},
				{method: "POST", path: tp + "/docs", token: k.write, body: `{}`},
				{method: "GET", path: tp + "/docs", token: k.read},
				{method: "GET", path: tp + "/docs/x", token: k.read},
				{method: "PUT", path: tp + "/docs/x", token: k.write, body: `{}`},
				{method: "PATCH", path: tp + "/docs/x", token: k.write, body: `{}`},
				{method: "DELETE", path: tp + "/docs/x", token: k.write},
				{method: "POST", path: tp + "/query", token: k.read, body: `{}`},
			}
			for _, rq := range append(body, path...) {
				r := e.send(t, rq)
				if r.status != 400 || r.code() != "invalid_name" {
					t.Errorf("%s %s: %d %s, want 400 invalid_name", rq.method, rq.path, r.status, clip(r.body))
				}
				leakFree(t, r)
			}
			// Unescaped in the URL, the router may not match at all; it
			// must still refuse and never reach a handler with the name.
			raw := []req{
				{method: "GET", path: "/v1/tenants/" + name, token: adminToken},
				{method: "GET", path: "/v1/tenants/acme/collections/" + name, token: k.read},
				{method: "PUT", path: "/v1/tenants/acme/collections/" + name + "/docs/x", token: k.write, body: `{}`},
			}
			for _, rq := range raw {
				if _, err := url.Parse(e.ts.URL + rq.path); err != nil || strings.ContainsAny(name, " \x00\n") {
					continue // not sendable unescaped
				}
				r := e.send(t, rq)
				if r.status != 400 && r.status != 404 {
					t.Errorf("%s %s: %d %s, want 400 or 404", rq.method, rq.path, r.status, clip(r.body))
				}
			}
		})
	}
	e.checkIntact(t)
}

// TestHostileIndexPaths sends JSON paths that must not reach DDL.
func TestHostileIndexPaths(t *testing.T) {
	e := newBadInputEnv(t)
	paths := []string{
		`$.a'); DROP TABLE c; --`, `a'); DROP TABLE c; --`, `$.a') STORED, x TEXT GENERATED ALWAYS AS ('1`,
		`$..a`, `$[`, `$`, `$.`, `..a`, `$.a.`, `$.a[`, `$.a[]`, `$.a[x]`, `$.a[-1]`, `$.a[#-1]`, `$.a[1`, `$.a[1]]`,
		`$.a b`, `$.a"b`, `$.a'b`, `$."a"`, `$.é`, `$.a)`, `$.a;`, `$.a\u0000`, "$.a\x00b", "$.a\nb", `$.a[1234567890]`,
		`$.*`, `$.a.*`, `$.a[*]`, `$ .a`, `$.a--`, `$.a/*`, "$." + strings.Repeat("a", 300), `$$.a`, `@.a`, `$['a']`,
		`$.a[0x1]`, `$.a[+1]`, `$.a[1 ]`,
	}
	for _, p := range paths {
		t.Run(fmt.Sprintf("%q", p), func(t *testing.T) {
			for _, rq := range []req{
				{method: "PUT", path: "/v1/tenants/acme/collections/c2", token: e.k.admin, body: `{"indexes":[{"field":"f","path":` + jsonString(p) + `}]}`},
				{method: "PUT", path: "/v1/tenants/acme/collections/c", token: e.k.admin,
					body: `{"indexes":[{"field":"age","path":"$.age","type":"integer"},{"field":"name","path":"$.name","unique":true},{"field":"f","path":` + jsonString(p) + `}]}`},
				{method: "POST", path: "/v1/tenants/acme/collections/c/indexes", token: e.k.admin, body: `{"field":"f","path":` + jsonString(p) + `}`},
			} {
				r := e.send(t, rq).expect(t, 400, "invalid")
				if !strings.Contains(r.errMessage(), "path") {
					t.Errorf("message %q does not name the path", r.errMessage())
				}
				leakFree(t, r)
			}
		})
	}
	t.Run("other index fields", func(t *testing.T) {
		for _, b := range []string{
			`{"field":"f","path":"$.f","type":"blob"}`,
			`{"field":"f","path":"$.f","type":"TEXT"}`,
			`{"field":"f","path":"$.f","type":"integer primary key"}`,
			`{"field":"f","path":""}`,
			`{"field":"f"}`,
			`{"field":"id","path":"$.id"}`,
			`{"field":"body","path":"$.body"}`,
			`{"field":"created_at","path":"$.x"}`,
			`{"field":"updated_at","path":"$.x"}`,
			`{"field":"_version","path":"$.x"}`,
		} {
			r := e.do(t, "POST", "/v1/tenants/acme/collections/c/indexes", e.k.admin, b)
			if r.status != 400 || (r.code() != "invalid" && r.code() != "invalid_name") {
				t.Errorf("add index %s: %s, want 400 invalid or invalid_name", b, r)
			}
		}
		r := e.do(t, "PUT", "/v1/tenants/acme/collections/c2", e.k.admin, `{"indexes":[{"field":"f","path":"$.a"},{"field":"f","path":"$.b"}]}`).expect(t, 400, "invalid")
		if !strings.Contains(r.errMessage(), "twice") {
			t.Errorf("duplicate field message %q", r.errMessage())
		}
		var many []map[string]any
		for i := range 33 {
			many = append(many, map[string]any{"field": fmt.Sprint("f", i), "path": fmt.Sprint("$.f", i)})
		}
		// The default quota is 32 indexes per collection.
		e.do(t, "PUT", "/v1/tenants/acme/collections/c2", e.k.admin, map[string]any{"indexes": many}).expect(t, 409, "quota_exceeded")
		// 32 is allowed, and then one more through the add route is not.
		e.do(t, "PUT", "/v1/tenants/acme/collections/c2", e.k.admin, map[string]any{"indexes": many[:32]}).expect(t, 201, "")
		e.do(t, "POST", "/v1/tenants/acme/collections/c2/indexes", e.k.admin, `{"field":"f99","path":"$.f99"}`).expect(t, 409, "quota_exceeded")
		// Past the ceiling of 64, no quota helps.
		for i := 33; i < 65; i++ {
			many = append(many, map[string]any{"field": fmt.Sprint("f", i), "path": fmt.Sprint("$.f", i)})
		}
		e.do(t, "PUT", "/v1/tenants/acme/collections/c3", e.k.admin, map[string]any{"indexes": many}).expect(t, 400, "invalid")
		e.do(t, "DELETE", "/v1/tenants/acme/collections/c2", e.k.admin, nil).expect(t, 200, "")
	})
	e.checkIntact(t)
}

// TestMalformedControlBodies sends malformed, mistyped and unknown-field
// bodies to every route whose body is a control object.
func TestMalformedControlBodies(t *testing.T) {
	e := newBadInputEnv(t)
	k := e.k
	routes := []req{
		{method: "POST", path: "/v1/tenants", token: adminToken},
		{method: "POST", path: "/v1/tenants/acme/keys", token: k.admin},
		{method: "PUT", path: "/v1/tenants/acme/collections/c", token: k.admin},
		{method: "PUT", path: "/v1/tenants/acme/collections/fresh", token: k.admin},
		{method: "POST", path: "/v1/tenants/acme/collections/c/indexes", token: k.admin},
		{method: "POST", path: "/v1/tenants/acme/batch", token: k.write},
	}
	malformed := []string{
		"", " ", "\n\t", "{", "}", `{"id":`, `{"id":"x"`, `{"id":"x",}`, `{'id':'x'}`, `{id:"x"}`,
		"[]", "[{}]", `"x"`, "5", "-1.5e3", "true", "false", "null",
		`{} {}`, `{}x`, `{}]`, `{"a":1}{"b":2}`, "\xff\xfe{}", `{"id":"\x00"}`,
		strings.Repeat("[", 5000), strings.Repeat(`{"a":`, 3000) + "1" + strings.Repeat("}", 3000),
	}
	for _, rt := range routes {
		for _, b := range malformed {
			t.Run(rt.method+" "+rt.path+" "+fmt.Sprintf("%.20q", b), func(t *testing.T) {
				rq := rt
				rq.body = b
				r := e.send(t, rq)
				if r.status != 400 || (r.code() != "invalid" && r.code() != "invalid_name") {
					t.Fatalf("%s: want 400 invalid", r)
				}
				if b != "" && strings.TrimSpace(b) != "" && r.code() != "invalid" {
					t.Errorf("%s: code %q, want invalid for a malformed body", r, r.code())
				}
			})
		}
	}

	wrongTypes := []struct {
		route int
		body  string
		field string
	}{
		{0, `{"id":5}`, "id"},
		{0, `{"id":"x","name":["n"]}`, "name"},
		{0, `{"id":"x","region":1}`, "region"},
		{0, `{"id":"x","domains":"a.example.com"}`, "domains"},
		{0, `{"id":"x","domains":[1]}`, "domains"},
		{0, `{"id":{"$ne":null}}`, "id"},
		{1, `{"role":7}`, "role"},
		{1, `{"role":["admin"]}`, "role"},
		{1, `{"role":"read","name":false}`, "name"},
		{2, `{"indexes":"x"}`, "indexes"},
		{2, `{"indexes":{}}`, "indexes"},
		{2, `{"indexes":[5]}`, "indexes"},
		{2, `{"indexes":[{"field":1,"path":"$.a"}]}`, "field"},
		{2, `{"indexes":[{"field":"f","path":["$.a"]}]}`, "path"},
		{2, `{"indexes":[{"field":"f","path":"$.a","unique":"yes"}]}`, "unique"},
		{2, `{"indexes":[{"field":"f","path":"$.a","type":1}]}`, "type"},
		{4, `{"field":1,"path":"$.a"}`, "field"},
		{4, `{"field":"f","path":1}`, "path"},
		{4, `{"field":"f","path":"$.a","unique":1}`, "unique"},
		{5, `{"ops":{}}`, "ops"},
		{5, `{"ops":"put"}`, "ops"},
		{5, `{"ops":[1]}`, "ops"},
		{5, `{"ops":[{"op":1,"collection":"c","id":"x"}]}`, "op"},
		{5, `{"ops":[{"op":"put","collection":["c"],"id":"x"}]}`, "collection"},
		{5, `{"ops":[{"op":"put","collection":"c","id":5,"body":{}}]}`, "id"},
		{5, `{"ops":[{"op":"put","collection":"c","id":"x","body":{},"if_version":"1"}]}`, "if_version"},
		{5, `{"ops":[{"op":"put","collection":"c","id":"x","body":{},"if_version":1.5}]}`, "if_version"},
	}
	for _, w := range wrongTypes {
		rt := routes[w.route]
		t.Run("wrong type "+rt.path+" "+w.body, func(t *testing.T) {
			rq := rt
			rq.body = w.body
			r := e.send(t, rq).expect(t, 400, "invalid")
			if !strings.Contains(r.errMessage(), w.field) {
				t.Errorf("message %q does not name field %q", r.errMessage(), w.field)
			}
		})
	}

	unknown := []struct {
		route int
		body  string
		field string
	}{
		{0, `{"id":"x","bogus":1}`, "bogus"},
		{0, `{"id":"x","ID":"y","created_at":"2020-01-01T00:00:00Z"}`, "created_at"},
		{1, `{"role":"read","tenant":"other"}`, "tenant"},
		{1, `{"role":"read","secret":"mine"}`, "secret"},
		{2, `{"indexes":[],"name":"other"}`, "name"},
		{2, `{"indexes":[{"field":"f","path":"$.a","sql":"x"}]}`, "sql"},
		{4, `{"field":"f","path":"$.a","collection":"other"}`, "collection"},
		{5, `{"ops":[],"atomic":false}`, "atomic"},
		{5, `{"ops":[{"op":"put","collection":"c","id":"x","body":{},"IfAbsent":true}]}`, "IfAbsent"},
		{5, `{"ops":[{"op":"put","collection":"c","id":"x","body":{},"key_id":"admin"}]}`, "key_id"},
	}
	for _, u := range unknown {
		rt := routes[u.route]
		t.Run("unknown field "+rt.path+" "+u.body, func(t *testing.T) {
			rq := rt
			rq.body = u.body
			r := e.send(t, rq).expect(t, 400, "invalid")
			if !strings.Contains(r.errMessage(), u.field) {
				t.Errorf("message %q does not name field %q", r.errMessage(), u.field)
			}
		})
	}

	t.Run("oversized control body", func(t *testing.T) {
		big := `{"id":"x","name":"` + strings.Repeat("n", 70<<10) + `"}`
		e.do(t, "POST", "/v1/tenants", adminToken, big).expect(t, 413, "too_large")
		e.do(t, "POST", "/v1/tenants/acme/keys", k.admin, `{"role":"read","name":"`+strings.Repeat("n", 70<<10)+`"}`).expect(t, 413, "too_large")
		e.send(t, req{method: "PUT", path: "/v1/tenants/acme/collections/c9", token: k.admin,
			body: io.MultiReader(strings.NewReader(`{"indexes":[`), strings.NewReader(strings.Repeat(" ", 70<<10)), strings.NewReader(`]}`))}).expect(t, 413, "too_large")
	})
	t.Run("over-long strings in control bodies", func(t *testing.T) {
		e.do(t, "POST", "/v1/tenants", adminToken, `{"id":"x","name":"`+strings.Repeat("n", 201)+`"}`).expect(t, 400, "invalid")
		e.do(t, "POST", "/v1/tenants/acme/keys", k.admin, `{"role":"read","name":"`+strings.Repeat("n", 201)+`"}`).expect(t, 400, "invalid")
		for _, d := range []string{"", "a..b", "-a.com", "a_b.com", "a b.com", strings.Repeat("a", 64) + ".com", "ex\u0430mple.com", "a.com:80", "*.a.com"} {
			r := e.do(t, "POST", "/v1/tenants", adminToken, map[string]any{"id": "x", "domains": []string{d}})
			if r.status != 400 {
				t.Errorf("domain %q: %s, want 400", d, r)
			}
		}
	})
	e.checkIntact(t)
}

// TestBadDocuments sends bodies that are not acceptable documents to every
// route that takes one.
func TestBadDocuments(t *testing.T) {
	e := newBadInputEnv(t)
	k := e.k
	routes := func(coll string) []req {
		return []req{
			{method: "POST", path: "/v1/tenants/acme/collections/" + coll + "/docs", token: k.write},
			{method: "PUT", path: docPath("acme", coll, "new"), token: k.write},
			{method: "PUT", path: docPath("acme", coll, "g1"), token: k.write},
			{method: "PATCH", path: docPath("acme", coll, "g1"), token: k.write},
		}
	}
	deep := func(n int, open, close, leaf string) string {
		return `{"d":` + strings.Repeat(open, n) + leaf + strings.Repeat(close, n) + `}`
	}
	bad := []struct{ name, body string }{
		{"empty", ""},
		{"whitespace", "  \n"},
		{"truncated", `{"a":1`},
		{"bare word", `hello`},
		{"single quotes", `{'a':1}`},
		{"trailing comma", `{"a":1,}`},
		{"array", `[]`},
		{"array of objects", `[{"a":1}]`},
		{"string", `"x"`},
		{"number", `5`},
		{"true", `true`},
		{"null", `null`},
		{"two objects", `{"a":1}{"b":2}`},
		{"object then garbage", `{"a":1} x`},
		{"NaN", `{"a":NaN}`},
		{"control char in string", "{\"a\":\"x\x01y\"}"},
		{"invalid UTF-8 in a value", "{\"name\":\"a\xffb\"}"},
		{"invalid UTF-8 in a key", "{\"a\xff\":1}"},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}"},
		{"UTF-16 BOM", "\xfe\xff{}"},
		{"nested 2000 objects", deep(2000, `{"a":`, `}`, `1`)},
		{"nested 2000 arrays", deep(2000, `[`, `]`, `1`)},
		{"nested 1200 mixed", deep(600, `[{"a":`, `}]`, `1`)},
		{"nested 100000 arrays", deep(100000, `[`, `]`, ``)},
	}
	for _, coll := range []string{"c", "plain"} {
		for _, b := range bad {
			t.Run(coll+"/"+b.name, func(t *testing.T) {
				for _, rq := range routes(coll) {
					if coll == "plain" && strings.Contains(rq.path, "g1") {
						continue
					}
					rq.body = b.body
					e.send(t, rq).expect(t, 400, "invalid_document")
				}
				op := fmt.Sprintf(`{"ops":[{"op":"put","collection":%q,"id":"new","body":%s}]}`, coll, b.body)
				r := e.do(t, "POST", "/v1/tenants/acme/batch", k.write, op)
				if r.status != 400 {
					t.Errorf("batch with body %.40q: %s, want 400", b.body, r)
				}
				e.do(t, "GET", docPath("acme", coll, "new"), k.read, nil).expect(t, 404, "not_found")
			})
		}
	}
	t.Run("batch op with a non-object body", func(t *testing.T) {
		for _, body := range []string{`[1]`, `"x"`, `5`, `null`, `true`} {
			op := `{"ops":[{"op":"put","collection":"c","id":"new","body":` + body + `}]}`
			e.do(t, "POST", "/v1/tenants/acme/batch", k.write, op).expect(t, 400, "invalid_document")
		}
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"put","collection":"c","id":"new"}]}`).expect(t, 400, "invalid_document")
	})

	t.Run("wrong type for a typed index", func(t *testing.T) {
		for _, body := range []string{`{"age":"old"}`, `{"age":1.5}`, `{"age":{"n":1}}`, `{"age":[1]}`, `{"age":1e300}`, `{"age":"1x"}`, `{"age":""}`} {
			for _, rq := range routes("c") {
				rq.body = body
				r := e.send(t, rq).expect(t, 400, "invalid_document")
				if !strings.Contains(r.errMessage(), "type") {
					t.Errorf("message %q does not explain the type problem", r.errMessage())
				}
			}
			e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"put","collection":"c","id":"new","body":`+body+`}]}`).
				expect(t, 400, "invalid_document")
			e.do(t, "GET", docPath("acme", "c", "new"), k.read, nil).expect(t, 404, "not_found")
		}
		var page struct{ Docs []doc }
		e.do(t, "GET", "/v1/tenants/acme/collections/c/docs", k.read, nil).expect(t, 200, "").into(t, &page)
		if got, want := len(page.Docs), len(golden); got != want {
			t.Errorf("%d docs after refused writes, want %d", got, want)
		}
		// Values SQLite converts losslessly are accepted.
		for i, body := range []string{`{"age":5}`, `{"age":5.0}`, `{"age":null}`, `{}`, `{"age":-9223372036854775808}`} {
			want := 200
			if i == 0 {
				want = 201
			}
			e.do(t, "PUT", docPath("acme", "c", "ok"), k.write, body).expect(t, want, "")
		}
		e.do(t, "DELETE", docPath("acme", "c", "ok"), k.write, nil).expect(t, 200, "")
	})

	t.Run("adding an index the data does not fit", func(t *testing.T) {
		e.do(t, "PUT", docPath("acme", "plain", "p"), k.write, `{"n":"text"}`).expect(t, 201, "")
		e.do(t, "POST", "/v1/tenants/acme/collections/plain/indexes", k.admin, `{"field":"n","path":"$.n","type":"integer"}`).expect(t, 400, "invalid_document")
		e.do(t, "PUT", "/v1/tenants/acme/collections/plain", k.admin, `{"indexes":[{"field":"n","path":"$.n","type":"real"}]}`).expect(t, 400, "invalid_document")
		r := e.do(t, "GET", "/v1/tenants/acme/collections/plain", k.read, nil).expect(t, 200, "")
		if got := indexFields(t, r); len(got) != 0 {
			t.Errorf("refused index was added: %v", got)
		}
		e.do(t, "PUT", docPath("acme", "plain", "p2"), k.write, `{"n":"more text"}`).expect(t, 201, "")
		e.do(t, "DELETE", docPath("acme", "plain", "p"), k.write, nil).expect(t, 200, "")
		e.do(t, "DELETE", docPath("acme", "plain", "p2"), k.write, nil).expect(t, 200, "")
	})

	t.Run("oversized documents", func(t *testing.T) {
		const limit = 2 << 20
		pad := func(n int) string { // a document of exactly n bytes
			return `{"p":"` + strings.Repeat("x", n-8) + `"}`
		}
		if got := len(pad(limit)); got != limit {
			t.Fatalf("pad is %d bytes", got)
		}
		for _, rq := range routes("plain") {
			if strings.Contains(rq.path, "g1") {
				continue
			}
			rq.body = pad(limit + 1)
			e.send(t, rq).expect(t, 413, "too_large")
			rq.body = pad(limit + 100<<10)
			e.send(t, rq).expect(t, 413, "too_large")
			rq.body = io.MultiReader(strings.NewReader(pad(limit+100<<10)), strings.NewReader(" "))
			e.send(t, rq).expect(t, 413, "too_large")
		}
		e.do(t, "GET", docPath("acme", "plain", "new"), k.read, nil).expect(t, 404, "not_found")
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"put","collection":"plain","id":"new","body":`+pad(limit+1)+`}]}`).expect(t, 413, "too_large")
		// Exactly the limit is accepted.
		e.do(t, "PUT", docPath("acme", "plain", "max"), k.write, pad(limit)).expect(t, 201, "")
		d := e.getDoc(t, k.read, "acme", "plain", "max")
		if len(d.Body) != limit {
			t.Errorf("stored %d bytes, want %d", len(d.Body), limit)
		}
		// Whitespace the store compacts away does not count.
		pretty := "{\n  \"p\": \"" + strings.Repeat("y", limit-8) + "\"\n}\n"
		e.do(t, "PUT", docPath("acme", "plain", "pretty"), k.write, pretty).expect(t, 201, "")
		// A patch may not grow a document past the limit.
		e.do(t, "PUT", docPath("acme", "plain", "grow"), k.write, pad(limit/2+100)).expect(t, 201, "")
		e.do(t, "PATCH", docPath("acme", "plain", "grow"), k.write, `{"q":"`+strings.Repeat("z", limit/2)+`"}`).expect(t, 413, "too_large")
		if d := e.getDoc(t, k.read, "acme", "plain", "grow"); d.Version != 1 || strings.Contains(string(d.Body), `"q"`) {
			t.Errorf("refused patch was applied: v%d", d.Version)
		}
	})
	e.checkIntact(t)
}

// TestBatchBodyLimit sends batches over the request body limit.
func TestBatchBodyLimit(t *testing.T) {
	t.Run("configured limit", func(t *testing.T) {
		e := newEnvConfig(t, server.Config{MaxBodyBytes: 1 << 20})
		k := e.createTenant(t, "acme")
		e.putCollection(t, "acme", "c")
		var ops []string
		for i := range 20 {
			ops = append(ops, fmt.Sprintf(`{"op":"put","collection":"c","id":"d%d","body":{"p":"%s"}}`, i, strings.Repeat("x", 60<<10)))
		}
		body := `{"ops":[` + strings.Join(ops, ",") + `]}`
		if len(body) <= 1<<20 {
			t.Fatalf("batch is only %d bytes", len(body))
		}
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, body).expect(t, 413, "too_large")
		e.send(t, req{method: "POST", path: "/v1/tenants/acme/batch", token: k.write, body: io.MultiReader(strings.NewReader(body))}).expect(t, 413, "too_large")
		e.do(t, "GET", docPath("acme", "c", "d0"), k.read, nil).expect(t, 404, "not_found")
		// Under the limit it goes through.
		small := `{"ops":[` + strings.Join(ops[:10], ",") + `]}`
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, small).expect(t, 200, "")
		// A single document request is bounded by the document limit, not this.
		e.do(t, "PUT", docPath("acme", "c", "big"), k.write, `{"p":"`+strings.Repeat("x", 1<<20+10)+`"}`).expect(t, 201, "")
	})
	t.Run("default limit", func(t *testing.T) {
		e := newEnv(t)
		k := e.createTenant(t, "acme")
		e.putCollection(t, "acme", "c")
		var b bytes.Buffer
		b.WriteString(`{"ops":[`)
		for i := range 9 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"op":"put","collection":"c","id":"d%d","body":{"p":"%s"}}`, i, strings.Repeat("x", 1900<<10))
		}
		b.WriteString(`]}`)
		if b.Len() <= 16<<20 {
			t.Fatalf("batch is only %d bytes", b.Len())
		}
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, b.Bytes()).expect(t, 413, "too_large")
		e.do(t, "GET", docPath("acme", "c", "d0"), k.read, nil).expect(t, 404, "not_found")
	})
}

// TestDocumentIDs checks hostile ids are refused everywhere and unusual
// but legitimate ones round-trip.
func TestDocumentIDs(t *testing.T) {
	e := newBadInputEnv(t)
	k := e.k
	badIDs := []string{
		"a\x00b", "a\nb", "\t", "\r", "a\x1bb", "\x7f", "a\u0085b", "a\u202eb", "\u202e", "a\u200bb", "a\u200db", "\ufeffa", "a\u2066b", "a\u00adb",
		"\xff", "a\xc3", "\xed\xa0\x80", strings.Repeat("a", 257), strings.Repeat("é", 129),
	}
	for _, id := range badIDs {
		t.Run(fmt.Sprintf("bad %.20q", id), func(t *testing.T) {
			p := docPath("acme", "c", id)
			for _, rq := range []req{
				{method: "GET", path: p, token: k.read},
				{method: "PUT", path: p, token: k.write, body: `{}`},
				{method: "PATCH", path: p, token: k.write, body: `{}`},
				{method: "DELETE", path: p, token: k.write},
			} {
				e.send(t, rq).expect(t, 400, "invalid")
			}
			if json.Valid([]byte(jsonString(id))) && strings.ToValidUTF8(id, "") == id {
				for _, op := range []string{"put", "create", "patch", "delete"} {
					body := `,"body":{}`
					if op == "delete" {
						body = ""
					}
					e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"`+op+`","collection":"c","id":`+jsonString(id)+body+`}]}`).expect(t, 400, "invalid")
				}
			}
		})
	}
	t.Run("batch ids with invalid UTF-8 escapes", func(t *testing.T) {
		// JSON can smuggle lone surrogates, which decode to U+FFFD.
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"put","collection":"c","id":"a\ud800b","body":{}}]}`).expect(t, 400, "invalid")
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"put","collection":"c","id":"","body":{}}]}`).expect(t, 400, "invalid")
	})

	goodIDs := []string{
		"a/b", "/lead", "trail/", "a//b", "with space", " ", "ünïcödé", "日本語", "emoji 🎉", "..", ".", "a/../b", "./x", "%2F", "%", "a?b#c", "a+b",
		"'; DROP TABLE c; --", `"quoted"`, `back\slash`, "nbsp\u00a0x", strings.Repeat("a", 256), strings.Repeat("é", 128), "CAPS", "-", "~",
	}
	for i, id := range goodIDs {
		t.Run(fmt.Sprintf("good %.20q", id), func(t *testing.T) {
			body := fmt.Sprintf(`{"name":"good%d","age":%d}`, i, 100+i)
			r := e.do(t, "PUT", docPath("acme", "c", id), k.write, body).expect(t, 201, "")
			var res struct{ ID string }
			r.into(t, &res)
			if res.ID != id {
				t.Errorf("created id %q, want %q", res.ID, id)
			}
			d := e.getDoc(t, k.read, "acme", "c", id)
			if d.ID != id || string(d.Body) != body {
				t.Errorf("read back %q %s", d.ID, d.Body)
			}
			// The Location header leads back to the document.
			loc := r.header.Get("Location")
			lr := e.do(t, "GET", loc, k.read, nil)
			if lr.status != 200 {
				t.Errorf("GET Location %q: %s", loc, lr)
			} else {
				var ld doc
				lr.into(t, &ld)
				if ld.ID != id {
					t.Errorf("Location %q leads to %q, want %q", loc, ld.ID, id)
				}
			}
			e.do(t, "PATCH", docPath("acme", "c", id), k.write, `{"x":1}`).expect(t, 200, "")
			var page struct{ Docs []doc }
			e.do(t, "GET", "/v1/tenants/acme/collections/c/docs?age="+fmt.Sprint(100+i), k.read, nil).expect(t, 200, "").into(t, &page)
			if len(page.Docs) != 1 || page.Docs[0].ID != id {
				t.Errorf("list by index finds %+v", page.Docs)
			}
			e.do(t, "DELETE", docPath("acme", "c", id), k.write, nil).expect(t, 200, "")
			e.do(t, "GET", docPath("acme", "c", id), k.read, nil).expect(t, 404, "not_found")
			// And through a batch.
			e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[{"op":"create","collection":"c","id":`+jsonString(id)+`,"body":`+body+`}]}`).expect(t, 200, "")
			if d := e.getDoc(t, k.read, "acme", "c", id); d.ID != id {
				t.Errorf("batch-created id reads back as %q", d.ID)
			}
		})
	}
	t.Run("paging over unusual ids", func(t *testing.T) {
		seen := map[string]bool{}
		after := ""
		for {
			u := "/v1/tenants/acme/collections/c/docs?limit=3"
			if after != "" {
				u += "&after=" + url.QueryEscape(after)
			}
			var page struct {
				Docs []doc
				Next string
			}
			e.do(t, "GET", u, k.read, nil).expect(t, 200, "").into(t, &page)
			for _, d := range page.Docs {
				if seen[d.ID] {
					t.Fatalf("id %q listed twice", d.ID)
				}
				seen[d.ID] = true
			}
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		if got, want := len(seen), len(goodIDs)+len(golden); got != want {
			t.Errorf("paging saw %d docs, want %d", got, want)
		}
	})
	e.checkIntact(t)
}

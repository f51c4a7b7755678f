package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// queryEnv is a server with tenant acme holding clients and their
// finances.
type queryEnv struct {
	*env
	k keys
}

// queryClients are the documents of acme's clients collection.
var queryClients = map[string]string{
	"c1": `{"name":{"last":"Smith","first":"Ann"},"address":{"postcode":"SW1A 1AA"},"age":34,"status":"active"}`,
	"c2": `{"name":{"last":"Smith","first":"Bob"},"address":{"postcode":"SW1P 3BU"},"age":17,"status":"trial"}`,
	"c3": `{"name":{"last":"Jones"},"address":{"postcode":"E1 6AN"},"age":52,"status":"paused"}`,
	"c4": `{"name":{"last":"Smith"},"address":{"postcode":"SW19 5AE"},"age":70,"status":"gone"}`,
}

func newQueryEnv(t *testing.T) *queryEnv {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "clients",
		map[string]any{"field": "last_name", "path": "$.name.last"},
		map[string]any{"field": "postcode", "path": "$.address.postcode"},
		map[string]any{"field": "age", "path": "$.age", "type": "integer"})
	e.putCollection(t, "acme", "finances", map[string]any{"field": "client_id", "path": "$.client_id"})
	var ops []map[string]any
	for id, body := range queryClients {
		ops = append(ops, map[string]any{"op": "put", "collection": "clients", "id": id, "body": json.RawMessage(body)})
	}
	for i, owner := range []string{"c1", "c1", "c2"} {
		ops = append(ops, map[string]any{"op": "put", "collection": "finances", "id": fmt.Sprintf("f%d", i),
			"body": json.RawMessage(fmt.Sprintf(`{"client_id":%q,"amount":%d}`, owner, 100*i))})
	}
	e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops}).expect(t, 200, "")
	return &queryEnv{e, k}
}

const queryPath = "/v1/tenants/acme/collections/clients/query"

// queryAnswer is a query response with bodies kept verbatim.
type queryAnswer struct {
	Docs []struct {
		doc
		Finances []doc `json:"finances"`
	} `json:"docs"`
	Next  string `json:"next"`
	Count *int   `json:"count"`
	Meta  struct {
		RowsRead   *int     `json:"rows_read"`
		DurationMS *float64 `json:"duration_ms"`
		Scan       bool     `json:"scan"`
		Bookmark   string   `json:"bookmark"`
	} `json:"meta"`
}

func (e *queryEnv) query(t *testing.T, body string) queryAnswer {
	t.Helper()
	r := e.do(t, "POST", queryPath, e.k.read, body).expect(t, 200, "")
	var a queryAnswer
	r.into(t, &a)
	if a.Meta.RowsRead == nil || a.Meta.DurationMS == nil || a.Meta.Bookmark == "" || a.Meta.Bookmark != r.bookmark() {
		t.Errorf("%s: meta %+v, bookmark header %q", body, a.Meta, r.bookmark())
	}
	return a
}

func (a queryAnswer) ids() string {
	var out []string
	for _, d := range a.Docs {
		out = append(out, d.ID)
	}
	return strings.Join(out, ",")
}

func TestQuery(t *testing.T) {
	e := newQueryEnv(t)
	t.Run("IssueExample", func(t *testing.T) {
		a := e.query(t, `{"where": {"last_name": "Smith", "postcode": {"$prefix": "SW1"}, "age": {"$gte": 18},
			"$or": [{"status": "active"}, {"status": {"$in": ["trial", "paused"]}}]}}`)
		if got, want := a.ids(), "c1"; got != want || a.Meta.Scan {
			t.Errorf("got %s scan %t, want %s without scan", got, a.Meta.Scan, want)
		}
	})
	t.Run("BodiesAsStored", func(t *testing.T) {
		a := e.query(t, `{"sort": [{"field": "age", "desc": true}]}`)
		if got, want := a.ids(), "c4,c3,c1,c2"; got != want {
			t.Fatalf("order %s, want %s", got, want)
		}
		for _, d := range a.Docs {
			g := e.getDoc(t, e.k.read, "acme", "clients", d.ID)
			if string(d.Body) != queryClients[d.ID] || d.Version != g.Version || d.CreatedAt != g.CreatedAt || d.UpdatedAt != g.UpdatedAt {
				t.Errorf("%s: %+v, GET gives %+v", d.ID, d.doc, g)
			}
		}
	})
	t.Run("PagingAndCount", func(t *testing.T) {
		var got []string
		after := ""
		for page := 0; ; page++ {
			a := e.query(t, fmt.Sprintf(`{"sort": [{"field": "last_name"}, {"field": "age"}], "limit": 3, "count": true, "after": %q}`, after))
			if a.Count == nil || *a.Count != 4 {
				t.Fatalf("count %v, want 4", a.Count)
			}
			got = append(got, a.ids())
			if after = a.Next; after == "" {
				break
			}
		}
		if got, want := strings.Join(got, "|"), "c3,c2,c1|c4"; got != want {
			t.Errorf("pages %s, want %s", got, want)
		}
	})
	t.Run("Fields", func(t *testing.T) {
		a := e.query(t, `{"where": {"id": "c1"}, "fields": ["name.first", "address.postcode", "missing"]}`)
		if got, want := string(a.Docs[0].Body), `{"name":{"first":"Ann"},"address":{"postcode":"SW1A 1AA"},"missing":null}`; got != want {
			t.Errorf("body %s, want %s", got, want)
		}
	})
	t.Run("Join", func(t *testing.T) {
		a := e.query(t, `{"where": {"last_name": "Smith"}, "join": [{"collection": "finances", "on": {"client_id": "id"}, "limit": 10}]}`)
		want := map[string]string{"c1": "f0,f1", "c2": "f2", "c4": ""}
		for _, d := range a.Docs {
			var got []string
			for _, f := range d.Finances {
				got = append(got, f.ID)
				if !strings.Contains(string(f.Body), d.ID) || f.Version != 1 {
					t.Errorf("%s: joined %+v", d.ID, f)
				}
			}
			if strings.Join(got, ",") != want[d.ID] {
				t.Errorf("%s: finances %v, want %s", d.ID, got, want[d.ID])
			}
		}
		if a.Meta.Scan {
			t.Error("indexed join reported as a scan")
		}
	})
	t.Run("Scan", func(t *testing.T) {
		if a := e.query(t, `{"where": {"name.first": "Ann"}}`); a.ids() != "c1" || !a.Meta.Scan {
			t.Errorf("got %s scan %t", a.ids(), a.Meta.Scan)
		}
	})
	t.Run("Explain", func(t *testing.T) {
		r := e.do(t, "POST", queryPath, e.k.read, `{"where": {"postcode": {"$prefix": "SW1"}}, "explain": true}`).expect(t, 200, "")
		var x struct {
			Plan []struct{ Detail string }
			SQL  string
		}
		r.into(t, &x)
		if len(x.Plan) == 0 || !strings.Contains(x.Plan[0].Detail, "USING INDEX") || !strings.Contains(x.SQL, `"postcode" >= ?`) {
			t.Errorf("explain: %s", r.body)
		}
	})
	t.Run("ReadYourWrites", func(t *testing.T) {
		w := e.do(t, "PUT", docPath("acme", "clients", "c5"), e.k.write, `{"name":{"last":"Smith"},"age":18}`).expect(t, 201, "")
		r := e.do(t, "POST", queryPath, e.k.read, `{"where": {"age": 18}}`, "Quire-Bookmark", w.bookmark()).expect(t, 200, "")
		if !strings.Contains(string(r.body), `"id":"c5"`) {
			t.Errorf("write at %s not seen: %s", w.bookmark(), r.body)
		}
		if r.bookmark() < w.bookmark() {
			t.Errorf("bookmark %s before the write's %s", r.bookmark(), w.bookmark())
		}
		future := w.bookmark()[:9] + "00000000000fffff" + w.bookmark()[25:]
		e.do(t, "POST", queryPath, e.k.read, `{}`, "Quire-Bookmark", future).expect(t, 400, "invalid_bookmark")
	})
	t.Run("Auth", func(t *testing.T) {
		e.do(t, "POST", queryPath, "", `{}`).expect(t, 401, "unauthorized")
		e.do(t, "GET", queryPath, e.k.read, nil).expect(t, 405, "method_not_allowed")
		other := e.createTenant(t, "other")
		e.do(t, "POST", queryPath, other.read, `{}`).expect(t, 403, "forbidden")
	})
}

// TestQueryBadInput: every malformed or hostile query is refused with a
// clear 4xx, or bound harmlessly, and the data is intact afterwards.
func TestQueryBadInput(t *testing.T) {
	e := newQueryEnv(t)
	for _, c := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"Empty", ``, 400, "invalid", "empty"},
		{"Null", `null`, 400, "invalid", "JSON object"},
		{"Array", `[]`, 400, "invalid", ""},
		{"Malformed", `{"where": {"a": 1}`, 400, "invalid", "malformed JSON"},
		{"Trailing", `{} {}`, 400, "invalid", "after the JSON value"},
		{"UnknownKey", `{"filter": {}}`, 400, "invalid", "filter"},
		{"UnknownSortKey", `{"sort": [{"field": "a", "order": "asc"}]}`, 400, "invalid", "order"},
		{"WhereNotObject", `{"where": [1]}`, 400, "invalid", "must be a JSON object"},
		{"UnknownOperator", `{"where": {"a": {"$regex": "^x"}}}`, 400, "invalid", `unknown operator "$regex"`},
		{"InNotArray", `{"where": {"a": {"$in": "x"}}}`, 400, "invalid", "$in of a needs an array"},
		{"PrefixNotString", `{"where": {"a": {"$prefix": 1}}}`, 400, "invalid", "$prefix needs a string"},
		{"ExistsNotBool", `{"where": {"a": {"$exists": "yes"}}}`, 400, "invalid", "$exists needs true or false"},
		{"WrongColumnType", `{"where": {"age": "old"}}`, 400, "invalid", `"age" is an integer`},
		{"PrefixOnInteger", `{"where": {"age": {"$prefix": "1"}}}`, 400, "invalid", "$prefix needs a text field"},
		{"HostilePath", `{"where": {"a'); DROP TABLE clients;--": 1}}`, 400, "invalid", "neither an index field nor a valid JSON path"},
		{"HostileSort", `{"sort": [{"field": "a) DESC; DROP TABLE clients"}]}`, 400, "invalid", "sort field"},
		{"HostileFields", `{"fields": ["a', (SELECT 1)) --"]}`, 400, "invalid", "not an object path"},
		{"HostileJoinField", `{"join": [{"collection": "finances", "on": {"client_id\"": "id"}}]}`, 400, "invalid", "join field"},
		{"HostileJoinCollection", `{"join": [{"collection": "finances; DROP TABLE x", "on": {"a": "id"}}]}`, 400, "invalid_name", ""},
		{"HostileAs", `{"join": [{"collection": "finances", "on": {"client_id": "id"}, "as": "x\",\"y"}]}`, 400, "invalid", "as"},
		{"JoinUnknownCollection", `{"join": [{"collection": "nope", "on": {"a": "id"}}]}`, 404, "not_found", `"nope"`},
		{"TooDeep", `{"where": ` + strings.Repeat(`{"$not": `, 20) + `{}` + strings.Repeat(`}`, 20) + `}`, 400, "invalid", "nest at most"},
		{"TooManyConditions", `{"where": {"$or": [` + strings.TrimSuffix(strings.Repeat(`{"a": 1},`, 101), ",") + `]}}`, 400, "invalid", "at most 100 conditions"},
		{"LimitTooLarge", `{"limit": 1001}`, 400, "invalid", "limit"},
		{"LimitNegative", `{"limit": -1}`, 400, "invalid", "limit"},
		{"LimitNotNumber", `{"limit": "10"}`, 400, "invalid", "limit"},
		{"BadCursor", `{"after": "%%%"}`, 400, "invalid", "cursor"},
		{"ForeignCursor", `{"after": "eyJzIjoxLCJrIjpbImMxIl19"}`, 400, "invalid", "another sort"},
		{"ValueBoundNotSpliced", `{"where": {"last_name": "x'); DROP TABLE clients;--", "name.first": "' OR 1=1 --"}}`, 200, "", ""},
		{"PathValueWithQuotes", `{"where": {"status": {"$in": ["'", "\"", "\\", "\u0000"]}}}`, 200, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, "POST", queryPath, e.k.read, c.body).expect(t, c.status, c.code)
			if !strings.Contains(r.errMessage(), c.msg) {
				t.Errorf("message %q does not say %q", r.errMessage(), c.msg)
			}
			if c.status == 200 && !strings.Contains(string(r.body), `"docs":[]`) {
				t.Errorf("hostile value matched: %s", r.body)
			}
		})
	}
	t.Run("MissingCollection", func(t *testing.T) {
		e.do(t, "POST", "/v1/tenants/acme/collections/nope/query", e.k.read, `{}`).expect(t, 404, "not_found")
	})
	t.Run("Oversized", func(t *testing.T) {
		big := `{"where": {"a": "` + strings.Repeat("x", 2<<20) + `"}}`
		e.do(t, "POST", queryPath, e.k.read, big).expect(t, 413, "too_large")
	})
	t.Run("Intact", func(t *testing.T) {
		if got := e.query(t, `{"count": true}`); got.Count == nil || *got.Count != len(queryClients) {
			t.Errorf("after hostile queries: %+v", got)
		}
		e.do(t, "GET", "/v1/tenants/acme/collections/finances", e.k.read, nil).expect(t, 200, "")
	})
}

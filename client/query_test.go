package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

// seedQuery adds to setup's tenant five clients and, in collection
// "finances" (client_id indexed), three accounts of two of them.
func seedQuery(t *testing.T, c *client.Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.PutCollection(ctx, "acme", quire.Collection{Name: "finances", Indexes: []quire.IndexSpec{
		{Field: "client_id", Path: "$.client_id"},
	}}); err != nil {
		t.Fatalf("PutCollection finances: %v", err)
	}
	ops := []quire.WriteOp{
		put("clients", "c1", `{"name":{"first":"Ada","last":"Smith"},"age":36,"status":"active","postcode":"SW1A 1AA"}`),
		put("clients", "c2", `{"name":{"first":"Alan","last":"Turing"},"age":41,"status":"trial","postcode":"SW1A 2AA"}`),
		put("clients", "c3", `{"name":{"first":"John","last":"Smith"},"age":17,"status":"paused","postcode":"M1 1AE"}`),
		put("clients", "c4", `{"name":{"first":"Grace","last":"Hopper"},"age":52,"status":"active","postcode":"SW19 5AE"}`),
		put("clients", "c5", `{"name":{"first":"Edsger","last":"Dijkstra"},"age":72,"status":"closed"}`),
		put("finances", "f1", `{"client_id":"c1","kind":"isa","balance":12000}`),
		put("finances", "f2", `{"client_id":"c1","kind":"pension","balance":85000}`),
		put("finances", "f3", `{"client_id":"c3","kind":"isa","balance":4000}`),
	}
	if _, _, err := c.Batch(ctx, "acme", ops); err != nil {
		t.Fatalf("Batch: %v", err)
	}
}

func put(coll, id, body string) quire.WriteOp {
	return quire.WriteOp{Op: quire.OpPut, Collection: coll, ID: id, Body: json.RawMessage(body)}
}

// where parses a filter written in the query language.
func where(t *testing.T, filter string) *quire.Filter {
	t.Helper()
	f, err := quire.ParseFilter([]byte(filter))
	if err != nil {
		t.Fatalf("ParseFilter(%s): %v", filter, err)
	}
	return f
}

// ids lists the ids of a result's documents.
func ids(res *client.QueryResult) string {
	var out []string
	for _, d := range res.Docs {
		out = append(out, d.ID)
	}
	return strings.Join(out, ",")
}

func TestQueryFilters(t *testing.T) {
	_, c := setup(t)
	seedQuery(t, c)
	ctx := context.Background()
	for _, tc := range []struct {
		filter, want string
		scan         bool
	}{
		{`{"last_name": "Smith"}`, "c1,c3", false},
		{`{"name.last": "Smith", "age": {"$gte": 18}}`, "c1", false},
		{`{"age": {"$gt": 40, "$lt": 60}}`, "c2,c4", false},
		{`{"postcode": {"$prefix": "SW1"}}`, "c1,c2,c4", true},
		{`{"$or": [{"status": "active"}, {"status": {"$in": ["trial", "paused"]}}]}`, "c1,c2,c3,c4", true},
		{`{"postcode": {"$exists": false}}`, "c5", true},
		{`{"last_name": {"$ne": "Smith"}}`, "c2,c4,c5", true},
	} {
		res, err := c.Query(ctx, "acme", quire.Query{Collection: "clients", Where: where(t, tc.filter)})
		if err != nil {
			t.Fatalf("Query %s: %v", tc.filter, err)
		}
		if got := ids(res); got != tc.want {
			t.Errorf("Query %s = %s, want %s", tc.filter, got, tc.want)
		}
		if res.Meta.Scan != tc.scan {
			t.Errorf("Query %s: meta.scan = %v, want %v", tc.filter, res.Meta.Scan, tc.scan)
		}
		if res.Next != "" || res.Count != nil || res.Plan != nil {
			t.Errorf("Query %s: next %q, count %v, plan %v; want none", tc.filter, res.Next, res.Count, res.Plan)
		}
		if res.Meta.Bookmark == "" || res.Meta.RowsRead == 0 {
			t.Errorf("Query %s: meta = %+v, want a bookmark and rows read", tc.filter, res.Meta)
		}
	}

	res, err := c.Query(ctx, "acme", quire.Query{Collection: "clients", Where: where(t, `{"age": {"$lt": 40}}`), Fields: []string{"name.first"}})
	if err != nil {
		t.Fatalf("Query with fields: %v", err)
	}
	if got, want := string(res.Docs[0].Body), `{"name":{"first":"Ada"}}`; got != want || len(res.Docs) != 2 {
		t.Errorf("projected body = %s (of %d docs), want %s", got, len(res.Docs), want)
	}

	_, err = c.Query(ctx, "acme", quire.Query{Collection: "nope"})
	wantCode(t, err, quire.ENotFound)
	_, err = c.Query(ctx, "acme", quire.Query{Collection: "clients", Where: &quire.Filter{Op: quire.OpEq, Field: "a'); DROP TABLE clients;--", Value: "x"}})
	wantCode(t, err, quire.EInvalid)
	_, err = c.Query(ctx, "acme", quire.Query{})
	wantCode(t, err, quire.EInvalid)
}

func TestQueryPagingAndCount(t *testing.T) {
	_, c := setup(t)
	seedQuery(t, c)
	ctx := context.Background()
	q := quire.Query{Collection: "clients", Where: where(t, `{"age": {"$gte": 18}}`), Sort: []quire.SortKey{{Field: "age", Desc: true}}, Limit: 2, Count: true}
	var got []string
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		res, err := c.Query(ctx, "acme", q)
		if err != nil {
			t.Fatalf("Query page %d: %v", page, err)
		}
		if res.Count == nil || *res.Count != 4 {
			t.Errorf("page %d: count = %v, want 4", page, res.Count)
		}
		got = append(got, ids(res))
		if res.Next == "" {
			break
		}
		q.After = res.Next
	}
	if got, want := strings.Join(got, "|"), "c5,c4|c2,c1"; got != want {
		t.Errorf("pages = %s, want %s", got, want)
	}

	q.After = "not-a-cursor"
	_, err := c.Query(ctx, "acme", q)
	wantCode(t, err, quire.EInvalid)
}

func TestQueryJoinAndExplain(t *testing.T) {
	_, c := setup(t)
	seedQuery(t, c)
	ctx := context.Background()
	q := quire.Query{Collection: "clients", Where: where(t, `{"last_name": "Smith"}`),
		Join: []quire.Join{{Collection: "finances", On: map[string]string{"client_id": "id"}}}}
	res, err := c.Query(ctx, "acme", q)
	if err != nil {
		t.Fatalf("Query with join: %v", err)
	}
	if got, want := ids(res), "c1,c3"; got != want {
		t.Fatalf("Query with join = %s, want %s", got, want)
	}
	var joined []string
	for _, d := range res.Docs {
		var accounts []string
		for _, f := range d.Joins["finances"] {
			accounts = append(accounts, f.ID)
		}
		joined = append(joined, d.ID+":"+strings.Join(accounts, "+"))
	}
	if got, want := strings.Join(joined, " "), "c1:f1+f2 c3:f3"; got != want {
		t.Errorf("joined = %s, want %s", got, want)
	}
	if f := res.Docs[0].Joins["finances"][0]; f.Version != 1 || !strings.Contains(string(f.Body), `"balance":12000`) {
		t.Errorf("joined document = %+v", f)
	}

	// The result encodes back to the server's shape.
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back client.QueryResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	if got, want := fmt.Sprint(back.Docs[1].Joins), fmt.Sprint(res.Docs[1].Joins); got != want || back.Meta != res.Meta {
		t.Errorf("round trip = %s %+v, want %s %+v", got, back.Meta, want, res.Meta)
	}

	q.Join[0].As = "accounts"
	q.Explain = true
	res, err = c.Query(ctx, "acme", q)
	if err != nil {
		t.Fatalf("Query with explain: %v", err)
	}
	var plan []string
	for _, st := range res.Plan {
		plan = append(plan, st.Detail)
	}
	if !slices.ContainsFunc(plan, func(s string) bool { return strings.Contains(s, "USING INDEX idx.clients.last_name") }) ||
		!slices.ContainsFunc(plan, func(s string) bool { return strings.Contains(s, "USING INDEX idx.finances.client_id") }) {
		t.Errorf("plan = %q, want both indexes used", plan)
	}
	if res.Docs != nil || !strings.HasPrefix(res.SQL, "SELECT") {
		t.Errorf("explain: docs %v, sql %q; want no docs and the statement", res.Docs, res.SQL)
	}
	if b, _ := json.Marshal(res); !strings.HasPrefix(string(b), `{"plan":[`) || strings.Contains(string(b), `"docs"`) {
		t.Errorf("explain encodes as %s", b)
	}

	q.Join[0].Collection = "nope"
	_, err = c.Query(ctx, "acme", q)
	wantCode(t, err, quire.ENotFound)
}

func TestQuerySessionBookmark(t *testing.T) {
	qs, c := setup(t)
	ctx := context.Background()
	s := c.Session()
	if _, err := s.Put(ctx, "acme", "clients", "b1", json.RawMessage(`{"name":{"last":"Smith"}}`), client.Condition{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	written := s.Bookmark("acme")
	res, err := s.Query(ctx, "acme", quire.Query{Collection: "clients", Where: where(t, `{"last_name": "Smith"}`)})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if got := qs.lastBookmarkReceived(); got != written {
		t.Errorf("the session's query sent bookmark %q, want its write's %q", got, written)
	}
	if got := ids(res); got != "b1" {
		t.Errorf("the session's query = %s, want b1", got)
	}
	if res.Meta.Bookmark < written || s.Bookmark("acme") != res.Meta.Bookmark {
		t.Errorf("meta.bookmark %q, session bookmark %q; want both at or after %q", res.Meta.Bookmark, s.Bookmark("acme"), written)
	}

	bad := c.ResumeSession("acme", "00000001-00000000ffffffff-"+strings.Split(written, "-")[2])
	_, err = bad.Query(ctx, "acme", quire.Query{Collection: "clients"})
	wantCode(t, err, quire.EInvalidBookmark)
}

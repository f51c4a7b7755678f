package quire_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/quiredb/quire"
)

// canonical parses a filter and renders it back.
func canonical(t testing.TB, in string) (string, error) {
	t.Helper()
	f, err := quire.ParseFilter([]byte(in))
	if err != nil {
		return "", err
	}
	if f == nil {
		return "null", nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatalf("marshal %s: %v", in, err)
	}
	return string(b), nil
}

func TestParseFilter(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		for _, c := range []struct{ in, want string }{
			{`null`, `null`},
			{`{}`, `{}`},
			{`{"last_name": "Smith"}`, `{"last_name":{"$eq":"Smith"}}`},
			{`{"a": 1, "b": true, "c": null}`, `{"$and":[{"a":{"$eq":1}},{"b":{"$eq":true}},{"c":{"$eq":null}}]}`},
			{`{"age": {"$gte": 18, "$lt": 65.5}}`, `{"$and":[{"age":{"$gte":18}},{"age":{"$lt":65.5}}]}`},
			{`{"n": 12345678901234567890}`, `{"n":{"$eq":12345678901234567890}}`},
			{`{"s": {"$in": ["a", 1, false, null]}, "t": {"$nin": []}}`, `{"$and":[{"s":{"$in":["a",1,false,null]}},{"t":{"$nin":[]}}]}`},
			{`{"postcode": {"$prefix": "SW1"}, "x": {"$exists": false}}`, `{"$and":[{"postcode":{"$prefix":"SW1"}},{"x":{"$exists":false}}]}`},
			{`{"$or": [{"a": 1}, {"$and": [{"b": 2}]}]}`, `{"$or":[{"a":{"$eq":1}},{"$and":[{"b":{"$eq":2}}]}]}`},
			{`{"$not": {"a": 1}}`, `{"$not":{"a":{"$eq":1}}}`},
			{`{"a": {"$not": {"$gt": 1}}}`, `{"$not":{"a":{"$gt":1}}}`},
			{`{"name.first": "Ann", "tags[0]": "x", "$.address.postcode": "SW1"}`, `{"$and":[{"name.first":{"$eq":"Ann"}},{"tags[0]":{"$eq":"x"}},{"$.address.postcode":{"$eq":"SW1"}}]}`},
			{`{"$and": [{}]}`, `{"$and":[{}]}`},
		} {
			got, err := canonical(t, c.in)
			if err != nil || got != c.want {
				t.Errorf("%s: got %s, %v; want %s", c.in, got, err, c.want)
			}
			if again, err := canonical(t, got); err != nil || again != got {
				t.Errorf("%s: canonical form %s reads back as %s, %v", c.in, got, again, err)
			}
		}
	})
	deep := strings.Repeat(`{"$not":`, quire.MaxFilterDepth) + `{"a":1}` + strings.Repeat("}", quire.MaxFilterDepth)
	many := `{"$or": [` + strings.TrimSuffix(strings.Repeat(`{"a": 1},`, quire.MaxFilterConditions+1), ",") + `]}`
	manyValues := `{"a": {"$in": [` + strings.TrimSuffix(strings.Repeat(`1,`, quire.MaxFilterValues+1), ",") + `]}}`
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, c := range []struct{ in, want string }{
			{`[]`, "must be a JSON object"},
			{`"x"`, "must be a JSON object"},
			{`{"a": 1`, "malformed JSON"},
			{`{"a": 1} {}`, "data after the filter"},
			{`{"a": 1, "a": 2}`, `key "a" given twice`},
			{`{"$nor": []}`, `unknown operator "$nor"`},
			{`{"$and": []}`, "$and needs at least one filter"},
			{`{"$or": {}}`, "$or needs an array"},
			{`{"$and": [1]}`, "$and element needs an object"},
			{`{"$not": []}`, "$not needs an object"},
			{`{"a": [1]}`, `use {"$in": [...]}`},
			{`{"a": {}}`, "empty operator object"},
			{`{"a": {"b": 1}}`, "use its path (a.b)"},
			{`{"a": {"$regex": "x"}}`, `unknown operator "$regex"`},
			{`{"a": {"$in": "x"}}`, "$in of a needs an array"},
			{`{"a": {"$in": [[1]]}}`, "not an array"},
			{`{"a": {"$eq": {"b": 1}}}`, "not an object"},
			{`{"a": {"$gt": true}}`, "$gt needs a string or a number"},
			{`{"a": {"$lte": null}}`, "$lte needs a string or a number"},
			{`{"a": {"$prefix": 1}}`, "$prefix needs a string"},
			{`{"a": {"$exists": "yes"}}`, "$exists needs true or false"},
			{`{"a": 1e999}`, "out of range"},
			{`{"a'); DROP TABLE x;--": 1}`, "neither an index field nor a valid JSON path"},
			{`{"a..b": 1}`, "valid JSON path"},
			{`{"a[x]": 1}`, "valid JSON path"},
			{`{"": 1}`, "valid JSON path"},
			{`{"` + strings.Repeat("a", 300) + `": 1}`, "valid JSON path"},
			{deep, "nest at most 16 levels"},
			{many, "at most 100 conditions"},
			{manyValues, "at most 1000 values"},
		} {
			_, err := quire.ParseFilter([]byte(c.in))
			if quire.ErrorCode(err) != quire.EInvalid || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%.60s: got %v, want invalid: ...%s...", c.in, err, c.want)
			}
		}
	})
	t.Run("DepthLimitExact", func(t *testing.T) {
		ok := strings.Repeat(`{"$not":`, quire.MaxFilterDepth-1) + `{"a":1}` + strings.Repeat("}", quire.MaxFilterDepth-1)
		if _, err := quire.ParseFilter([]byte(ok)); err != nil {
			t.Errorf("depth %d: %v", quire.MaxFilterDepth, err)
		}
	})
}

// TestQueryDecode decodes query requests as the HTTP API does: unknown
// keys are refused and filter errors keep their code and message.
func TestQueryDecode(t *testing.T) {
	decode := func(in string) (quire.Query, error) {
		var q quire.Query
		dec := json.NewDecoder(strings.NewReader(in))
		dec.DisallowUnknownFields()
		err := dec.Decode(&q)
		return q, err
	}
	q, err := decode(`{"where": {"a": 1}, "sort": [{"field": "a", "desc": true}], "limit": 5, "fields": ["a"], "count": true,
		"join": [{"collection": "f", "on": {"x": "id"}}], "explain": true, "after": "c"}`)
	if err != nil || q.Where.Op != quire.OpEq || !q.Sort[0].Desc || q.Limit != 5 || !q.Count || !q.Explain || q.After != "c" {
		t.Fatalf("got %+v, %v", q, err)
	}
	if q, err := decode(`{"where": {}}`); err != nil || q.Where.Op != quire.OpAnd || len(q.Where.Sub) != 0 {
		t.Errorf("empty where: %+v, %v", q.Where, err)
	}
	_, err = decode(`{"where": {"a": {"$in": 1}}}`)
	var qe *quire.Error
	if !errors.As(err, &qe) || qe.Code != quire.EInvalid || !strings.Contains(qe.Message, "$in of a needs an array") {
		t.Errorf("filter error: %v", err)
	}
	for _, in := range []string{`{"collection": "x"}`, `{"sort": [{"field": "a", "asc": true}]}`, `{"join": [{"collection": "f", "on": {}, "where": {}}]}`} {
		if _, err := decode(in); err == nil {
			t.Errorf("%s: accepted", in)
		}
	}
}

func TestQueryNormalize(t *testing.T) {
	q := quire.Query{Collection: "clients", Join: []quire.Join{{Collection: "finances", On: map[string]string{"client_id": "id"}}}}
	if err := q.Normalize(); err != nil {
		t.Fatal(err)
	}
	if q.Limit != quire.DefaultQueryLimit || q.Join[0].As != "finances" || q.Join[0].Limit != quire.DefaultJoinLimit {
		t.Errorf("defaults: %+v", q)
	}
	on := map[string]string{"a": "id"}
	for _, c := range []struct {
		q    quire.Query
		want string
	}{
		{quire.Query{Collection: "Bad"}, "collection name"},
		{quire.Query{Collection: "c", Limit: -1}, "limit must be 1 to 1000"},
		{quire.Query{Collection: "c", Limit: 1001}, "limit must be 1 to 1000"},
		{quire.Query{Collection: "c", Sort: make([]quire.SortKey, 9)}, "at most 8 sort keys"},
		{quire.Query{Collection: "c", Sort: []quire.SortKey{{Field: "a b"}}}, "sort field"},
		{quire.Query{Collection: "c", Fields: []string{"tags[0]"}}, "not an object path"},
		{quire.Query{Collection: "c", Fields: []string{"a;b"}}, "not an object path"},
		{quire.Query{Collection: "c", Join: []quire.Join{{Collection: "f", On: map[string]string{}}}}, "on must be one pair"},
		{quire.Query{Collection: "c", Join: []quire.Join{{Collection: "f", On: map[string]string{"a'": "id"}}}}, "join field"},
		{quire.Query{Collection: "c", Join: []quire.Join{{Collection: "f", On: on, As: "version"}}}, "as \"version\""},
		{quire.Query{Collection: "c", Join: []quire.Join{{Collection: "f", On: on}, {Collection: "f", On: on}}}, "two joins named"},
		{quire.Query{Collection: "c", Join: []quire.Join{{Collection: "f", On: on, Limit: 1001}}}, "limit must be 1 to 1000"},
		{quire.Query{Collection: "c", Join: make([]quire.Join, 9)}, "at most 8 joins"},
	} {
		err := c.q.Normalize()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want ...%s...", c.q, err, c.want)
		}
	}
}

// FuzzParseFilter: the parser never panics, refuses only with EInvalid,
// and what it accepts renders to a canonical form it reads back unchanged.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `{"a": 1}`, `{"$or": [{"a": {"$in": [1, "x", null, true]}}, {"b.c[2]": {"$not": {"$prefix": "é"}}}]}`,
		`{"a": {"$gte": 1, "$lt": "z"}, "$not": {"x": {"$exists": true}}}`, `{"a": [1]}`, `{"a": 1e400}`, `{"$and": [{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := canonical(t, string(data))
		if err != nil {
			if quire.ErrorCode(err) != quire.EInvalid {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		if again, err := canonical(t, got); err != nil || again != got {
			t.Fatalf("%q: canonical %s reads back as %s, %v", data, got, again, err)
		}
	})
}

// TestFilterValidate checks filters built in Go, which skip the parser.
func TestFilterValidate(t *testing.T) {
	eq := func(field string, v any) *quire.Filter { return &quire.Filter{Op: quire.OpEq, Field: field, Value: v} }
	if err := (&quire.Filter{Op: quire.OpAnd, Sub: []*quire.Filter{eq("a", json.Number("1")), eq("b.c", "x")}}).Validate(); err != nil {
		t.Errorf("valid filter: %v", err)
	}
	deep := eq("a", nil)
	for range 2*quire.MaxFilterDepth + 1 {
		deep = &quire.Filter{Op: quire.OpNot, Sub: []*quire.Filter{deep}}
	}
	for _, c := range []struct {
		f    *quire.Filter
		want string
	}{
		{eq("a", 18), "not int"},
		{eq("a", json.Number("1e999")), "out of range"},
		{eq("a'b", "x"), "valid JSON path"},
		{&quire.Filter{Op: quire.OpGt, Field: "a"}, "needs a string or a number"},
		{&quire.Filter{Op: quire.OpPrefix, Field: "a", Value: json.Number("1")}, "$prefix needs a string"},
		{&quire.Filter{Op: quire.OpExists, Field: "a"}, "$exists needs true or false"},
		{&quire.Filter{Op: quire.OpIn, Field: "a", Values: []any{[]any{}}}, "not []interface"},
		{&quire.Filter{Op: "$regex", Field: "a", Value: "x"}, "unknown operator"},
		{&quire.Filter{Op: quire.OpNot}, "$not takes one filter"},
		{&quire.Filter{Op: quire.OpOr}, "$or needs at least one filter"},
		{&quire.Filter{Op: quire.OpAnd, Sub: []*quire.Filter{nil}}, "missing"},
		{deep, "nest at most"},
	} {
		err := c.f.Validate()
		if quire.ErrorCode(err) != quire.EInvalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want ...%s...", c.f, err, c.want)
		}
		if err := (&quire.Query{Collection: "c", Where: c.f}).Normalize(); err == nil {
			t.Errorf("%+v: Normalize accepts it", c.f)
		}
	}
}

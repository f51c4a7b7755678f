package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestConditionalWrites checks If-Match and If-None-Match on writes.
func TestConditionalWrites(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "c")
	p := docPath("acme", "c", "d")
	missing := docPath("acme", "c", "missing")
	e.do(t, "PUT", p, k.write, `{"v":1}`).expect(t, 201, "")
	e.do(t, "PUT", p, k.write, `{"v":2}`).expect(t, 200, "")

	cases := []struct {
		name   string
		method string
		path   string
		header []string
		status int
		code   string
	}{
		{"put if-match wrong version", "PUT", p, []string{"If-Match", `"1"`}, 412, "version_mismatch"},
		{"put if-match future version", "PUT", p, []string{"If-Match", `"3"`}, 412, "version_mismatch"},
		{"patch if-match wrong version", "PATCH", p, []string{"If-Match", `"1"`}, 412, "version_mismatch"},
		{"delete if-match wrong version", "DELETE", p, []string{"If-Match", `"7"`}, 412, "version_mismatch"},
		{"put if-none-match star on existing", "PUT", p, []string{"If-None-Match", "*"}, 412, "version_mismatch"},
		{"patch if-none-match star on existing", "PATCH", p, []string{"If-None-Match", "*"}, 412, "version_mismatch"},
		{"put if-match star on missing", "PUT", missing, []string{"If-Match", "*"}, 412, "version_mismatch"},
		{"put if-match version on missing", "PUT", missing, []string{"If-Match", `"1"`}, 412, "version_mismatch"},
		{"if-match zero", "PUT", p, []string{"If-Match", `"0"`}, 400, "invalid"},
		{"if-match negative", "PUT", p, []string{"If-Match", `"-2"`}, 400, "invalid"},
		{"if-match text", "PUT", p, []string{"If-Match", `"abc"`}, 400, "invalid"},
		{"if-match list", "PUT", p, []string{"If-Match", `"1", "2"`}, 400, "invalid"},
		{"if-match overflow", "PUT", p, []string{"If-Match", `"99999999999999999999"`}, 400, "invalid"},
		{"if-none-match version on write", "PUT", p, []string{"If-None-Match", `"2"`}, 400, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.method != "DELETE" {
				body = `{"v":"bad"}`
			}
			e.do(t, c.method, c.path, k.write, body, c.header...).expect(t, c.status, c.code)
			// Nothing changed.
			d := e.getDoc(t, k.read, "acme", "c", "d")
			if got, want := d.Version, int64(2); got != want {
				t.Errorf("version %d after a refused write, want %d", got, want)
			}
			if got, want := string(d.Body), `{"v":2}`; got != want {
				t.Errorf("body %s after a refused write, want %s", got, want)
			}
			e.do(t, "GET", missing, k.read, nil).expect(t, 404, "not_found")
		})
	}

	ok := []struct {
		name    string
		method  string
		path    string
		header  []string
		status  int
		version int64
	}{
		{"put if-match current", "PUT", p, []string{"If-Match", `"2"`}, 200, 3},
		{"put if-match weak current", "PUT", p, []string{"If-Match", `W/"3"`}, 200, 4},
		{"patch if-match current", "PATCH", p, []string{"If-Match", `"4"`}, 200, 5},
		{"put if-match star on existing", "PUT", p, []string{"If-Match", "*"}, 200, 6},
		{"put if-none-match star on missing", "PUT", missing, []string{"If-None-Match", "*"}, 201, 1},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, c.method, c.path, k.write, `{"v":"ok"}`, c.header...).expect(t, c.status, "")
			if got, want := r.header.Get("ETag"), strconv.Quote(fmt.Sprint(c.version)); got != want {
				t.Errorf("ETag %s, want %s", got, want)
			}
		})
	}
	t.Run("delete if-match current", func(t *testing.T) {
		e.do(t, "DELETE", p, k.write, nil, "If-Match", `"6"`).expect(t, 200, "")
		e.do(t, "GET", p, k.read, nil).expect(t, 404, "not_found")
	})
}

// TestOptimisticConcurrencyRace has many clients read a document's version
// and write it back conditionally, over and over. For each version exactly
// one writer may win, and the final version counts every win.
func TestOptimisticConcurrencyRace(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "c")
	p := docPath("acme", "c", "counter")
	e.do(t, "PUT", p, k.write, `{"n":0}`).expect(t, 201, "")

	const writers, rounds = 20, 12
	var mu sync.Mutex
	wins := map[int64][]int{} // version written over → writers that won it
	total := 0
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				r := e.do(t, "GET", p, k.read, nil)
				if r.status != 200 {
					t.Errorf("writer %d: %s", w, r)
					return
				}
				v, err := strconv.ParseInt(strings.Trim(r.header.Get("ETag"), `"`), 10, 64)
				if err != nil {
					t.Errorf("writer %d: bad ETag %q", w, r.header.Get("ETag"))
					return
				}
				r = e.do(t, "PUT", p, k.write, fmt.Sprintf(`{"n":%d,"by":%d}`, v, w), "If-Match", strconv.Quote(fmt.Sprint(v)))
				switch {
				case r.status == 200:
					var res struct{ Version int64 }
					r.into(t, &res)
					if res.Version != v+1 {
						t.Errorf("writer %d: conditional write over %d made version %d", w, v, res.Version)
					}
					mu.Lock()
					wins[v] = append(wins[v], w)
					total++
					mu.Unlock()
				case r.status == 412 && r.code() == "version_mismatch":
				default:
					t.Errorf("writer %d: %s", w, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	final := e.getDoc(t, k.read, "acme", "c", "counter")
	if got, want := final.Version, int64(1+total); got != want {
		t.Errorf("final version %d, want 1 + %d wins = %d", got, total, want)
	}
	for v := int64(1); v < final.Version; v++ {
		if got := len(wins[v]); got != 1 {
			t.Errorf("version %d was written over by %d writers %v, want exactly 1", v, got, wins[v])
		}
	}
	if total < rounds {
		t.Errorf("only %d conditional writes won in %d rounds; expected progress", total, rounds)
	}
	// The body is the last winner's.
	want := fmt.Sprintf(`{"n":%d,"by":%d}`, final.Version-1, wins[final.Version-1][0])
	if got := string(final.Body); got != want {
		t.Errorf("final body %s, want %s", got, want)
	}
}

// TestConcurrentWritersBookmarks has many clients write distinct documents
// at once (so the writer groups commits) and checks every write is durable
// and every bookmark distinct.
func TestConcurrentWritersBookmarks(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "c", map[string]any{"field": "n", "path": "$.n", "type": "integer", "unique": true})
	const n = 100
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do(t, "PUT", docPath("acme", "c", fmt.Sprint("d", i)), k.write, fmt.Sprintf(`{"n":%d}`, i))
			if r.status != 201 {
				t.Errorf("write %d: %s", i, r)
				return
			}
			mu.Lock()
			seen[r.bookmark()]++
			mu.Unlock()
		}()
	}
	// Meanwhile, writes that violate the unique index fail alone.
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do(t, "PUT", docPath("acme", "c", fmt.Sprint("dup", i)), k.write, `{"n":-1}`)
			if r.status != 201 && !(r.status == 409 && r.code() == "unique_violation") {
				t.Errorf("duplicate write %d: %s", i, r)
			}
		}()
	}
	wg.Wait()
	for b, c := range seen {
		if c != 1 {
			t.Errorf("bookmark %s answered %d writes", b, c)
		}
	}
	var page struct{ Docs []doc }
	e.do(t, "GET", "/v1/tenants/acme/collections/c/docs?limit=1000", k.read, nil).expect(t, 200, "").into(t, &page)
	if got, want := len(page.Docs), n+1; got != want {
		t.Errorf("%d documents stored, want %d (one duplicate winner)", got, want)
	}
}

// TestBatchAtomicity checks that a batch is all or nothing and that its
// failure names the failing op.
func TestBatchAtomicity(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "c",
		map[string]any{"field": "email", "path": "$.email", "unique": true},
		map[string]any{"field": "age", "path": "$.age", "type": "integer"})
	e.do(t, "PUT", docPath("acme", "c", "existing"), k.write, `{"email":"x@example.com","age":1}`).expect(t, 201, "")
	before := e.do(t, "GET", "/v1/tenants/acme", k.read, nil).bookmark()

	put := func(id, body string) map[string]any {
		return map[string]any{"op": "put", "collection": "c", "id": id, "body": rawJSON(body)}
	}
	fails := []struct {
		name   string
		third  map[string]any
		status int
		code   string
	}{
		{"create of an existing id", map[string]any{"op": "create", "collection": "c", "id": "existing", "body": map[string]any{}}, 409, "conflict"},
		{"unique violation", put("n3", `{"email":"x@example.com"}`), 409, "unique_violation"},
		{"unique violation within the batch", put("n3", `{"email":"n1@example.com"}`), 409, "unique_violation"},
		{"wrong index type", put("n3", `{"age":"old"}`), 400, "invalid_document"},
		{"patch of a missing doc", map[string]any{"op": "patch", "collection": "c", "id": "ghost", "body": map[string]any{}}, 404, "not_found"},
		{"delete of a missing doc", map[string]any{"op": "delete", "collection": "c", "id": "ghost"}, 404, "not_found"},
		{"stale if_version", map[string]any{"op": "put", "collection": "c", "id": "existing", "body": map[string]any{}, "if_version": 5}, 412, "version_mismatch"},
		{"missing collection", map[string]any{"op": "put", "collection": "nope", "id": "n3", "body": map[string]any{}}, 404, "not_found"},
		{"bad collection name", map[string]any{"op": "put", "collection": "No", "id": "n3", "body": map[string]any{}}, 400, "invalid_name"},
		{"bad id", map[string]any{"op": "put", "collection": "c", "id": "a\u202eb", "body": map[string]any{}}, 400, "invalid"},
		{"bad op", map[string]any{"op": "upsert", "collection": "c", "id": "n3", "body": map[string]any{}}, 400, "invalid"},
		{"non-object body", put("n3", `[1,2]`), 400, "invalid_document"},
		{"delete with a body", map[string]any{"op": "delete", "collection": "c", "id": "existing", "body": map[string]any{}}, 400, "invalid"},
		{"zero if_version", map[string]any{"op": "put", "collection": "c", "id": "existing", "body": map[string]any{}, "if_version": 0}, 400, "invalid"},
	}
	for _, f := range fails {
		t.Run(f.name, func(t *testing.T) {
			ops := []map[string]any{
				put("n1", `{"email":"n1@example.com","age":1}`),
				{"op": "patch", "collection": "c", "id": "existing", "body": map[string]any{"age": 2}},
				f.third,
				put("n4", `{}`),
			}
			r := e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops}).expect(t, f.status, f.code)
			if got, want := r.errDetails()["op_index"], any(float64(2)); got != want {
				t.Errorf("details.op_index = %v, want 2; body %s", got, r.body)
			}
			if !strings.Contains(r.errMessage(), "op 2") {
				t.Errorf("message %q does not name op 2", r.errMessage())
			}
			for _, id := range []string{"n1", "n3", "n4"} {
				e.do(t, "GET", docPath("acme", "c", id), k.read, nil).expect(t, 404, "not_found")
			}
			d := e.getDoc(t, k.read, "acme", "c", "existing")
			if d.Version != 1 || string(d.Body) != `{"email":"x@example.com","age":1}` {
				t.Errorf("existing doc changed by a failed batch: v%d %s", d.Version, d.Body)
			}
			if got := checkBookmark(t, r); got != before {
				t.Errorf("failed batch answered bookmark %s, want the unchanged position %s", got, before)
			}
		})
	}

	t.Run("good batch", func(t *testing.T) {
		ops := []map[string]any{
			put("g1", `{"email":"g1@example.com","age":10}`),
			{"op": "create", "collection": "c", "body": map[string]any{"age": 11}},
			{"op": "create", "collection": "c", "id": "g3", "body": map[string]any{"age": 12}},
			{"op": "patch", "collection": "c", "id": "existing", "body": map[string]any{"age": 2}, "if_version": 1},
			put("g1", `{"email":"g1@example.com","age":13}`),
			{"op": "delete", "collection": "c", "id": "g3"},
		}
		r := e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops}).expect(t, 200, "")
		var b struct {
			Results []struct {
				Op, Collection, ID string
				Version            int64
				Created            bool
			}
			Bookmark string
		}
		r.into(t, &b)
		if got, want := len(b.Results), len(ops); got != want {
			t.Fatalf("%d results, want %d", got, want)
		}
		if b.Bookmark == "" || b.Bookmark != checkBookmark(t, r) {
			t.Errorf("body bookmark %q != header %q", b.Bookmark, r.bookmark())
		}
		if b.Bookmark <= before {
			t.Errorf("batch bookmark %s not after %s", b.Bookmark, before)
		}
		wantVersions := []int64{1, 1, 1, 2, 2, 1}
		for i, res := range b.Results {
			if res.Version != wantVersions[i] {
				t.Errorf("result %d version %d, want %d", i, res.Version, wantVersions[i])
			}
			if res.Op != ops[i]["op"] || res.Collection != "c" {
				t.Errorf("result %d is %+v for op %v", i, res, ops[i])
			}
		}
		if !b.Results[0].Created || b.Results[4].Created {
			t.Errorf("created flags wrong: %+v", b.Results)
		}
		if got := e.getDoc(t, k.read, "acme", "c", "g1"); got.Version != 2 || string(got.Body) != `{"email":"g1@example.com","age":13}` {
			t.Errorf("g1 is v%d %s", got.Version, got.Body)
		}
		e.getDoc(t, k.read, "acme", "c", b.Results[1].ID)
		e.do(t, "GET", docPath("acme", "c", "g3"), k.read, nil).expect(t, 404, "not_found")
		// One batch is one commit: the next write's bookmark follows it directly.
		next := e.do(t, "PUT", docPath("acme", "c", "after"), k.write, `{}`).expect(t, 201, "").bookmark()
		if got, want := hexval(t, next[9:25]), hexval(t, b.Bookmark[9:25])+1; got != want {
			t.Errorf("sequence after the batch %d, want %d: a batch must take one position", got, want)
		}
	})

	t.Run("limits", func(t *testing.T) {
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{"ops":[]}`).expect(t, 400, "invalid")
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, `{}`).expect(t, 400, "invalid")
		var ops []map[string]any
		for i := range 1001 {
			ops = append(ops, put(fmt.Sprint("lim", i), `{}`))
		}
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops}).expect(t, 400, "invalid")
		e.do(t, "GET", docPath("acme", "c", "lim0"), k.read, nil).expect(t, 404, "not_found")
		r := e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops[:1000]}).expect(t, 200, "")
		var b struct{ Results []any }
		r.into(t, &b)
		if got, want := len(b.Results), 1000; got != want {
			t.Errorf("%d results, want %d", got, want)
		}
	})
}

// rawJSON is a JSON value to embed in a request body as is.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

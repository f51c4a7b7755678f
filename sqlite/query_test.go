package sqlite

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quiredb/quire"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// queryClients and queryFinances are the collections the compiler's
// golden files are written against.
var (
	queryClients = quire.Collection{Name: "clients", Indexes: []quire.IndexSpec{
		{Field: "last_name", Path: "$.name.last"},
		{Field: "postcode", Path: "$.address.postcode"},
		{Field: "age", Path: "$.age", Type: quire.IndexInteger},
		{Field: "score", Path: "$.score", Type: quire.IndexReal},
	}}
	queryFinances = quire.Collection{Name: "finances", Indexes: []quire.IndexSpec{
		{Field: "client_id", Path: "$.client_id"},
	}}
)

// openQueryStore opens a store holding the golden files' collections.
func openQueryStore(t testing.TB) *Store {
	t.Helper()
	s := openTestStore(t, t.TempDir())
	for _, c := range []quire.Collection{queryClients, queryFinances} {
		if _, _, err := s.PutCollection(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// parseQuery decodes a query request as the HTTP API does.
func parseQuery(t testing.TB, coll, body string) (quire.Query, error) {
	t.Helper()
	var q quire.Query
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return q, err
	}
	q.Collection = coll
	return q, nil
}

// compileFor normalizes and compiles q on the store's collections.
func compileFor(s *Store, q *quire.Query) (*statement, error) {
	if err := q.Normalize(); err != nil {
		return nil, err
	}
	c, err := s.collection(q.Collection)
	if err != nil {
		return nil, err
	}
	return compile(c, q, s.collection)
}

// TestQueryGolden compiles the queries of testdata/query/*.txt and compares
// the SQL and arguments with the expected output. Each case is a query
// request on "clients", "----", and the output; cases are separated by a
// blank line, and lines starting with # before a case are comments. Every
// compiled statement is also prepared by SQLite. Run with -update to
// rewrite the files.
func TestQueryGolden(t *testing.T) {
	s := openQueryStore(t)
	files, err := filepath.Glob("testdata/query/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			for i, block := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
				input, want, _ := strings.Cut(block, "\n----\n")
				input = strings.TrimSuffix(input, "\n----")
				var query []string
				for _, line := range strings.Split(input, "\n") {
					if strings.HasPrefix(line, "#") {
						out.WriteString(line + "\n")
					} else {
						query = append(query, line)
					}
				}
				got := goldenOutput(t, s, strings.Join(query, "\n"))
				fmt.Fprintf(&out, "%s\n----\n%s\n\n", strings.Join(query, "\n"), got)
				if !*update && strings.TrimSpace(want) != got {
					t.Errorf("case %d: %s\ngot:\n%s\nwant:\n%s", i, strings.Join(query, "\n"), got, want)
				}
			}
			if *update {
				if err := os.WriteFile(file, []byte(strings.TrimSpace(out.String())+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// goldenOutput compiles one query and renders the statements, or the error.
func goldenOutput(t *testing.T, s *Store, body string) string {
	q, err := parseQuery(t, "clients", body)
	if err != nil {
		return "error: " + err.Error()
	}
	st, err := compileFor(s, &q)
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nargs: %s\nscan: %t", st.sql, fmtArgs(st.args), st.scan)
	if q.Count {
		fmt.Fprintf(&b, "\ncount: %s\ncount args: %s", st.countSQL, fmtArgs(st.countArgs))
	}
	prepare(t, s, st.sql, st.args)
	if q.Count {
		prepare(t, s, st.countSQL, st.countArgs)
	}
	return b.String()
}

// prepare fails unless SQLite accepts the statement with its arguments.
func prepare(t testing.TB, s *Store, query string, args []any) {
	t.Helper()
	rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err == nil {
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
	}
	if err != nil {
		t.Errorf("SQLite refuses %s %s: %v", query, fmtArgs(args), err)
	}
}

// fmtArgs renders arguments with their Go types.
func fmtArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case string:
			parts[i] = strconv.QuoteToASCII(a)
		case float64:
			parts[i] = "float64(" + strconv.FormatFloat(a, 'g', -1, 64) + ")"
		case nil:
			parts[i] = "NULL"
		default:
			parts[i] = fmt.Sprintf("%T(%v)", a, a)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func TestPrefixUpperBound(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"SW1", "SW2", true},
		{"a", "b", true},
		{"", "", false},
		{"az\xff", "a{", true},
		{"\xff\xff", "", false},
		{"é", "\xc3\xaa", true},
		{"x\U0010FFFF", "x\xf4\x8f\xbf\xc0", true},
		{"\x7f", "\x80", true},
	} {
		got, ok := prefixUpperBound(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("prefixUpperBound(%q) = %q, %t; want %q, %t", c.in, got, ok, c.want, c.ok)
		}
	}
}

// runQuery runs a query request on collection coll of s.
func runQuery(t testing.TB, s *Store, coll, body string) *quire.QueryResult {
	t.Helper()
	q, err := parseQuery(t, coll, body)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	res, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return res
}

func ids(docs []quire.QueryDoc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

func TestQueryExplain(t *testing.T) {
	s := openQueryStore(t)
	for _, c := range []struct {
		name, query string
		want        string // a substring of one plan step
		scan        bool
	}{
		{"IndexedEq", `{"where": {"last_name": "Smith"}}`, `SEARCH d USING INDEX idx.clients.last_name (last_name=?)`, false},
		{"IndexedPathEq", `{"where": {"name.last": "Smith"}}`, `SEARCH d USING INDEX idx.clients.last_name (last_name=?)`, false},
		{"Prefix", `{"where": {"postcode": {"$prefix": "SW1"}}}`, `SEARCH d USING INDEX idx.clients.postcode (postcode>? AND postcode<?)`, false},
		{"Range", `{"where": {"age": {"$gte": 18, "$lt": 65}}}`, `SEARCH d USING INDEX idx.clients.age (age>? AND age<?)`, false},
		{"In", `{"where": {"age": {"$in": [1, 2, 3]}}}`, `SEARCH d USING INDEX idx.clients.age (age=?)`, false},
		{"SortByIndex", `{"sort": [{"field": "last_name"}], "limit": 10}`, `SCAN d USING INDEX idx.clients.last_name`, false},
		{"PageOfSortByIndex", `{"sort": [{"field": "age"}], "after": "` + encodeQueryCursor(sortHash([]sortRef{{fieldRef: fieldRef{name: "age"}}, {fieldRef: fieldRef{name: "id"}}}), []any{int64(3), "c1"}) + `"}`, `SEARCH d USING INDEX idx.clients.age (age>?)`, false},
		{"IDPrefix", `{"where": {"id": {"$prefix": "c-"}}}`, `SEARCH d USING INDEX sqlite_autoindex_clients_1 (id>? AND id<?)`, false},
		{"Join", `{"join": [{"collection": "finances", "on": {"client_id": "id"}}]}`, `SEARCH j0 USING INDEX idx.finances.client_id (client_id=?)`, false},
		{"UnindexedPath", `{"where": {"name.first": "Ann"}}`, `SCAN d`, true},
		{"UnindexedJoin", `{"where": {"age": 3}, "join": [{"collection": "finances", "on": {"owner": "id"}}]}`, `SCAN j0`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := runQuery(t, s, "clients", strings.TrimSuffix(c.query, "}")+`, "explain": true}`)
			var plan []string
			found := false
			for _, p := range res.Plan {
				plan = append(plan, p.Detail)
				found = found || strings.HasPrefix(p.Detail, c.want)
			}
			if !found {
				t.Errorf("plan %q has no step %q\nSQL: %s", plan, c.want, res.SQL)
			}
			if res.Scan != c.scan {
				t.Errorf("scan = %t, want %t", res.Scan, c.scan)
			}
		})
	}
}

// The property tests run on "things": three typed index fields and paths
// holding values of every JSON type.
var queryThings = quire.Collection{Name: "things", Indexes: []quire.IndexSpec{
	{Field: "name", Path: "$.name"},
	{Field: "age", Path: "$.age", Type: quire.IndexInteger},
	{Field: "score", Path: "$.score", Type: quire.IndexReal},
}}

// queryRunes make strings whose byte order is interesting: multi-byte
// characters, U+FFFF and U+10FFFF (F4 8F BF BF), the largest character.
var queryRunes = []string{"a", "b", "z", "A", " ", "é", "ë", "ÿ", "\uffff", "\U0010FFFF", "😀"}

func randText(r *rand.Rand, max int) string {
	var b strings.Builder
	for range r.IntN(max + 1) {
		b.WriteString(queryRunes[r.IntN(len(queryRunes))])
	}
	return b.String()
}

func randNumber(r *rand.Rand) any {
	if r.IntN(2) == 0 {
		return r.IntN(7) - 1
	}
	return float64(r.IntN(14)-2) / 2
}

// randAny is any JSON value, for the untyped paths.
func randAny(r *rand.Rand) any {
	switch r.IntN(8) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2, 3:
		return randNumber(r)
	case 4:
		return []any{randText(r, 1)}
	case 5:
		return map[string]any{"x": 1}
	}
	return randText(r, 2)
}

// randDoc makes a document; a key is sometimes missing or null.
func randDoc(r *rand.Rand) map[string]any {
	d := map[string]any{}
	maybe := func(key string, v func() any) {
		switch r.IntN(8) {
		case 0:
		case 1:
			d[key] = nil
		default:
			d[key] = v()
		}
	}
	maybe("name", func() any { return randText(r, 3) })
	maybe("age", func() any {
		if r.IntN(6) == 0 {
			return r.IntN(2) == 0 // stored as 1 or 0 in the integer column
		}
		return r.IntN(7)
	})
	maybe("score", func() any { return randNumber(r) })
	maybe("status", func() any { return randAny(r) })
	maybe("o", func() any { return map[string]any{"p": randAny(r)} })
	maybe("tags", func() any { return []any{randAny(r), randText(r, 1)} })
	return d
}

// fillThings creates "things" with n random documents written in a few
// batches (so created_at ties), some of them updated (so versions vary).
func fillThings(t testing.TB, s *Store, r *rand.Rand, n int) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.PutCollection(ctx, queryThings); err != nil {
		t.Fatal(err)
	}
	var ops []quire.WriteOp
	for i := range n {
		body, _ := json.Marshal(randDoc(r))
		ops = append(ops, quire.WriteOp{Op: quire.OpPut, Collection: "things", ID: fmt.Sprintf("t%03d", r.IntN(1000)) + fmt.Sprint(i), Body: body})
		if len(ops) == 50 || i == n-1 {
			if _, _, err := s.Write(ctx, ops, "k"); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	for i := 0; i < n; i += 3 {
		body, _ := json.Marshal(randDoc(r))
		res := runQuery(t, s, "things", fmt.Sprintf(`{"limit": 1, "where": {"id": {"$gte": "t%03d"}}}`, i%1000))
		if len(res.Docs) == 1 {
			put(t, s, "things", res.Docs[0].ID, string(body))
		}
	}
}

// randFilter makes a filter of the language on "things", as JSON.
func randFilter(r *rand.Rand, depth int) map[string]any {
	switch n := r.IntN(12); {
	case n == 0 && depth < 3:
		return map[string]any{"$and": []any{randFilter(r, depth+1), randFilter(r, depth+1)}}
	case n == 1 && depth < 3:
		return map[string]any{"$or": []any{randFilter(r, depth+1), randFilter(r, depth+1), randFilter(r, depth+1)}}
	case n == 2 && depth < 3:
		return map[string]any{"$not": randFilter(r, depth+1)}
	case n == 3:
		return map[string]any{"name": randCond(r, "name"), "age": randCond(r, "age")}
	}
	fields := []string{"name", "age", "score", "status", "o.p", "tags[0]", "tags[1]", "id", "version", "$.name"}
	f := fields[r.IntN(len(fields))]
	return map[string]any{f: randCond(r, f)}
}

// fieldKind is how a field of "things" compares: a typed column or a path.
func fieldKind(field string) string {
	switch field {
	case "name", "$.name", "id":
		return "text"
	case "age", "version":
		return "integer"
	case "score":
		return "real"
	}
	return "path"
}

// randOperand is a value that may be compared with field by op.
func randOperand(r *rand.Rand, field string, op quire.Op) any {
	kind := fieldKind(field)
	ranged := op == quire.OpGt || op == quire.OpGte || op == quire.OpLt || op == quire.OpLte
	if !ranged && r.IntN(10) == 0 {
		return nil
	}
	switch kind {
	case "text":
		if field == "id" {
			return fmt.Sprintf("t%d", r.IntN(10))
		}
		return randText(r, 2)
	case "integer":
		if !ranged && r.IntN(5) == 0 {
			return r.IntN(2) == 0
		}
		return randNumber(r)
	case "real":
		return randNumber(r)
	}
	if ranged {
		if r.IntN(2) == 0 {
			return randText(r, 2)
		}
		return randNumber(r)
	}
	v := randAny(r)
	if _, ok := v.([]any); ok {
		return "a"
	}
	if _, ok := v.(map[string]any); ok {
		return 1
	}
	return v
}

func randCond(r *rand.Rand, field string) any {
	ops := []quire.Op{quire.OpEq, quire.OpNe, quire.OpGt, quire.OpGte, quire.OpLt, quire.OpLte, quire.OpIn, quire.OpNin, quire.OpExists, quire.OpNot}
	if k := fieldKind(field); k == "text" || k == "path" {
		ops = append(ops, quire.OpPrefix, quire.OpPrefix)
	}
	switch op := ops[r.IntN(len(ops))]; op {
	case quire.OpIn, quire.OpNin:
		vals := []any{}
		for range r.IntN(4) {
			vals = append(vals, randOperand(r, field, op))
		}
		return map[string]any{string(op): vals}
	case quire.OpExists:
		return map[string]any{string(op): r.IntN(2) == 0}
	case quire.OpPrefix:
		return map[string]any{string(op): randText(r, 2)}
	case quire.OpNot:
		return map[string]any{string(op): map[string]any{string(quire.OpGt): randOperand(r, field, quire.OpGt)}}
	case quire.OpEq:
		if r.IntN(2) == 0 {
			return randOperand(r, field, op) // a bare value
		}
		fallthrough
	default:
		return map[string]any{string(op): randOperand(r, field, op)}
	}
}

// evalDoc is a document as the brute-force evaluator sees it.
type evalDoc struct {
	id      string
	version int64
	body    map[string]any
}

// loadThings reads every document of "things" in id order.
func loadThings(t testing.TB, s *Store) []evalDoc {
	t.Helper()
	res := runQuery(t, s, "things", `{"limit": 1000}`)
	if res.Next != "" {
		t.Fatal("more than 1000 things")
	}
	var out []evalDoc
	for _, d := range res.Docs {
		e := evalDoc{id: d.ID, version: d.Version}
		if err := json.Unmarshal(d.Body, &e.body); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// lookupJSON follows a path of the ValidPath grammar, like json_extract.
func lookupJSON(v any, path string) (any, bool) {
	for i := 1; i < len(path); {
		if path[i] == '.' {
			j := i + 1
			for j < len(path) && path[j] != '.' && path[j] != '[' {
				j++
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[path[i+1:j]]; !ok {
				return nil, false
			}
			i = j
			continue
		}
		j := i + strings.IndexByte(path[i:], ']')
		n, _ := strconv.Atoi(path[i+1 : j])
		a, ok := v.([]any)
		if !ok || n >= len(a) {
			return nil, false
		}
		v, i = a[n], j+1
	}
	return v, true
}

// indexPaths are the paths of the typed fields of "things".
var indexPaths = map[string]string{"name": "$.name", "$.name": "$.name", "age": "$.age", "score": "$.score"}

// evalFilter decides a generated filter on d, independently of the parser
// and compiler: the language's semantics, in Go.
func evalFilter(f map[string]any, d evalDoc) bool {
	for key, v := range f {
		var ok bool
		switch key {
		case "$and", "$or":
			ok = key == "$and"
			for _, sub := range v.([]any) {
				if evalFilter(sub.(map[string]any), d) != (key == "$and") {
					ok = !ok
					break
				}
			}
		case "$not":
			ok = !evalFilter(v.(map[string]any), d)
		default:
			ok = evalCond(key, v, d)
		}
		if !ok {
			return false
		}
	}
	return true
}

func evalCond(field string, cond any, d evalDoc) bool {
	ops, isOps := cond.(map[string]any)
	if !isOps {
		return evalOp(field, "$eq", cond, d)
	}
	for op, v := range ops {
		if !evalOp(field, op, v, d) {
			return false
		}
	}
	return true
}

func evalOp(field, op string, v any, d evalDoc) bool {
	switch op {
	case "$not":
		return !evalCond(field, v, d)
	case "$ne":
		return !evalOp(field, "$eq", v, d)
	case "$nin":
		return !evalOp(field, "$in", v, d)
	case "$in":
		for _, x := range v.([]any) {
			if evalOp(field, "$eq", x, d) {
				return true
			}
		}
		return false
	}
	kind := fieldKind(field)
	path, indexed := indexPaths[field]
	if kind == "path" {
		path, _ = quire.FieldPath(field)
	}
	val, present := lookupJSON(d.body, path)
	if op == "$exists" {
		return (present || path == "") == v.(bool)
	}
	if kind != "path" {
		// A typed column: NULL for a missing key or a JSON null, 1 and 0
		// for booleans.
		switch {
		case field == "id":
			val = d.id
		case field == "version":
			val = float64(d.version)
		case indexed && val == true:
			val = 1.0
		case indexed && val == false:
			val = 0.0
		}
		if b, ok := v.(bool); ok {
			v = map[bool]float64{true: 1, false: 0}[b]
		}
		if v == nil {
			return val == nil
		}
	} else {
		switch x := v.(type) {
		case nil:
			return val == nil
		case bool:
			return val == x
		}
	}
	if op == "$prefix" {
		s, ok := val.(string)
		return ok && strings.HasPrefix(s, v.(string))
	}
	c, ok := compareValues(val, v)
	if !ok {
		return false
	}
	switch op {
	case "$eq":
		return c == 0
	case "$gt":
		return c > 0
	case "$gte":
		return c >= 0
	case "$lt":
		return c < 0
	case "$lte":
		return c <= 0
	}
	panic("operator " + op)
}

// compareValues compares two strings or two numbers; values of different
// kinds do not compare.
func compareValues(a, b any) (int, bool) {
	if s, ok := a.(string); ok {
		t, ok := b.(string)
		return strings.Compare(s, t), ok
	}
	x, ok1 := toFloat(a)
	y, ok2 := toFloat(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	switch {
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	}
	return 0, true
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func TestQueryMatchesBruteForce(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 1))
	s := openTestStore(t, t.TempDir())
	fillThings(t, s, r, 300)
	all := loadThings(t, s)
	for range 500 {
		f := randFilter(r, 0)
		fj, _ := json.Marshal(f)
		res := runQuery(t, s, "things", `{"limit": 1000, "count": true, "where": `+string(fj)+`}`)
		var want []string
		for _, d := range all {
			if evalFilter(f, d) {
				want = append(want, d.id)
			}
		}
		if got := ids(res.Docs); !slices.Equal(got, want) || *res.Count != int64(len(want)) {
			t.Fatalf("seed %d: filter %s\ngot %d %v\nwant %d %v", seed, fj, *res.Count, got, len(want), want)
		}
	}
}

// TestQueryPrefixExact checks $prefix against strings.HasPrefix on an
// index field and on a path, with prefixes ending in the largest
// characters.
func TestQueryPrefixExact(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	fillThings(t, s, rand.New(rand.NewPCG(7, 7)), 0)
	words := []string{"", "a", "ab", "a\U0010FFFF", "a\U0010FFFFb", "a\U0010FFFF\U0010FFFF", "b", "\U0010FFFF", "\U0010FFFFz",
		"é", "éa", "ê", "\uffff", "\uffffa", "\U00010000", "😀", "😀😀", "😁", "z", "zz"}
	for i, w := range words {
		body, _ := json.Marshal(map[string]any{"name": w, "o": map[string]any{"p": w}})
		put(t, s, "things", fmt.Sprintf("w%02d", i), string(body))
	}
	for _, p := range append(words, "a\U0010FFFF\U0010FFFF\U0010FFFF", "\U0010FFFF\U0010FFFF", "😀\U0010FFFF") {
		var want []string
		for i, w := range words {
			if strings.HasPrefix(w, p) {
				want = append(want, fmt.Sprintf("w%02d", i))
			}
		}
		for _, field := range []string{"name", "o.p"} {
			pj, _ := json.Marshal(p)
			res := runQuery(t, s, "things", `{"where": {"`+field+`": {"$prefix": `+string(pj)+`}}}`)
			if got := ids(res.Docs); !slices.Equal(got, want) {
				t.Errorf("%s $prefix %q: got %v, want %v", field, p, got, want)
			}
		}
	}
}

// randSort makes a sort of one to three keys over fields of every kind.
func randSort(r *rand.Rand) string {
	fields := []string{"name", "age", "score", "status", "o.p", "tags[0]", "version", "created_at", "updated_at", "id"}
	var keys []string
	for range 1 + r.IntN(3) {
		keys = append(keys, fmt.Sprintf(`{"field": %q, "desc": %t}`, fields[r.IntN(len(fields))], r.IntN(2) == 0))
	}
	return "[" + strings.Join(keys, ", ") + "]"
}

// pageAll pages through a query at limit, failing on a repeated id.
func pageAll(t *testing.T, s *Store, query string, limit int) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	after := ""
	for range 1000 {
		res := runQuery(t, s, "things", fmt.Sprintf(`{%s, "limit": %d, "after": %q}`, query, limit, after))
		if len(res.Docs) > limit {
			t.Fatalf("%s: page of %d documents, limit %d", query, len(res.Docs), limit)
		}
		for _, id := range ids(res.Docs) {
			if seen[id] {
				t.Fatalf("%s: %s returned twice", query, id)
			}
			seen[id] = true
			out = append(out, id)
		}
		if after = res.Next; after == "" {
			return out
		}
	}
	t.Fatalf("%s: paging does not end", query)
	return nil
}

// TestQueryPaging pages through random data under random sorts at limit 7
// and compares with one query returning everything: no duplicates, no
// skips, the same order.
func TestQueryPaging(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 2))
	s := openTestStore(t, t.TempDir())
	fillThings(t, s, r, 200)
	for range 80 {
		query := `"sort": ` + randSort(r)
		if r.IntN(3) == 0 {
			f, _ := json.Marshal(randFilter(r, 1))
			query += `, "where": ` + string(f)
		}
		full := runQuery(t, s, "things", "{"+query+`, "limit": 1000}`)
		if full.Next != "" {
			t.Fatalf("seed %d: %s: next on the only page", seed, query)
		}
		if got, want := pageAll(t, s, query, 7), ids(full.Docs); !slices.Equal(got, want) {
			t.Fatalf("seed %d: %s\npaged %v\nwhole %v", seed, query, got, want)
		}
	}
}

// TestQueryPagingConcurrentWrites pages while documents are inserted and
// updated (outside the sort keys): every document that existed throughout
// comes exactly once.
func TestQueryPagingConcurrentWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	s := openTestStore(t, t.TempDir())
	fillThings(t, s, r, 300)
	before := loadThings(t, s)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := rand.New(rand.NewPCG(4, 4))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body, _ := json.Marshal(randDoc(w))
			ops := []quire.WriteOp{
				{Op: quire.OpPut, Collection: "things", ID: fmt.Sprintf("new%d", i), Body: body},
				{Op: quire.OpPatch, Collection: "things", ID: before[w.IntN(len(before))].id, Body: json.RawMessage(fmt.Sprintf(`{"status": %d}`, i))},
			}
			if _, _, err := s.Write(context.Background(), ops, "k"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for _, sort := range []string{`[{"field": "name"}, {"field": "age", "desc": true}]`, `[{"field": "o.p", "desc": true}]`, `[{"field": "created_at"}]`} {
		got := pageAll(t, s, `"sort": `+sort, 7)
		seen := map[string]bool{}
		for _, id := range got {
			seen[id] = true
		}
		for _, d := range before {
			if !seen[d.id] {
				t.Errorf("sort %s: %s skipped", sort, d.id)
			}
		}
	}
	close(stop)
	<-done
}

func TestQueryJoinsFieldsCount(t *testing.T) {
	s := openQueryStore(t)
	put(t, s, "clients", "c1", `{"name":{"last":"Smith","first":"Ann"},"address":{"postcode":"SW1A 1AA","city":"London"},"referrer":"c2"}`)
	put(t, s, "clients", "c2", `{"name":{"last":"Jones"},"age":40}`)
	put(t, s, "clients", "c3", `{"name":{"last":"Smith"},"address":null}`)
	for i, owner := range []string{"c1", "c2", "c1", "c1", "c2", "c9"} {
		put(t, s, "finances", fmt.Sprintf("f%d", i), fmt.Sprintf(`{"client_id":%q,"amount":%d}`, owner, i))
	}

	t.Run("Join", func(t *testing.T) {
		res := runQuery(t, s, "clients", `{"join": [{"collection": "finances", "on": {"client_id": "id"}, "limit": 2},
			{"collection": "clients", "on": {"id": "referrer"}, "as": "referrer"}]}`)
		want := map[string][]string{"c1": {"f0", "f2"}, "c2": {"f1", "f4"}, "c3": {}}
		for _, d := range res.Docs {
			var fin, ref []quire.Document
			if err := json.Unmarshal(d.Joins[0], &fin); err != nil {
				t.Fatalf("%s: %v: %s", d.ID, err, d.Joins[0])
			}
			json.Unmarshal(d.Joins[1], &ref)
			got := []string{}
			for _, f := range fin {
				got = append(got, f.ID)
				if f.Version != 1 || f.CreatedAt == 0 || !strings.Contains(string(f.Body), `"client_id":"`+d.ID+`"`) {
					t.Errorf("joined %+v", f)
				}
			}
			if !slices.Equal(got, want[d.ID]) {
				t.Errorf("%s joins %v, want %v", d.ID, got, want[d.ID])
			}
			if wantRef := d.ID == "c1"; (len(ref) == 1 && ref[0].ID == "c2") != wantRef {
				t.Errorf("%s referrer %s", d.ID, d.Joins[1])
			}
		}
	})
	t.Run("Fields", func(t *testing.T) {
		res := runQuery(t, s, "clients", `{"fields": ["name.last", "address.postcode", "age"]}`)
		want := []string{
			`{"name":{"last":"Smith"},"address":{"postcode":"SW1A 1AA"},"age":null}`,
			`{"name":{"last":"Jones"},"address":{"postcode":null},"age":40}`,
			`{"name":{"last":"Smith"},"address":{"postcode":null},"age":null}`,
		}
		for i, d := range res.Docs {
			if string(d.Body) != want[i] {
				t.Errorf("%s body %s, want %s", d.ID, d.Body, want[i])
			}
		}
	})
	t.Run("Count", func(t *testing.T) {
		res := runQuery(t, s, "clients", `{"where": {"last_name": "Smith"}, "count": true, "limit": 1}`)
		if *res.Count != 2 || len(res.Docs) != 1 || res.Next == "" || res.RowsRead != 4 {
			t.Errorf("count %d, %d docs, next %q, rows read %d", *res.Count, len(res.Docs), res.Next, res.RowsRead)
		}
		res = runQuery(t, s, "clients", `{"where": {"last_name": "Smith"}, "limit": 1, "after": "`+res.Next+`"}`)
		if got := ids(res.Docs); !slices.Equal(got, []string{"c3"}) || res.Next != "" || res.Count != nil {
			t.Errorf("second page %v next %q", got, res.Next)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		for _, coll := range []string{"nope", "Bad-Name"} {
			_, err := s.Query(context.Background(), quire.Query{Collection: coll})
			if code := quire.ErrorCode(err); code != quire.ENotFound && code != quire.EInvalidName {
				t.Errorf("%s: %v", coll, err)
			}
		}
	})
}

// FuzzQueryFilter throws arbitrary JSON at the filter parser: it never
// panics, refuses with EInvalid, and every filter it accepts compiles to
// SQL that SQLite prepares (or is refused by the compiler with EInvalid,
// for an operand of the wrong type for an index field).
func FuzzQueryFilter(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `{"last_name": "Smith"}`, `{"age": {"$gte": 18, "$lt": 65}}`,
		`{"postcode": {"$prefix": "SW1"}, "$or": [{"status": "a"}, {"status": {"$in": ["b", 1, true, null]}}]}`,
		`{"$not": {"$and": [{"a.b[0]": {"$exists": false}}, {"id": {"$nin": []}}]}}`,
		`{"x": {"$not": {"$ne": null}}}`, `{"$.name.last": {"$prefix": "\udbff\udfff"}}`,
		`{"a": [1]}`, `{"a": {"b": 1}}`, `{"$or": []}`, `{"a": 1e999}`, `{"a'); DROP TABLE x;--": 1}`,
		`{"a": 1, "a": 2}`, `[1]`, `{"a": {"$in": [[]]}}`, `{"age": "x"}`,
	} {
		f.Add([]byte(seed))
	}
	s := openQueryStore(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := quire.ParseFilter(data)
		if err != nil {
			if quire.ErrorCode(err) != quire.EInvalid {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		q := quire.Query{Collection: "clients", Where: flt, Count: true, Sort: []quire.SortKey{{Field: "age"}}}
		st, err := compileFor(s, &q)
		if err != nil {
			if quire.ErrorCode(err) != quire.EInvalid {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		prepare(t, s, st.sql, st.args)
		prepare(t, s, st.countSQL, st.countArgs)
	})
}

// BenchmarkQuery measures queries returning 20 of 20,000 documents: an
// indexed equality, an indexed prefix, the same prefix on an unindexed path
// (a scan), the equality with an indexed join; then the first 20 of 2,000
// prefix matches sorted by id (a sort of the matches), plain, with an
// indexed join, and with an unindexed join (a scan of finances per
// returned document: SQLite runs the joins after the sort and limit).
func BenchmarkQuery(b *testing.B) {
	s := openQueryStore(b)
	ctx := context.Background()
	var ops []quire.WriteOp
	for i := range 20000 {
		body := fmt.Sprintf(`{"name":{"last":"N%04d","first":"F%04d"},"address":{"postcode":"P%04d-%d"},"age":%d}`, i%1000, i%1000, i%1000, i, i%90)
		ops = append(ops, quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: fmt.Sprintf("c%05d", i), Body: json.RawMessage(body)})
		if i%5 == 0 {
			ops = append(ops, quire.WriteOp{Op: quire.OpPut, Collection: "finances", ID: fmt.Sprintf("f%05d", i),
				Body: json.RawMessage(fmt.Sprintf(`{"client_id":"c%05d","amount":%d}`, i, i))})
		}
		if len(ops) >= 1000 {
			if _, _, err := s.Write(ctx, ops, "k"); err != nil {
				b.Fatal(err)
			}
			ops = nil
		}
	}
	for _, c := range []struct{ name, query string }{
		{"IndexedEq", `{"where": {"last_name": "N0500"}}`},
		{"IndexedPrefix", `{"where": {"postcode": {"$prefix": "P0500-"}}}`},
		{"PathPrefixScan", `{"where": {"name.first": {"$prefix": "F0500"}}}`},
		{"IndexedEqJoin", `{"where": {"last_name": "N0500"}, "join": [{"collection": "finances", "on": {"client_id": "id"}}]}`},
		{"BroadPrefix", `{"where": {"last_name": {"$prefix": "N00"}}, "limit": 20}`},
		{"BroadPrefixJoin", `{"where": {"last_name": {"$prefix": "N00"}}, "limit": 20, "join": [{"collection": "finances", "on": {"client_id": "id"}}]}`},
		{"BroadPrefixScanJoin", `{"where": {"last_name": {"$prefix": "N00"}}, "limit": 20, "join": [{"collection": "finances", "on": {"amount": "age"}}]}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			q, err := parseQuery(b, "clients", c.query)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				res, err := s.Query(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Docs) != 20 {
					b.Fatalf("%d docs", len(res.Docs))
				}
			}
		})
	}
}

// TestQueryLargest runs the largest query the limits allow: SQLite must
// take its parameters and expression depth.
func TestQueryLargest(t *testing.T) {
	s := openQueryStore(t)
	for i := range 3 {
		put(t, s, "clients", fmt.Sprintf("c%d", i), fmt.Sprintf(`{"p0":{"q":%d},"name":{"last":"x"}}`, i))
		put(t, s, "finances", fmt.Sprintf("f%d", i), fmt.Sprintf(`{"client_id":"c%d"}`, i))
	}
	var conds, sorts, fields, joins []string
	for i := range quire.MaxFilterConditions {
		vals := make([]string, quire.MaxFilterValues/quire.MaxFilterConditions)
		for j := range vals {
			vals[j] = []string{`"s"`, "1", "2.5", "true", "null"}[j%5]
		}
		conds = append(conds, fmt.Sprintf(`{"p%d.q": {"$nin": [%s]}}`, i, strings.Join(vals, ",")))
	}
	for i := range quire.MaxSortKeys {
		sorts = append(sorts, fmt.Sprintf(`{"field": "p%d.q", "desc": %t}`, i, i%2 == 0))
	}
	for i := range quire.MaxFields {
		fields = append(fields, fmt.Sprintf(`"p%d.q.r%d"`, i%10, i))
	}
	for i := range quire.MaxJoins {
		joins = append(joins, fmt.Sprintf(`{"collection": "finances", "on": {"x%d.y": "p%d.q"}, "as": "j%d", "limit": 1000}`, i, i, i))
	}
	where := `{"$or": [` + strings.Join(conds, ",") + `]}`
	for range (quire.MaxFilterDepth - 2) / 2 {
		where = `{"$not": {"$not": ` + where + `}}`
	}
	body := fmt.Sprintf(`{"where": %s, "sort": [%s], "fields": [%s], "join": [%s], "count": true, "limit": 1}`,
		where, strings.Join(sorts, ","), strings.Join(fields, ","), strings.Join(joins, ","))
	res := runQuery(t, s, "clients", body)
	// Only p0.q, 0 for c0 and 2 for c2, is outside its $nin: the other
	// paths are missing, which the null in each list matches.
	if len(res.Docs) != 1 || res.Next == "" || *res.Count != 2 {
		t.Fatalf("first page: %d docs, count %d, next %q", len(res.Docs), *res.Count, res.Next)
	}
	res = runQuery(t, s, "clients", strings.TrimSuffix(body, "}")+`, "after": "`+res.Next+`"}`)
	if len(res.Docs) != 1 || res.Next != "" {
		t.Errorf("second page: %d docs, next %q", len(res.Docs), res.Next)
	}
}

// The page scans bodies into sql.RawBytes and keeps them: that is only
// right while the driver gives every row a slice of its own. If it ever
// reused one buffer, every document of a page would show the last body.
func TestQueryPageBodiesAreTheirOwn(t *testing.T) {
	s := openQueryStore(t)
	var want []string
	for i := range 5 {
		body := fmt.Sprintf(`{"name":{"last":"Own"},"n":%d,"pad":"%s"}`, i, strings.Repeat("x", 100*i))
		put(t, s, "clients", fmt.Sprintf("c%d", i), body)
		want = append(want, body)
	}
	for q, n := range map[string]int{`{"where":{"last_name":"Own"}}`: 5, `{"where":{"last_name":"Own"},"limit":2}`: 2} {
		res := runQuery(t, s, "clients", q)
		runQuery(t, s, "clients", `{"limit":5}`) // the same connection reads again
		if len(res.Docs) != n {
			t.Fatalf("%s: %d documents, want %d", q, len(res.Docs), n)
		}
		for i, d := range res.Docs {
			if string(d.Body) != want[i] {
				t.Errorf("%s: document %d body %s, want %s", q, i, d.Body, want[i])
			}
		}
	}
}

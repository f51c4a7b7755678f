package server_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// sqlEnv is a server with tenant acme (collection clients, document c1)
// and tenant other (collection secrets holding otherSecret).
type sqlEnv struct {
	*env
	acme, other keys
}

const otherSecret = "other-tenant-secret"

func newSQLEnv(t *testing.T) *sqlEnv {
	t.Helper()
	e := &sqlEnv{env: newEnv(t)}
	e.acme = e.createTenant(t, "acme")
	e.other = e.createTenant(t, "other")
	e.putCollection(t, "acme", "clients", map[string]any{"field": "email", "path": "$.email", "unique": true})
	e.do(t, "PUT", docPath("acme", "clients", "c1"), e.acme.write, map[string]any{"email": "a@x", "n": 1}).expect(t, 201, "")
	e.putCollection(t, "other", "secrets")
	e.do(t, "PUT", docPath("other", "secrets", "s1"), e.other.write, map[string]any{"v": otherSecret}).expect(t, 201, "")
	return e
}

// post sends a JSON body and returns the answer. Unlike env.send it allows
// SQLite's messages in errors (the SQL endpoint shows them), but still
// fails on a 5xx, a body that is not JSON, internals, or another tenant's
// data.
func (e *sqlEnv) post(t *testing.T, path, token string, body any, header ...string) *resp {
	t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	hr, err := http.NewRequest("POST", e.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		hr.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := &resp{method: "POST", url: path, status: res.StatusCode, header: res.Header, body: b}
	if r.status >= 500 || !json.Valid(b) {
		t.Errorf("%s: %d %s", path, r.status, clip(b))
	}
	for _, m := range []string{"goroutine ", ".go:", "panic", "runtime error", otherSecret} {
		if strings.Contains(string(b), m) {
			t.Errorf("%s: body shows %q: %s", path, m, clip(b))
		}
	}
	return r
}

// sqlPath is the SQL endpoint of a tenant.
func sqlPath(tenant string) string { return "/v1/tenants/" + tenant + "/sql" }

// d1Path is a D1 REST route (query or raw) of a tenant.
func d1Path(tenant, kind string) string {
	return "/client/v4/accounts/0123456789abcdef/d1/database/" + tenant + "/" + kind
}

// bookmarkSeq is the sequence number inside a bookmark token.
func bookmarkSeq(t *testing.T, token string) int64 {
	t.Helper()
	if len(token) != 34 {
		t.Fatalf("bookmark %q", token)
	}
	n, err := strconv.ParseInt(token[9:25], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// changeLog reads a tenant's change log straight from its file.
func (e *sqlEnv) changeLog(t *testing.T, tenant string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(e.dir, "tenants", tenant, "quire.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT seq, doc_id, op, version FROM _quire_changes ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var seq, version int64
		var id, op string
		rows.Scan(&seq, &id, &op, &version)
		out = append(out, strconv.FormatInt(seq, 10)+" "+id+" "+op+" "+strconv.FormatInt(version, 10))
	}
	return out
}

func TestSQLEndpoint(t *testing.T) {
	e := newSQLEnv(t)

	r := e.post(t, sqlPath("acme"), e.acme.read, map[string]any{"sql": "SELECT id, _version, json_extract(body, '$.n') AS n FROM clients WHERE id = ?", "params": []any{"c1"}}).expect(t, 200, "")
	var one struct {
		Results []map[string]any `json:"results"`
		Success bool             `json:"success"`
		Meta    map[string]any   `json:"meta"`
	}
	r.into(t, &one)
	if len(one.Results) != 1 || one.Results[0]["id"] != "c1" || one.Results[0]["_version"] != 1.0 || !one.Success || r.bookmark() == "" {
		t.Fatalf("select: %s", r.body)
	}
	for _, k := range []string{"duration", "rows_read", "rows_written", "changes", "last_row_id", "changed_db", "size_after", "served_by"} {
		if _, ok := one.Meta[k]; !ok {
			t.Errorf("meta has no %s: %s", k, r.body)
		}
	}

	t.Run("WriteShowsInDocumentAPI", func(t *testing.T) {
		before := e.changeLog(t, "acme")
		r := e.post(t, sqlPath("acme"), e.acme.write, map[string]any{"sql": "UPDATE clients SET body = json_set(body, '$.n', 2) WHERE id = ?", "params": []any{"c1"}}).expect(t, 200, "")
		if !strings.Contains(string(r.body), `"changes":1`) {
			t.Fatalf("update: %s", r.body)
		}
		seq := bookmarkSeq(t, r.bookmark())
		d := e.getDoc(t, e.acme.read, "acme", "clients", "c1")
		if d.Version != 2 || string(d.Body) != `{"email":"a@x","n":2}` {
			t.Fatalf("document after SQL update: %+v %s", d, d.Body)
		}
		log := e.changeLog(t, "acme")
		if got, want := log[len(before):], []string{strconv.FormatInt(seq, 10) + " c1 put 2"}; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("change log %q, want %q", got, want)
		}
		// The bookmark of the SQL write is honoured by a read.
		e.do(t, "GET", docPath("acme", "clients", "c1"), e.acme.read, nil, "Quire-Bookmark", r.bookmark()).expect(t, 200, "")
	})

	t.Run("DocumentWriteLogsOnce", func(t *testing.T) {
		before := e.changeLog(t, "acme")
		r := e.do(t, "PUT", docPath("acme", "clients", "c2"), e.acme.write, map[string]any{"email": "b@x"}).expect(t, 201, "")
		seq := bookmarkSeq(t, r.bookmark())
		if got := e.changeLog(t, "acme")[len(before):]; len(got) != 1 || got[0] != strconv.FormatInt(seq, 10)+" c2 put 1" {
			t.Fatalf("change log %q", got)
		}
	})

	t.Run("BatchRollsBack", func(t *testing.T) {
		r := e.post(t, sqlPath("acme"), e.acme.write, map[string]any{"batch": []any{
			map[string]any{"sql": "INSERT INTO clients (id, body) VALUES ('c5', '{}')"},
			map[string]any{"sql": "INSERT INTO clients (id, body) VALUES (?, ?)", "params": []any{"c6", `{"email":"a@x"}`}},
		}}).expect(t, 400, "sql_error")
		if d := r.errDetails(); d["statement_index"] != 1.0 || !strings.Contains(r.errMessage(), "UNIQUE") {
			t.Fatalf("error %s", r.body)
		}
		e.do(t, "GET", docPath("acme", "clients", "c5"), e.acme.read, nil).expect(t, 404, "not_found")

		r = e.post(t, sqlPath("acme"), e.acme.write, map[string]any{"batch": []any{
			map[string]any{"sql": "INSERT INTO clients (id, body) VALUES ('c7', '{}')"},
			map[string]any{"sql": "SELECT count(*) AS n FROM clients"},
		}}).expect(t, 200, "")
		var batch []struct {
			Results []map[string]any `json:"results"`
		}
		r.into(t, &batch)
		if len(batch) != 2 || batch[1].Results[0]["n"] != 3.0 {
			t.Fatalf("batch: %s", r.body)
		}
	})

	t.Run("Values", func(t *testing.T) {
		r := e.post(t, sqlPath("acme"), e.acme.read, map[string]any{
			"sql": "SELECT 1 AS i, 1.5 AS r, 'x' AS t, NULL AS n, x'00ff' AS b, 1e999 AS inf, ? AS big, ? AS f, ? AS yes, 1 AS dup, 2 AS dup", "params": []any{9007199254740993, 2.5, true}}).expect(t, 200, "")
		want := `{"results":[{"i":1,"r":1.5,"t":"x","n":null,"b":"AP8=","inf":9e999,"big":9007199254740993,"f":2.5,"yes":1,"dup":2}]`
		if !strings.HasPrefix(string(r.body), want) {
			t.Fatalf("got %s\nwant %s...", r.body, want)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			token  string
			body   any
			header []string
			status int
			code   string
		}{
			{e.acme.read, map[string]any{"sql": "DELETE FROM clients"}, nil, 403, "forbidden"},
			{e.acme.admin, map[string]any{"sql": "SELECT * FROM _quire_changes"}, nil, 403, "forbidden"},
			{e.acme.admin, map[string]any{"sql": "ATTACH DATABASE '" + filepath.Join(e.dir, "tenants", "other", "quire.db") + "' AS o"}, nil, 403, "forbidden"},
			{e.acme.admin, map[string]any{"sql": "SELECT 1; SELECT 2"}, nil, 400, "invalid"},
			{e.acme.read, map[string]any{"sql": "SELEC 1"}, nil, 400, "sql_error"},
			{e.acme.read, map[string]any{"sql": "SELECT 1", "batch": []any{}}, nil, 400, "invalid"},
			{e.acme.read, map[string]any{"params": []any{1}}, nil, 400, "invalid"},
			{e.acme.read, map[string]any{"sql": "SELECT ?", "params": []any{map[string]any{}}}, nil, 400, "invalid"},
			{e.acme.read, map[string]any{"sql": "SELECT 1", "extra": 1}, nil, 400, "invalid"},
			{e.acme.read, map[string]any{"sql": "SELECT 1"}, []string{"Quire-Timeout-Ms", "60000"}, 400, "invalid"},
			{e.acme.read, map[string]any{"sql": "SELECT 1", "timeout_ms": 0}, nil, 400, "invalid"},
			{e.acme.read, map[string]any{"sql": strings.Repeat("x", 101<<10)}, nil, 413, "too_large"},
			{e.acme.read, map[string]any{"sql": "SELECT 1"}, []string{"Quire-Bookmark", "garbage"}, 400, "invalid_bookmark"},
			{e.other.admin, map[string]any{"sql": "SELECT 1"}, nil, 403, "forbidden"},
			{"nope", map[string]any{"sql": "SELECT 1"}, nil, 401, "unauthorized"},
		} {
			r := e.post(t, sqlPath("acme"), tc.token, tc.body, tc.header...).expect(t, tc.status, tc.code)
			if r.bookmark() == "" && tc.status != 401 && tc.status != 403 {
				t.Errorf("%v: no bookmark on the error", tc.body)
			}
		}
	})

	t.Run("Deadline", func(t *testing.T) {
		t0 := time.Now()
		e.post(t, sqlPath("acme"), e.acme.read, map[string]any{"sql": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"},
			"Quire-Timeout-Ms", "300").expect(t, 408, "timeout")
		// The timeout code proves the endless query was interrupted; the
		// bound only catches a hang, not a slow machine.
		if d := time.Since(t0); d > 20*time.Second {
			t.Fatalf("stopped only after %v", d)
		}
	})

	t.Run("HostileSQL", func(t *testing.T) {
		for _, q := range []string{
			"", ";", "/*", "--", "'", `"`, "[", "`", "SELECT '" + strings.Repeat("'", 1000),
			"SELECT * FROM clients WHERE id = '' OR 1=1; DROP TABLE clients; --",
			"ATTACH 'file:" + filepath.Join(e.dir, "catalog.db") + "?mode=ro' AS cat",
			"SELECT * FROM pragma_table_info('_quire_meta')", "PRAGMA main.writable_schema = ON",
			"VACUUM", "VACUUM INTO '/tmp/quire-stolen.db'", "SELECT readfile('/etc/passwd')",
			"SELECT load_extension('libc.so.6', 'system')", "CREATE TEMP TRIGGER t AFTER INSERT ON clients BEGIN SELECT 1; END",
			"SELECT zeroblob(2000000000)", "SELECT randomblob(1e12)", "SELECT printf('%.*c', 2147483647, 'x')",
			"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
			"SELECT 1 FROM clients a, clients b, clients c, clients d, clients e, clients f, clients g",
			"\u202eSELECT 1", "SELECT '\U0001F600'", "SELECT char(0)",
		} {
			for _, token := range []string{e.acme.read, e.acme.write, e.acme.admin} {
				e.post(t, sqlPath("acme"), token, map[string]any{"sql": q}, "Quire-Timeout-Ms", "500")
				e.post(t, d1Path("acme", "query"), token, map[string]any{"sql": q}, "Quire-Timeout-Ms", "500")
			}
		}
		// acme's data and log are intact, and catalog.db and other were not reached.
		d := e.getDoc(t, e.acme.read, "acme", "clients", "c1")
		if d.Version != 2 {
			t.Fatalf("c1 at version %d", d.Version)
		}
		e.do(t, "GET", docPath("other", "secrets", "s1"), e.other.read, nil).expect(t, 200, "")
	})
}

// d1Answer is Cloudflare's v4 envelope.
type d1Answer struct {
	Result  json.RawMessage `json:"result"`
	Success bool            `json:"success"`
	Errors  []struct {
		Code      int    `json:"code"`
		Message   string `json:"message"`
		QuireCode string `json:"quire_code"`
	} `json:"errors"`
	Messages []any `json:"messages"`
}

func TestD1REST(t *testing.T) {
	e := newSQLEnv(t)
	decode := func(t *testing.T, r *resp) d1Answer {
		t.Helper()
		var a d1Answer
		r.into(t, &a)
		if a.Errors == nil || a.Messages == nil {
			t.Fatalf("envelope lacks errors or messages: %s", r.body)
		}
		return a
	}

	t.Run("Query", func(t *testing.T) {
		r := e.post(t, d1Path("acme", "query"), e.acme.read, map[string]any{"sql": "SELECT id FROM clients WHERE id = ?; SELECT ? AS two", "params": []any{"c1", 2}}).expect(t, 200, "")
		a := decode(t, r)
		var res []struct {
			Results []map[string]any `json:"results"`
			Success bool             `json:"success"`
			Meta    map[string]any   `json:"meta"`
		}
		if err := json.Unmarshal(a.Result, &res); err != nil || !a.Success || len(a.Errors) != 0 {
			t.Fatalf("query: %v %s", err, r.body)
		}
		if len(res) != 2 || res[0].Results[0]["id"] != "c1" || res[1].Results[0]["two"] != 2.0 || !res[0].Success || res[0].Meta["served_by"] == nil {
			t.Fatalf("query: %s", r.body)
		}
		if r.bookmark() == "" || r.header.Get("X-D1-Bookmark") != r.bookmark() {
			t.Fatalf("bookmark headers %v", r.header)
		}
	})

	t.Run("Raw", func(t *testing.T) {
		r := e.post(t, d1Path("acme", "raw"), e.acme.read, map[string]any{"sql": "SELECT id, _version AS v FROM clients ORDER BY id"}).expect(t, 200, "")
		want := `{"result":[{"results":{"columns":["id","v"],"rows":[["c1",1]]},"success":true,"meta":{`
		if !strings.HasPrefix(string(r.body), want) || !strings.HasSuffix(string(r.body), `}],"success":true,"errors":[],"messages":[]}`+"\n") {
			t.Fatalf("raw: %s", r.body)
		}
	})

	t.Run("Batch", func(t *testing.T) {
		r := e.post(t, d1Path("acme", "query"), e.acme.write, map[string]any{"batch": []any{
			map[string]any{"sql": "INSERT INTO clients (id, body) VALUES (?, ?)", "params": []any{"d1", `{"email":"d@x"}`}},
			map[string]any{"sql": "SELECT _version FROM clients WHERE id = ?", "params": []any{"d1"}},
		}}).expect(t, 200, "")
		if !strings.Contains(string(r.body), `"results":[{"_version":1}]`) {
			t.Fatalf("batch: %s", r.body)
		}
		e.getDoc(t, e.acme.read, "acme", "clients", "d1")
	})

	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			method, path, token string
			body                any
			status, code        int
			quireCode           string
		}{
			{"POST", d1Path("acme", "query"), e.acme.read, map[string]any{"sql": "SELECT * FROM nope"}, 400, 7400, "sql_error"},
			{"POST", d1Path("acme", "raw"), e.acme.read, map[string]any{"sql": "DELETE FROM clients"}, 403, 7403, "forbidden"},
			{"POST", d1Path("acme", "query"), "bad-token", map[string]any{"sql": "SELECT 1"}, 401, 10000, "unauthorized"},
			{"POST", d1Path("acme", "query"), e.other.read, map[string]any{"sql": "SELECT 1"}, 403, 7403, "forbidden"},
			{"POST", d1Path("ghost", "query"), adminToken, map[string]any{"sql": "SELECT 1"}, 404, 7404, "not_found"},
			{"POST", d1Path("acme", "query"), e.acme.read, "{not json", 400, 7400, "invalid"},
			{"GET", d1Path("acme", "query"), e.acme.read, nil, 405, 7405, "method_not_allowed"},
			{"POST", "/client/v4/accounts/x/d1/database", e.acme.read, map[string]any{}, 404, 7404, "not_found"},
		} {
			var r *resp
			if tc.method == "POST" {
				r = e.post(t, tc.path, tc.token, tc.body)
			} else {
				r = e.do(t, tc.method, tc.path, tc.token, nil)
			}
			a := decode(t, r)
			if r.status != tc.status || a.Success || string(a.Result) != "null" || len(a.Errors) != 1 ||
				a.Errors[0].Code != tc.code || a.Errors[0].QuireCode != tc.quireCode || a.Errors[0].Message == "" {
				t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
			}
		}
	})
}

package client_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

// sql is one statement with its parameters.
func sql(text string, params ...any) quire.SQLStatement {
	return quire.SQLStatement{SQL: text, Params: params}
}

// keyClient returns a client authenticating with a new key of acme.
func keyClient(t *testing.T, qs *quireServer, admin *client.Client, role quire.Role) *client.Client {
	t.Helper()
	_, secret, err := admin.CreateKey(context.Background(), "acme", role, string(role))
	if err != nil {
		t.Fatalf("CreateKey %s: %v", role, err)
	}
	return client.New(qs.url, secret)
}

func TestSQLSelect(t *testing.T) {
	qs, c := setup(t)
	seedQuery(t, c)
	ctx := context.Background()
	res, err := c.SQL(ctx, "acme", sql(`SELECT id, last_name, age, json_extract(body, '$.postcode') AS postcode, 2.5 AS r
		FROM clients WHERE last_name = ? ORDER BY id`, "Smith"))
	if err != nil {
		t.Fatalf("SQL: %v", err)
	}
	if len(res) != 1 {
		t.Fatalf("SQL = %d results, want 1", len(res))
	}
	r := res[0]
	if got, want := r.Columns, []string{"id", "last_name", "age", "postcode", "r"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Columns = %q, want %q", got, want)
	}
	want := [][]any{{"c1", "Smith", int64(36), "SW1A 1AA", 2.5}, {"c3", "Smith", int64(17), "M1 1AE", 2.5}}
	if !reflect.DeepEqual(r.Rows, want) {
		t.Errorf("Rows = %#v, want %#v", r.Rows, want)
	}
	if r.Meta.RowsRead != 2 || r.Meta.ServedBy != "quire-reader" || r.Meta.ChangedDB || r.Meta.SizeAfter == 0 {
		t.Errorf("Meta = %+v", r.Meta)
	}

	// Go types bind as SQLite types: a whole float64 stays REAL.
	res, err = c.SQL(ctx, "acme", sql("SELECT typeof(?) AS a, typeof(?) AS b, typeof(?) AS c, typeof(?) AS d, typeof(?) AS e, ? AS f, typeof(?) AS g",
		3.0, 3, json.Number("3"), "3", nil, true, uint8(7)))
	if err != nil {
		t.Fatalf("SQL typeof: %v", err)
	}
	if got, want := res[0].Rows[0], []any{"real", "integer", "integer", "text", "null", int64(1), "integer"}; !reflect.DeepEqual(got, want) {
		t.Errorf("typeof row = %#v, want %#v", got, want)
	}

	res, err = c.SQL(ctx, "acme", sql("SELECT NULL AS n, 1e400 AS inf, x'00ff' AS b, 9007199254740993 AS big, id FROM clients WHERE id = ?", "nope"))
	if err != nil {
		t.Fatalf("SQL no rows: %v", err)
	}
	if len(res[0].Rows) != 0 || len(res[0].Columns) != 0 {
		t.Errorf("a result without rows = %+v, want no columns (the object shape has none) and no rows", res[0])
	}
	res, err = c.SQL(ctx, "acme", sql("SELECT NULL AS n, 1e400 AS inf, x'00ff' AS b, 9007199254740993 AS big"))
	if err != nil {
		t.Fatalf("SQL values: %v", err)
	}
	if got, want := res[0].Rows[0], []any{nil, math.Inf(1), "AP8=", int64(9007199254740993)}; !reflect.DeepEqual(got, want) {
		t.Errorf("values = %#v, want %#v", got, want)
	}
	b, err := json.Marshal(res[0])
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var back client.SQLResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal %s: %v", b, err)
	}
	if !reflect.DeepEqual(back, res[0]) {
		t.Errorf("round trip through %s = %+v, want %+v", b, back, res[0])
	}

	// SQLResult also decodes the columns-and-rows form of D1's raw route.
	req, _ := http.NewRequest("POST", qs.url+"/client/v4/accounts/any/d1/database/acme/raw", strings.NewReader(`{"sql":"SELECT 1 AS a, 'x' AS a, NULL AS b"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Result []client.SQLResult `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || len(env.Result) != 1 {
		t.Fatalf("decoding the raw route's answer: %v (%d results)", err, len(env.Result))
	}
	if got := env.Result[0]; !reflect.DeepEqual(got.Columns, []string{"a", "a", "b"}) || !reflect.DeepEqual(got.Rows, [][]any{{int64(1), "x", nil}}) {
		t.Errorf("raw result = %+v", got)
	}

	_, err = c.SQL(ctx, "acme", sql("SELECT * FROM nope"))
	wantCode(t, err, quire.ESQL)
	_, err = c.SQL(ctx, "acme", sql("SELECT 1; SELECT 2"))
	wantCode(t, err, quire.EInvalid)
	_, err = c.SQLWithOptions(ctx, "acme", client.SQLOptions{Timeout: 50 * time.Millisecond},
		sql("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"))
	wantCode(t, err, quire.ETimeout)
}

func TestSQLParamsRefusedLocally(t *testing.T) {
	qs, c := setup(t)
	ctx := context.Background()
	before := qs.requests()
	for _, p := range []any{[]byte("x"), math.NaN(), uint64(math.MaxUint64), struct{}{}, json.Number("1x")} {
		_, err := c.SQL(ctx, "acme", sql("SELECT ?", p))
		wantCode(t, err, quire.EInvalid)
	}
	_, err := c.SQL(ctx, "acme")
	wantCode(t, err, quire.EInvalid)
	_, err = c.SQLWithOptions(ctx, "acme", client.SQLOptions{Timeout: -time.Second}, sql("SELECT 1"))
	wantCode(t, err, quire.EInvalid)
	if got := qs.requests(); got != before {
		t.Errorf("%d requests sent for invalid parameters, want none", got-before)
	}
}

func TestSQLWrites(t *testing.T) {
	qs, admin := setup(t)
	ctx := context.Background()
	writer := keyClient(t, qs, admin, quire.RoleWrite).Session()
	res, err := writer.SQL(ctx, "acme", sql("INSERT INTO clients (id, body) VALUES (?, ?)", "s1", `{"name":{"last":"Smith"},"age":30}`))
	if err != nil {
		t.Fatalf("SQL INSERT: %v", err)
	}
	if m := res[0].Meta; m.Changes != 1 || m.RowsWritten != 1 || !m.ChangedDB || m.ServedBy != "quire-writer" || m.LastRowID == 0 {
		t.Errorf("INSERT meta = %+v", m)
	}
	inserted := writer.Bookmark("acme")
	if inserted == "" {
		t.Fatal("the SQL write recorded no bookmark")
	}
	d, err := writer.Get(ctx, "acme", "clients", "s1")
	if err != nil {
		t.Fatalf("Get s1: %v", err)
	}
	if d.Version != 1 || d.CreatedAt == 0 || d.CreatedAt != d.UpdatedAt {
		t.Errorf("inserted document = %+v, want version 1 with its timestamps", d)
	}

	res, err = writer.SQL(ctx, "acme", sql("UPDATE clients SET body = json_set(body, '$.age', ?) WHERE id = ?", 31, "s1"))
	if err != nil {
		t.Fatalf("SQL UPDATE: %v", err)
	}
	if m := res[0].Meta; m.Changes != 1 || m.LastRowID != 0 {
		t.Errorf("UPDATE meta = %+v, want 1 change and no last_row_id", m)
	}
	if got := qs.lastBookmarkReceived(); got != inserted {
		t.Errorf("the session's SQL sent bookmark %q, want %q", got, inserted)
	}
	if writer.Bookmark("acme") <= inserted {
		t.Errorf("the UPDATE's bookmark %q is not after the INSERT's %q", writer.Bookmark("acme"), inserted)
	}
	d, err = writer.Get(ctx, "acme", "clients", "s1")
	if err != nil {
		t.Fatalf("Get s1 after UPDATE: %v", err)
	}
	if got, want := string(d.Body), `{"name":{"last":"Smith"},"age":31}`; d.Version != 2 || got != want {
		t.Errorf("updated document = version %d body %s, want version 2 body %s", d.Version, got, want)
	}
	docs, _, err := writer.List(ctx, "acme", quire.ListQuery{Collection: "clients", Field: "age", Value: "31"})
	if err != nil || len(docs) != 1 {
		t.Errorf("List age=31 = %d docs, %v; want the updated document (its index follows)", len(docs), err)
	}

	_, err = writer.SQL(ctx, "acme", sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"))
	wantCode(t, err, quire.EForbidden)
}

func TestSQLBatchRollsBack(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	if _, err := c.Put(ctx, "acme", "clients", "c1", json.RawMessage(`{"age":1}`), client.Condition{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	res, err := c.SQL(ctx, "acme",
		sql("INSERT INTO clients (id, body) VALUES (?, ?)", "b1", `{"age":2}`),
		sql("SELECT count(*) AS n FROM clients"))
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if len(res) != 2 || !reflect.DeepEqual(res[1].Rows, [][]any{{int64(2)}}) {
		t.Errorf("batch = %+v, want 2 results, the second counting the first's row", res)
	}

	_, err = c.SQL(ctx, "acme",
		sql("INSERT INTO clients (id, body) VALUES (?, ?)", "b2", `{"age":3}`),
		sql("UPDATE clients SET body = '{}' WHERE id = ?", "c1"),
		sql("INSERT INTO clients (id, body) VALUES (?, ?)", "c1", `{}`))
	wantCode(t, err, quire.ESQL)
	if got := err.(*quire.Error).Details["statement_index"]; got != float64(2) {
		t.Errorf("statement_index = %v, want 2", got)
	}
	_, err = c.Get(ctx, "acme", "clients", "b2")
	wantCode(t, err, quire.ENotFound)
	d, err := c.Get(ctx, "acme", "clients", "c1")
	if err != nil || d.Version != 1 || string(d.Body) != `{"age":1}` {
		t.Errorf("c1 after the failed batch = %+v, %v; want it untouched", d, err)
	}
}

func TestSQLReadKey(t *testing.T) {
	qs, admin := setup(t)
	ctx := context.Background()
	if _, err := admin.Put(ctx, "acme", "clients", "c1", json.RawMessage(`{"age":1}`), client.Condition{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	reader := keyClient(t, qs, admin, quire.RoleRead)
	res, err := reader.SQL(ctx, "acme", sql("SELECT id, _version FROM clients"))
	if err != nil {
		t.Fatalf("read key SELECT: %v", err)
	}
	if !reflect.DeepEqual(res[0].Rows, [][]any{{"c1", int64(1)}}) {
		t.Errorf("read key SELECT = %v", res[0].Rows)
	}
	for _, stmt := range []string{"DELETE FROM clients", "UPDATE clients SET body = '{}'", "INSERT INTO clients (id, body) VALUES ('x', '{}')"} {
		_, err := reader.SQL(ctx, "acme", sql(stmt))
		wantCode(t, err, quire.EForbidden)
		if msg := err.(*quire.Error).Message; msg != "SQL sandbox: read keys may only read" {
			t.Errorf("%s with a read key: message %q", stmt, msg)
		}
	}
	d, err := admin.Get(ctx, "acme", "clients", "c1")
	if err != nil || d.Version != 1 {
		t.Errorf("c1 after the refused writes = %+v, %v", d, err)
	}
}

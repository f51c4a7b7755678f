package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedSQL creates tenant acme with collections clients (last_name
// indexed) and finances (client_id indexed), and a few documents.
func seedSQL(t *testing.T) {
	t.Helper()
	startServer(t)
	mustRun(t, "", "tenant", "create", "acme")
	mustRun(t, "", "collection", "create", "--tenant", "acme", "clients", "--index", "last_name=$.name.last")
	mustRun(t, "", "collection", "create", "--tenant", "acme", "finances", "--index", "client_id=$.client_id")
	for _, d := range [][3]string{
		{"clients", "c1", `{"name":{"first":"Ada","last":"Smith"},"postcode":"SW1A 1AA"}`},
		{"clients", "c2", `{"name":{"first":"Alan","last":"Turing"}}`},
		{"clients", "c3", `{"name":{"first":"John","last":"Smith"},"postcode":"M1 1AE"}`},
		{"finances", "f1", `{"client_id":"c1","balance":12000}`},
	} {
		mustRun(t, "", "doc", "put", "--tenant", "acme", d[0], d[1], d[2])
	}
}

func TestSQLTable(t *testing.T) {
	seedSQL(t)
	out := mustRun(t, "", "sql", "SELECT id, last_name, json_extract(body, '$.postcode') AS postcode FROM clients ORDER BY id", "--tenant", "acme")
	want := `┌────┬───────────┬──────────┐
│ id │ last_name │ postcode │
├────┼───────────┼──────────┤
│ c1 │ Smith     │ SW1A 1AA │
│ c2 │ Turing    │ NULL     │
│ c3 │ Smith     │ M1 1AE   │
└────┴───────────┴──────────┘
(3 rows, `
	if !strings.HasPrefix(out, want) {
		t.Errorf("quire sql printed\n%s\nwant it to start with\n%s", out, want)
	}

	out = mustRun(t, "", "sql", "--tenant", "acme", "SELECT count(*) AS n, ? AS v FROM clients WHERE last_name = ?", "--param", "1.5", "--param", "Smith")
	if !strings.Contains(out, "│ n │ v   │") || !strings.Contains(out, "│ 2 │ 1.5 │") {
		t.Errorf("quire sql with --param printed\n%s", out)
	}
	out = mustRun(t, "", "sql", "--tenant", "acme", "SELECT typeof(?) AS t", "--param", `"42"`)
	if !strings.Contains(out, "│ text │") {
		t.Errorf(`--param '"42"' should bind text; printed %s`, out)
	}
	out = mustRun(t, "", "sql", "--tenant", "acme", "SELECT 'a\tb' AS s, 'x' AS s2 WHERE 0")
	if !strings.HasPrefix(out, "(0 rows, ") {
		t.Errorf("an empty result printed %q", out)
	}
}

func TestSQLJSONAndBatch(t *testing.T) {
	seedSQL(t)
	out := mustRun(t, "", "sql", "--tenant", "acme", "--json", "SELECT id FROM clients WHERE last_name = ? ORDER BY id", "--param", "Smith")
	var one struct {
		Results []map[string]any `json:"results"`
		Success bool             `json:"success"`
		Meta    map[string]any   `json:"meta"`
	}
	if err := json.Unmarshal([]byte(out), &one); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if len(one.Results) != 2 || one.Results[1]["id"] != "c3" || !one.Success || one.Meta["served_by"] != "quire-reader" {
		t.Errorf("--json = %+v", one)
	}

	file := filepath.Join(t.TempDir(), "batch.sql")
	batch := `-- two statements, one transaction
INSERT INTO clients (id, body) VALUES ('c9', '{"name":{"last":"New; one"}}');
SELECT id, _version FROM clients WHERE id = 'c9';`
	if err := os.WriteFile(file, []byte(batch), 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "", "sql", "--tenant", "acme", "--file", file)
	for _, want := range []string{"> INSERT INTO clients", "(0 rows, 1 changed, last_row_id ", "> SELECT id, _version", "│ c9 │        1 │"} {
		if !strings.Contains(out, want) {
			t.Errorf("quire sql --file printed\n%s\nwithout %q", out, want)
		}
	}
	out = mustRun(t, "SELECT 1 AS a; SELECT 2 AS b", "sql", "--tenant", "acme", "--file", "-", "--json")
	var many []json.RawMessage
	if err := json.Unmarshal([]byte(out), &many); err != nil || len(many) != 2 {
		t.Errorf("--json of a batch printed %q (%v), want an array of 2 results", out, err)
	}

	// A failing batch changes nothing, and the error names the statement.
	res := runCLI(t, "", "sql", "--tenant", "acme", "DELETE FROM finances; INSERT INTO clients (id, body) VALUES ('c1', '{}')")
	if res.code != 1 || !strings.Contains(res.stderr, "sql_error") || !strings.Contains(res.stderr, "in: INSERT INTO clients") {
		t.Errorf("failing batch: exit %d, stderr %q; want 1, sql_error naming the statement", res.code, res.stderr)
	}
	if out := mustRun(t, "", "sql", "--tenant", "acme", "SELECT count(*) AS n FROM finances"); !strings.Contains(out, "│ 1 │") {
		t.Errorf("finances after the failed batch:\n%s", out)
	}
}

func TestQueryCommand(t *testing.T) {
	seedSQL(t)
	out := mustRun(t, "", "query", "--tenant", "acme", "clients", `{"where":{"last_name":"Smith"},"count":true,
		"join":[{"collection":"finances","on":{"client_id":"id"},"as":"accounts"}]}`)
	var res struct {
		Docs []struct {
			ID       string          `json:"id"`
			Body     json.RawMessage `json:"body"`
			Accounts []struct {
				ID string `json:"id"`
			} `json:"accounts"`
		} `json:"docs"`
		Next  *string `json:"next"`
		Count int     `json:"count"`
		Meta  struct {
			Bookmark string `json:"bookmark"`
		} `json:"meta"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("quire query printed %q: %v", out, err)
	}
	if len(res.Docs) != 2 || res.Docs[0].ID != "c1" || res.Docs[1].ID != "c3" || res.Count != 2 || res.Next == nil || res.Meta.Bookmark == "" {
		t.Fatalf("quire query = %s", out)
	}
	if len(res.Docs[0].Accounts) != 1 || res.Docs[0].Accounts[0].ID != "f1" || len(res.Docs[1].Accounts) != 0 {
		t.Errorf("joined accounts = %+v", res.Docs)
	}
	if !strings.Contains(out, `"first": "Ada"`) {
		t.Errorf("quire query output is not indented JSON:\n%s", out)
	}

	out = mustRun(t, `{"where":{"postcode":{"$prefix":"SW1"}},"fields":["postcode"]}`, "query", "clients", "--tenant", "acme")
	if !strings.Contains(out, `"postcode": "SW1A 1AA"`) || strings.Contains(out, "Turing") || !strings.Contains(out, `"scan": true`) {
		t.Errorf("quire query from standard input printed\n%s", out)
	}

	res2 := runCLI(t, "", "query", "--tenant", "acme", "clients", `{"wher":{}}`)
	if res2.code != 1 || !strings.Contains(res2.stderr, `invalid: query: unknown field "wher"`) {
		t.Errorf("unknown key: exit %d, stderr %q", res2.code, res2.stderr)
	}
	res2 = runCLI(t, "", "query", "--tenant", "acme", "nope", `{}`)
	if res2.code != 1 || !strings.Contains(res2.stderr, "not_found") {
		t.Errorf("missing collection: exit %d, stderr %q", res2.code, res2.stderr)
	}
}

func TestSQLAndQueryUsageErrors(t *testing.T) {
	seedSQL(t)
	for _, args := range [][]string{
		{"sql", "--tenant", "acme"},
		{"sql", "SELECT 1"},
		{"sql", "--tenant", "acme", "SELECT 1", "SELECT 2"},
		{"sql", "--tenant", "acme", "SELECT 1", "--file", "x.sql"},
		{"sql", "--tenant", "acme", "SELECT ?; SELECT ?", "--param", "1"},
		{"sql", "--tenant", "acme", "  ;  -- nothing"},
		{"sql", "--tenant", "acme", "SELECT 1", "--timeout", "-1s"},
		{"sql", "--tenant", "acme", "SELECT 1", "--timeout", "soon"},
		{"sql", "--tenant", "acme", "SELECT 1", "--nope"},
		{"query", "--tenant", "acme"},
		{"query", "clients", "{}"},
		{"query", "--tenant", "acme", "clients", "{}", "extra"},
	} {
		res := runCLI(t, "", args...)
		if res.code != 2 {
			t.Errorf("quire %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), res.code, res.stderr)
		}
	}
	res := runCLI(t, "", "sql", "--help")
	if res.code != 0 || !strings.Contains(res.stderr, "Usage: quire sql") {
		t.Errorf("quire sql --help: exit %d, stderr %q", res.code, res.stderr)
	}
}

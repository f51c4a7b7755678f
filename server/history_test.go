package server_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/quiredb/quire/sqlite"
)

// historyEntry is one entry of GET .../history.
type historyEntry struct {
	Version   int64  `json:"version"`
	Body      any    `json:"body"`
	UpdatedAt int64  `json:"updated_at"`
	KeyID     string `json:"key_id"`
	Bookmark  string `json:"bookmark"`
	Op        string `json:"op"`
}

type historyPage struct {
	Versions []historyEntry `json:"versions"`
	Next     string         `json:"next"`
}

func (e *env) history(t *testing.T, token, tenant, coll, id, query string) historyPage {
	t.Helper()
	var p historyPage
	e.do(t, "GET", docPath(tenant, coll, id)+"/history"+query, token, nil).expect(t, 200, "").into(t, &p)
	return p
}

func TestHistoryHTTP(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	var c struct {
		History bool `json:"history"`
	}
	e.do(t, "PUT", "/v1/tenants/acme/collections/notes", adminToken, map[string]any{"indexes": []any{}, "history": true}).
		expect(t, 201, "").into(t, &c)
	if !c.History {
		t.Fatal("collection PUT with history answered history off")
	}
	e.do(t, "GET", "/v1/tenants/acme/collections/notes", k.read, nil).expect(t, 200, "").into(t, &c)
	if !c.History {
		t.Fatal("GET collection shows history off")
	}

	p := docPath("acme", "notes", "n1")
	e.do(t, "PUT", p, k.write, map[string]any{"a": 1}).expect(t, 201, "")
	w2 := e.do(t, "PUT", p, k.write, map[string]any{"a": 2}).expect(t, 200, "")
	e.do(t, "PATCH", p, k.write, map[string]any{"b": 3}).expect(t, 200, "")
	// The SQL endpoint keeps history through the same triggers.
	sqlEnv := &sqlEnv{env: e}
	sqlEnv.post(t, sqlPath("acme"), k.write, map[string]any{"sql": "UPDATE notes SET body = json_set(body, '$.a', 9) WHERE id = ?", "params": []any{"n1"}}).expect(t, 200, "")

	h := e.history(t, k.read, "acme", "notes", "n1", "")
	if got, want := len(h.Versions), 3; got != want {
		t.Fatalf("%d versions, want %d: %+v", got, want, h.Versions)
	}
	if v := h.Versions[0]; v.Version != 3 || v.Op != "put" || v.KeyID != k.ids["write"] || v.Bookmark == "" {
		t.Errorf("newest entry %+v", v)
	}
	if v := h.Versions[2]; v.Version != 1 || v.Bookmark != w2.bookmark() {
		t.Errorf("entry of version 1 %+v, want ended by the write with bookmark %s", v, w2.bookmark())
	}

	t.Run("Pages", func(t *testing.T) {
		p1 := e.history(t, k.read, "acme", "notes", "n1", "?limit=2")
		if len(p1.Versions) != 2 || p1.Next == "" {
			t.Fatalf("first page %+v", p1)
		}
		p2 := e.history(t, k.read, "acme", "notes", "n1", "?limit=2&after="+p1.Next)
		if len(p2.Versions) != 1 || p2.Versions[0].Version != 1 || p2.Next != "" {
			t.Fatalf("second page %+v", p2)
		}
	})
	t.Run("Version", func(t *testing.T) {
		r := e.do(t, "GET", p+"?version=2", k.read, nil).expect(t, 200, "")
		var d doc
		r.into(t, &d)
		if got, want := string(d.Body), `{"a":2}`; got != want || d.Version != 2 || d.ID != "n1" {
			t.Fatalf("version 2: %s", r.body)
		}
		if got, want := r.header.Get("ETag"), `"2"`; got != want {
			t.Errorf("ETag %s, want %s", got, want)
		}
		e.do(t, "GET", p+"?version=4", k.read, nil).expect(t, 200, "")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		e.do(t, "GET", p+"?version=99", k.read, nil).expect(t, 404, "not_found")
		e.do(t, "GET", docPath("acme", "notes", "never")+"/history", k.read, nil).expect(t, 404, "not_found")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		e.do(t, "GET", p+"?version=0", k.read, nil).expect(t, 400, "invalid")
		e.do(t, "GET", p+"?version=x", k.read, nil).expect(t, 400, "invalid")
		e.do(t, "GET", p+"/history?after=!!", k.read, nil).expect(t, 400, "invalid")
		e.do(t, "GET", p+"/history?limit=-1", k.read, nil).expect(t, 400, "invalid")
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		other := e.createTenant(t, "other")
		e.do(t, "GET", p+"/history", other.read, nil).expect(t, 403, "forbidden")
		e.do(t, "POST", p+"/purge", k.write, nil).expect(t, 403, "forbidden")
	})
}

func TestHistoryFlagHTTP(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	var c struct {
		History *bool `json:"history"`
	}
	path := "/v1/tenants/acme/collections/notes"
	steps := []struct {
		body map[string]any
		want bool
	}{
		{map[string]any{"indexes": []any{}}, false}, // the default, shown explicitly
		{map[string]any{"history": true}, true},
		{map[string]any{"indexes": []any{map[string]any{"field": "a", "path": "$.a"}}}, true}, // absent keeps it
		{map[string]any{"history": false}, false},
	}
	for i, st := range steps {
		c.History = nil
		e.do(t, "PUT", path, k.admin, st.body).into(t, &c)
		if c.History == nil || *c.History != st.want {
			t.Fatalf("step %d: PUT %v answered history %v, want %v", i, st.body, c.History, st.want)
		}
		c.History = nil
		e.do(t, "GET", path, k.read, nil).expect(t, 200, "").into(t, &c)
		if c.History == nil || *c.History != st.want {
			t.Fatalf("step %d: GET shows history %v, want %v", i, c.History, st.want)
		}
	}
}

// TestPurgeHTTP erases a document and checks that its content is nowhere
// in the tenant's database file, and that the erasure is recorded.
func TestPurgeHTTP(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.do(t, "PUT", "/v1/tenants/acme/collections/people", adminToken, map[string]any{"history": true}).expect(t, 201, "")
	const marker = "GDPR-MARKER-5d41402abc4b"
	p := docPath("acme", "people", "alice")
	e.do(t, "PUT", p, k.write, map[string]any{"name": marker + "-1"}).expect(t, 201, "")
	e.do(t, "PUT", p, k.write, map[string]any{"name": marker + "-2", "pad": string(bytes.Repeat([]byte("z"), 9000))}).expect(t, 200, "")
	e.do(t, "PUT", p, k.write, map[string]any{"name": "renamed"}).expect(t, 200, "")
	e.do(t, "PUT", docPath("acme", "people", "bob"), k.write, map[string]any{"name": "bob"}).expect(t, 201, "")

	r := e.do(t, "POST", p+"/purge", k.admin, nil).expect(t, 200, "")
	if r.bookmark() == "" {
		t.Error("purge answered no bookmark")
	}
	e.do(t, "GET", p, k.read, nil).expect(t, 404, "not_found")
	e.do(t, "GET", p+"?version=1", k.read, nil).expect(t, 404, "not_found")
	e.do(t, "GET", p+"/history", k.read, nil).expect(t, 404, "not_found")
	e.do(t, "POST", p+"/purge", k.admin, nil).expect(t, 404, "not_found")
	e.getDoc(t, k.read, "acme", "people", "bob")

	e.stop() // closes the tenant's store: WAL checkpointed
	path := filepath.Join(e.dir, "tenants", "acme", sqlite.FileName)
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var op, key string
	if err := db.QueryRow(`SELECT op, key_id FROM _quire_changes WHERE doc_id = 'alice' ORDER BY rowid DESC LIMIT 1`).Scan(&op, &key); err != nil {
		t.Fatal(err)
	}
	if op != "purge" || key != k.ids["admin"] {
		t.Errorf("last change of alice: %s by %s, want purge by %s", op, key, k.ids["admin"])
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, name := range []string{sqlite.FileName, sqlite.FileName + "-wal"} {
		raw, err := os.ReadFile(filepath.Join(filepath.Dir(path), name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(marker)) {
			t.Errorf("%s still holds the purged content", name)
		}
	}
}

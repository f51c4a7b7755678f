package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/quiredb/quire"
)

// sqlStore opens a store with the clients collection and one document, c1.
func sqlStore(t testing.TB) *Store {
	t.Helper()
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(context.Background(), clients); err != nil {
		t.Fatal(err)
	}
	put(t, s, "clients", "c1", `{"name":{"last":"Smith"},"email":"a@x","age":30}`)
	return s
}

// execSQL runs one SQL string with params as a key of role.
func execSQL(s *Store, role quire.Role, sql string, params ...any) ([]quire.SQLResult, quire.Bookmark, error) {
	return s.ExecSQL(context.Background(), quire.SQLRequest{Role: role, KeyID: "key-" + string(role),
		Statements: []quire.SQLStatement{{SQL: sql, Params: params}}})
}

// mustSQL is execSQL that fails the test on error.
func mustSQL(t testing.TB, s *Store, role quire.Role, sql string, params ...any) ([]quire.SQLResult, quire.Bookmark) {
	t.Helper()
	res, b, err := execSQL(s, role, sql, params...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res, b
}

// change is a row of the change log.
type change struct {
	Seq        int64
	Collection string
	DocID      string
	Op         string
	Version    int64
	KeyID      string
}

// changes reads the change log, bypassing the sandbox.
func changes(t testing.TB, s *Store) []change {
	t.Helper()
	rows, err := s.rdb.Query("SELECT seq, collection, doc_id, op, version, key_id FROM _quire_changes ORDER BY rowid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.Seq, &c.Collection, &c.DocID, &c.Op, &c.Version, &c.KeyID); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func TestSQLReadWrite(t *testing.T) {
	ctx := context.Background()
	s := sqlStore(t)
	before := changes(t, s)

	res, b := mustSQL(t, s, quire.RoleRead, "SELECT id, json_extract(body, '$.email') AS email, _version FROM clients WHERE id = ?", "c1")
	if got, want := fmt.Sprint(res[0].Columns, res[0].Rows), "[id email _version] [[c1 a@x 1]]"; got != want {
		t.Fatalf("select: %s, want %s", got, want)
	}
	if b != s.Position() || res[0].Meta.ServedBy != "quire-reader" || res[0].Meta.SizeAfter <= 0 {
		t.Fatalf("select: bookmark %v (position %v), meta %+v", b, s.Position(), res[0].Meta)
	}

	t.Run("Types", func(t *testing.T) {
		res, _ := mustSQL(t, s, quire.RoleRead, "SELECT 1, 2.5, 'x', NULL, x'00ff', ?, ?", true, int64(1)<<62)
		want := []any{int64(1), 2.5, "x", nil, []byte{0, 0xff}, int64(1), int64(1) << 62}
		if !reflect.DeepEqual(res[0].Rows[0], want) {
			t.Fatalf("got %#v, want %#v", res[0].Rows[0], want)
		}
	})

	t.Run("Insert", func(t *testing.T) {
		res, b := mustSQL(t, s, quire.RoleWrite, "INSERT INTO clients (id, body) VALUES (?, ?)", "c2", `{"email":"b@x"}`)
		if m := res[0].Meta; m.Changes != 1 || !m.ChangedDB || m.ServedBy != "quire-writer" || m.LastRowID == 0 {
			t.Fatalf("insert meta %+v", m)
		}
		d, err := s.Get(ctx, "clients", "c2")
		if err != nil || d.Version != 1 || d.CreatedAt == 0 || d.CreatedAt != d.UpdatedAt {
			t.Fatalf("inserted document %+v, %v", d, err)
		}
		got := changes(t, s)[len(before)]
		if want := (change{int64(b.Seq), "clients", "c2", "put", 1, "key-write"}); got != want {
			t.Fatalf("change %+v, want %+v", got, want)
		}
	})

	t.Run("UpdateBumpsVersion", func(t *testing.T) {
		d0, _ := s.Get(ctx, "clients", "c1")
		n := len(changes(t, s))
		_, b := mustSQL(t, s, quire.RoleWrite, "UPDATE clients SET body = json_set(body, '$.x', 1) WHERE id = 'c1'")
		d, err := s.Get(ctx, "clients", "c1")
		if err != nil || d.Version != d0.Version+1 || d.UpdatedAt < d0.UpdatedAt || d.CreatedAt != d0.CreatedAt {
			t.Fatalf("updated document %+v (was %+v), %v", d, d0, err)
		}
		if got, want := string(d.Body), `{"name":{"last":"Smith"},"email":"a@x","age":30,"x":1}`; got != want {
			t.Fatalf("body %s, want %s", got, want)
		}
		cs := changes(t, s)[n:]
		if want := []change{{int64(b.Seq), "clients", "c1", "put", d.Version, "key-write"}}; !reflect.DeepEqual(cs, want) {
			t.Fatalf("changes %+v, want %+v", cs, want)
		}
		// A write that sets updated_at itself still gets Quire's.
		mustSQL(t, s, quire.RoleWrite, "UPDATE clients SET updated_at = 5 WHERE id = 'c1'")
		if d2, _ := s.Get(ctx, "clients", "c1"); d2.Version != d.Version+1 || d2.UpdatedAt == 5 {
			t.Fatalf("after setting updated_at: %+v", d2)
		}
	})

	t.Run("Upsert", func(t *testing.T) {
		d0, _ := s.Get(ctx, "clients", "c2")
		mustSQL(t, s, quire.RoleWrite, `INSERT INTO clients (id, body) VALUES ('c2', '{"email":"c@x"}')
			ON CONFLICT (id) DO UPDATE SET body = excluded.body`)
		if d, _ := s.Get(ctx, "clients", "c2"); d.Version != d0.Version+1 || string(d.Body) != `{"email":"c@x"}` {
			t.Fatalf("upserted %+v", d)
		}
	})

	t.Run("ReplaceLogsDelete", func(t *testing.T) {
		n := len(changes(t, s))
		_, b := mustSQL(t, s, quire.RoleWrite, `INSERT OR REPLACE INTO clients (id, body) VALUES ('c2', '{"email":"d@x"}')`)
		cs := changes(t, s)[n:]
		if len(cs) != 2 || cs[0].Op != "delete" || cs[1].Op != "put" || cs[1].Version != 1 || cs[0].Seq != int64(b.Seq) {
			t.Fatalf("replace logged %+v", cs)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		n := len(changes(t, s))
		_, b := mustSQL(t, s, quire.RoleWrite, "DELETE FROM clients WHERE id = 'c2'")
		if cs := changes(t, s)[n:]; len(cs) != 1 || cs[0] != (change{int64(b.Seq), "clients", "c2", "delete", 1, "key-write"}) {
			t.Fatalf("delete logged %+v", cs)
		}
		if _, err := s.Get(ctx, "clients", "c2"); quire.ErrorCode(err) != quire.ENotFound {
			t.Fatalf("deleted document: %v", err)
		}
	})

	t.Run("MultipleStatements", func(t *testing.T) {
		res, _ := mustSQL(t, s, quire.RoleRead, "SELECT ?; -- a; comment\n SELECT ';' || ?;;", int64(1), "x")
		if len(res) != 2 || res[0].Rows[0][0] != int64(1) || res[1].Rows[0][0] != ";x" {
			t.Fatalf("got %+v", res)
		}
		if _, _, err := execSQL(s, quire.RoleRead, "SELECT ?; SELECT ?", int64(1)); quire.ErrorCode(err) != quire.EInvalid {
			t.Fatalf("too few params: %v", err)
		}
		if _, _, err := execSQL(s, quire.RoleRead, "SELECT ?", int64(1), int64(2)); quire.ErrorCode(err) != quire.EInvalid {
			t.Fatalf("too many params: %v", err)
		}
	})
}

func TestSQLDocumentPathLogsOnce(t *testing.T) {
	ctx := context.Background()
	s := sqlStore(t)
	write := func(op quire.WriteOp) quire.Bookmark {
		t.Helper()
		_, b, err := s.Write(ctx, []quire.WriteOp{op}, "k1")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	n := len(changes(t, s))
	b1 := write(quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: "d1", Body: json.RawMessage(`{"a":1}`)})
	b2 := write(quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: "d1", Body: json.RawMessage(`{"a":2}`)})
	b3 := write(quire.WriteOp{Op: quire.OpPatch, Collection: "clients", ID: "d1", Body: json.RawMessage(`{"b":3}`)})
	b4 := write(quire.WriteOp{Op: quire.OpDelete, Collection: "clients", ID: "d1"})
	_, b5, err := s.Write(ctx, []quire.WriteOp{
		{Op: quire.OpCreate, Collection: "clients", ID: "d2", Body: json.RawMessage(`{}`)},
		{Op: quire.OpPatch, Collection: "clients", ID: "d2", Body: json.RawMessage(`{"z":1}`)},
	}, "k2")
	if err != nil {
		t.Fatal(err)
	}
	got := changes(t, s)[n:]
	want := []change{
		{int64(b1.Seq), "clients", "d1", "put", 1, "k1"},
		{int64(b2.Seq), "clients", "d1", "put", 2, "k1"},
		{int64(b3.Seq), "clients", "d1", "put", 3, "k1"},
		{int64(b4.Seq), "clients", "d1", "delete", 3, "k1"},
		{int64(b5.Seq), "clients", "d2", "put", 1, "k2"},
		{int64(b5.Seq), "clients", "d2", "put", 2, "k2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes\n got %+v\nwant %+v", got, want)
	}
	if d, _ := s.Get(ctx, "clients", "d2"); d.Version != 2 {
		t.Fatalf("d2 at version %d, want 2", d.Version)
	}
}

func TestSQLBatchRollsBack(t *testing.T) {
	ctx := context.Background()
	s := sqlStore(t)
	n, pos := len(changes(t, s)), s.Position()
	_, _, err := s.ExecSQL(ctx, quire.SQLRequest{Role: quire.RoleWrite, KeyID: "k", Statements: []quire.SQLStatement{
		{SQL: `INSERT INTO clients (id, body) VALUES ('c3', '{}')`},
		{SQL: `UPDATE clients SET body = '{"gone":true}' WHERE id = 'c1'`},
		{SQL: `INSERT INTO clients (id, body) VALUES ('c1', '{}')`}, // duplicate id
	}})
	if quire.ErrorCode(err) != quire.ESQL || !strings.Contains(err.Error(), "statement 2") {
		t.Fatalf("got %v, want sql_error in statement 2", err)
	}
	if _, err := s.Get(ctx, "clients", "c3"); quire.ErrorCode(err) != quire.ENotFound {
		t.Fatalf("c3 after rollback: %v", err)
	}
	if d, _ := s.Get(ctx, "clients", "c1"); d.Version != 1 || strings.Contains(string(d.Body), "gone") {
		t.Fatalf("c1 after rollback: %+v", d)
	}
	if len(changes(t, s)) != n || s.Position() != pos {
		t.Fatalf("rollback left changes or moved the position")
	}
}

func TestSQLInvariants(t *testing.T) {
	ctx := context.Background()
	s := sqlStore(t)
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sql, code string }{
		{`INSERT INTO clients (id, body) VALUES ('x', '[1,2]')`, quire.EInvalidDocument},
		{`INSERT INTO clients (id, body) VALUES ('x', '{bad')`, quire.ESQL}, // json_extract of an index column: "malformed JSON"
		{`INSERT INTO plain (id, body) VALUES ('x', '{bad')`, quire.EInvalidDocument},
		{`INSERT INTO plain (id, body) VALUES ('x', '{"a":1} trailing')`, quire.EInvalidDocument},
		{`INSERT INTO clients (id, body) VALUES ('x', '{a:1}')`, quire.EInvalidDocument}, // JSON5
		{`INSERT INTO clients (id, body) VALUES ('x', '"s"')`, quire.EInvalidDocument},
		{`INSERT INTO clients (id, body) VALUES ('x', '{"a":"' || printf('%.*c', 3000000, 'x') || '"}')`, quire.ETooLarge},
		{`INSERT INTO clients (id, body, _version) VALUES ('x', '{}', 7)`, quire.ESQL},
		{`INSERT INTO clients (id, body, created_at, updated_at) VALUES ('x', '{}', 1, 1)`, quire.ESQL},
		{`INSERT INTO clients (id, body) VALUES ('a' || char(10) || 'b', '{}')`, quire.ESQL},
		{`INSERT INTO clients (id, body) VALUES ('', '{}')`, quire.ESQL},
		{`UPDATE clients SET body = '[]' WHERE id = 'c1'`, quire.EInvalidDocument},
		{`UPDATE clients SET _version = 99 WHERE id = 'c1'`, quire.ESQL},
		{`UPDATE clients SET _version = _version - 1, updated_at = 0 WHERE id = 'c1'`, quire.ESQL},
		{`UPDATE clients SET id = 'renamed' WHERE id = 'c1'`, quire.ESQL},
		{`UPDATE clients SET created_at = 0 WHERE id = 'c1'`, quire.ESQL},
		{`UPDATE clients SET body = json_set(body, '$.age', 'old') WHERE id = 'c1'`, quire.ESQL}, // STRICT index column
	} {
		if _, _, err := execSQL(s, quire.RoleWrite, tc.sql); quire.ErrorCode(err) != tc.code {
			t.Errorf("%s: got %v, want %s", tc.sql, err, tc.code)
		}
	}
	if d, _ := s.Get(ctx, "clients", "c1"); d.Version != 1 || string(d.Body) != `{"name":{"last":"Smith"},"email":"a@x","age":30}` {
		t.Fatalf("c1 changed: %+v", d)
	}
	// A write outside Quire's writer fails instead of escaping the log.
	s.wctx = nil
	if _, err := s.wconn.ExecContext(ctx, `DELETE FROM clients`); err == nil || !strings.Contains(err.Error(), "writer") {
		t.Fatalf("unbound write: %v", err)
	}
}

// TestSQLTriggersAddedOnOpen: a collection created before collections had
// triggers gets them when the store opens, and its writes are logged once.
func TestSQLTriggersAddedOnOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "legacy"}); err != nil {
		t.Fatal(err)
	}
	// The table as an earlier Quire created it: no defaults, no triggers.
	for _, q := range []string{`DROP TABLE legacy`,
		`CREATE TABLE legacy (id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, _version INTEGER NOT NULL DEFAULT 0) STRICT`} {
		if _, err := s.wconn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openTestStore(t, dir)
	put(t, s, "legacy", "a", `{"v":1}`)
	put(t, s, "legacy", "a", `{"v":2}`)
	mustSQL(t, s, quire.RoleWrite, "INSERT INTO legacy (id, body, created_at, updated_at, _version) VALUES ('b', '{}', quire_now(), quire_now(), 1)")
	mustSQL(t, s, quire.RoleWrite, "UPDATE legacy SET body = '{\"v\":3}' WHERE id = 'a'")
	var got []string
	for _, c := range changes(t, s) {
		got = append(got, fmt.Sprint(c.DocID, c.Op, c.Version))
	}
	if want := []string{"aput1", "aput2", "bput1", "aput3"}; !slices.Equal(got, want) {
		t.Fatalf("changes %q, want %q", got, want)
	}
}

// otherTenant creates another tenant's database and returns its directory
// and a secret it holds.
func otherTenant(t testing.TB) (dir, secret string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "other")
	o := openTestStore(t, dir)
	if _, _, err := o.PutCollection(context.Background(), quire.Collection{Name: "secrets"}); err != nil {
		t.Fatal(err)
	}
	secret = "secret-of-other-tenant"
	put(t, o, "secrets", "s1", `{"v":"`+secret+`"}`)
	// Closed, its files stay as they are: an open store's checkpointer
	// would rewrite them a moment after the write, touched or not.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, secret
}

func TestSQLSandbox(t *testing.T) {
	s := sqlStore(t)
	otherDir, secret := otherTenant(t)
	other := filepath.Join(otherDir, FileName)
	mustSQL(t, s, quire.RoleAdmin, "CREATE TABLE mine (id INTEGER PRIMARY KEY, v TEXT)")
	n, pos := len(changes(t, s)), s.Position()
	const (
		r = quire.RoleRead
		w = quire.RoleWrite
		a = quire.RoleAdmin
	)
	for _, tc := range []struct {
		roles []quire.Role
		sql   string
		msg   string // in the error
	}{
		{[]quire.Role{r, w, a}, "ATTACH DATABASE '" + other + "' AS o", "ATTACH"},
		{[]quire.Role{r, w, a}, "DETACH DATABASE main", "ATTACH and DETACH"},
		{[]quire.Role{r, w, a}, "SELECT load_extension('/tmp/x.so')", "load_extension"},
		{[]quire.Role{r, a}, "SELECT fts3_tokenizer('simple')", "fts3_tokenizer"},
		{[]quire.Role{r, w, a}, "PRAGMA writable_schema = 1", "PRAGMA writable_schema"},
		{[]quire.Role{r, w, a}, "PRAGMA journal_mode = delete", "PRAGMA journal_mode"},
		{[]quire.Role{r, a}, "PRAGMA query_only = 0", "PRAGMA query_only"},
		{[]quire.Role{r, a}, "PRAGMA table_list", "PRAGMA table_list"},
		{[]quire.Role{r, a}, "PRAGMA table_info(_quire_changes)", "needs the name"},
		{[]quire.Role{r, a}, "SELECT * FROM pragma_table_info('_quire_meta')", "needs the name"},
		{[]quire.Role{r, a}, "SELECT * FROM pragma_index_list('clients', 'temp')", "needs the name"},
		{[]quire.Role{r, w, a}, "SELECT * FROM _quire_changes", "internal tables"},
		{[]quire.Role{r, a}, "SELECT count(*) FROM _QUIRE_META", "internal tables"},
		{[]quire.Role{r, a}, "SELECT * FROM clients JOIN _quire_collections", "internal tables"},
		{[]quire.Role{r, w, a}, "SELECT sql FROM sqlite_schema", "sqlite_schema"},
		{[]quire.Role{r, a}, "SELECT name FROM sqlite_master", "sqlite_schema"},
		{[]quire.Role{r, a}, "SELECT name FROM sqlite_temp_master", "sqlite_schema"},
		{[]quire.Role{a}, "CREATE TABLE leak AS SELECT sql FROM sqlite_master", "sqlite_schema"},
		{[]quire.Role{a}, "INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 0, '')", "sqlite_schema"},
		{[]quire.Role{w, a}, "INSERT INTO _quire_changes VALUES (1, 'clients', 'c1', 'put', 9, 0, 'forged')", "internal tables"},
		{[]quire.Role{w, a}, "UPDATE _quire_meta SET v = 0", "internal tables"},
		{[]quire.Role{w, a}, "DELETE FROM _quire_changes", "internal tables"},
		{[]quire.Role{a}, "INSERT INTO mine (v) SELECT doc_id FROM _quire_changes", "internal tables"},
		{[]quire.Role{r}, "INSERT INTO clients (id, body) VALUES ('r', '{}')", "read keys"},
		{[]quire.Role{r}, "DELETE FROM clients", "read keys"},
		{[]quire.Role{r}, "UPDATE mine SET v = 'x'", "read keys"},
		{[]quire.Role{r, w, a}, "BEGIN", "transactions"},
		{[]quire.Role{r, w, a}, "COMMIT", "transactions"},
		{[]quire.Role{r, w, a}, "SAVEPOINT s", "transactions"},
		{[]quire.Role{r, w, a}, "RELEASE s", "transactions"},
		{[]quire.Role{a}, "CREATE TRIGGER t AFTER INSERT ON mine BEGIN DELETE FROM mine; END", "triggers"},
		{[]quire.Role{a}, `DROP TRIGGER "trg.clients.insert"`, "triggers"},
		{[]quire.Role{a}, "CREATE VIEW v AS SELECT 1", "views"},
		{[]quire.Role{a}, "CREATE TEMP TABLE t (x)", "temporary"},
		{[]quire.Role{a}, "CREATE VIRTUAL TABLE f USING fts3(x)", "virtual tables"},
		{[]quire.Role{a}, "DROP TABLE clients", "collection"},
		{[]quire.Role{a}, "ALTER TABLE clients ADD COLUMN x TEXT", "collection"},
		{[]quire.Role{a}, "ALTER TABLE clients RENAME TO c2", "collection"},
		{[]quire.Role{a}, "CREATE INDEX i ON clients(id)", "collection"},
		{[]quire.Role{a}, `DROP INDEX "idx.clients.email"`, "collection"},
		{[]quire.Role{a}, "CREATE TABLE _quire_x (v)", "reserved"},
		{[]quire.Role{a}, "CREATE TABLE clients (v)", "collection"},
		{[]quire.Role{a}, "ALTER TABLE mine RENAME TO _quire_evil", "reserved"},
		{[]quire.Role{w}, "CREATE TABLE notes (v)", "admin key"},
		{[]quire.Role{w}, "DROP TABLE mine", "admin key"},
		{[]quire.Role{a}, "ANALYZE", "SQLite"},
		{[]quire.Role{a}, "REINDEX", "not allowed"},
	} {
		for _, role := range tc.roles {
			_, _, err := execSQL(s, role, tc.sql)
			if quire.ErrorCode(err) != quire.EForbidden || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s key: %s: got %v, want forbidden (%s)", role, tc.sql, err, tc.msg)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error leaks the other tenant's data", tc.sql)
			}
		}
	}
	if len(changes(t, s)) != n || s.Position() != pos {
		t.Fatalf("a refused statement changed the database")
	}
	if d, err := s.Get(context.Background(), "clients", "c1"); err != nil || d.Version != 1 {
		t.Fatalf("c1 after the sandbox tests: %+v, %v", d, err)
	}
	// load_extension is also off in the driver itself (mattn enables it
	// only for DSN-configured extensions): a second layer.
	if _, err := s.wconn.ExecContext(context.Background(), "SELECT load_extension('/tmp/x.so')"); err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Fatalf("load_extension without the sandbox: %v", err)
	}
}

// TestSandboxDecide holds each authorizer rule on its own, without the
// layers behind it (query_only, SQLite's own refusals).
func TestSandboxDecide(t *testing.T) {
	colls := map[string]*quire.Collection{"clients": {Name: "clients"}}
	const (
		r = quire.RoleRead
		w = quire.RoleWrite
		a = quire.RoleAdmin
	)
	type call struct {
		op             int
		arg1, arg2, db string
	}
	for _, tc := range []struct {
		role   quire.Role
		writer bool
		calls  []call // all but the last must be allowed
		allow  bool
	}{
		{r, false, []call{{sqlite3.SQLITE_SELECT, "", "", ""}, {sqlite3.SQLITE_READ, "clients", "body", "main"}}, true},
		{r, false, []call{{sqlite3.SQLITE_READ, "_quire_changes", "seq", "main"}}, false},
		{r, false, []call{{sqlite3.SQLITE_READ, "_Quire_Meta", "v", "main"}}, false},
		{a, false, []call{{sqlite3.SQLITE_READ, "sqlite_master", "sql", "main"}}, true}, // then check refuses
		{r, false, []call{{sqlite3.SQLITE_READ, "sqlite_master", "sql", "main"}}, false},
		{r, false, []call{{sqlite3.SQLITE_READ, "sqlite_stat1", "stat", "main"}}, false},
		{r, false, []call{{sqlite3.SQLITE_READ, "sqlite_dbpage", "data", "main"}}, false},
		{r, false, []call{{sqlite3.SQLITE_READ, "dbstat", "name", "main"}}, false},
		{r, false, []call{{sqlite3.SQLITE_READ, "sqlite_sequence", "seq", "main"}}, true},
		{r, false, []call{{sqlite3.SQLITE_READ, "clients", "id", "other"}}, false},
		{r, false, []call{{sqlite3.SQLITE_INSERT, "clients", "", "main"}}, false},
		{r, true, []call{{sqlite3.SQLITE_UPDATE, "clients", "body", "main"}}, false},
		{w, false, []call{{sqlite3.SQLITE_INSERT, "clients", "", "main"}}, false}, // sent to the writer
		{w, true, []call{{sqlite3.SQLITE_INSERT, "clients", "", "main"}, {sqlite3.SQLITE_INSERT, "_quire_changes", "", "main"}}, true},
		{w, true, []call{{sqlite3.SQLITE_INSERT, "mine", "", "main"}, {sqlite3.SQLITE_INSERT, "_quire_changes", "", "main"}}, false},
		{w, true, []call{{sqlite3.SQLITE_INSERT, "_quire_changes", "", "main"}}, false},
		{w, true, []call{{sqlite3.SQLITE_INSERT, "clients", "", "main"}, {sqlite3.SQLITE_DELETE, "_quire_changes", "", "main"}}, false},
		{w, true, []call{{sqlite3.SQLITE_INSERT, "sqlite_master", "", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_INSERT, "sqlite_master", "", "main"}, {sqlite3.SQLITE_CREATE_TABLE, "mine", "", "main"}}, true},
		{w, true, []call{{sqlite3.SQLITE_CREATE_TABLE, "mine", "", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_CREATE_TABLE, "clients", "", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_CREATE_TABLE, "_quire_x", "", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_DROP_TABLE, "clients", "", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_DROP_TABLE, "mine", "", "main"}}, true},
		{a, true, []call{{sqlite3.SQLITE_ALTER_TABLE, "main", "clients", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_ALTER_TABLE, "main", "mine", ""}}, true},
		{a, true, []call{{sqlite3.SQLITE_CREATE_INDEX, "i", "clients", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_DROP_INDEX, "idx.clients.email", "clients", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_CREATE_INDEX, "i", "mine", "main"}, {sqlite3.SQLITE_REINDEX, "i", "", "main"}}, true},
		{a, true, []call{{sqlite3.SQLITE_REINDEX, "i", "", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_ATTACH, "/data/tenants/other/quire.db", "", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_DETACH, "main", "", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_FUNCTION, "", "load_extension", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_FUNCTION, "", "LOAD_EXTENSION", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_FUNCTION, "", "fts3_tokenizer", ""}}, false},
		{r, false, []call{{sqlite3.SQLITE_FUNCTION, "", "json_extract", ""}}, true},
		{r, false, []call{{sqlite3.SQLITE_PRAGMA, "table_info", "clients", ""}}, true},
		{r, false, []call{{sqlite3.SQLITE_PRAGMA, "TABLE_INFO", "_quire_changes", ""}}, false},
		{r, false, []call{{sqlite3.SQLITE_PRAGMA, "table_info", "", ""}}, false},
		{r, false, []call{{sqlite3.SQLITE_PRAGMA, "table_info", "clients", "temp"}}, false},
		{a, true, []call{{sqlite3.SQLITE_PRAGMA, "writable_schema", "1", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_PRAGMA, "journal_mode", "delete", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_PRAGMA, "table_list", "", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_TRANSACTION, "BEGIN", "", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_SAVEPOINT, "BEGIN", "s", ""}}, false},
		{a, true, []call{{sqlite3.SQLITE_CREATE_TRIGGER, "t", "mine", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_DROP_TRIGGER, "trg.clients.insert", "clients", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_CREATE_VIEW, "v", "", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_CREATE_TEMP_TABLE, "t", "", "temp"}}, false},
		{a, true, []call{{sqlite3.SQLITE_CREATE_VTABLE, "f", "fts5", "main"}}, false},
		{a, true, []call{{sqlite3.SQLITE_ANALYZE, "", "", "main"}}, false},
		{a, true, []call{{authRecursive, "", "", ""}}, true},
		{a, true, []call{{99, "", "", ""}}, false}, // an action this code does not know
	} {
		sb := &sandbox{role: tc.role, colls: colls, writer: tc.writer}
		for i, c := range tc.calls {
			got := sb.authorize(c.op, c.arg1, c.arg2, c.db) == sqlite3.SQLITE_OK
			if want := i < len(tc.calls)-1 || tc.allow; got != want {
				t.Errorf("%s key, writer %t, %v: call %d allowed %t, want %t (%v)", tc.role, tc.writer, tc.calls, i, got, want, sb.denied)
				break
			}
		}
	}
	// What only check can refuse.
	for _, tc := range []struct {
		calls []call
		ok    bool
	}{
		{[]call{{sqlite3.SQLITE_READ, "sqlite_master", "name", "main"}}, false},
		{[]call{{sqlite3.SQLITE_INSERT, "sqlite_master", "", "main"}}, false},
		{[]call{{sqlite3.SQLITE_INSERT, "sqlite_master", "", "main"}, {sqlite3.SQLITE_CREATE_TABLE, "mine", "", "main"}, {sqlite3.SQLITE_READ, "sqlite_master", "ROWID", "main"}}, true},
		{[]call{{sqlite3.SQLITE_INSERT, "sqlite_master", "", "main"}, {sqlite3.SQLITE_CREATE_TABLE, "mine", "", "main"}, {sqlite3.SQLITE_READ, "sqlite_master", "sql", "main"}}, false},
		{[]call{{sqlite3.SQLITE_ALTER_TABLE, "main", "mine", ""}, {sqlite3.SQLITE_READ, "sqlite_master", "sql", "main"}, {sqlite3.SQLITE_UPDATE, "sqlite_temp_master", "sql", "temp"}}, true},
	} {
		sb := &sandbox{role: a, colls: colls, writer: true}
		for _, c := range tc.calls {
			sb.authorize(c.op, c.arg1, c.arg2, c.db)
		}
		if err := sb.check(); (err == nil) != tc.ok {
			t.Errorf("%v: check %v, want ok %t", tc.calls, err, tc.ok)
		}
	}
}

func TestSQLVacuum(t *testing.T) {
	s := sqlStore(t)
	target := filepath.Join(t.TempDir(), "stolen.db")
	for _, q := range []string{"VACUUM", "VACUUM INTO '" + target + "'"} {
		for _, role := range []quire.Role{quire.RoleRead, quire.RoleWrite, quire.RoleAdmin} {
			want := quire.ESQL // cannot VACUUM from within a transaction
			if role == quire.RoleRead {
				want = quire.EForbidden
			}
			if _, _, err := execSQL(s, role, q); quire.ErrorCode(err) != want {
				t.Errorf("%s key: %s: got %v, want %s", role, q, err, want)
			}
		}
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("VACUUM INTO wrote %s: %v", target, err)
	}
}

func TestSQLAdminTables(t *testing.T) {
	s := sqlStore(t)
	mustSQL(t, s, quire.RoleAdmin, "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, client TEXT REFERENCES clients(id), t TEXT, at DATETIME, ok BOOLEAN)")
	mustSQL(t, s, quire.RoleAdmin, "CREATE INDEX notes_client ON notes(client)")
	res, _ := mustSQL(t, s, quire.RoleWrite, "INSERT INTO notes (client, t, at, ok) VALUES ('c1', 'hello', '2024-05-01 10:00:00', 1)")
	if res[0].Meta.LastRowID != 1 {
		t.Fatalf("last_row_id %d", res[0].Meta.LastRowID)
	}
	res, _ = mustSQL(t, s, quire.RoleRead, "SELECT n.t, c.id, n.at, n.ok FROM notes n JOIN clients c ON c.id = n.client")
	if got, want := fmt.Sprint(res[0].Rows), "[[hello c1 2024-05-01T10:00:00Z 1]]"; got != want {
		t.Fatalf("join: %s, want %s", got, want)
	}
	res, _ = mustSQL(t, s, quire.RoleRead, "PRAGMA table_info(notes)")
	if len(res[0].Rows) != 5 {
		t.Fatalf("table_info: %v", res[0].Rows)
	}
	mustSQL(t, s, quire.RoleRead, "SELECT * FROM pragma_index_list('clients')")
	mustSQL(t, s, quire.RoleRead, "SELECT * FROM sqlite_sequence")
	mustSQL(t, s, quire.RoleAdmin, "ALTER TABLE notes ADD COLUMN extra TEXT")
	mustSQL(t, s, quire.RoleAdmin, "ALTER TABLE notes RENAME TO notes2")
	mustSQL(t, s, quire.RoleAdmin, "DROP TABLE notes2")
}

func TestSQLDeadline(t *testing.T) {
	ctx := context.Background()
	s := sqlStore(t)
	forever := "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
	for _, tc := range []struct {
		role quire.Role
		sql  string
	}{
		{quire.RoleRead, forever},
		{quire.RoleWrite, "UPDATE clients SET body = json_set(body, '$.n', (" + forever + "))"},
	} {
		t0 := time.Now()
		_, _, err := s.ExecSQL(ctx, quire.SQLRequest{Role: tc.role, Timeout: 300 * time.Millisecond,
			Statements: []quire.SQLStatement{{SQL: tc.sql}}})
		if quire.ErrorCode(err) != quire.ETimeout {
			t.Fatalf("%s: got %v, want timeout", tc.role, err)
		}
		// The timeout code proves the endless statement was interrupted;
		// the bound only catches a hang, not a slow machine.
		if d := time.Since(t0); d > 20*time.Second {
			t.Fatalf("%s: stopped only after %v", tc.role, d)
		}
	}
	// The interrupted write rolled back alone; the writer still works.
	if d, _ := s.Get(ctx, "clients", "c1"); d.Version != 1 {
		t.Fatalf("c1 at version %d", d.Version)
	}
	put(t, s, "clients", "c9", `{}`)
}

func TestSQLLimits(t *testing.T) {
	s := sqlStore(t)
	rows := "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c LIMIT ?"
	if res, _ := mustSQL(t, s, quire.RoleRead, rows, int64(quire.MaxSQLRows)); len(res[0].Rows) != quire.MaxSQLRows {
		t.Fatalf("%d rows", len(res[0].Rows))
	}
	big := "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT printf('%.*c', 1000000, 'x') FROM c LIMIT 10"
	for _, tc := range []struct {
		req  quire.SQLRequest
		code string
	}{
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: rows, Params: []any{int64(quire.MaxSQLRows + 1)}}}}, quire.ETooLarge},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: big}}}, quire.ETooLarge},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: "SELECT printf('%.*c', 10000000, 'x')"}}}, quire.ETooLarge},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: "SELECT length(printf('%.*c', 20000000, 'x'))"}}}, quire.ETooLarge},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: "SELECT 1 -- " + strings.Repeat("x", quire.MaxSQLBytes)}}}, quire.ETooLarge},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: strings.Repeat("SELECT 1;", quire.MaxSQLStatements+1)}}}, quire.EInvalid},
		{quire.SQLRequest{Statements: make([]quire.SQLStatement, quire.MaxSQLStatements+1)}, quire.EInvalid},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: "SELECT ?", Params: make([]any, quire.MaxSQLParams+1)}}}, quire.EInvalid},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: "SELECT ?", Params: []any{map[string]any{}}}}}, quire.EInvalid},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: "SELECT 1\x00; DROP TABLE clients"}}}, quire.EInvalid},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: " ;; -- nothing"}}}, quire.EInvalid},
		{quire.SQLRequest{Timeout: time.Hour, Statements: []quire.SQLStatement{{SQL: "SELECT 1"}}}, quire.EInvalid},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: "SELEC 1"}}}, quire.ESQL},
		{quire.SQLRequest{Statements: []quire.SQLStatement{{SQL: "SELECT * FROM nope"}}}, quire.ESQL},
	} {
		tc.req.Role = quire.RoleRead
		if _, _, err := s.ExecSQL(context.Background(), tc.req); quire.ErrorCode(err) != tc.code {
			t.Errorf("%.80q: got %v, want %s", tc.req.Statements, err, tc.code)
		}
	}
}

func TestSplitSQL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{" ; ;; -- only a comment\n /* and another */ ", nil},
		{"SELECT 'a;b', \"c;d\", [e;f], `g;h` FROM t", []string{"SELECT 'a;b', \"c;d\", [e;f], `g;h` FROM t"}},
		{"SELECT 'it''s; fine'; SELECT 2", []string{"SELECT 'it''s; fine'", "SELECT 2"}},
		{"SELECT 1 -- trailing; comment\n; SELECT 2 /* ; */", []string{"SELECT 1 -- trailing; comment", "SELECT 2 /* ; */"}},
		{"CREATE TRIGGER t AFTER INSERT ON x BEGIN DELETE FROM y; UPDATE z SET a = 1; END; SELECT 1",
			[]string{"CREATE TRIGGER t AFTER INSERT ON x BEGIN DELETE FROM y; UPDATE z SET a = 1; END", "SELECT 1"}},
		{"create temp trigger t before delete on x begin select 1; end;", []string{"create temp trigger t before delete on x begin select 1; end"}},
		{"CREATE TABLE trigger (end); SELECT 1", []string{"CREATE TABLE trigger (end)", "SELECT 1"}},
		{"EXPLAIN SELECT 1; SELECT 'unterminated", []string{"EXPLAIN SELECT 1", "SELECT 'unterminated"}},
		{"SELECT 1 /* unterminated ; comment", []string{"SELECT 1 /* unterminated ; comment"}},
	} {
		if got := quire.SplitSQL(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitSQL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEmptyStatement(t *testing.T) {
	s := sqlStore(t)
	conn, err := s.rdb.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		c := dc.(*sqlite3.SQLiteConn)
		for q, want := range map[string]bool{"": true, " -- nothing": true, "SELECT 1": false} {
			ds, err := c.Prepare(q)
			if err != nil {
				t.Fatal(err)
			}
			if got := emptyStatement(ds.(*sqlite3.SQLiteStmt)); got != want {
				t.Errorf("emptyStatement(%q) = %t, want %t: has mattn renamed SQLiteStmt.s?", q, got, want)
			}
			ds.Close()
		}
		return nil
	})
	for _, q := range []string{"\v", " \v; ", "\u00a0"} {
		if _, _, err := execSQL(s, quire.RoleRead, q); quire.ErrorCode(err) != quire.ESQL && quire.ErrorCode(err) != quire.EInvalid {
			t.Errorf("%q: %v", q, err)
		}
	}
}

// sqliteFirstStatement returns the text SQLite leaves after compiling the
// first statement of q (mattn keeps it in an unexported field), so the
// tests can hold SplitSQL to SQLite's own idea of where statements end.
func sqliteFirstStatement(c *sqlite3.SQLiteConn, q string) (tail string, ok bool) {
	ds, err := c.Prepare(q)
	if err != nil {
		return "", false
	}
	defer ds.Close()
	return reflect.ValueOf(ds).Elem().FieldByName("t").String(), true
}

// FuzzSplitSQL checks that SplitSQL cuts where SQLite does, wherever SQLite
// can compile the first statement.
func FuzzSplitSQL(f *testing.F) {
	for _, s := range []string{"SELECT 1; SELECT 2", "SELECT ';' -- x\n; SELECT [a;b]", "SELECT 1 /* ; */ ; VALUES (2)",
		"CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END; SELECT 2", "EXPLAIN QUERY PLAN SELECT 1; SELECT 2"} {
		f.Add(s)
	}
	db, err := openDB(filepath.Join(f.TempDir(), "split.db"), Options{}.withDefaults(), roleWriter, 1)
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	db.Exec("CREATE TABLE x (a); CREATE TABLE y (a); CREATE TABLE z (a)")
	conn, err := db.Conn(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	f.Fuzz(func(t *testing.T, q string) {
		if strings.IndexByte(q, 0) >= 0 || len(q) > 10_000 {
			return
		}
		pieces := quire.SplitSQL(q)
		conn.Raw(func(dc any) error {
			c := dc.(*sqlite3.SQLiteConn)
			c.RegisterAuthorizer(func(op int, _, _, _ string) int {
				if op == sqlite3.SQLITE_SELECT || op == sqlite3.SQLITE_READ || op == sqlite3.SQLITE_FUNCTION {
					return sqlite3.SQLITE_OK
				}
				return sqlite3.SQLITE_DENY // compile, never change anything
			})
			defer c.RegisterAuthorizer(nil)
			tail, ok := sqliteFirstStatement(c, q)
			if !ok || len(pieces) == 0 {
				return nil
			}
			rest := quire.SplitSQL(tail)
			if !slices.Equal(rest, pieces[1:]) {
				t.Errorf("SplitSQL(%q) = %q; SQLite's tail %q splits into %q", q, pieces, tail, rest)
			}
			return nil
		})
	})
}

// dirHash returns a hash of the files of a directory.
func dirHash(t testing.TB, dir string) string {
	h := sha256.New()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// internalState is what a fuzzed statement must not change.
type internalState struct {
	meta, colls, schema string
	log                 []string
}

// dump renders the rows of q, bypassing the sandbox.
func dump(t testing.TB, s *Store, q string) []string {
	rows, err := s.rdb.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals, ptrs := make([]any, len(cols)), make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v", vals))
	}
	return out
}

func readInternal(t testing.TB, s *Store) internalState {
	return internalState{
		meta:   fmt.Sprint(dump(t, s, "SELECT * FROM _quire_meta WHERE k <> 'seq' ORDER BY k")),
		colls:  fmt.Sprint(dump(t, s, "SELECT * FROM _quire_collections ORDER BY name")),
		schema: fmt.Sprint(dump(t, s, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")),
		log:    dump(t, s, "SELECT seq, collection, doc_id, op, version, key_id FROM _quire_changes ORDER BY rowid"),
	}
}

// FuzzSQLSandbox runs arbitrary SQL with a read key, then a write key,
// against a small database. Whatever the SQL, nothing panics; a read key
// changes nothing; Quire's internal tables are never read, and change only
// by the change log growing with rows of this request's key; another
// tenant's database is neither read nor touched.
func FuzzSQLSandbox(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM clients", "SELECT * FROM _quire_changes", "ATTACH 'x' AS y",
		"PRAGMA writable_schema=1", "SELECT load_extension('x')", "BEGIN; DELETE FROM clients",
		"UPDATE clients SET body = '{}'", "INSERT INTO _quire_changes SELECT * FROM _quire_changes",
		"SELECT sql FROM sqlite_master", "SELECT * FROM pragma_table_info('_quire_meta')",
		"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
		"CREATE TRIGGER t AFTER UPDATE ON clients BEGIN DELETE FROM _quire_changes; END",
		"SELECT * FROM clients, clients, clients, clients", "VACUUM INTO '/tmp/x.db'", "VACUUM",
		"REPLACE INTO clients (id, body) VALUES ('c1', '{}')", "DROP TABLE clients",
		"\v", // once compiled to a NULL statement, which crashed the driver
	} {
		f.Add(s)
	}
	s := sqlStore(f)
	other, secret := otherTenant(f)
	// The change log holds a key id no SQL text can guess.
	marker := fmt.Sprintf("marker%x", time.Now().UnixNano())
	if _, _, err := s.Write(context.Background(), []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: "m", Body: json.RawMessage(`{}`)}}, marker); err != nil {
		f.Fatal(err)
	}
	otherHash := dirHash(f, other)
	f.Fuzz(func(t *testing.T, q string) {
		if strings.Contains(q, marker) || strings.Contains(q, secret) {
			return
		}
		before, pos := readInternal(t, s), s.Position()
		for _, role := range []quire.Role{quire.RoleRead, quire.RoleWrite} {
			res, _, err := s.ExecSQL(context.Background(), quire.SQLRequest{Role: role, KeyID: "fuzz", Timeout: 100 * time.Millisecond,
				Statements: []quire.SQLStatement{{SQL: q}}})
			if out := fmt.Sprint(res, err); strings.Contains(out, marker) || strings.Contains(out, secret) {
				t.Fatalf("%s key: %q revealed internal or foreign data: %.300s", role, q, out)
			}
			if role == quire.RoleRead && (s.Position() != pos || !reflect.DeepEqual(readInternal(t, s), before)) {
				t.Fatalf("read key: %q changed the database", q)
			}
		}
		after := readInternal(t, s)
		if after.meta != before.meta || after.colls != before.colls || after.schema != before.schema {
			t.Fatalf("write key: %q changed Quire's tables or the schema", q)
		}
		if len(after.log) < len(before.log) || !reflect.DeepEqual(after.log[:len(before.log)], before.log) {
			t.Fatalf("write key: %q rewrote the change log", q)
		}
		for _, row := range after.log[len(before.log):] {
			if !strings.HasSuffix(row, " fuzz]") {
				t.Fatalf("write key: %q logged a change not its own: %s", q, row)
			}
		}
		if dirHash(t, other) != otherHash {
			t.Fatalf("%q touched another tenant's database", q)
		}
	})
}

// TestSQLTablesMeetCollections checks the edges between an admin's own SQL
// tables and collections: a collection cannot take a table's name, and a
// foreign key refusing a document delete is a conflict, not an internal
// error.
func TestSQLTablesMeetCollections(t *testing.T) {
	ctx := context.Background()
	s := sqlStore(t)
	mustSQL(t, s, quire.RoleAdmin, "CREATE TABLE notes (id INTEGER PRIMARY KEY, client TEXT REFERENCES clients(id))")
	_, _, err := s.PutCollection(ctx, quire.Collection{Name: "notes"})
	if got, want := quire.ErrorCode(err), quire.EConflict; got != want {
		t.Errorf("collection over a SQL table: got %v, want %s", err, want)
	}
	mustSQL(t, s, quire.RoleWrite, "INSERT INTO notes (client) VALUES ('c1')")
	_, _, err = s.Write(ctx, []quire.WriteOp{{Op: quire.OpDelete, Collection: "clients", ID: "c1"}}, "k")
	if got, want := quire.ErrorCode(err), quire.EConflict; got != want {
		t.Errorf("delete of a referenced document: got %v, want %s", err, want)
	}
	if _, err := s.Get(ctx, "clients", "c1"); err != nil {
		t.Errorf("referenced document after the refused delete: %v", err)
	}
}

package server_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBackupRestoreRoutes(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	w := e.do(t, "PUT", docPath("acme", "notes", "n1"), k.write, `{"a":1}`).expect(t, 201, "")
	old := w.bookmark()

	t.Run("ErrForbidden", func(t *testing.T) {
		e.do(t, "POST", "/v1/tenants/acme/backup", k.admin, nil).expect(t, 403, "forbidden")
		e.do(t, "POST", "/v1/tenants/acme/restore", k.admin, "x").expect(t, 403, "forbidden")
		e.do(t, "POST", "/v1/tenants/acme/backup", "", nil).expect(t, 401, "unauthorized")
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		e.do(t, "POST", "/v1/tenants/nobody/backup", adminToken, nil).expect(t, 404, "not_found")
		e.do(t, "POST", "/v1/tenants/Bad!/backup", adminToken, nil).expect(t, 400, "invalid_name")
	})
	b := e.do(t, "POST", "/v1/tenants/acme/backup", adminToken, nil).expect(t, 200, "")
	if !bytes.HasPrefix(b.body, []byte("QUIRE-BACKUP 1\n{")) {
		t.Fatalf("backup starts %q", clip(b.body))
	}
	e.do(t, "PUT", docPath("acme", "notes", "n2"), k.write, `{"a":2}`).expect(t, 201, "")

	t.Run("OK", func(t *testing.T) {
		r := e.do(t, "POST", "/v1/tenants/acme/restore", adminToken, b.body).expect(t, 200, "")
		var res struct {
			Epoch    uint32 `json:"epoch"`
			Bookmark string `json:"bookmark"`
		}
		r.into(t, &res)
		if res.Epoch != 2 || r.bookmark() != res.Bookmark {
			t.Errorf("restore answered %s", r)
		}
		e.do(t, "GET", docPath("acme", "notes", "n2"), k.read, nil).expect(t, 404, "not_found")
		// Keys survive a restore; bookmarks from before it do not.
		g := e.do(t, "GET", docPath("acme", "notes", "n1"), k.read, nil, "Quire-Bookmark", old).expect(t, 400, "invalid_bookmark")
		if !strings.Contains(g.errMessage(), "restored") {
			t.Errorf("old bookmark refused with %q", g.errMessage())
		}
		e.do(t, "GET", docPath("acme", "notes", "n1"), k.read, nil, "Quire-Bookmark", res.Bookmark).expect(t, 200, "")
	})
	t.Run("ErrInvalidBackup", func(t *testing.T) {
		for name, body := range map[string][]byte{
			"truncated": b.body[:len(b.body)-1],
			"garbage":   []byte("PK\x03\x04 not a backup"),
			"empty":     {},
		} {
			r := e.do(t, "POST", "/v1/tenants/acme/restore", adminToken, body)
			if r.status != 400 || r.code() != "invalid_backup" {
				t.Errorf("%s: %s", name, r)
			}
		}
	})
}

func TestExportImportRoutes(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes", map[string]any{"field": "a", "path": "$.a", "type": "integer"})
	e.do(t, "PUT", docPath("acme", "notes", "n1"), k.write, `{"a":1}`).expect(t, 201, "")
	e.do(t, "PUT", docPath("acme", "notes", "n1"), k.write, `{"a":2}`).expect(t, 200, "")

	x := e.do(t, "GET", "/v1/tenants/acme/export", k.read, nil).expect(t, 200, "")
	if got := x.header.Get("Content-Type"); got != "application/x-ndjson" {
		t.Errorf("Content-Type = %q", got)
	}
	lines := strings.Split(strings.TrimSpace(string(x.body)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"version":2`) {
		t.Fatalf("export = %s", x.body)
	}
	e.do(t, "GET", "/v1/tenants/acme/export?collection=nope", k.read, nil).expect(t, 404, "not_found")

	k2 := e.createTenant(t, "copy")
	e.do(t, "POST", "/v1/tenants/copy/import", k2.write, x.body).expect(t, 403, "forbidden")
	r := e.do(t, "POST", "/v1/tenants/copy/import?first_line=5", k2.admin, string(x.body)+"{oops\n").expect(t, 200, "")
	var res struct {
		Imported int `json:"imported"`
		Rejected []struct {
			Line  int `json:"line"`
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"rejected"`
	}
	r.into(t, &res)
	if res.Imported != 1 || len(res.Rejected) != 1 || res.Rejected[0].Line != 7 || res.Rejected[0].Error.Code != "invalid" {
		t.Errorf("import answered %s", r)
	}
	var d struct {
		Version int `json:"version"`
	}
	g := e.do(t, "GET", docPath("copy", "notes", "n1"), k2.read, nil).expect(t, 200, "")
	json.Unmarshal(g.body, &d)
	if d.Version != 2 {
		t.Errorf("imported document %s", g.body)
	}
	e.do(t, "POST", "/v1/tenants/copy/import?first_line=0", k2.admin, "").expect(t, 400, "invalid")
}

package server_test

import (
	"net/http/httptest"
	"testing"

	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
)

// newNodeEnv starts a server over dir with the given registry and server
// settings: a node of some region, for residency and quota tests.
func newNodeEnv(t *testing.T, dir string, rc registry.Config, sc server.Config) *env {
	t.Helper()
	rc.DataDir = dir
	sc.AdminToken = adminToken
	reg, err := registry.New(rc)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	e := &env{t: t, dir: dir, cfg: sc, reg: reg, ts: httptest.NewServer(server.New(sc, reg, reg))}
	t.Cleanup(e.stop)
	return e
}

func TestResidency(t *testing.T) {
	dir := t.TempDir()
	uk := newNodeEnv(t, dir,
		registry.Config{Region: "uk", AllowRegions: []string{"uk", "eu"}},
		server.Config{Node: "n1", Region: "uk"})

	t.Run("OK", func(t *testing.T) {
		r := uk.do(t, "POST", "/v1/tenants", adminToken, map[string]any{"id": "acme", "region": "eu"}).expect(t, 201, "")
		var tn struct{ Region string }
		r.into(t, &tn)
		if got, want := tn.Region, "eu"; got != want {
			t.Errorf("region = %q, want %q", got, want)
		}
		r = uk.do(t, "POST", "/v1/tenants", adminToken, map[string]any{"id": "home"}).expect(t, 201, "")
		r.into(t, &tn)
		if got, want := tn.Region, "uk"; got != want {
			t.Errorf("default region = %q, want %q", got, want)
		}
	})

	t.Run("ErrRegionNotAllowedOnCreate", func(t *testing.T) {
		uk.do(t, "POST", "/v1/tenants", adminToken, map[string]any{"id": "yank", "region": "us"}).expect(t, 403, "region_not_allowed")
		uk.do(t, "GET", "/v1/tenants/yank", adminToken, nil).expect(t, 404, "not_found")
	})

	t.Run("ServedBy", func(t *testing.T) {
		uk.putCollection(t, "acme", "clients").expect(t, 201, "")
		for _, r := range []*resp{
			uk.do(t, "PUT", docPath("acme", "clients", "c1"), adminToken, map[string]any{"n": 1}).expect(t, 201, ""),
			uk.do(t, "GET", docPath("acme", "clients", "c1"), adminToken, nil).expect(t, 200, ""),
			uk.do(t, "GET", docPath("acme", "clients", "nope"), adminToken, nil).expect(t, 404, "not_found"),
			uk.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, ""),
			uk.do(t, "GET", "/v1/tenants/acme/usage", adminToken, nil).expect(t, 200, ""),
		} {
			if got, want := r.header.Get("Quire-Served-By"), "n1;region=uk"; got != want {
				t.Errorf("%s %s: Quire-Served-By = %q, want %q", r.method, r.url, got, want)
			}
		}
	})

	// The data directory moves to a node that may hold uk only: the eu
	// tenant is refused on every route, and its data is untouched.
	uk.stop()
	ukOnly := newNodeEnv(t, dir, registry.Config{Region: "uk"}, server.Config{Node: "n2", Region: "uk"})

	t.Run("ErrRegionNotAllowedOnOpen", func(t *testing.T) {
		for _, rq := range []req{
			{method: "GET", path: docPath("acme", "clients", "c1")},
			{method: "PUT", path: docPath("acme", "clients", "c2"), body: map[string]any{"n": 2}},
			{method: "GET", path: "/v1/tenants/acme"},
			{method: "GET", path: "/v1/tenants/acme/collections"},
			{method: "GET", path: "/v1/tenants/acme/usage"},
			{method: "POST", path: "/v1/tenants/acme/collections/clients/query", body: map[string]any{}},
			{method: "POST", path: "/v1/tenants/acme/sql", body: map[string]any{"sql": "SELECT 1"}},
		} {
			rq.token = adminToken
			r := ukOnly.send(t, rq).expect(t, 403, "region_not_allowed")
			if got, want := r.header.Get("Quire-Served-By"), "n2;region=uk"; got != want {
				t.Errorf("%s %s: Quire-Served-By = %q, want %q", rq.method, rq.path, got, want)
			}
		}
		// The uk tenant is still served.
		ukOnly.do(t, "GET", "/v1/tenants/home", adminToken, nil).expect(t, 200, "")
	})

	ukOnly.stop()
	both := newNodeEnv(t, dir, registry.Config{Region: "eu", AllowRegions: []string{"*"}}, server.Config{Node: "n3", Region: "eu"})
	t.Run("DataIntactAfterRefusal", func(t *testing.T) {
		if got, want := both.getDoc(t, adminToken, "acme", "clients", "c1").Body, `{"n":1}`; compact(t, string(got)) != want {
			t.Errorf("c1 = %s, want %s", got, want)
		}
		both.do(t, "GET", docPath("acme", "clients", "c2"), adminToken, nil).expect(t, 404, "not_found")
	})
}

func TestResidencyDefaults(t *testing.T) {
	t.Run("LocalHoldsAnyRegion", func(t *testing.T) {
		e := newNodeEnv(t, t.TempDir(), registry.Config{}, server.Config{Node: "dev"})
		e.do(t, "POST", "/v1/tenants", adminToken, map[string]any{"id": "acme", "region": "eu-west"}).expect(t, 201, "")
		r := e.do(t, "GET", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "")
		if got, want := r.header.Get("Quire-Served-By"), "dev;region=local"; got != want {
			t.Errorf("Quire-Served-By = %q, want %q", got, want)
		}
	})
	t.Run("NamedRegionHoldsOnlyItself", func(t *testing.T) {
		e := newNodeEnv(t, t.TempDir(), registry.Config{Region: "uk"}, server.Config{Region: "uk"})
		e.do(t, "POST", "/v1/tenants", adminToken, map[string]any{"id": "acme"}).expect(t, 201, "")
		e.do(t, "POST", "/v1/tenants", adminToken, map[string]any{"id": "euro", "region": "eu"}).expect(t, 403, "region_not_allowed")
	})
}

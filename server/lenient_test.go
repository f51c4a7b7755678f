package server_test

import "testing"

// TestD1IgnoresClientFields: D1 clients send fields of their own (such as
// "method") that Cloudflare ignores; the D1 routes ignore them too, while
// the /v1 SQL endpoint stays strict.
func TestD1IgnoresClientFields(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	body := map[string]any{"sql": "SELECT 1 AS one", "params": []any{}, "method": "all"}
	e.do(t, "POST", d1Path("acme", "query"), k.read, body).expect(t, 200, "")
	e.do(t, "POST", sqlPath("acme"), k.read, body).expect(t, 400, "invalid")
}

// TestQueryRefusesTrailingData: a query body with data after its JSON
// object is refused, not read up to the first object.
func TestQueryRefusesTrailingData(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "clients")
	path := "/v1/tenants/acme/collections/clients/query"
	e.do(t, "POST", path, k.read, []byte(`{"limit":1}`)).expect(t, 200, "")
	e.do(t, "POST", path, k.read, []byte(`{"limit":1}}]`)).expect(t, 400, "invalid")
}

package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/actor"
	"github.com/quiredb/quire/cache"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
)

// adminToken is the operator token of every test server.
const adminToken = "admintoken"

// env is a real Quire server: a registry over SQLite files in a temporary
// directory, served over HTTP on 127.0.0.1.
type env struct {
	t   *testing.T
	dir string
	cfg server.Config
	reg *registry.Registry
	ts  *httptest.Server
	// cache is the read cache the registry gives tenants' stores (64 MiB
	// unless a test sets a budget with newEnvCache), through readCache
	// (the cache itself, or a test's wrapper).
	cache     *cache.Cache
	readCache quire.ReadCache
	hub       *actor.Hub // the actor of the running server, unless cfg has one
}

// newEnv starts a server over a fresh data directory.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvConfig(t, server.Config{})
}

// newEnvConfig starts a server with cfg (its admin token is always set).
func newEnvConfig(t *testing.T, cfg server.Config) *env {
	t.Helper()
	return newEnvCache(t, cfg, 64<<20, nil)
}

// newEnvCache starts a server whose read cache holds at most cacheBytes,
// seen by the stores through wrap if set.
func newEnvCache(t *testing.T, cfg server.Config, cacheBytes uint64, wrap func(quire.ReadCache) quire.ReadCache) *env {
	t.Helper()
	cfg.AdminToken = adminToken
	if cfg.ChangesHeartbeat == 0 {
		// Streams re-check their tenant and key at this pace in tests, so
		// a deleted tenant ends its streams quickly.
		cfg.ChangesHeartbeat = 200 * time.Millisecond
	}
	e := &env{t: t, dir: t.TempDir(), cfg: cfg, cache: cache.New(cache.NewLocal(cacheBytes))}
	e.readCache = e.cache
	if wrap != nil {
		e.readCache = wrap(e.cache)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	e.t.Helper()
	// Every test server reads through a read cache, as production does:
	// each test that reads after a write also checks the cache's rules.
	reg, err := registry.New(registry.Config{DataDir: e.dir, Cache: e.readCache})
	if err != nil {
		e.t.Fatalf("registry.New: %v", err)
	}
	e.reg = reg
	cfg := e.cfg
	if cfg.Actors == nil {
		// The actor lives in memory: a fresh one per start, as a restarted
		// process has.
		e.hub = actor.New(actor.Config{})
		cfg.Actors = e.hub
	}
	e.ts = httptest.NewServer(server.New(cfg, reg, reg))
}

// stop closes the HTTP server, then the registry. It may be called twice.
func (e *env) stop() {
	if e.ts != nil {
		e.ts.Close()
		e.ts = nil
	}
	if e.reg != nil {
		if err := e.reg.Close(); err != nil {
			e.t.Errorf("registry.Close: %v", err)
		}
		e.reg = nil
	}
	if e.hub != nil {
		e.hub.Close()
		e.hub = nil
	}
}

// restart closes everything and opens a new registry and server on the
// same data directory.
func (e *env) restart() {
	e.t.Helper()
	e.stop()
	e.start()
}

// resp is a response with its body read.
type resp struct {
	method, url string
	status      int
	header      http.Header
	body        []byte
}

// code returns the error code of an error body, or "".
func (r *resp) code() string {
	var eb struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(r.body, &eb)
	return eb.Error.Code
}

// errMessage returns the message of an error body, or "".
func (r *resp) errMessage() string {
	var eb struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(r.body, &eb)
	return eb.Error.Message
}

// errDetails returns the details of an error body.
func (r *resp) errDetails() map[string]any {
	var eb struct {
		Error struct {
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	json.Unmarshal(r.body, &eb)
	return eb.Error.Details
}

// into decodes the body into v.
func (r *resp) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s %s: decoding body: %v: %s", r.method, r.url, err, clip(r.body))
	}
}

// bookmark returns the Quire-Bookmark header.
func (r *resp) bookmark() string { return r.header.Get("Quire-Bookmark") }

func (r *resp) String() string {
	return r.method + " " + r.url + " → " + http.StatusText(r.status) + ": " + clip(r.body)
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// expect fails the test unless r has status and, when code is not "", the
// error code.
func (r *resp) expect(t *testing.T, status int, code string) *resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.url, r.status, status, clip(r.body))
	}
	if code != "" {
		if got := r.code(); got != code {
			t.Fatalf("%s %s: error code %q, want %q; body %s", r.method, r.url, got, code, clip(r.body))
		}
	}
	return r
}

// leakMarkers are strings no client-facing error may contain: SQLite's
// own diagnostics, Go stack traces and panics.
var leakMarkers = []string{"sqlite", "SQL logic", "no such table", "no such column", "constraint failed",
	"goroutine ", ".go:", "panic", "runtime error", "database/sql"}

// echoedNames are hostile names the tests send that an error message may
// legitimately quote back.
var echoedNames = []string{"sqlite_master", "sqlite_schema"}

// checkNoLeak fails if a 4xx or 5xx body shows internals. Hostile names
// echoed back are removed first.
func checkNoLeak(t *testing.T, r *resp) {
	t.Helper()
	if r.status < 400 {
		return
	}
	s := string(r.body)
	for _, e := range echoedNames {
		s = strings.ReplaceAll(s, e, "")
	}
	for _, m := range leakMarkers {
		if strings.Contains(strings.ToLower(s), strings.ToLower(m)) {
			t.Errorf("%s %s: %d body leaks internals (%q): %s", r.method, r.url, r.status, m, clip(r.body))
		}
	}
	if !json.Valid(r.body) {
		t.Errorf("%s %s: %d body is not JSON: %s", r.method, r.url, r.status, clip(r.body))
	}
}

// req describes one request.
type req struct {
	method string
	path   string // appended to the server URL as is (already escaped)
	token  string
	body   any // nil, string, []byte, or anything else (encoded as JSON)
	header map[string]string
	host   string
}

// send performs rq. Every response is checked for the invariants that
// hold for all of them: never a 500, and never internals in an error body.
func (e *env) send(t *testing.T, rq req) *resp {
	t.Helper()
	var body io.Reader
	switch b := rq.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b // length unknown: sent chunked
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encoding request body: %v", err)
		}
		body = bytes.NewReader(j)
	}
	u := e.ts.URL + rq.path
	hr, err := http.NewRequest(rq.method, u, body)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	if rq.token != "" {
		hr.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		hr.Header.Set(k, v)
	}
	if rq.host != "" {
		hr.Host = rq.host
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer res.Body.Close()
	rb, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", rq.method, rq.path, err)
	}
	r := &resp{method: rq.method, url: rq.path, status: res.StatusCode, header: res.Header, body: rb}
	if r.status >= 500 {
		t.Errorf("%s %s: server error %d: %s", rq.method, rq.path, r.status, clip(rb))
	}
	checkNoLeak(t, r)
	return r
}

// do is send for the common case.
func (e *env) do(t *testing.T, method, path, token string, body any, header ...string) *resp {
	t.Helper()
	rq := req{method: method, path: path, token: token, body: body}
	if len(header) > 0 {
		rq.header = map[string]string{}
		for i := 0; i+1 < len(header); i += 2 {
			rq.header[header[i]] = header[i+1]
		}
	}
	return e.send(t, rq)
}

// keys are a tenant's keys, one per role.
type keys struct {
	read, write, admin string
	ids                map[string]string // role → key id
}

// createTenant creates a tenant over HTTP and a key of each role.
func (e *env) createTenant(t *testing.T, id string, domains ...string) keys {
	t.Helper()
	body := map[string]any{"id": id}
	if len(domains) > 0 {
		body["domains"] = domains
	}
	e.do(t, "POST", "/v1/tenants", adminToken, body).expect(t, 201, "")
	k := keys{ids: map[string]string{}}
	for _, role := range []string{"read", "write", "admin"} {
		secret, kid := e.createKey(t, id, role)
		k.ids[role] = kid
		switch role {
		case "read":
			k.read = secret
		case "write":
			k.write = secret
		case "admin":
			k.admin = secret
		}
	}
	return k
}

// createKey creates a key of role for tenant with the admin token and
// returns its secret and id.
func (e *env) createKey(t *testing.T, tenant, role string) (secret, id string) {
	t.Helper()
	r := e.do(t, "POST", "/v1/tenants/"+tenant+"/keys", adminToken, map[string]any{"role": role, "name": role + " key"}).expect(t, 201, "")
	var k struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
		Role   string `json:"role"`
		Tenant string `json:"tenant"`
	}
	r.into(t, &k)
	if k.Secret == "" || k.ID == "" || k.Role != role || k.Tenant != tenant {
		t.Fatalf("key creation answered %s", r.body)
	}
	return k.Secret, k.ID
}

// putCollection creates or reconciles a collection with the admin token.
func (e *env) putCollection(t *testing.T, tenant, coll string, indexes ...map[string]any) *resp {
	t.Helper()
	if indexes == nil {
		indexes = []map[string]any{}
	}
	r := e.do(t, "PUT", "/v1/tenants/"+tenant+"/collections/"+coll, adminToken, map[string]any{"indexes": indexes})
	if r.status != 200 && r.status != 201 {
		t.Fatalf("put collection: %s", r)
	}
	return r
}

// docPath is the path of a document; id is escaped here.
func docPath(tenant, coll, id string) string {
	return "/v1/tenants/" + tenant + "/collections/" + coll + "/docs/" + escapeSegment(id)
}

// escapeSegment escapes a path segment completely enough that the server
// sees exactly s: url.PathEscape leaves "." alone, which path cleaning
// would treat as a directory step.
func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex2(c)))
		}
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

// doc is a document as the API returns it, with its body verbatim.
type doc struct {
	ID        string          `json:"id"`
	Version   int64           `json:"version"`
	CreatedAt int64           `json:"created_at"`
	UpdatedAt int64           `json:"updated_at"`
	Body      json.RawMessage `json:"body"`
}

// getDoc reads a document, failing unless it exists.
func (e *env) getDoc(t *testing.T, token, tenant, coll, id string) doc {
	t.Helper()
	r := e.do(t, "GET", docPath(tenant, coll, id), token, nil).expect(t, 200, "")
	var d doc
	r.into(t, &d)
	return d
}

// compact returns s as compact JSON.
func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return b.String()
}

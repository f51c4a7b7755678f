package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/quiredb/quire/metrics"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
	"github.com/quiredb/quire/sqlite"
)

// TestMain keeps the access log lines of servers built without a logger
// (most tests use slog.Default) out of the test output: only warnings and
// errors reach stderr.
func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// observedEnv is a real server wired like `quire serve`: JSON logs at
// debug level into a buffer, metrics on the writers and the API, and a
// readiness check on the catalog.
type observedEnv struct {
	*env
	logs  *lockedBuffer
	ready func(ctx context.Context) error
	api   *server.Server
}

func newObservedEnv(t *testing.T) *observedEnv {
	t.Helper()
	oe := &observedEnv{env: &env{t: t, dir: t.TempDir()}, logs: &lockedBuffer{}}
	var reg *registry.Registry
	m := metrics.New(metrics.Sources{
		OpenTenants:    func() int { return reg.OpenTenants() },
		OpenTenantDirs: func() map[string]string { return reg.OpenTenantDirs() },
	})
	reg, err := registry.New(registry.Config{DataDir: oe.dir, Store: sqlite.Options{Observer: m}})
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	oe.reg = reg
	oe.cfg = server.Config{
		AdminToken: adminToken,
		Logger:     slog.New(slog.NewJSONHandler(oe.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer:   m,
		Metrics:    m.Handler(),
		Ready: func(ctx context.Context) error {
			if oe.ready != nil {
				return oe.ready(ctx)
			}
			return reg.Ping(ctx)
		},
	}
	oe.api = server.New(oe.cfg, reg, reg)
	oe.ts = httptest.NewServer(oe.api)
	t.Cleanup(oe.stop)
	return oe
}

// logLines decodes the JSON log lines.
func (oe *observedEnv) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(oe.logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, l)
		}
		lines = append(lines, m)
	}
	return lines
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	e := newObservedEnv(t)
	t.Run("Generated", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/v1/tenants", "/nowhere", "/v1/tenants/acme/collections"} {
			r := e.do(t, "GET", path, "", nil)
			if id := r.header.Get("Quire-Request-Id"); !generatedID.MatchString(id) {
				t.Errorf("GET %s (%d): Quire-Request-Id %q, want 32 hex digits", path, r.status, id)
			}
		}
	})
	t.Run("Echoed", func(t *testing.T) {
		r := e.do(t, "GET", "/healthz", "", nil, "Quire-Request-Id", "trace-1.2:abc_DEF")
		if got, want := r.header.Get("Quire-Request-Id"), "trace-1.2:abc_DEF"; got != want {
			t.Errorf("Quire-Request-Id = %q, want %q", got, want)
		}
	})
	t.Run("ErrInvalidReplaced", func(t *testing.T) {
		for _, bad := range []string{strings.Repeat("a", 129), "has space", "semi;colon", "quote\"", "é"} {
			r := e.do(t, "GET", "/healthz", "", nil, "Quire-Request-Id", bad)
			if id := r.header.Get("Quire-Request-Id"); !generatedID.MatchString(id) {
				t.Errorf("incoming id %q: answered %q, want a generated id", bad, id)
			}
		}
	})
}

// TestLogsHoldNoSecrets writes a document with a marker body using a key,
// and checks the access log line is there with its fields, while neither
// the key's secret, the admin token nor the body appear anywhere in the
// logs — failed requests included.
func TestLogsHoldNoSecrets(t *testing.T) {
	e := newObservedEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	const marker = "MARKER-7f3c2e-confidential"
	body := map[string]any{"text": marker, "n": 1}
	e.do(t, "PUT", docPath("acme", "notes", "doc-"+marker), k.write, body, "Quire-Request-Id", "req-write-1").expect(t, 201, "")
	e.do(t, "GET", docPath("acme", "notes", "doc-"+marker), k.read, nil).expect(t, 200, "")
	e.do(t, "POST", "/v1/tenants/acme/collections/notes/query", k.read, map[string]any{"filter": map[string]any{"text": marker}})
	e.do(t, "PUT", docPath("acme", "notes", "x"), "wrong-"+marker, body).expect(t, 401, "")
	e.do(t, "PUT", docPath("acme", "notes", "x"), k.read, body).expect(t, 403, "")
	e.do(t, "PUT", docPath("acme", "notes", "x"), k.write, `{"text": "`+marker+`"`).expect(t, 400, "")

	logs := e.logs.String()
	for what, secret := range map[string]string{"write key": k.write, "read key": k.read, "admin token": adminToken, "document body": marker} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s %q:\n%s", what, secret, logs)
		}
	}
	if strings.Contains(strings.ToLower(logs), "authorization") || strings.Contains(logs, "Bearer") {
		t.Errorf("logs mention the Authorization header:\n%s", logs)
	}

	var found bool
	for _, l := range e.logLines(t) {
		if l["msg"] != "request" || l["request_id"] != "req-write-1" {
			continue
		}
		found = true
		want := map[string]any{
			"level": "INFO", "method": "PUT", "route": "/v1/tenants/{tenant}/collections/{coll}/docs/{id}",
			"status": float64(201), "tenant": "acme", "key_id": k.ids["write"],
		}
		for f, v := range want {
			if l[f] != v {
				t.Errorf("access log %s = %v, want %v (line %v)", f, l[f], v, l)
			}
		}
		if b, _ := l["bytes"].(float64); b <= 0 {
			t.Errorf("access log bytes = %v, want > 0", l["bytes"])
		}
		if _, ok := l["duration"]; !ok {
			t.Errorf("access log has no duration: %v", l)
		}
	}
	if !found {
		t.Fatalf("no access log line with request_id req-write-1:\n%s", logs)
	}
}

func TestHealthAndReady(t *testing.T) {
	e := newObservedEnv(t)
	t.Run("OK", func(t *testing.T) {
		e.do(t, "GET", "/healthz", "", nil).expect(t, 200, "")
		e.do(t, "GET", "/readyz", "", nil).expect(t, 200, "")
	})
	t.Run("ErrCatalogUnreachable", func(t *testing.T) {
		e.ready = func(context.Context) error { return errors.New("disk I/O error") }
		defer func() { e.ready = nil }()
		status, retry := e.readyz(t)
		if status != 503 || retry == "" {
			t.Errorf("readyz with a failing catalog: %d (Retry-After %q), want 503 with Retry-After", status, retry)
		}
		e.do(t, "GET", "/healthz", "", nil).expect(t, 200, "")
	})
	t.Run("ErrDraining", func(t *testing.T) {
		e.api.Drain()
		if status, _ := e.readyz(t); status != 503 {
			t.Errorf("readyz while draining: %d, want 503", status)
		}
		// Alive, and still serving: draining only takes it out of rotation.
		e.do(t, "GET", "/healthz", "", nil).expect(t, 200, "")
		e.do(t, "GET", "/v1/tenants", adminToken, nil).expect(t, 200, "")
	})
}

// readyz gets /readyz directly (send reports every 5xx as a failure).
func (oe *observedEnv) readyz(t *testing.T) (status int, retryAfter string) {
	t.Helper()
	res, err := http.Get(oe.ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Retry-After")
}

func TestMetrics(t *testing.T) {
	e := newObservedEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	const marker = "secretdocid42"
	for i := 0; i < 3; i++ {
		e.do(t, "PUT", docPath("acme", "notes", marker), k.write, map[string]any{"n": i})
	}
	e.do(t, "GET", docPath("acme", "notes", "missing"), k.read, nil).expect(t, 404, "")

	t.Run("ErrUnauthorized", func(t *testing.T) {
		e.do(t, "GET", "/metrics", "", nil).expect(t, 401, "unauthorized")
	})
	t.Run("ErrForbidden", func(t *testing.T) {
		e.do(t, "GET", "/metrics", k.admin, nil).expect(t, 403, "forbidden")
	})
	t.Run("OK", func(t *testing.T) {
		r := e.do(t, "GET", "/metrics", adminToken, nil).expect(t, 200, "")
		text := string(r.body)
		for _, want := range []string{
			`quire_http_requests_total{code="201",method="PUT",route="/v1/tenants/{tenant}/collections/{coll}/docs/{id}"} 1`,
			`quire_http_requests_total{code="200",method="PUT",route="/v1/tenants/{tenant}/collections/{coll}/docs/{id}"} 2`,
			`quire_http_requests_total{code="404",method="GET",route="/v1/tenants/{tenant}/collections/{coll}/docs/{id}"} 1`,
			`quire_http_request_duration_seconds_bucket{method="PUT",route="/v1/tenants/{tenant}/collections/{coll}/docs/{id}",le="+Inf"} 3`,
			`quire_writer_batch_requests_bucket`,
			`quire_writer_commit_duration_seconds_count`,
			`quire_open_tenants 1`,
			`quire_tenant_storage_bytes{tenant="acme"}`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
		if m := regexp.MustCompile(`quire_writer_commits_total (\d+)`).FindStringSubmatch(text); m == nil || m[1] == "0" {
			t.Errorf("quire_writer_commits_total missing or zero")
		}
		if strings.Contains(text, marker) || strings.Contains(text, "missing") {
			t.Errorf("metrics contain a raw path or document id")
		}
	})
}

// TestCatalogHoldsNoSecret checks that key secrets are stored only as
// hashes: no file of the data directory contains a created secret, nor
// the admin token.
func TestCatalogHoldsNoSecret(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.createKey(t, e.createTenantOnly(t, "acme"), "admin")
	e.stop() // checkpoint and close, so everything is on disk
	var files int
	err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s contains the key's secret", path)
		}
		if bytes.Contains(b, []byte(adminToken)) {
			t.Errorf("%s contains the admin token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no files in the data directory")
	}
}

// createTenantOnly creates a tenant with no keys and returns its id.
func (e *env) createTenantOnly(t *testing.T, id string) string {
	t.Helper()
	e.do(t, "POST", "/v1/tenants", adminToken, map[string]any{"id": id}).expect(t, 201, "")
	return id
}

package metrics_test

import (
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quiredb/quire/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestBoundedLabels checks that a client's arbitrary method does not make
// a series of its own.
func TestBoundedLabels(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	m.ObserveRequest("GET", "/healthz", 200, time.Millisecond)
	m.ObserveRequest("BREW", "/healthz", 405, time.Millisecond)
	m.ObserveRequest("X-HOSTILE-METHOD-1", "/healthz", 405, time.Millisecond)
	text := scrape(t, m)
	for _, want := range []string{
		`quire_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`quire_http_requests_total{code="405",method="OTHER",route="/healthz"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "BREW") || strings.Contains(text, "HOSTILE") {
		t.Error("a client's method became a label value")
	}
}

// TestTenantStorage checks the storage collector sums a tenant's files and
// reports only the tenants it is given (the open ones).
func TestTenantStorage(t *testing.T) {
	dir := t.TempDir()
	for name, size := range map[string]int{"quire.db": 4096, "quire.db-wal": 1000} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m := metrics.New(metrics.Sources{
		OpenTenants:    func() int { return 2 },
		OpenTenantDirs: func() map[string]string { return map[string]string{"acme": dir, "gone": filepath.Join(dir, "missing")} },
	})
	m.ObserveCommit(3, 2*time.Millisecond)
	text := scrape(t, m)
	for _, want := range []string{
		`quire_tenant_storage_bytes{tenant="acme"} 5096`,
		`quire_open_tenants 2`,
		`quire_writer_commits_total 1`,
		`quire_writer_batch_requests_sum 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, `tenant="gone"`) {
		t.Error("a tenant whose directory is gone was reported")
	}
}

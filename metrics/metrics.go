// Package metrics exposes Quire's Prometheus metrics: HTTP requests by
// route pattern and status, the writers' group commits, open tenants and
// the storage of open tenants. Labels are bounded: routes are the server's
// patterns (never raw paths), and per-tenant series exist only for open
// tenants, whose number --max-open-tenants bounds.
package metrics

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quiredb/quire/cache"
)

// Sources are the live values read on every scrape. Either may be nil.
type Sources struct {
	// OpenTenants counts the open tenant databases.
	OpenTenants func() int
	// OpenTenantDirs returns the directory of each open tenant, by id.
	OpenTenantDirs func() map[string]string
	// CacheStats reads the read cache's counters and memory use.
	CacheStats func() cache.Stats
}

// Metrics holds Quire's collectors in a registry of its own (not the
// global one, so tests can make several).
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	batchSize   prometheus.Histogram
	commitTime  prometheus.Histogram
	commitCount prometheus.Counter
}

// New returns Metrics reading src on scrape.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "quire_http_requests_total",
		Help: "HTTP requests answered, by method, route pattern and status code.",
	}, []string{"method", "route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "quire_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by method and route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route"})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "quire_writer_batch_requests",
		Help:    "Write requests grouped into one commit by a tenant's writer.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
	})
	m.commitTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "quire_writer_commit_duration_seconds",
		Help:    "Time of one group commit, from BEGIN to answering its requests (fsync included).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	m.commitCount = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "quire_writer_commits_total",
		Help: "Group commits run by the tenants' writers.",
	})
	m.reg.MustRegister(m.requests, m.duration, m.batchSize, m.commitTime, m.commitCount,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.OpenTenants != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "quire_open_tenants",
			Help: "Tenant databases open now.",
		}, func() float64 { return float64(src.OpenTenants()) }))
	}
	if src.OpenTenantDirs != nil {
		m.reg.MustRegister(&storageCollector{dirs: src.OpenTenantDirs})
	}
	if src.CacheStats != nil {
		m.reg.MustRegister(&cacheCollector{stats: src.CacheStats})
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRequest records one answered HTTP request. route is the
// server's route pattern.
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	method = boundedMethod(method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// ObserveCommit records one group commit of a tenant's writer.
func (m *Metrics) ObserveCommit(requests int, d time.Duration) {
	m.commitCount.Inc()
	m.batchSize.Observe(float64(requests))
	m.commitTime.Observe(d.Seconds())
}

// boundedMethod maps the client's method, which may be any token, onto a
// fixed set.
func boundedMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "OTHER"
}

// storageCollector reports the bytes of each open tenant's files
// (database, WAL, shared memory) on scrape.
type storageCollector struct {
	dirs func() map[string]string
}

var storageDesc = prometheus.NewDesc("quire_tenant_storage_bytes",
	"Bytes on disk of an open tenant's files (database, WAL, shared memory). Only open tenants are reported.",
	[]string{"tenant"}, nil)

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- storageDesc }

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	for id, dir := range c.dirs() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // closed or deleted since the list was taken
		}
		var size int64
		for _, e := range entries {
			if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && fi.Mode().IsRegular() {
				size += fi.Size()
			}
		}
		ch <- prometheus.MustNewConstMetric(storageDesc, prometheus.GaugeValue, float64(size), id)
	}
}

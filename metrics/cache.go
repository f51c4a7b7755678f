package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quiredb/quire/cache"
)

var (
	cacheReadsDesc = prometheus.NewDesc("quire_cache_reads_total",
		"Reads that consulted the read cache, by result (hit, miss, bypass).", []string{"result"}, nil)
	cacheFillsDesc = prometheus.NewDesc("quire_cache_fills_total",
		"Entries offered to the read cache, by outcome (stored, refused: a write raced the read).", []string{"outcome"}, nil)
	cacheInvalidationsDesc = prometheus.NewDesc("quire_cache_invalidations_total",
		"Document entries deleted by writes before they committed.", nil, nil)
	cacheFailuresDesc = prometheus.NewDesc("quire_cache_failures_total",
		"Tenant cache namespaces turned off by a fault (their reads go to the database).", nil, nil)
	cacheEntriesDesc = prometheus.NewDesc("quire_cache_entries", "Entries held by the read cache.", nil, nil)
	cacheBytesDesc   = prometheus.NewDesc("quire_cache_bytes", "Memory the read cache's entries weigh, in bytes.", nil, nil)
	cacheMaxDesc     = prometheus.NewDesc("quire_cache_max_bytes", "The read cache's memory budget, in bytes.", nil, nil)
)

// cacheCollector reads the cache's counters on each scrape.
type cacheCollector struct{ stats func() cache.Stats }

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheReadsDesc, cacheFillsDesc, cacheInvalidationsDesc, cacheFailuresDesc, cacheEntriesDesc, cacheBytesDesc, cacheMaxDesc} {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(cacheReadsDesc, s.Hits, "hit")
	counter(cacheReadsDesc, s.Misses, "miss")
	counter(cacheReadsDesc, s.Bypasses, "bypass")
	counter(cacheFillsDesc, s.Fills, "stored")
	counter(cacheFillsDesc, s.FillsRefused, "refused")
	counter(cacheInvalidationsDesc, s.Invalidations)
	counter(cacheFailuresDesc, s.Failures)
	gauge(cacheEntriesDesc, float64(s.Entries))
	gauge(cacheBytesDesc, float64(s.Bytes))
	gauge(cacheMaxDesc, float64(s.MaxBytes))
}

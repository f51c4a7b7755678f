package cache

import (
	"sync/atomic"

	"github.com/quiredb/quire"
)

// counters are the cache's node-wide counters.
type counters struct {
	hits, misses, bypasses atomic.Uint64
	fills, refused         atomic.Uint64
	invalidations          atomic.Uint64
	failures               atomic.Uint64
}

// count records a read's outcome and returns it.
func (c *counters) count(s quire.CacheStatus) quire.CacheStatus {
	switch s {
	case quire.CacheHit:
		c.hits.Add(1)
	case quire.CacheMiss:
		c.misses.Add(1)
	case quire.CacheBypass:
		c.bypasses.Add(1)
	}
	return s
}

// Stats is a snapshot of the cache's counters and memory use.
type Stats struct {
	Hits          uint64  `json:"hits"`
	Misses        uint64  `json:"misses"`
	Bypasses      uint64  `json:"bypasses"`
	HitRatio      float64 `json:"hit_ratio"` // hits / (hits + misses + bypasses)
	Fills         uint64  `json:"fills"`
	FillsRefused  uint64  `json:"fills_refused"` // a write raced the read that offered it
	Invalidations uint64  `json:"invalidations"` // document entries deleted by writes
	Failures      uint64  `json:"failures"`      // namespaces turned off by a fault
	Entries       int     `json:"entries"`
	Bytes         uint64  `json:"bytes"`
	MaxBytes      uint64  `json:"max_bytes"`
}

// Stats returns the cache's counters and memory use.
func (c *Cache) Stats() Stats {
	s := Stats{
		Hits: c.stats.hits.Load(), Misses: c.stats.misses.Load(), Bypasses: c.stats.bypasses.Load(),
		Fills: c.stats.fills.Load(), FillsRefused: c.stats.refused.Load(),
		Invalidations: c.stats.invalidations.Load(), Failures: c.stats.failures.Load(),
	}
	if total := s.Hits + s.Misses + s.Bypasses; total > 0 {
		s.HitRatio = float64(s.Hits) / float64(total)
	}
	s.Entries, s.Bytes = c.b.Usage()
	if l, ok := c.b.(*Local); ok {
		s.MaxBytes = l.MaxBytes()
	}
	return s
}

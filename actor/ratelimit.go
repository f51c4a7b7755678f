package actor

import (
	"math"
	"sync"
	"time"

	"github.com/quiredb/quire"
)

// bucketKey names a token bucket: a tenant's own, or one of its keys'.
type bucketKey struct {
	tenant string
	key    string
	isKey  bool
}

// bucket is a token bucket. It remembers the setting it was made for (the
// source's *RateLimit): a new setting starts a new, full bucket on the next
// request. Comparing values instead would let a limit removed and set again
// inherit a bucket emptied long before.
type bucket struct {
	mu      sync.Mutex
	setting *quire.RateLimit
	limit   quire.RateLimit
	tokens  float64
	last    time.Time
	dead    bool // removed from the hub: retry with a fresh bucket
}

// reset makes b a full bucket of setting l; b.mu must be held.
func (b *bucket) reset(now time.Time, l *quire.RateLimit) {
	b.setting, b.limit, b.tokens, b.last = l, *l, float64(l.Burst), now
}

// refill brings tokens up to now; b.mu must be held.
func (b *bucket) refill(now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(b.limit.Burst), b.tokens+el.Seconds()*b.limit.RequestsPerSecond)
		b.last = now
	}
}

// full reports whether b is full at now (then a new bucket is the same).
func (b *bucket) full(now time.Time) bool {
	b.refill(now)
	return b.tokens >= float64(b.limit.Burst)
}

// take takes one token under setting sl; b.mu must be held.
func (b *bucket) take(now time.Time, sl *quire.RateLimit) quire.RateDecision {
	if b.setting != sl {
		b.reset(now, sl)
	}
	b.refill(now)
	l := b.limit
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	}
	d := quire.RateDecision{
		Limited:   true,
		Allowed:   ok,
		Limit:     l.Burst,
		Remaining: int64(math.Floor(b.tokens)),
		Reset:     wait((float64(l.Burst) - b.tokens) / l.RequestsPerSecond),
	}
	if !ok {
		d.RetryAfter = max(time.Second, wait((1-b.tokens)/l.RequestsPerSecond))
	}
	return d
}

// maxWait bounds computed waits (a tiny rate and a huge burst).
const maxWait = 10 * 365 * 24 * time.Hour

// wait rounds seconds up to whole seconds, within [0, maxWait].
func wait(seconds float64) time.Duration {
	if !(seconds < maxWait.Seconds()) {
		return maxWait
	}
	return time.Duration(math.Ceil(max(seconds, 0))) * time.Second
}

// takeFrom takes a token from the bucket k, created full if absent.
func (h *Hub) takeFrom(k bucketKey, l *quire.RateLimit, now time.Time) (*bucket, quire.RateDecision) {
	for {
		v, ok := h.buckets.Load(k)
		if !ok {
			nb := &bucket{}
			nb.reset(now, l)
			v, _ = h.buckets.LoadOrStore(k, nb)
		}
		b := v.(*bucket)
		b.mu.Lock()
		if b.dead {
			b.mu.Unlock()
			continue
		}
		d := b.take(now, l)
		b.mu.Unlock()
		return b, d
	}
}

// refund gives back a token taken for a request refused by another limit.
func (b *bucket) refund() {
	b.mu.Lock()
	if !b.dead {
		b.tokens = min(float64(b.limit.Burst), b.tokens+1)
	}
	b.mu.Unlock()
}

// Allow takes one token from key's bucket and tenant's. Without limits it
// costs nothing. The answer describes the refusing bucket, or else the one
// with the fewest requests left (what the RateLimit-* headers report).
func (h *Hub) Allow(tenant, key string, tenantLimit, keyLimit *quire.RateLimit) quire.RateDecision {
	if tenantLimit == nil && keyLimit == nil {
		return quire.RateDecision{Allowed: true}
	}
	now := h.now()
	var kb *bucket
	var kd quire.RateDecision
	if keyLimit != nil {
		kb, kd = h.takeFrom(bucketKey{tenant: tenant, key: key, isKey: true}, keyLimit, now)
		if !kd.Allowed || tenantLimit == nil {
			return kd
		}
	}
	_, td := h.takeFrom(bucketKey{tenant: tenant}, tenantLimit, now)
	if !td.Allowed {
		if kb != nil {
			kb.refund()
		}
		return td
	}
	if kb != nil && kd.Remaining < td.Remaining {
		return kd
	}
	return td
}

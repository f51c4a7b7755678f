package quire

import (
	"context"
	"math"
	"strings"
	"time"
)

// The per-tenant actor (the seed's Durable Object) keeps hot, ephemeral
// state in memory: counters, session state with a TTL, and the token
// buckets of rate limits. Nothing of it is durable: a restart or the
// tenant's deletion loses it, an idle close of the tenant's database does
// not (the actor is independent of open stores).

// Limits of the actor, unless a hub is configured otherwise.
const (
	DefaultMaxCounters   = 10_000         // counters per tenant
	DefaultMaxStateBytes = 8 << 20        // session state per tenant (keys, values and overhead)
	DefaultMaxStateValue = 64 << 10       // one session state value
	DefaultStateTTL      = time.Hour      // TTL of a state value put without one
	MaxStateTTL          = 24 * time.Hour // longest TTL of a state value
	MaxRequestsPerSecond = 1_000_000      // highest rate limit
	MinRequestsPerSecond = 0.001          // lowest rate limit: one request per 1000 s
	MaxRateLimitBurst    = 10_000_000     // largest burst
	DefaultMaxNodeState  = 512 << 20      // session state of all tenants of a node, in bytes
)

// CounterService is a tenant's named 64-bit counters. An absent counter
// reads as 0: counters do not survive a restart, so a client must treat
// "absent" and "zero" alike anyway.
type CounterService interface {
	// AddCounter adds delta to the counter and returns its new value;
	// EInvalid if the result would overflow an int64.
	AddCounter(ctx context.Context, tenant, name string, delta int64) (int64, error)
	// Counter returns the counter's value, 0 if absent.
	Counter(ctx context.Context, tenant, name string) (int64, error)
	// DeleteCounter removes the counter and reports whether it existed.
	DeleteCounter(ctx context.Context, tenant, name string) (bool, error)
}

// StateEntry is one session state value.
type StateEntry struct {
	Key       string    `json:"key"`
	Value     []byte    `json:"-"` // JSON, as put; never modified once stored
	ExpiresAt time.Time `json:"expires_at"`
}

// StateService is a tenant's ephemeral session state: JSON values with a
// TTL, bounded in memory per tenant.
type StateService interface {
	// PutState stores value (valid JSON) under key for ttl (0: the
	// default TTL). Over the tenant's memory budget it fails with
	// EQuotaExceeded; nothing is evicted to make room.
	PutState(ctx context.Context, tenant, key string, value []byte, ttl time.Duration) (StateEntry, error)
	// State returns the value of key; ENotFound if absent or expired.
	State(ctx context.Context, tenant, key string) (StateEntry, error)
	// DeleteState removes key; ENotFound if absent or expired.
	DeleteState(ctx context.Context, tenant, key string) error
}

// RateLimit is a token bucket: it holds at most Burst requests and refills
// at RequestsPerSecond. A nil *RateLimit means no limit.
type RateLimit struct {
	RequestsPerSecond float64 `json:"requests_per_second"`
	Burst             int64   `json:"burst"`
}

// Normalize checks l and returns the limit it sets: nil when both fields
// are zero (no limit); a zero burst becomes the rate rounded up (at least
// 1). Negative, out of range or inconsistent values are EInvalid.
func (l RateLimit) Normalize() (*RateLimit, error) {
	rps, burst := l.RequestsPerSecond, l.Burst
	switch {
	case math.IsNaN(rps) || rps < 0 || burst < 0:
		return nil, Errorf(EInvalid, "rate_limit.requests_per_second and rate_limit.burst may not be negative")
	case rps == 0 && burst == 0:
		return nil, nil
	case rps == 0:
		return nil, Errorf(EInvalid, "rate_limit.requests_per_second must be set with rate_limit.burst (a bucket that never refills would refuse forever)")
	case rps < MinRequestsPerSecond || rps > MaxRequestsPerSecond:
		return nil, Errorf(EInvalid, "rate_limit.requests_per_second must be between %g and %d", MinRequestsPerSecond, MaxRequestsPerSecond)
	case burst > MaxRateLimitBurst:
		return nil, Errorf(EInvalid, "rate_limit.burst may be at most %d", MaxRateLimitBurst)
	}
	if burst == 0 {
		burst = max(1, int64(math.Ceil(rps)))
	}
	return &RateLimit{RequestsPerSecond: rps, Burst: burst}, nil
}

// RateDecision is a rate limiter's answer for one request, with what the
// RateLimit-* response headers report: the limit closest to exhaustion.
type RateDecision struct {
	Limited    bool          // some limit applied (headers are due)
	Allowed    bool          // the request may proceed
	Limit      int64         // the bucket's size (burst)
	Remaining  int64         // whole requests left in the bucket
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // when refused: until one request is allowed
}

// RateLimiter takes one request from the token buckets of a tenant and of
// the key it uses. It must be cheap: no I/O, no lock shared by tenants.
type RateLimiter interface {
	// Allow takes a token from the tenant's bucket and the key's (a nil
	// limit is no bucket); the request is allowed only if both have one.
	// Limits are compared by pointer: a source hands out a new
	// *RateLimit for each new setting, which starts a new, full bucket.
	Allow(tenant, key string, tenantLimit, keyLimit *RateLimit) RateDecision
}

// ActorService is the per-tenant actor of a node.
type ActorService interface {
	CounterService
	StateService
	RateLimiter
	// DropTenant forgets everything held for tenant (on its deletion).
	DropTenant(tenant string)
}

// RateLimitSource answers a tenant's rate limit on the request path: from
// memory, without a lock shared by all tenants. Nil: no limit.
type RateLimitSource interface {
	TenantRateLimit(tenant string) *RateLimit
}

// RateLimitSetter is a tenant catalog whose tenants' and keys' rate limits
// an admin can set; a nil limit removes it. Both return the updated
// tenant or key.
type RateLimitSetter interface {
	SetTenantRateLimit(ctx context.Context, tenant string, l *RateLimit) (*Tenant, error)
	SetKeyRateLimit(ctx context.Context, tenant, key string, l *RateLimit) (*Key, error)
}

// TenantDeleteNotifier is a tenant catalog that calls f after deleting a
// tenant (once its in-flight requests are done), so that services holding
// per-tenant memory can drop it.
type TenantDeleteNotifier interface {
	OnTenantDeleted(f func(tenant string))
}

// CheckStateKey returns EInvalid unless key is 1 to 256 bytes of UTF-8
// without control or invisible formatting characters: the rules of
// document ids.
func CheckStateKey(key string) error {
	if err := CheckDocID(key); err != nil {
		return Errorf(EInvalid, "%s", strings.Replace(ErrorMessage(err), "document id", "state key", 1))
	}
	return nil
}

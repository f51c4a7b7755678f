package quire

import (
	"context"
	"unicode"
	"unicode/utf8"
)

// Lease bounds. A lease must be renewed before it ends; the upper bound
// keeps a crashed holder from blocking a lock for long.
const (
	DefaultLockTTLMillis = 30_000
	MinLockTTLMillis     = 1
	MaxLockTTLMillis     = 600_000
	// MaxLockOwnerBytes is the longest owner label, in bytes of UTF-8.
	MaxLockOwnerBytes = 256
)

// Lock is the state of a named lock of a tenant. Token is the newest
// fencing token issued for the lock (0 if it was never acquired); tokens of
// a lock only ever grow, across releases, expiries and restarts. Owner and
// ExpiresAt (ms since the Unix epoch, like documents' timestamps) describe
// the current lease and are empty when the lock is free.
type Lock struct {
	Name      string `json:"lock"`
	Token     int64  `json:"token"`
	Held      bool   `json:"held"`
	Owner     string `json:"owner,omitempty"`
	ExpiresAt int64  `json:"expires_at,omitempty"`
}

// LockRequest asks for a lease (Acquire: Owner, TTLMillis) or extends one
// (Renew: Token, TTLMillis). TTLMillis 0 means DefaultLockTTLMillis.
type LockRequest struct {
	Owner     string `json:"owner,omitempty"`
	Token     int64  `json:"token,omitempty"`
	TTLMillis int64  `json:"ttl_ms,omitempty"`
}

// Check validates r and fills in the default TTL. renew says whether r
// extends a lease, which needs its token.
func (r *LockRequest) Check(renew bool) error {
	if r.TTLMillis == 0 {
		r.TTLMillis = DefaultLockTTLMillis
	}
	if r.TTLMillis < MinLockTTLMillis || r.TTLMillis > MaxLockTTLMillis {
		return Errorf(EInvalid, "ttl_ms must be %d to %d (milliseconds)", MinLockTTLMillis, MaxLockTTLMillis)
	}
	if renew && r.Token <= 0 {
		return Errorf(EInvalid, "token must be the positive token the lease was acquired with")
	}
	if !renew && r.Token != 0 {
		return Errorf(EInvalid, "an acquire takes no token: the server issues it")
	}
	return CheckLockOwner(r.Owner)
}

// CheckLockOwner refuses an owner label that is too long, not UTF-8, or
// holds control or invisible formatting characters: it is shown to other
// clients in lock_held errors, so it must read as what it is.
func CheckLockOwner(owner string) error {
	if len(owner) > MaxLockOwnerBytes {
		return Errorf(EInvalid, "owner must be at most %d bytes", MaxLockOwnerBytes)
	}
	if !utf8.ValidString(owner) {
		return Errorf(EInvalid, "owner is not valid UTF-8")
	}
	for _, c := range owner {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return Errorf(EInvalid, "owner contains a control or formatting character (U+%04X)", c)
		}
	}
	return nil
}

// LockStore is implemented by stores that keep locks with fencing tokens.
// Every change runs on the tenant's writer, in commit order with the
// writes whose Quire-Fence it checks, and is durable once acknowledged.
type LockStore interface {
	// Acquire grants a new lease and token on a free or expired lock, or
	// fails with ELockHeld (details: owner, expires_at, retry_after_ms).
	Acquire(ctx context.Context, name string, r LockRequest) (*Lock, Bookmark, error)
	// Renew extends the current, unexpired lease of r.Token to r.TTLMillis
	// from now, or fails with EStaleFence.
	Renew(ctx context.Context, name string, r LockRequest) (*Lock, Bookmark, error)
	// Release frees the lock if token is its newest; released reports
	// whether the lease was still live (false: it had expired or was
	// released already). An older or unknown token is EStaleFence.
	Release(ctx context.Context, name string, token int64) (l *Lock, released bool, b Bookmark, err error)
	// Lock returns the lock's current state; a lock never acquired is free
	// with token 0.
	Lock(ctx context.Context, name string) (*Lock, error)
}

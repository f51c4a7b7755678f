package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/quiredb/quire"
)

var _ quire.LockStore = (*Store)(nil)

// locksSchema keeps every lock of the tenant, held or not: the row of a
// released or expired lock stays, because its token is where the next
// acquire counts on from. expires_at is NULL once released; a lease whose
// expires_at has passed is free without anyone touching the row.
const locksSchema = `
CREATE TABLE IF NOT EXISTS _quire_locks (
	name TEXT PRIMARY KEY,
	token INTEGER NOT NULL,
	owner TEXT,
	expires_at INTEGER
) STRICT;
`

// epochTokenBits is how many low bits of a token count acquisitions within
// one epoch. A restore rolls the lock table back with the rest of the
// database, but moves the tenant to a higher epoch: starting every epoch's
// tokens at (epoch-1)<<epochTokenBits keeps tokens issued after a restore
// above every token issued before it, so a holder from before cannot pass
// a fence check with a token that was issued again. 2^40 acquisitions of
// one lock per epoch, 2^23 epochs.
const epochTokenBits = 40

// tokenFloor is the smallest token the epoch may issue.
func tokenFloor(epoch uint32) int64 {
	e := int64(epoch) - 1
	if e < 0 {
		e = 0
	}
	return min(e, 1<<(62-epochTokenBits))<<epochTokenBits + 1
}

// lockRow is a lock's row as the writer or a reader sees it.
type lockRow struct {
	found   bool
	token   int64
	owner   sql.NullString
	expires sql.NullInt64
}

// live reports whether the lease is held at now (ms).
func (r *lockRow) live(now int64) bool { return r.found && r.expires.Valid && r.expires.Int64 > now }

// state renders the row as the API shows it at now.
func (r *lockRow) state(name string, now int64) *quire.Lock {
	l := &quire.Lock{Name: name, Token: r.token}
	if r.live(now) {
		l.Held, l.Owner, l.ExpiresAt = true, r.owner.String, r.expires.Int64
	}
	return l
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readLock reads name's row through q.
func readLock(ctx context.Context, q rowQuerier, name string) (lockRow, error) {
	var r lockRow
	err := q.QueryRowContext(ctx, `SELECT token, owner, expires_at FROM _quire_locks WHERE name = ?`, name).
		Scan(&r.token, &r.owner, &r.expires)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, classify(err, "read lock")
	}
	r.found = true
	return r, nil
}

// lockOp runs fn on the writer for a lock operation. The request's own
// fences are dropped: lock operations follow the lock's token rules, not
// the Quire-Fence check of data writes. fn reads the lock's row in the
// same transaction it changes it in, so every decision is made in commit
// order with the fence checks of writes.
func (s *Store) lockOp(ctx context.Context, name string, fn func(t *txn, row lockRow) (any, error)) (any, quire.Bookmark, error) {
	if err := quire.CheckName("lock", name); err != nil {
		return nil, quire.Bookmark{}, err
	}
	val, seq, err := s.submit(quire.WithoutFences(ctx), groupShared, func(t *txn) (any, error) {
		// Lock traffic writes no collection: the read cache stays.
		t.touchesNothing()
		row, err := readLock(context.Background(), t.s.wconn, name)
		if err != nil {
			return nil, err
		}
		return fn(t, row)
	})
	if err != nil {
		return nil, quire.Bookmark{}, err
	}
	return val, quire.Bookmark{Epoch: s.epoch, Seq: seq}, nil
}

// Acquire grants a new lease and the next token of a free or expired lock.
func (s *Store) Acquire(ctx context.Context, name string, r quire.LockRequest) (*quire.Lock, quire.Bookmark, error) {
	if err := r.Check(false); err != nil {
		return nil, quire.Bookmark{}, err
	}
	val, b, err := s.lockOp(ctx, name, func(t *txn, row lockRow) (any, error) {
		if row.live(t.now) {
			return nil, lockHeld(name, row, t.now)
		}
		tok := max(row.token+1, tokenFloor(s.epoch))
		exp := t.now + r.TTLMillis
		err := t.exec(`INSERT INTO _quire_locks(name, token, owner, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET token = excluded.token, owner = excluded.owner, expires_at = excluded.expires_at`,
			name, tok, r.Owner, exp)
		if err != nil {
			return nil, classify(err, "acquire lock")
		}
		return &quire.Lock{Name: name, Token: tok, Held: true, Owner: r.Owner, ExpiresAt: exp}, nil
	})
	if err != nil {
		return nil, b, err
	}
	return val.(*quire.Lock), b, nil
}

// Renew moves the end of the current holder's lease to TTLMillis from now.
func (s *Store) Renew(ctx context.Context, name string, r quire.LockRequest) (*quire.Lock, quire.Bookmark, error) {
	if err := r.Check(true); err != nil {
		return nil, quire.Bookmark{}, err
	}
	val, b, err := s.lockOp(ctx, name, func(t *txn, row lockRow) (any, error) {
		if err := fenceError(name, r.Token, row, t.now); err != nil {
			return nil, err
		}
		exp := t.now + r.TTLMillis
		if err := t.exec(`UPDATE _quire_locks SET expires_at = ? WHERE name = ?`, exp, name); err != nil {
			return nil, classify(err, "renew lock")
		}
		row.expires = sql.NullInt64{Int64: exp, Valid: true}
		return row.state(name, t.now), nil
	})
	if err != nil {
		return nil, b, err
	}
	return val.(*quire.Lock), b, nil
}

// Release frees the lock if token is its newest. Releasing a lease that
// already expired or was released succeeds (nobody else can hold the lock
// while token is the newest), so a retried release is harmless; released
// tells the caller whether its lease was still live.
func (s *Store) Release(ctx context.Context, name string, token int64) (*quire.Lock, bool, quire.Bookmark, error) {
	if token <= 0 {
		return nil, false, quire.Bookmark{}, quire.Errorf(quire.EInvalid, "token must be the positive token the lease was acquired with")
	}
	type result struct {
		l        *quire.Lock
		released bool
	}
	val, b, err := s.lockOp(ctx, name, func(t *txn, row lockRow) (any, error) {
		if !row.found || row.token != token {
			return nil, fenceError(name, token, row, t.now)
		}
		if err := t.exec(`UPDATE _quire_locks SET owner = NULL, expires_at = NULL WHERE name = ?`, name); err != nil {
			return nil, classify(err, "release lock")
		}
		return result{&quire.Lock{Name: name, Token: token}, row.live(t.now)}, nil
	})
	if err != nil {
		return nil, false, b, err
	}
	res := val.(result)
	return res.l, res.released, b, nil
}

// Lock returns the lock's state as of now, from a read connection.
func (s *Store) Lock(ctx context.Context, name string) (*quire.Lock, error) {
	if err := quire.CheckName("lock", name); err != nil {
		return nil, err
	}
	row, err := readLock(ctx, s.rdb, name)
	if err != nil {
		return nil, err
	}
	return row.state(name, time.Now().UnixMilli()), nil
}

// checkFences refuses the write unless every fence's token is its lock's
// newest and that lease is live at the group's clock. It runs on the
// writer, inside the write's savepoint, so no acquire can slip between the
// check and the write: a client whose lease expired while it was paused is
// refused even if nobody acquired the lock since.
func (t *txn) checkFences(fs []quire.Fence) error {
	for _, f := range fs {
		row, err := readLock(context.Background(), t.s.wconn, f.Lock)
		if err != nil {
			return err
		}
		if err := fenceError(f.Lock, f.Token, row, t.now); err != nil {
			return err
		}
	}
	return nil
}

// fenceError returns the stale_fence error of token on the lock in row at
// now, or nil if token holds the live lease. The details say why, and only
// about this tenant's lock: each tenant's locks live in its own database.
func fenceError(name string, token int64, row lockRow, now int64) error {
	var why string
	switch {
	case !row.found:
		why = "unknown"
	case token < row.token:
		why = "superseded"
	case token > row.token:
		why = "unknown"
	case !row.expires.Valid:
		why = "released"
	case row.expires.Int64 <= now:
		why = "expired"
	default:
		return nil
	}
	msgs := map[string]string{
		"unknown":    "token %d was never issued for lock %q",
		"superseded": "token %d of lock %q is stale: a newer token was issued",
		"released":   "token %d of lock %q is stale: the lock was released",
		"expired":    "token %d of lock %q is stale: its lease expired",
	}
	e := quire.Errorf(quire.EStaleFence, msgs[why], token, name)
	e.Details = map[string]any{"lock": name, "token": token, "reason": why}
	return e
}

// lockHeld is the error of acquiring a lock whose lease in row is live.
func lockHeld(name string, row lockRow, now int64) error {
	e := quire.Errorf(quire.ELockHeld, "lock %q is held until %d (unix ms)", name, row.expires.Int64)
	e.Details = map[string]any{"lock": name, "expires_at": row.expires.Int64, "retry_after_ms": row.expires.Int64 - now}
	if row.owner.String != "" {
		e.Details["owner"] = row.owner.String
	}
	return e
}

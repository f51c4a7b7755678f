package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/quiredb/quire"
)

// writeReq is one logical write transaction queued to the writer. fn runs
// inside its own SAVEPOINT of the group transaction; if it fails, only its
// changes are rolled back. A request alone in its group needs no savepoint
// (the transaction is its own), nor does a self-undoing one (see
// writePlan and runRequest).
type writeReq struct {
	ctx  context.Context
	plan writePlan
	fn   func(t *txn) (any, error)
	resp chan writeResp
}

// writePlan is what the writer knows of a request before running it.
type writePlan struct {
	mode groupMode
	// growth, if set, bounds how much the request can grow the database
	// (see usage.go); the writer evaluates it against the schema the
	// request runs on. A request whose bound keeps the tenant within its
	// storage quota skips the exact check after it.
	growth func() growth
	// selfUndoing requests write with one statement and cannot fail once
	// it has succeeded: if they fail, SQLite has already undone the
	// statement (its statement journal), so they need no savepoint of
	// their own unless their storage check may refuse them afterwards.
	selfUndoing bool
}

// groupMode is how a request shares the writer's group transaction.
type groupMode int

const (
	// groupShared requests join whatever group is forming.
	groupShared groupMode = iota
	// groupAlone requests commit in a group of their own: requests of
	// many statements (batches of more than aloneOps ops, imports). In a
	// savepoint, every statement's release walks SQLite's in-memory
	// statement journal from its start, which holds every page the
	// request changed so far: quadratic in the request's size (a 1000-op
	// batch took 55% of the writer's CPU in memjrnlTruncate). Alone, each
	// statement's journal starts empty.
	groupAlone
	// groupSchema requests (schema changes, SQL writes) commit alone so
	// that later requests see the new schema, with temporary files on disk
	// (see setTempStore).
	groupSchema
)

// aloneOps is the size of a batch above which it commits alone.
const aloneOps = 64

type writeResp struct {
	val any
	seq uint64
	err error
}

// txn is what a write function sees: the writer's connection, the sequence
// number its changes will commit under, and a place for effects that may
// happen only once the group has committed.
type txn struct {
	s     *Store
	seq   uint64
	now   int64 // ms since the epoch, one clock reading per group
	after []func()
	// precise is set by a request that reports everything it writes
	// (noteDoc, touchesNothing); any other request that succeeds makes its
	// group's quire.Commit.All, so the read cache forgets everything.
	precise bool
	docs    []quire.DocChange
}

// noteDoc records a document write for the read cache: d as written, or
// nil for a delete.
func (t *txn) noteDoc(coll, id string, d *quire.Document) {
	t.precise = true
	t.docs = append(t.docs, quire.DocChange{Collection: coll, ID: id, Doc: d})
}

// touchesNothing declares that the request writes no collection (locks).
func (t *txn) touchesNothing() { t.precise = true }

// exec runs a statement on the writer connection, outside any context: a
// started write is finished even if its client went away.
func (t *txn) exec(query string, args ...any) error {
	_, err := t.s.wconn.ExecContext(context.Background(), query, args...)
	return err
}

// submit queues fn to the writer and waits for the group it joined to
// commit. It returns fn's value and the sequence number it committed under.
func (s *Store) submit(ctx context.Context, mode groupMode, fn func(t *txn) (any, error)) (any, uint64, error) {
	return s.submitPlanned(ctx, writePlan{mode: mode}, fn)
}

// submitPlanned is submit for a request that says more about itself.
func (s *Store) submitPlanned(ctx context.Context, plan writePlan, fn func(t *txn) (any, error)) (any, uint64, error) {
	r := &writeReq{ctx: ctx, plan: plan, fn: fn, resp: make(chan writeResp, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, 0, quire.Errorf(quire.EUnavailable, "tenant is closing, retry")
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, 0, quire.Errorf(quire.EUnavailable, "write not queued: %v", ctx.Err())
	}
	s.mu.RUnlock()
	// Once queued, wait for the answer even if ctx ends: the write may
	// commit, and the writer never blocks on answering.
	resp := <-r.resp
	return resp.val, resp.seq, resp.err
}

// writeLoop is the writer goroutine. It takes the first queued request,
// drains whatever else is queued (up to MaxBatch) into one transaction, and
// commits it with a single fsync. Requests that are not groupShared run in
// a group of their own.
func (s *Store) writeLoop() {
	defer close(s.done)
	var carry *writeReq
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	for {
		first := carry
		carry = nil
		if first == nil {
			r, ok := <-s.reqs
			if !ok {
				return
			}
			first = r
		}
		batch = append(batch[:0], first)
		closing := false
	drain:
		for first.plan.mode == groupShared && len(batch) < s.opts.MaxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					closing = true
					break drain
				}
				if r.plan.mode != groupShared {
					carry = r
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commitGroup(batch)
		clear(batch)
		if closing && carry == nil {
			return
		}
	}
}

// commitGroup runs batch as one transaction and answers every request.
func (s *Store) commitGroup(batch []*writeReq) {
	if o := s.opts.Observer; o != nil {
		defer func(start time.Time, n int) { o.ObserveCommit(n, time.Since(start)) }(time.Now(), len(batch))
	}
	resps := make([]writeResp, len(batch))
	var after []func()
	answer := func() {
		for i, r := range batch {
			r.resp <- resps[i]
		}
	}
	bg := context.Background()
	s.setTempStore(batch[0].plan.mode == groupSchema)
	if _, err := s.wconn.ExecContext(bg, "BEGIN IMMEDIATE"); err != nil {
		err = classify(err, "begin")
		for i := range resps {
			resps[i].err = err
		}
		answer()
		return
	}
	next := s.seq.Load() + 1
	now := time.Now().UnixMilli()
	s.notePages()
	ok := 0
	var commit quire.Commit
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			resps[i].err = quire.Errorf(quire.EUnavailable, "write abandoned before it started: %v", err)
			continue
		}
		t := &txn{s: s, seq: next, now: now}
		val, err := s.runRequest(t, r, len(batch) == 1)
		if err != nil {
			resps[i].err = err
			if !s.inTransaction() {
				// SQLite rolled the whole transaction back (I/O error,
				// disk full): nothing of this group can commit.
				s.failGroup(resps, i, err)
				answer()
				return
			}
			continue
		}
		resps[i] = writeResp{val: val, seq: next}
		after = append(after, t.after...)
		addToCommit(&commit, t)
		next++
		ok++
	}
	if ok == 0 {
		// Nothing to commit; a request that ran without a savepoint may
		// have left part of its changes, which go with the transaction.
		if s.inTransaction() {
			s.wconn.ExecContext(bg, "ROLLBACK")
		}
		answer()
		return
	}
	_, err := s.wconn.ExecContext(bg, "UPDATE _quire_meta SET v = ? WHERE k = 'seq'", int64(next-1))
	commit.Seq = next - 1
	if err == nil && s.cache != nil {
		// Invalidate before COMMIT: from the moment the group is visible,
		// no cache entry of what it wrote can be served or filled.
		s.cache.BeforeCommit(&commit)
	}
	if err == nil {
		_, err = s.wconn.ExecContext(bg, "COMMIT")
	}
	if err != nil {
		if s.inTransaction() {
			s.wconn.ExecContext(bg, "ROLLBACK")
		}
		s.failGroup(resps, len(resps), classify(err, "commit"))
		answer()
		return
	}
	s.seq.Store(next - 1)
	s.ckpt.noteCommit()
	if s.cache != nil {
		s.cache.AfterCommit(&commit)
	}
	if s.notify != nil {
		s.notify(quire.Bookmark{Epoch: s.epoch, Seq: next - 1})
	}
	for _, f := range after {
		f()
	}
	answer()
}

// fenced returns r's function, preceded by the check of the fences its
// context carries (Quire-Fence), so the check runs inside the writer, in
// the write's own savepoint, in commit order.
func fenced(r *writeReq) func(t *txn) (any, error) {
	fs := quire.FencesFrom(r.ctx)
	if len(fs) == 0 {
		return r.fn
	}
	return func(t *txn) (any, error) {
		if err := t.checkFences(fs); err != nil {
			return nil, err
		}
		return r.fn(t)
	}
}

// addToCommit records in c what a successful request of the group wrote.
func addToCommit(c *quire.Commit, t *txn) {
	if !t.precise {
		c.All = true
	}
	for _, d := range t.docs {
		if !slices.Contains(c.Collections, d.Collection) {
			c.Collections = append(c.Collections, d.Collection)
		}
	}
	c.Docs = append(c.Docs, t.docs...)
}

// setTempStore puts SQLite's temporary files (statement journals, sorts)
// in memory for ordinary groups, whose statements each touch one document
// (the collection triggers make every statement keep a journal; on disk it
// doubled the CPU cost of a document write), and on disk for requests that
// commit alone (schema changes, SQL writes), whose statements may touch a
// whole table.
func (s *Store) setTempStore(alone bool) {
	want := "MEMORY"
	if alone {
		want = "FILE"
	}
	if s.tempStore == want {
		return
	}
	if _, err := s.wconn.ExecContext(context.Background(), "PRAGMA temp_store = "+want); err == nil {
		s.tempStore = want
	}
}

// failGroup marks every request of a group that had not already failed as
// failed with err, after the group's transaction was lost, and reloads the
// schema in case a schema change was rolled back with it.
func (s *Store) failGroup(resps []writeResp, upTo int, err error) {
	for i := range resps {
		if i < upTo && resps[i].err != nil {
			continue
		}
		resps[i] = writeResp{err: err}
	}
	if lerr := s.loadCollections(context.Background()); lerr != nil {
		resps[0].err = errors.Join(err, lerr)
	}
}

// runRequest runs r inside a savepoint, rolling back to it on failure.
// Without a savepoint run a request that is the only one of its group
// (own: commitGroup rolls the transaction back if it fails) and a
// self-undoing request that needs no storage check.
func (s *Store) runRequest(t *txn, r *writeReq, own bool) (any, error) {
	fn := fenced(r)
	checked := !s.storageCovered(r.plan.growth)
	if checked {
		s.exactPages()
	}
	if own || (r.plan.selfUndoing && !checked) {
		val, err := callSafely(t, fn)
		if err == nil && checked {
			err = s.checkStorage()
		}
		if errors.Is(err, errWritePanicked) && !own {
			// The request may have written before it panicked, and no
			// savepoint can take that back: the group goes instead.
			t.exec("ROLLBACK")
		}
		return val, err
	}
	if err := t.exec("SAVEPOINT w"); err != nil {
		return nil, classify(err, "savepoint")
	}
	val, err := callSafely(t, fn)
	if err == nil && checked {
		err = s.checkStorage()
	}
	if err != nil {
		if s.inTransaction() {
			if rerr := t.exec("ROLLBACK TO w"); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
			t.exec("RELEASE w")
		}
		return nil, err
	}
	if err := t.exec("RELEASE w"); err != nil {
		return nil, classify(err, "release savepoint")
	}
	return val, nil
}

// errWritePanicked marks the error of a request whose function panicked.
var errWritePanicked = errors.New("write panicked")

// callSafely runs fn, turning a panic into an error: a bug in one request
// must not kill the tenant's writer and strand every later write.
func callSafely(t *txn, fn func(t *txn) (any, error)) (val any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", errWritePanicked, p, debug.Stack())
		}
	}()
	return fn(t)
}

// inTransaction reports whether the writer connection is inside a
// transaction; SQLite ends one by itself after some errors.
func (s *Store) inTransaction() bool {
	in := false
	err := s.wconn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		in = !c.AutoCommit()
		return nil
	})
	return err == nil && in
}

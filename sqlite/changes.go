package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/quiredb/quire"
)

var _ quire.ChangeStore = (*Store)(nil)

// The change feed reads _quire_changes, which the collection triggers fill
// for every write path (see triggers.go), in commit order: seq, then rowid.
// The table has no INTEGER PRIMARY KEY, so its rowids are SQLite's own:
// each insert takes the largest rowid plus one, so within a commit they
// follow the order of the changes. Only VACUUM renumbers such rowids, and
// Quire runs it only as VACUUM INTO (backups), whose restore starts a new
// epoch, which makes every older cursor invalid anyway.

// metaPrunedThrough is the _quire_meta key of the highest sequence number
// whose changes retention has removed.
const metaPrunedThrough = "changes_pruned_through"

// changePos is a position of the feed: after the whole commit Seq when row
// is 0, else after the change with that rowid inside commit Seq.
type changePos struct {
	quire.Bookmark
	row int64
}

// formatCursor renders p: a plain bookmark for a whole commit, else the
// bookmark, '.', and the rowid in 16 hex digits.
func (s *Store) formatCursor(p changePos) string {
	if p.row == 0 {
		return s.FormatBookmark(p.Bookmark)
	}
	return fmt.Sprintf("%s.%016x", s.FormatBookmark(p.Bookmark), uint64(p.row))
}

// parseCursor parses a cursor or a bookmark, with the checks of
// ParseBookmark (tenant, epoch, not in the future).
func (s *Store) parseCursor(token string) (changePos, error) {
	mark, rest, inside := strings.Cut(token, ".")
	b, err := s.ParseBookmark(mark)
	if err != nil {
		return changePos{}, err
	}
	if !inside {
		return changePos{Bookmark: b}, nil
	}
	row, err := strconv.ParseUint(rest, 16, 63)
	if err != nil || len(rest) != 16 || row == 0 || strings.ToLower(rest) != rest {
		return changePos{}, quire.Errorf(quire.EInvalidBookmark, "malformed change cursor")
	}
	return changePos{Bookmark: b, row: int64(row)}, nil
}

// changeRow is a change as read, with its place in the log.
type changeRow struct {
	pos changePos // row is always set here
	c   *quire.Change
}

// Changes returns a page of the feed after q.Since (see quire.ChangeStore).
func (s *Store) Changes(ctx context.Context, q quire.ChangesQuery) (*quire.ChangesPage, error) {
	if q.Limit == 0 {
		q.Limit = quire.DefaultChangesLimit
	}
	if q.Limit < 1 || q.Limit > quire.MaxChangesLimit {
		return nil, quire.Errorf(quire.EInvalid, "limit must be 1 to %d", quire.MaxChangesLimit)
	}
	if q.Collection != "" {
		if err := quire.CheckName("collection", q.Collection); err != nil {
			return nil, err
		}
	}
	var from changePos
	if q.Since != "" {
		var err error
		if from, err = s.parseCursor(q.Since); err != nil {
			return nil, err
		}
	}
	// Every commit up to head is visible to a transaction that starts
	// after this load: an empty page proves nothing is left up to head.
	head := s.Position()
	release, err := s.readSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, classify(err, "read changes")
	}
	defer tx.Rollback()
	pruned, err := prunedThrough(ctx, tx)
	if err != nil {
		return nil, err
	}
	if q.Since == "" {
		from = changePos{Bookmark: quire.Bookmark{Epoch: s.epoch, Seq: pruned}}
	} else if err := s.checkRetained(ctx, tx, from, pruned); err != nil {
		return nil, err
	}
	rows, err := s.readChanges(ctx, tx, from, head, q.Collection, q.Limit+1)
	if err != nil {
		return nil, err
	}
	page := &quire.ChangesPage{Changes: []*quire.Change{}, Head: head}
	n := min(len(rows), q.Limit)
	for i, r := range rows[:n] {
		// A change ends its commit's part of the feed when no later
		// change of the log (whatever the filter) has its seq.
		last := false
		switch {
		case i+1 < len(rows) && rows[i+1].pos.Seq == r.pos.Seq:
		case q.Collection == "":
			last = true // the next change read, if any, is of a later commit
		default:
			if last, err = commitEndsAt(ctx, tx, r.pos); err != nil {
				return nil, err
			}
		}
		cur := r.pos
		if last {
			cur.row = 0
		}
		r.c.Bookmark = s.FormatBookmark(r.pos.Bookmark)
		r.c.Cursor = s.formatCursor(cur)
		page.Changes = append(page.Changes, r.c)
	}
	if q.Body {
		if err := s.fillBodies(ctx, tx, rows[:n]); err != nil {
			return nil, err
		}
	}
	page.Next = s.FormatBookmark(head) // head >= from: ParseBookmark refuses the future
	if n > 0 {
		page.Next = page.Changes[n-1].Cursor
	}
	return page, nil
}

// prunedThrough reads the highest sequence number retention removed.
func prunedThrough(ctx context.Context, tx *sql.Tx) (uint64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `SELECT v FROM _quire_meta WHERE k = ?`, metaPrunedThrough).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(v), classify(err, "read changes")
}

// checkRetained refuses a position whose following changes may have been
// pruned: retention removes whole commits, so a position at the end of a
// commit at or after the pruned one lost nothing, but one inside the
// last pruned commit did. A cursor inside a commit must name a change of it.
func (s *Store) checkRetained(ctx context.Context, tx *sql.Tx, from changePos, pruned uint64) error {
	if from.Seq < pruned || from.Seq == pruned && from.row != 0 {
		oldest := s.FormatBookmark(quire.Bookmark{Epoch: s.epoch, Seq: pruned})
		e := quire.Errorf(quire.EChangesExpired,
			"changes up to this position are no longer retained; the oldest position still available is %s (or omit since to start there)", oldest)
		e.Details = map[string]any{"oldest": oldest}
		return e
	}
	if from.row == 0 {
		return nil
	}
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM _quire_changes WHERE seq = ? AND rowid = ?`, int64(from.Seq), from.row).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return quire.Errorf(quire.EInvalidBookmark, "the change cursor does not point at a change of this tenant")
	}
	return classify(err, "read changes")
}

// readChanges reads up to limit changes after from, in commit order.
func (s *Store) readChanges(ctx context.Context, tx *sql.Tx, from changePos, head quire.Bookmark, coll string, limit int) ([]changeRow, error) {
	row := from.row
	if row == 0 {
		row = math.MaxInt64 // after the whole commit
	}
	// Nothing past head: the transaction may already see a commit whose
	// position the writer has not published yet, and a cursor into it
	// would be refused as ahead of the tenant's history.
	query := `SELECT rowid, seq, collection, doc_id, op, version, at, key_id FROM _quire_changes
		WHERE seq >= ? AND (seq > ? OR rowid > ?) AND seq <= ?`
	args := []any{int64(from.Seq), int64(from.Seq), row, int64(head.Seq)}
	if coll != "" {
		query += ` AND collection = ?`
		args = append(args, coll)
	}
	query += ` ORDER BY seq, rowid LIMIT ?`
	rows, err := tx.QueryContext(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, classify(err, "read changes")
	}
	defer rows.Close()
	var out []changeRow
	for rows.Next() {
		r := changeRow{pos: changePos{Bookmark: quire.Bookmark{Epoch: s.epoch}}, c: &quire.Change{}}
		var seq int64
		if err := rows.Scan(&r.pos.row, &seq, &r.c.Collection, &r.c.ID, &r.c.Op, &r.c.Version, &r.c.At, &r.c.KeyID); err != nil {
			return nil, classify(err, "read changes")
		}
		r.pos.Seq = uint64(seq)
		out = append(out, r)
	}
	return out, classify(rows.Err(), "read changes")
}

// commitEndsAt reports whether p is the last change of its commit.
func commitEndsAt(ctx context.Context, tx *sql.Tx, p changePos) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM _quire_changes WHERE seq = ? AND rowid > ? LIMIT 1`, int64(p.Seq), p.row).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	return false, classify(err, "read changes")
}

// PruneChanges removes the changes older than the retention
// (Options.ChangeRetention), whole commits at a time, through the writer
// in steps of about pruneStep changes so that writes are never held up
// long, and records the last removed sequence number in _quire_meta so a
// feed position before it is refused instead of silently missing changes.
// It returns how many changes it removed.
func (s *Store) PruneChanges(ctx context.Context) (int64, error) {
	return s.pruneChangesBefore(ctx, time.Now().Add(-s.opts.ChangeRetention).UnixMilli())
}

// oldestChangeAt returns when the oldest kept change was made, from a
// reader; sql.ErrNoRows if there is none.
func (s *Store) oldestChangeAt(ctx context.Context) (int64, error) {
	release, err := s.readSlot(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	var at int64
	err = s.rdb.QueryRowContext(ctx, `SELECT at FROM _quire_changes ORDER BY seq, rowid LIMIT 1`).Scan(&at)
	return at, err
}

// pruneChangesBefore removes the commits whose changes are older than
// cutoff (ms since the epoch).
func (s *Store) pruneChangesBefore(ctx context.Context, cutoff int64) (int64, error) {
	// A reader answers the common case, nothing to prune, without
	// taking a sequence number from the writer.
	oldest, err := s.oldestChangeAt(ctx)
	if errors.Is(err, sql.ErrNoRows) || err == nil && oldest >= cutoff {
		return 0, nil
	}
	if err != nil {
		return 0, classify(err, "prune changes")
	}
	var total int64
	for {
		v, _, err := s.submit(ctx, groupShared, func(t *txn) (any, error) {
			t.touchesNothing() // no collection changes: the read cache stays
			return t.pruneStep(cutoff)
		})
		if err != nil {
			return total, err
		}
		st := v.(pruneResult)
		total += st.removed
		if !st.more {
			return total, nil
		}
	}
}

// pruneStep is how many changes one prune write removes at most (plus
// the rest of the commit it ends in). A variable for tests.
var pruneStep = 5000

type pruneResult struct {
	removed int64
	more    bool
}

// pruneStep removes the oldest commits whose changes are all older than
// cutoff, up to about pruneStep changes.
func (t *txn) pruneStep(cutoff int64) (pruneResult, error) {
	ctx := context.Background()
	c := t.s.wconn
	bound := int64(math.MaxInt64)
	more := true
	err := c.QueryRowContext(ctx, `SELECT seq FROM _quire_changes ORDER BY seq LIMIT 1 OFFSET ?`, pruneStep-1).Scan(&bound)
	if errors.Is(err, sql.ErrNoRows) {
		bound, more, err = math.MaxInt64, false, nil
	}
	if err != nil {
		return pruneResult{}, classify(err, "prune changes")
	}
	// Stop before the first commit that is young enough to keep, so what
	// is removed is always a prefix of the log.
	var young sql.NullInt64
	if err := c.QueryRowContext(ctx, `SELECT min(seq) FROM _quire_changes WHERE seq <= ? AND at >= ?`, bound, cutoff).Scan(&young); err != nil {
		return pruneResult{}, classify(err, "prune changes")
	}
	if young.Valid {
		bound, more = young.Int64-1, false
	}
	var through sql.NullInt64
	if err := c.QueryRowContext(ctx, `SELECT max(seq) FROM _quire_changes WHERE seq <= ?`, bound).Scan(&through); err != nil {
		return pruneResult{}, classify(err, "prune changes")
	}
	if !through.Valid {
		return pruneResult{}, nil
	}
	res, err := c.ExecContext(ctx, `DELETE FROM _quire_changes WHERE seq <= ?`, through.Int64)
	if err != nil {
		return pruneResult{}, classify(err, "prune changes")
	}
	removed, _ := res.RowsAffected()
	err = t.exec(`INSERT INTO _quire_meta (k, v) VALUES (?, ?)
		ON CONFLICT (k) DO UPDATE SET v = max(v, excluded.v)`, metaPrunedThrough, through.Int64)
	return pruneResult{removed: removed, more: more && removed > 0}, classify(err, "prune changes")
}

// Bodies. The change log keeps no bodies (a purge must leave nothing), so
// a change's body comes from the document's current row or from its kept
// history (collections with history on), and only when it provably is the
// version the change wrote; otherwise the change says body unavailable.
//
//   - put of version V: the current row if it is at V and was written in
//     the change's commit (updated_at = at: every write of the document
//     and SQL paths stamps both with the group's clock reading), else the
//     first history row that ended version V after the change with that
//     same updated_at. An import keeps its rows' original timestamps, so
//     its changes have no body unless written again since.
//   - delete: the history row the delete itself kept (same seq).
//   - purge: never.
//
// Version numbers restart at 1 when a document is deleted and created
// again, so a current row at V written in the change's millisecond could
// in principle be a later incarnation: that is only possible if it was
// created in that same millisecond, and then the log after the change is
// checked for a delete of the document (see unsafeMatches).

// fillBodies sets Body and BodyAvailable on every change of rows.
func (s *Store) fillBodies(ctx context.Context, tx *sql.Tx, rows []changeRow) error {
	bodies := make([][]byte, len(rows))
	var ambiguous []int
	for i, r := range rows {
		if r.c.Op != "put" {
			continue
		}
		body, created, err := s.currentBody(ctx, tx, r.c)
		if err != nil {
			return err
		}
		bodies[i] = body
		if body != nil && created >= r.c.At {
			ambiguous = append(ambiguous, i)
		}
	}
	if len(ambiguous) > 0 {
		unsafe, err := unsafeMatches(ctx, tx, rows, ambiguous)
		if err != nil {
			return err
		}
		for _, i := range unsafe {
			bodies[i] = nil
		}
	}
	for i, r := range rows {
		c := r.c
		if bodies[i] == nil {
			var err error
			switch c.Op {
			case "put":
				bodies[i], err = historyBody(ctx, tx, `version = ? AND updated_at = ? AND seq >= ?`, c, c.Version, c.At, int64(r.pos.Seq))
			case "delete":
				bodies[i], err = historyBody(ctx, tx, `version = ? AND seq = ? AND op = 'delete'`, c, c.Version, int64(r.pos.Seq))
			}
			if err != nil {
				return err
			}
		}
		ok := bodies[i] != nil
		c.BodyAvailable = &ok
		c.Body = []byte("null")
		if ok {
			c.Body = bodies[i]
		}
	}
	return nil
}

// currentBody returns the current row of c's document if it is at c's
// version and was written at c's time, with its created_at; nil if not.
func (s *Store) currentBody(ctx context.Context, tx *sql.Tx, c *quire.Change) ([]byte, int64, error) {
	if _, err := s.collection(c.Collection); err != nil {
		return nil, 0, nil // dropped since: its rows are gone
	}
	var body []byte
	var created int64
	err := tx.QueryRowContext(ctx, `SELECT body, created_at FROM `+quoteIdent(c.Collection)+`
		WHERE id = ? AND _version = ? AND updated_at = ?`, c.ID, c.Version, c.At).Scan(&body, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, 0, nil
	case err != nil && strings.Contains(err.Error(), "no such table"):
		return nil, 0, nil // created or dropped around this read's snapshot
	case err != nil:
		return nil, 0, classify(err, "read change body")
	}
	return body, created, nil
}

// historyBody returns the body of the oldest history row of c's document
// that matches cond, or nil.
func historyBody(ctx context.Context, tx *sql.Tx, cond string, c *quire.Change, args ...any) ([]byte, error) {
	var body []byte
	err := tx.QueryRowContext(ctx, `SELECT body FROM _quire_history WHERE collection = ? AND doc_id = ? AND `+cond+`
		ORDER BY hid LIMIT 1`, append([]any{c.Collection, c.ID}, args...)...).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return body, classify(err, "read change body")
}

// ambiguityScan bounds the log read by unsafeMatches; past it, the
// ambiguous bodies are reported unavailable rather than guessed.
const ambiguityScan = 20000

// unsafeMatches returns those of rows[idx] (current-row matches whose
// document was created in the change's millisecond) whose document was
// deleted after the change: their current row is a later incarnation. It
// reads the log from the first of them through the last millisecond
// concerned; commits take their clock reading in order, so a delete in
// that millisecond lies in that stretch.
func unsafeMatches(ctx context.Context, tx *sql.Tx, rows []changeRow, idx []int) ([]int, error) {
	first := rows[idx[0]].pos
	var until int64
	for _, i := range idx {
		until = max(until, rows[i].c.At)
	}
	res, err := tx.QueryContext(ctx, `SELECT rowid, seq, collection, doc_id, op, at FROM _quire_changes
		WHERE seq >= ? AND (seq > ? OR rowid > ?) ORDER BY seq, rowid LIMIT ?`,
		int64(first.Seq), int64(first.Seq), first.row, ambiguityScan)
	if err != nil {
		return nil, classify(err, "read change body")
	}
	defer res.Close()
	type key struct{ coll, id string }
	type at struct{ seq, row int64 }
	deleted := map[key]at{} // the last delete seen of each document
	n, complete := 0, false
	for res.Next() {
		var p at
		var k key
		var op string
		var when int64
		if err := res.Scan(&p.row, &p.seq, &k.coll, &k.id, &op, &when); err != nil {
			return nil, classify(err, "read change body")
		}
		n++
		if when > until {
			complete = true
			break
		}
		if op == "delete" || op == "purge" {
			deleted[k] = p
		}
	}
	if err := res.Err(); err != nil {
		return nil, classify(err, "read change body")
	}
	complete = complete || n < ambiguityScan
	var out []int
	for _, i := range idx {
		r := rows[i]
		d, ok := deleted[key{r.c.Collection, r.c.ID}]
		later := ok && (d.seq > int64(r.pos.Seq) || d.seq == int64(r.pos.Seq) && d.row > r.pos.row)
		if !complete || later {
			out = append(out, i)
		}
	}
	return out, nil
}

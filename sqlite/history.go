package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/quiredb/quire"
)

var _ quire.HistoryStore = (*Store)(nil)

// historySchema is the table of prior versions, filled by the history
// triggers of collections with history on. Rows of one document are read
// newest first through the (collection, doc_id) index, whose entries end
// with the rowid hid.
const historySchema = `
CREATE TABLE IF NOT EXISTS _quire_history (
	hid INTEGER PRIMARY KEY,
	collection TEXT NOT NULL,
	doc_id TEXT NOT NULL,
	version INTEGER NOT NULL,
	body TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	key_id TEXT NOT NULL,
	at INTEGER NOT NULL,
	op TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS _quire_history_doc ON _quire_history(collection, doc_id);
`

// historyTriggerPrefix starts the names of history triggers; the '.'
// keeps them apart from anything a user can name.
const historyTriggerPrefix = "hist."

// historyTriggers renders the triggers that copy a document's old row into
// _quire_history, through the same writer-bound functions as the change
// log, so the document API and the SQL endpoint keep history alike.
//
// The update trigger is BEFORE UPDATE OF body: it sees the row as it was,
// and it does not fire for the version bump the collection's update
// trigger runs after a raw SQL UPDATE (that statement sets only _version
// and updated_at), so each prior version is kept once.
func historyTriggers(coll string) []string {
	table, lit := quoteIdent(coll), "'"+coll+"'"
	insert := func(op string) string {
		return fmt.Sprintf(`INSERT INTO _quire_history (collection, doc_id, version, body, created_at, updated_at, seq, key_id, at, op)
		VALUES (%s, OLD.id, OLD._version, OLD.body, OLD.created_at, OLD.updated_at, quire_seq(), quire_key(), quire_now(), '%s');`, lit, op)
	}
	return []string{
		fmt.Sprintf("CREATE TRIGGER IF NOT EXISTS %s BEFORE UPDATE OF body ON %s BEGIN\n\t%s\nEND",
			historyTriggerName(coll, "update"), table, insert("put")),
		fmt.Sprintf("CREATE TRIGGER IF NOT EXISTS %s AFTER DELETE ON %s BEGIN\n\t%s\nEND",
			historyTriggerName(coll, "delete"), table, insert("delete")),
	}
}

func historyTriggerName(coll, event string) string {
	return quoteIdent(historyTriggerPrefix + coll + "." + event)
}

// dropHistoryTriggers renders turning a collection's history off. The
// versions already kept stay readable until purged.
func dropHistoryTriggers(coll string) []string {
	return []string{
		"DROP TRIGGER IF EXISTS " + historyTriggerName(coll, "update"),
		"DROP TRIGGER IF EXISTS " + historyTriggerName(coll, "delete"),
	}
}

// setHistory turns a collection's history on or off.
func (t *txn) setHistory(cur *quire.Collection, on bool) (*quire.Collection, error) {
	stmts := dropHistoryTriggers(cur.Name)
	if on {
		stmts = historyTriggers(cur.Name)
	}
	if err := t.execAll(stmts); err != nil {
		return nil, err
	}
	next := *cur
	next.History = on
	return &next, nil
}

// loadHistoryFlags marks the collections of m whose history triggers
// exist: the triggers themselves are the record of the setting, so it
// changes atomically with them and travels with backups.
func loadHistoryFlags(ctx context.Context, conn *sql.Conn, m map[string]*quire.Collection) error {
	rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'hist.%.update'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		coll := strings.TrimSuffix(strings.TrimPrefix(name, historyTriggerPrefix), ".update")
		if c := m[coll]; c != nil {
			c.History = true
		}
	}
	return rows.Err()
}

// History lists a document's prior versions, newest first. A document
// that neither exists nor has history is not found.
func (s *Store) History(ctx context.Context, q quire.HistoryQuery) ([]*quire.HistoryVersion, string, error) {
	if _, err := s.collection(q.Collection); err != nil {
		return nil, "", err
	}
	if err := quire.CheckDocID(q.ID); err != nil {
		return nil, "", err
	}
	if q.Limit <= 0 {
		q.Limit = quire.DefaultListLimit
	}
	if q.Limit > quire.MaxListLimit {
		return nil, "", quire.Errorf(quire.EInvalid, "limit may be at most %d", quire.MaxListLimit)
	}
	before := int64(1<<63 - 1)
	if q.After != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.After)
		n, perr := strconv.ParseInt(string(b), 10, 64)
		if err != nil || perr != nil || n < 1 {
			return nil, "", quire.Errorf(quire.EInvalid, "malformed cursor")
		}
		before = n
	}
	out, hids, err := s.readHistory(ctx, q, before)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(hids[q.Limit-1], 10)))
	}
	if len(out) == 0 && q.After == "" {
		if _, err := s.Get(ctx, q.Collection, q.ID); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// readHistory reads up to q.Limit+1 kept versions older than hid before,
// newest first, with their hids. It gives its read connection back before
// returning, so History may read the document itself next.
func (s *Store) readHistory(ctx context.Context, q quire.HistoryQuery, before int64) ([]*quire.HistoryVersion, []int64, error) {
	release, err := s.readSlot(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	rows, err := s.rdb.QueryContext(ctx, `SELECT hid, version, body, created_at, updated_at, seq, key_id, at, op
		FROM _quire_history WHERE collection = ? AND doc_id = ? AND hid < ? ORDER BY hid DESC LIMIT ?`,
		q.Collection, q.ID, before, q.Limit+1)
	if err != nil {
		return nil, nil, s.readError(err, q.Collection)
	}
	defer rows.Close()
	var out []*quire.HistoryVersion
	var hids []int64
	for rows.Next() {
		v := &quire.HistoryVersion{Commit: quire.Bookmark{Epoch: s.epoch}}
		var hid int64
		var body []byte
		if err := rows.Scan(&hid, &v.Version, &body, &v.CreatedAt, &v.UpdatedAt, &v.Commit.Seq, &v.KeyID, &v.At, &v.Op); err != nil {
			return nil, nil, s.readError(err, q.Collection)
		}
		v.Body = body
		out = append(out, v)
		hids = append(hids, hid)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, s.readError(err, q.Collection)
	}
	return out, hids, nil
}

// GetVersion returns version n of a document: the current one if it is at
// n, else the latest kept version n (after a delete and re-create, version
// numbers start again at 1).
func (s *Store) GetVersion(ctx context.Context, collection, id string, n int64) (*quire.Document, error) {
	if _, err := s.collection(collection); err != nil {
		return nil, err
	}
	if err := quire.CheckDocID(id); err != nil {
		return nil, err
	}
	d := &quire.Document{ID: id, Version: n}
	var body []byte
	release, err := s.readSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	err = s.rdb.QueryRowContext(context.Background(), `SELECT created_at, updated_at, body FROM (
			SELECT created_at, updated_at, body, 1 AS cur, 0 AS hid FROM `+quoteIdent(collection)+` WHERE id = ? AND _version = ?
			UNION ALL
			SELECT created_at, updated_at, body, 0, hid FROM _quire_history WHERE collection = ? AND doc_id = ? AND version = ?
		) ORDER BY cur DESC, hid DESC LIMIT 1`, id, n, collection, id, n).Scan(&d.CreatedAt, &d.UpdatedAt, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, quire.Errorf(quire.ENotFound, "document %q has no version %d", id, n)
	}
	if err != nil {
		return nil, s.readError(err, collection)
	}
	d.Body = body
	return d, nil
}

// Purge erases a document: its row, every kept version, in one write on
// behalf of keyID, recorded in the change log as op "purge" with the
// document's id and last version but no content. The change log never
// holds bodies, so nothing else of the document remains; the writer runs
// with secure_delete on (see setupWriter), so the freed space is zeroed.
func (s *Store) Purge(ctx context.Context, collection, id, keyID string) (quire.Bookmark, error) {
	if _, err := s.collection(collection); err != nil {
		return quire.Bookmark{}, err
	}
	if err := quire.CheckDocID(id); err != nil {
		return quire.Bookmark{}, err
	}
	_, seq, err := s.submit(ctx, groupShared, func(t *txn) (any, error) {
		defer t.bindWrite(keyID)()
		var version int64
		err := t.s.wconn.QueryRowContext(context.Background(),
			"DELETE FROM "+quoteIdent(collection)+" WHERE id = ? RETURNING _version", id).Scan(&version)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, classify(err, "purge document")
		}
		res, err := t.s.wconn.ExecContext(context.Background(),
			"DELETE FROM _quire_history WHERE collection = ? AND doc_id = ?", collection, id)
		if err != nil {
			return nil, classify(err, "purge history")
		}
		if n, _ := res.RowsAffected(); n > 0 {
			found = true
		}
		if !found {
			return nil, quire.Errorf(quire.ENotFound, "document %q not found", id)
		}
		err = t.exec(`INSERT INTO _quire_changes (seq, collection, doc_id, op, version, at, key_id)
			VALUES (?, ?, ?, 'purge', ?, ?, ?)`, int64(t.seq), collection, id, version, t.now, keyID)
		return nil, classify(err, "record purge")
	})
	if err != nil {
		return quire.Bookmark{}, err
	}
	return quire.Bookmark{Epoch: s.epoch, Seq: seq}, nil
}

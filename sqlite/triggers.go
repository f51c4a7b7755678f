package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/quiredb/quire"
)

// Every write of a collection row, whatever its path (document API, batch,
// SQL endpoint), is recorded and normalised by the same three triggers per
// collection table:
//
//   - AFTER INSERT refuses a row whose _version, created_at or updated_at
//     were not left to Quire (the columns default to them), whose id is not
//     a valid document id or whose body is not a JSON object within the size
//     limit, and writes the change-log row.
//   - AFTER UPDATE refuses a changed id or created_at, a _version that moved
//     other than by one, or an invalid body; bumps _version and updated_at
//     when the statement did not (a raw SQL UPDATE), and writes the
//     change-log row once the version has moved. The document path sets
//     _version and updated_at itself, so it costs no second UPDATE.
//   - AFTER DELETE writes the change-log row.
//
// The writer connection runs with recursive_triggers on, so rows that
// INSERT OR REPLACE deletes are logged as deletes; the bump's own UPDATE
// fires the UPDATE trigger once more, which then only logs.
//
// The triggers read the write being run through functions registered on the
// writer connection only: a row written by any other connection (a read
// connection, the sqlite3 shell) fails instead of escaping the log.

// writeContext is the write the writer is running, as the trigger
// functions report it. Only the writer goroutine sets and reads it.
type writeContext struct {
	seq uint64
	now int64
	key string
	// importing lets an import write rows with the version and timestamps
	// they had when exported (see importexport.go).
	importing bool
}

// bindWrite makes t, on behalf of key, the write the triggers record, until
// the returned function is called.
func (t *txn) bindWrite(key string) (unbind func()) {
	t.s.wctx = &writeContext{seq: t.seq, now: t.now, key: key}
	return func() { t.s.wctx = nil }
}

// errNoWrite is what a trigger function answers outside a bound write.
var errNoWrite = errors.New("quire: collection rows can only be written through Quire's writer")

// setupWriter registers the trigger functions on the writer connection and
// turns recursive triggers and secure delete on.
func (s *Store) setupWriter(ctx context.Context) error {
	current := func() (*writeContext, error) {
		if s.wctx == nil {
			return nil, errNoWrite
		}
		return s.wctx, nil
	}
	funcs := []struct {
		name string
		impl any
	}{
		{"quire_seq", func() (int64, error) {
			w, err := current()
			if err != nil {
				return 0, err
			}
			return int64(w.seq), nil
		}},
		{"quire_now", func() (int64, error) {
			w, err := current()
			if err != nil {
				return 0, err
			}
			return w.now, nil
		}},
		{"quire_key", func() (string, error) {
			w, err := current()
			if err != nil {
				return "", err
			}
			return w.key, nil
		}},
		{"quire_importing", func() bool { return s.wctx != nil && s.wctx.importing }},
		{"quire_max_doc_bytes", func() int64 { return int64(s.maxDocBytes()) }},
		{"quire_valid_id", func(id any) bool {
			v, ok := id.(string)
			return ok && quire.CheckDocID(v) == nil
		}},
	}
	err := s.wconn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		for _, f := range funcs {
			if err := c.RegisterFunc(f.name, f.impl, false); err != nil {
				return fmt.Errorf("register %s: %w", f.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := s.wconn.ExecContext(ctx, "PRAGMA recursive_triggers = ON"); err != nil {
		return err
	}
	// Deleted and overwritten content is zeroed, so a purged document (see
	// history.go) leaves no trace in free space; measured cost in the docs.
	if _, err := s.wconn.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
		return err
	}
	// SQLite checkpoints inside the COMMIT that takes the WAL past
	// walCheckpointPages. Every document write touches each secondary
	// index at a random page; a larger WAL copies a page rewritten by many
	// groups into the database once instead of once per 1000 pages:
	// +13% durable creates over HTTP, +20% in the store (docs/performance.md),
	// single writers unchanged. After a checkpoint the WAL file is cut
	// back to walKeepBytes, which is more than it grows to: reusing the
	// file's blocks is cheaper than extending it again after every
	// checkpoint, and the WAL stays bounded on disk all the same.
	//
	// The writer's page cache holds a whole group's dirty pages (a group
	// of 4096 creates dirties ~16 MB of index pages): with SQLite's 2 MB
	// default it spilled them into the WAL mid-transaction and read them
	// back. Together with the larger groups (Options.MaxBatch) and the
	// kept WAL file: +31% durable creates over HTTP, +47% in the store.
	_, err = s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d; PRAGMA journal_size_limit = %d; PRAGMA cache_size = %d",
		walCheckpointPages, walKeepBytes, -writerCacheKiB))
	return err
}

// The writer's settings (see setupWriter): checkpoint at about 40 MB of
// WAL (10,000 pages of 4 KiB), keep at most 64 MB of file after it, and a
// page cache of up to 32 MiB (SQLite allocates it as pages are used).
const (
	walCheckpointPages = 10_000
	walKeepBytes       = 64 << 20
	writerCacheKiB     = 32 << 10
)

// triggerName is the SQLite name of one of a collection's triggers; like
// index names, the '.' keeps it apart from anything a user can name.
func triggerName(coll, event string) string { return quoteIdent("trg." + coll + "." + event) }

// bodyChecks are the CASE arms refusing a body that is too large or not a
// JSON object (json_valid is strict RFC 8259: no JSON5). CASE tries its
// arms in order, so json_type never sees text that is not JSON.
const bodyChecks = `
		WHEN octet_length(NEW.body) > quire_max_doc_bytes()
			THEN RAISE(ABORT, 'quire: the document body is larger than the limit')
		WHEN NOT json_valid(NEW.body) THEN RAISE(ABORT, 'quire: the document body must be a JSON object')
		WHEN json_type(NEW.body) IS NOT 'object' THEN RAISE(ABORT, 'quire: the document body must be a JSON object')`

// collectionTriggers renders the triggers of a collection table. The name
// has passed quire.ValidName, so it cannot close the string literal.
func collectionTriggers(coll string) []string {
	table, lit := quoteIdent(coll), "'"+coll+"'"
	return []string{
		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS %s AFTER INSERT ON %s BEGIN
	SELECT CASE
		WHEN NOT quire_importing() AND (NEW._version IS NOT 1 OR NEW.created_at IS NOT quire_now() OR NEW.updated_at IS NOT NEW.created_at)
			THEN RAISE(ABORT, 'quire: leave _version, created_at and updated_at out, Quire sets them')
		WHEN NOT quire_valid_id(NEW.id)
			THEN RAISE(ABORT, 'quire: a document id is 1 to 256 bytes of UTF-8 without control characters')%s
	END;
	INSERT INTO _quire_changes (seq, collection, doc_id, op, version, at, key_id)
		VALUES (quire_seq(), %s, NEW.id, 'put', NEW._version, quire_now(), quire_key());
END`, triggerName(coll, "insert"), table, bodyChecks, lit),

		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS %s AFTER UPDATE ON %s BEGIN
	SELECT CASE
		WHEN NEW.id IS NOT OLD.id
			THEN RAISE(ABORT, 'quire: a document id cannot change, delete the document and insert it anew')
		WHEN NEW.created_at IS NOT OLD.created_at AND NOT quire_importing()
			THEN RAISE(ABORT, 'quire: created_at cannot change')
		WHEN NEW._version IS NOT OLD._version AND NOT quire_importing() AND (NEW._version IS NOT OLD._version + 1 OR NEW.updated_at IS NOT quire_now())
			THEN RAISE(ABORT, 'quire: leave _version and updated_at alone, Quire sets them')
		WHEN NEW.body IS OLD.body THEN NULL%s
	END;
	UPDATE %s SET _version = OLD._version + 1, updated_at = quire_now()
		WHERE NEW._version IS OLD._version AND rowid = NEW.rowid;
	INSERT INTO _quire_changes (seq, collection, doc_id, op, version, at, key_id)
		SELECT quire_seq(), %s, NEW.id, 'put', NEW._version, quire_now(), quire_key()
		WHERE NEW._version IS NOT OLD._version;
END`, triggerName(coll, "update"), table, bodyChecks, table, lit),

		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS %s AFTER DELETE ON %s BEGIN
	INSERT INTO _quire_changes (seq, collection, doc_id, op, version, at, key_id)
		VALUES (quire_seq(), %s, OLD.id, 'delete', OLD._version, quire_now(), quire_key());
END`, triggerName(coll, "delete"), table, lit),
	}
}

// ensureTriggers creates the triggers missing from any collection, such as
// those created before triggers existed. It runs when the store opens.
func (s *Store) ensureTriggers(ctx context.Context) error {
	rows, err := s.wconn.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger'`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			rows.Close()
			return err
		}
		// Insert and update triggers made before imports existed are
		// replaced: they would refuse an import's versions.
		stale := (strings.HasSuffix(name, ".insert") || strings.HasSuffix(name, ".update")) &&
			!strings.Contains(text, "quire_importing()")
		have[quoteIdent(name)] = !stale
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for name := range *s.colls.Load() {
		if have[triggerName(name, "insert")] && have[triggerName(name, "update")] && have[triggerName(name, "delete")] {
			continue
		}
		for _, event := range []string{"insert", "update"} {
			if _, err := s.wconn.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+triggerName(name, event)); err != nil {
				return fmt.Errorf("collection %q: replace triggers: %w", name, err)
			}
		}
		for _, q := range collectionTriggers(name) {
			if _, err := s.wconn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("collection %q: create triggers: %w", name, err)
			}
		}
	}
	return nil
}

// triggerError turns a refusal raised by a collection trigger into the
// user's error, or returns nil if err is something else.
func triggerError(err error) *quire.Error {
	var se sqlite3.Error
	if !errors.As(err, &se) || se.ExtendedCode != sqlite3.ErrConstraintTrigger {
		return nil
	}
	msg, ok := strings.CutPrefix(se.Error(), "quire: ")
	if !ok {
		return nil
	}
	switch {
	case strings.Contains(msg, "larger than the limit"):
		return quire.Errorf(quire.ETooLarge, "%s", msg)
	case strings.Contains(msg, "body"):
		return quire.Errorf(quire.EInvalidDocument, "%s", msg)
	}
	return quire.Errorf(quire.ESQL, "%s", msg)
}

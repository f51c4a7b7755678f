package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/quiredb/quire"
)

var (
	_ quire.Exporter = (*Store)(nil)
	_ quire.Importer = (*Store)(nil)
)

// MaxImportLines is the most lines one Import call takes.
const MaxImportLines = 10000

// Export calls emit with the definition of every collection (or of
// collection only, if not ""), then every document of them in collection
// and id order, all read from one snapshot on a read connection; writes
// continue meanwhile. It returns the position the export reflects.
func (s *Store) Export(ctx context.Context, collection string, emit func(*quire.ExportLine) error) (quire.Bookmark, error) {
	if collection != "" {
		if _, err := s.collection(collection); err != nil {
			return quire.Bookmark{}, err
		}
	}
	conn, release, err := s.readConn(ctx, "export")
	if err != nil {
		return quire.Bookmark{}, err
	}
	defer release()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return quire.Bookmark{}, classify(err, "export")
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck // read-only
	// The first read starts the snapshot every later read of the
	// transaction sees.
	var seq int64
	if err := conn.QueryRowContext(ctx, "SELECT v FROM _quire_meta WHERE k = 'seq'").Scan(&seq); err != nil {
		return quire.Bookmark{}, classify(err, "export")
	}
	colls, err := exportCollections(ctx, conn, collection)
	if err != nil {
		return quire.Bookmark{}, err
	}
	if collection != "" && len(colls) == 0 {
		return quire.Bookmark{}, quire.Errorf(quire.ENotFound, "collection %q not found", collection)
	}
	for _, c := range colls {
		if err := emit(c); err != nil {
			return quire.Bookmark{}, err
		}
	}
	for _, c := range colls {
		if err := exportDocuments(ctx, conn, c.Collection, emit); err != nil {
			return quire.Bookmark{}, err
		}
	}
	return quire.Bookmark{Epoch: s.epoch, Seq: uint64(seq)}, nil
}

// exportCollections reads the collection definitions of the snapshot.
func exportCollections(ctx context.Context, conn *sql.Conn, only string) ([]*quire.ExportLine, error) {
	rows, err := conn.QueryContext(ctx, `SELECT name, spec FROM _quire_collections WHERE ? = '' OR name = ? ORDER BY name`, only, only)
	if err != nil {
		return nil, classify(err, "export collections")
	}
	defer rows.Close()
	var out []*quire.ExportLine
	for rows.Next() {
		var name, spec string
		if err := rows.Scan(&name, &spec); err != nil {
			return nil, classify(err, "export collections")
		}
		l := &quire.ExportLine{Kind: quire.ExportCollection, Collection: name}
		if err := json.Unmarshal([]byte(spec), &l.Indexes); err != nil {
			return nil, fmt.Errorf("collection %q: bad spec: %w", name, err)
		}
		out = append(out, l)
	}
	return out, classify(rows.Err(), "export collections")
}

// exportDocuments emits every document of coll in id order.
func exportDocuments(ctx context.Context, conn *sql.Conn, coll string, emit func(*quire.ExportLine) error) error {
	rows, err := conn.QueryContext(ctx, "SELECT id, _version, created_at, updated_at, body FROM "+quoteIdent(coll)+" ORDER BY id")
	if err != nil {
		return classify(err, "export documents")
	}
	defer rows.Close()
	for rows.Next() {
		l := &quire.ExportLine{Kind: quire.ExportDocument, Collection: coll}
		var body []byte
		if err := rows.Scan(&l.ID, &l.Version, &l.CreatedAt, &l.UpdatedAt, &body); err != nil {
			return classify(err, "export documents")
		}
		l.Body = body
		if err := emit(l); err != nil {
			return err
		}
	}
	return classify(rows.Err(), "export documents")
}

// importDoc is a document line that passed the checks made before the
// writer sees it.
type importDoc struct {
	line int
	l    *quire.ExportLine
}

// Import writes lines on behalf of keyID.
// Collection lines create missing collections with their indexes (an
// existing collection is kept as it is). Document lines are written in one
// transaction, each in its own savepoint, with their exported version and
// timestamps: the change log records a put at the imported version. A
// document the tenant already holds at the same or a newer version is
// skipped, so an interrupted import can simply be run again.
func (s *Store) Import(ctx context.Context, lines []quire.ImportLine, keyID string) (*quire.ImportResult, quire.Bookmark, error) {
	if len(lines) > MaxImportLines {
		return nil, quire.Bookmark{}, quire.Errorf(quire.EInvalid, "at most %d lines per import request", MaxImportLines)
	}
	res := &quire.ImportResult{Rejected: []quire.ImportRejection{}}
	reject := func(line int, err error) {
		res.Rejected = append(res.Rejected, quire.ImportRejection{Line: line,
			Error: &quire.Error{Code: quire.ErrorCode(err), Message: quire.ErrorMessage(err)}})
	}
	pos := s.Position()
	var docs []importDoc
	for i := range lines {
		l, line := &lines[i].ExportLine, lines[i].Line
		switch l.Kind {
		case quire.ExportCollection:
			if _, err := s.collection(l.Collection); err == nil {
				continue
			}
			_, b, err := s.PutCollection(ctx, quire.Collection{Name: l.Collection, Indexes: l.Indexes})
			if err != nil {
				reject(line, err)
				continue
			}
			res.Collections++
			pos = b
		case quire.ExportDocument:
			if err := s.checkImport(l); err != nil {
				reject(line, err)
				continue
			}
			docs = append(docs, importDoc{line: line, l: l})
		default:
			reject(line, quire.Errorf(quire.EInvalid, `kind must be "collection" or "document", not %q`, l.Kind))
		}
	}
	if len(docs) == 0 {
		return res, pos, nil
	}
	type outcome struct {
		imported, skipped int
		rejected          []quire.ImportRejection
	}
	mode := groupShared
	if len(docs) > aloneOps {
		mode = groupAlone
	}
	val, seq, err := s.submit(ctx, mode, func(t *txn) (any, error) {
		var o outcome
		for _, d := range docs {
			wrote, err := t.importDoc(d.l, keyID)
			switch {
			case err != nil:
				o.rejected = append(o.rejected, quire.ImportRejection{Line: d.line,
					Error: &quire.Error{Code: quire.ErrorCode(err), Message: quire.ErrorMessage(err)}})
			case wrote:
				o.imported++
			default:
				o.skipped++
			}
		}
		return o, nil
	})
	if err != nil {
		return nil, quire.Bookmark{}, err
	}
	o := val.(outcome)
	res.Imported, res.Skipped = o.imported, o.skipped
	res.Rejected = append(res.Rejected, o.rejected...)
	return res, quire.Bookmark{Epoch: s.epoch, Seq: seq}, nil
}

// checkImport validates a document line before it is queued.
func (s *Store) checkImport(l *quire.ExportLine) error {
	if _, err := s.collection(l.Collection); err != nil {
		return err
	}
	if err := quire.CheckDocID(l.ID); err != nil {
		return err
	}
	body, err := checkBody(l.Body, s.maxDocBytes())
	if err != nil {
		return err
	}
	l.Body = body
	switch {
	case l.Version < 1:
		return quire.Errorf(quire.EInvalid, "version must be a positive integer")
	case l.CreatedAt <= 0 || l.UpdatedAt < l.CreatedAt:
		return quire.Errorf(quire.EInvalid, "created_at must be positive and updated_at not before it")
	}
	return nil
}

// importDoc writes one imported document in its own savepoint, unless the
// tenant holds it at the same or a newer version. It reports whether it
// wrote.
func (t *txn) importDoc(l *quire.ExportLine, keyID string) (bool, error) {
	defer t.bindWrite(keyID)()
	t.s.wctx.importing = true
	table := quoteIdent(l.Collection)
	var cur int64
	err := t.s.wconn.QueryRowContext(context.Background(), "SELECT _version FROM "+table+" WHERE id = ?", l.ID).Scan(&cur)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, classify(err, "read current version")
	}
	if exists && cur >= l.Version {
		return false, nil
	}
	if err := t.exec("SAVEPOINT imp"); err != nil {
		return false, classify(err, "savepoint")
	}
	if exists {
		err = t.exec("UPDATE "+table+" SET body = ?, created_at = ?, updated_at = ?, _version = ? WHERE id = ?",
			string(l.Body), l.CreatedAt, l.UpdatedAt, l.Version, l.ID)
	} else {
		err = t.exec("INSERT INTO "+table+" (id, body, created_at, updated_at, _version) VALUES (?, ?, ?, ?, ?)",
			l.ID, string(l.Body), l.CreatedAt, l.UpdatedAt, l.Version)
	}
	if err != nil {
		t.exec("ROLLBACK TO imp") //nolint:errcheck
		t.exec("RELEASE imp")     //nolint:errcheck
		if te := triggerError(err); te != nil {
			return false, te
		}
		return false, classify(err, "import")
	}
	if err := t.exec("RELEASE imp"); err != nil {
		return false, classify(err, "release savepoint")
	}
	return true, nil
}

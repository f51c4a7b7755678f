package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/quiredb/quire"
)

// Write applies ops as one atomic transaction on behalf of keyID. If any op
// fails, none is applied, and the error names the failing op.
func (s *Store) Write(ctx context.Context, ops []quire.WriteOp, keyID string) ([]quire.WriteResult, quire.Bookmark, error) {
	if len(ops) == 0 {
		return nil, quire.Bookmark{}, quire.Errorf(quire.EInvalid, "no operations")
	}
	if len(ops) > quire.MaxBatchOps {
		return nil, quire.Bookmark{}, quire.Errorf(quire.EInvalid, "at most %d operations per batch", quire.MaxBatchOps)
	}
	for i := range ops {
		if err := s.checkOp(&ops[i]); err != nil {
			return nil, quire.Bookmark{}, opError(ops, i, err)
		}
	}
	plan := writePlan{mode: groupShared, growth: s.writeGrowth(ops), selfUndoing: len(ops) == 1 && ops[0].Op != quire.OpPatch}
	if len(ops) > aloneOps {
		plan.mode = groupAlone
	}
	val, seq, err := s.submitPlanned(ctx, plan, func(t *txn) (any, error) {
		results := make([]quire.WriteResult, len(ops))
		for i := range ops {
			r, err := t.apply(&ops[i], keyID)
			if err != nil {
				return nil, opError(ops, i, err)
			}
			results[i] = r
		}
		return results, nil
	})
	if err != nil {
		return nil, quire.Bookmark{}, err
	}
	return val.([]quire.WriteResult), quire.Bookmark{Epoch: s.epoch, Seq: seq}, nil
}

// writeGrowth bounds what ops add to the database (see growth). A create
// or a put writes one row of its collection's table, one entry of each of
// its indexes (with the primary key's) and its change-log row with that
// row's index entry; a delete only the change-log row and its entry. A row
// holds the body and stored index values, which are no longer than the
// body, an index entry a value and an id; the rest (ids, keys, numbers)
// fits in 1 kB. A patch's result may be any size up to the limit, and a
// put or delete in a collection keeping history adds a row holding an
// earlier body of any size: ops with one of those have no bound (nil).
func (s *Store) writeGrowth(ops []quire.WriteOp) func() growth {
	var payload int64
	for i := range ops {
		if ops[i].Op == quire.OpPatch {
			return nil
		}
		payload = max(payload, 2*int64(len(ops[i].Body))+1024)
	}
	return func() growth {
		g := growth{payload: payload}
		for i := range ops {
			c, err := s.collection(ops[i].Collection)
			if err != nil || (c.History && ops[i].Op != quire.OpCreate) {
				return growth{}
			}
			if ops[i].Op == quire.OpDelete {
				g.trees += 2
			} else {
				g.trees += int64(len(c.Indexes)) + 4
			}
		}
		return g
	}
}

// opError names the failing op of a multi-op batch in err's details.
func opError(ops []quire.WriteOp, i int, err error) error {
	var qe *quire.Error
	if len(ops) == 1 || !errors.As(err, &qe) {
		return err
	}
	e := *qe
	e.Message = fmt.Sprintf("op %d (%s %s/%s): %s", i, ops[i].Op, ops[i].Collection, ops[i].ID, qe.Message)
	e.Details = map[string]any{"op_index": i}
	return &e
}

// checkOp validates an op before it is queued, so the writer only sees
// well-formed work.
func (s *Store) checkOp(op *quire.WriteOp) error {
	if _, err := s.collection(op.Collection); err != nil {
		return err
	}
	if err := quire.CheckDocID(op.ID); err != nil {
		return err
	}
	switch op.Op {
	case quire.OpPut, quire.OpCreate, quire.OpPatch:
		body, err := checkBody(op.Body, s.maxDocBytes())
		if err != nil {
			return err
		}
		op.Body = body
	case quire.OpDelete:
		if len(op.Body) > 0 && string(op.Body) != "null" {
			return quire.Errorf(quire.EInvalid, "delete takes no body")
		}
	default:
		return quire.Errorf(quire.EInvalid, "op must be put, create, patch or delete, not %q", op.Op)
	}
	if op.IfVersion != nil && *op.IfVersion < 1 {
		return quire.Errorf(quire.EInvalid, "if_version must be a positive version")
	}
	return nil
}

// checkBody checks that body is one JSON object within the size limit and
// returns it compacted.
func checkBody(body []byte, maxBytes int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(body))
	// Compact validates as it goes (json.Valid's scanner): one pass.
	if err := json.Compact(&buf, body); err != nil {
		return nil, quire.Errorf(quire.EInvalidDocument, "document is not valid JSON")
	}
	// The limit applies to the stored, compacted form: whitespace the
	// store removes does not count.
	if buf.Len() > maxBytes {
		return nil, quire.Errorf(quire.ETooLarge, "document is %d bytes, the limit is %d", buf.Len(), maxBytes)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, quire.Errorf(quire.EInvalidDocument, "document must be a JSON object")
	}
	// json.Valid passes invalid UTF-8 inside strings; stored, it would make
	// every response that includes the document invalid JSON.
	if !utf8.Valid(buf.Bytes()) {
		return nil, quire.Errorf(quire.EInvalidDocument, "document is not valid UTF-8")
	}
	if err := checkStructure(buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// apply performs one op inside the writer's transaction. The collection's
// triggers record it in the change log (see triggers.go); apply sets
// _version and updated_at itself, so the triggers do not bump them again.
func (t *txn) apply(op *quire.WriteOp, keyID string) (quire.WriteResult, error) {
	defer t.bindWrite(keyID)()
	table := quoteIdent(op.Collection)
	res := quire.WriteResult{Op: op.Op, Collection: op.Collection, ID: op.ID, UpdatedAt: t.now}
	// A create without conditions needs no read first: the insert fails
	// on the primary key if the document exists.
	plainCreate := op.Op == quire.OpCreate && !op.IfAbsent && !op.IfExists && op.IfVersion == nil
	var version, created int64
	var exists bool
	if !plainCreate {
		err := t.s.wconn.QueryRowContext(context.Background(),
			"SELECT _version, created_at FROM "+table+" WHERE id = ?", op.ID).Scan(&version, &created)
		exists = err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return res, classify(err, "read current version")
		}
	}
	switch {
	case op.IfAbsent && exists:
		return res, quire.Errorf(quire.EVersionMismatch, "document %q exists (If-None-Match: *)", op.ID)
	case op.IfExists && !exists:
		return res, quire.Errorf(quire.EVersionMismatch, "document %q does not exist (If-Match: *)", op.ID)
	case op.IfVersion != nil && !exists:
		return res, quire.Errorf(quire.EVersionMismatch, "document %q does not exist, expected version %d", op.ID, *op.IfVersion)
	case op.IfVersion != nil && *op.IfVersion != version:
		return res, quire.Errorf(quire.EVersionMismatch, "document %q is at version %d, expected %d", op.ID, version, *op.IfVersion)
	case op.Op == quire.OpCreate && exists:
		return res, quire.Errorf(quire.EConflict, "document %q already exists", op.ID)
	case (op.Op == quire.OpPatch || op.Op == quire.OpDelete) && !exists:
		return res, quire.Errorf(quire.ENotFound, "document %q not found", op.ID)
	}

	var err2 error
	body := op.Body
	switch {
	case op.Op == quire.OpDelete:
		err2 = t.exec("DELETE FROM "+table+" WHERE id = ?", op.ID)
		res.Version = version
	case op.Op == quire.OpPatch:
		var patched []byte
		err2 = t.s.wconn.QueryRowContext(context.Background(),
			"UPDATE "+table+" SET body = json_patch(body, ?), updated_at = ?, _version = _version + 1 WHERE id = ? RETURNING body",
			string(op.Body), t.now, op.ID).Scan(&patched)
		if limit := t.s.maxDocBytes(); err2 == nil && len(patched) > limit {
			return res, quire.Errorf(quire.ETooLarge, "patched document would be %d bytes, the limit is %d", len(patched), limit)
		}
		body = patched
		res.Version, res.CreatedAt = version+1, created
	case exists:
		err2 = t.exec("UPDATE "+table+" SET body = ?, updated_at = ?, _version = _version + 1 WHERE id = ?",
			string(op.Body), t.now, op.ID)
		res.Version, res.CreatedAt = version+1, created
	default:
		// Bodies are bound as strings: a []byte would be stored as a BLOB,
		// which SQLite's JSON functions would read as JSONB.
		err2 = t.exec("INSERT INTO "+table+" (id, body, created_at, updated_at, _version) VALUES (?, ?, ?, ?, 1)",
			op.ID, string(op.Body), t.now, t.now)
		res.Version, res.CreatedAt, res.Created = 1, t.now, true
	}
	if err2 != nil {
		if te := triggerError(err2); te != nil {
			return res, te
		}
		if plainCreate && isPrimaryKeyViolation(err2) {
			return res, quire.Errorf(quire.EConflict, "document %q already exists", op.ID)
		}
		return res, classify(err2, string(op.Op))
	}
	if op.Op == quire.OpDelete {
		t.noteDoc(op.Collection, op.ID, nil)
	} else {
		t.noteDoc(op.Collection, op.ID, &quire.Document{ID: op.ID, Version: res.Version,
			CreatedAt: res.CreatedAt, UpdatedAt: res.UpdatedAt, Body: body})
	}
	return res, nil
}

// Get reads one document. It uses no cancellable context: a point read is
// microseconds, and database/sql would spend a goroutine watching it.
func (s *Store) Get(ctx context.Context, collection, id string) (*quire.Document, error) {
	if _, err := s.collection(collection); err != nil {
		return nil, err
	}
	if err := quire.CheckDocID(id); err != nil {
		return nil, err
	}
	d := &quire.Document{ID: id}
	var body []byte
	release, err := s.readSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	err = s.rdb.QueryRowContext(context.Background(),
		"SELECT _version, created_at, updated_at, body FROM "+quoteIdent(collection)+" WHERE id = ?", id).
		Scan(&d.Version, &d.CreatedAt, &d.UpdatedAt, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, quire.Errorf(quire.ENotFound, "document %q not found", id)
	}
	if err != nil {
		return nil, s.readError(err, collection)
	}
	d.Body = body
	return d, nil
}

// readError classifies a read failure; a collection dropped while the read
// was in flight is reported as not found.
func (s *Store) readError(err error, collection string) error {
	if _, cerr := s.collection(collection); cerr != nil {
		return cerr
	}
	return classify(err, "read")
}

// List returns a page of documents in id order.
func (s *Store) List(ctx context.Context, q quire.ListQuery) ([]*quire.Document, string, error) {
	c, err := s.collection(q.Collection)
	if err != nil {
		return nil, "", err
	}
	if q.Limit <= 0 {
		q.Limit = quire.DefaultListLimit
	}
	if q.Limit > quire.MaxListLimit {
		return nil, "", quire.Errorf(quire.EInvalid, "limit may be at most %d", quire.MaxListLimit)
	}
	query := "SELECT id, _version, created_at, updated_at, body FROM " + quoteIdent(c.Name) + " WHERE id > ?"
	after, err := decodeCursor(q.After)
	if err != nil {
		return nil, "", err
	}
	args := []any{after}
	if q.Field != "" {
		ix, ok := c.Index(q.Field)
		if !ok {
			return nil, "", quire.Errorf(quire.EInvalid, "%q is not an indexed field of collection %q", q.Field, c.Name)
		}
		v, err := typedValue(ix, q.Value)
		if err != nil {
			return nil, "", err
		}
		query += " AND " + quoteIdent(ix.Field) + " = ?"
		args = append(args, v)
	}
	query += " ORDER BY id LIMIT ?"
	args = append(args, q.Limit+1)
	release, err := s.readSlot(ctx)
	if err != nil {
		return nil, "", err
	}
	defer release()
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", s.readError(err, c.Name)
	}
	defer rows.Close()
	docs := make([]*quire.Document, 0, min(q.Limit, 64))
	for rows.Next() {
		d := &quire.Document{}
		var body []byte
		if err := rows.Scan(&d.ID, &d.Version, &d.CreatedAt, &d.UpdatedAt, &body); err != nil {
			return nil, "", s.readError(err, c.Name)
		}
		d.Body = body
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.readError(err, c.Name)
	}
	next := ""
	if len(docs) > q.Limit {
		docs = docs[:q.Limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(docs[len(docs)-1].ID))
	}
	return docs, next, nil
}

func decodeCursor(cursor string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) > quire.MaxDocIDLen {
		return "", quire.Errorf(quire.EInvalid, "malformed cursor")
	}
	return string(b), nil
}

// typedValue converts a query-string value to the type of an index field,
// so that "18" matches the integer 18.
func typedValue(ix quire.IndexSpec, v string) (any, error) {
	switch ix.Type {
	case quire.IndexInteger:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, quire.Errorf(quire.EInvalid, "field %q is an integer index: %q is not an integer", ix.Field, v)
		}
		return n, nil
	case quire.IndexReal:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, quire.Errorf(quire.EInvalid, "field %q is a real index: %q is not a number", ix.Field, v)
		}
		return f, nil
	}
	return v, nil
}

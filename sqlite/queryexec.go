package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/quiredb/quire"
)

// maxResultBytes ends a page early, with a next cursor, once its documents
// add up to this many bytes.
const maxResultBytes = 32 << 20

// queryer is what a query runs on: the read pool or a read transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Query runs a document query on the read pool, stopping it (SQLite's
// interrupt) once it runs past Options.QueryTimeout.
func (s *Store) Query(ctx context.Context, q quire.Query) (*quire.QueryResult, error) {
	if q.Explain || s.cache == nil {
		return s.timedQuery(ctx, q)
	}
	return s.cachedQuery(ctx, q)
}

// timedQuery runs a query under Options.QueryTimeout. The deadline starts
// once a reader connection is free: under load a query may wait for one
// (as long as its client does), and that wait is not the query being slow.
func (s *Store) timedQuery(ctx context.Context, q quire.Query) (*quire.QueryResult, error) {
	conn, release, err := s.readConn(ctx, "query")
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, s.opts.QueryTimeout)
	defer cancel()
	res, err := s.query(ctx, conn, q)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, quire.Errorf(quire.ETimeout, "the query ran past its deadline of %s and was stopped: index the fields it filters on, or narrow it", s.opts.QueryTimeout)
	}
	return res, err
}

// query runs a query on conn. With Count, the page and the count run in
// one read transaction, so they see the same snapshot.
func (s *Store) query(ctx context.Context, conn *sql.Conn, q quire.Query) (*quire.QueryResult, error) {
	q.Join = slices.Clone(q.Join) // Normalize fills defaults in; the caller's slice stays as it was
	if err := q.Normalize(); err != nil {
		return nil, err
	}
	c, err := s.collection(q.Collection)
	if err != nil {
		return nil, err
	}
	st, err := compile(c, &q, s.collection)
	if err != nil {
		return nil, err
	}
	if q.Explain {
		return s.explain(ctx, conn, &q, st)
	}
	var db queryer = conn
	if q.Count {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, s.queryError(err, st)
		}
		defer tx.Rollback()
		db = tx
	}
	res := &quire.QueryResult{Scan: st.scan}
	if err := s.page(ctx, db, &q, st, res); err != nil {
		return nil, err
	}
	if q.Count {
		var n int64
		if err := db.QueryRowContext(ctx, st.countSQL, st.countArgs...).Scan(&n); err != nil {
			return nil, s.queryError(err, st)
		}
		res.Count = &n
		res.RowsRead += n
	}
	return res, nil
}

// page reads the documents of one page and the cursor of the next.
func (s *Store) page(ctx context.Context, db queryer, q *quire.Query, st *statement, res *quire.QueryResult) error {
	rows, err := db.QueryContext(ctx, st.sql, st.args...)
	if err != nil {
		return s.queryError(err, st)
	}
	defer rows.Close()
	nkeys := len(st.keys) - 1 // id is read as the document's id
	res.Docs = make([]quire.QueryDoc, 0, min(q.Limit, 100))
	size := 0
	var last []any
	// The body is selected as a BLOB and scanned into RawBytes: the driver
	// copies a BLOB into a new slice for every row, which RawBytes hands
	// over as is, where a TEXT body would be copied twice (into a string,
	// then into a []byte). TestQueryPageBodiesAreTheirOwn pins that.
	var d quire.QueryDoc
	var body sql.RawBytes
	dest := []any{&d.ID, &d.Version, &d.CreatedAt, &d.UpdatedAt, &body}
	joins := make([][]byte, len(q.Join))
	for i := range joins {
		dest = append(dest, &joins[i])
	}
	keys := make([]any, nkeys+1)
	for i := range nkeys {
		dest = append(dest, &keys[i])
	}
	for rows.Next() {
		res.RowsRead++
		if len(res.Docs) == q.Limit || size >= maxResultBytes {
			res.Next = encodeQueryCursor(st.hash, last)
			if err := rows.Scan(dest...); err != nil {
				return s.queryError(err, st)
			}
			res.NextID = d.ID
			break
		}
		if err := rows.Scan(dest...); err != nil {
			return s.queryError(err, st)
		}
		d.Body, d.Joins = []byte(body), nil
		size += len(body)
		for _, j := range joins {
			d.Joins = append(d.Joins, j)
			size += len(j)
		}
		keys[nkeys] = d.ID
		last = append(last[:0], keys...)
		res.Docs = append(res.Docs, d)
	}
	if err := rows.Err(); err != nil {
		return s.queryError(err, st)
	}
	return nil
}

// explain answers with SQLite's plan for the page statement.
func (s *Store) explain(ctx context.Context, conn *sql.Conn, q *quire.Query, st *statement) (*quire.QueryResult, error) {
	rows, err := conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+st.sql, st.args...)
	if err != nil {
		return nil, s.queryError(err, st)
	}
	defer rows.Close()
	res := &quire.QueryResult{Scan: st.scan, SQL: st.sql, Plan: []quire.PlanStep{}}
	for rows.Next() {
		var p quire.PlanStep
		var unused int64
		if err := rows.Scan(&p.ID, &p.Parent, &unused, &p.Detail); err != nil {
			return nil, s.queryError(err, st)
		}
		res.Plan = append(res.Plan, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.queryError(err, st)
	}
	return res, nil
}

// queryError classifies a query failure. A collection the query reads
// that was dropped while it ran is not found; one whose indexes changed
// (the SQL may name a column that no longer exists) is worth a retry.
func (s *Store) queryError(err error, st *statement) error {
	for _, c := range st.colls {
		cur, cerr := s.collection(c.Name)
		if cerr != nil {
			return cerr
		}
		if cur != c {
			return quire.Errorf(quire.EUnavailable, "collection %q changed while the query ran; retry", c.Name)
		}
	}
	return classify(err, "query")
}

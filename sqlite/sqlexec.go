package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/quiredb/quire"
)

var _ quire.SQLStore = (*Store)(nil)

// errWriter reports that a read pass found a write: the request runs again
// on the writer.
var errWriter = errors.New("request writes")

// ExecSQL runs a SQL request in the sandbox (see authorizer.go), in order,
// as one transaction, under the request's deadline. It first compiles the
// statements on a read connection; if none writes, they run there, against
// one snapshot, and the bookmark is the position observed. Otherwise, for a
// key that may write, the whole request runs on the writer and the bookmark
// is the commit's. SQL writes commit alone, not grouped with other
// requests: SQLite rolls a whole transaction back when a write is
// interrupted or uses OR ROLLBACK, and that must not take neighbours along.
func (s *Store) ExecSQL(ctx context.Context, req quire.SQLRequest) ([]quire.SQLResult, quire.Bookmark, error) {
	if err := req.Validate(); err != nil {
		return nil, quire.Bookmark{}, err
	}
	var pieces []sqlPiece
	for i, st := range req.Statements {
		for _, q := range quire.SplitSQL(st.SQL) {
			pieces = append(pieces, sqlPiece{sql: q, entry: i})
		}
	}
	if len(pieces) > quire.MaxSQLStatements {
		return nil, quire.Bookmark{}, quire.Errorf(quire.EInvalid, "at most %d statements per request, got %d", quire.MaxSQLStatements, len(pieces))
	}
	x := &sqlRun{s: s, req: &req, pieces: pieces, colls: *s.colls.Load()}

	pos := s.Position()
	key, status := "", quire.CacheBypass
	if s.cache != nil {
		key, _ = x.cacheKey()
	}
	if key != "" && !req.NoCache {
		v, at, st := s.cache.Result(key, req.Since, pos)
		if st == quire.CacheHit {
			return fromCache(v), at, nil
		}
		status = st
	}
	// The deadline starts once a reader connection is free: waiting for
	// one under load is not the request running long.
	conn, release, err := s.readConn(ctx, "sql")
	if err != nil {
		return nil, quire.Bookmark{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	res, err := x.readPass(ctx, conn)
	release()
	if !errors.Is(err, errWriter) {
		if err != nil {
			return nil, quire.Bookmark{}, x.failure(ctx, err)
		}
		if key != "" && !x.sb.volatile {
			s.cache.FillResult(key, x.cacheDeps(), slices.Clone(res), x.bytes+64*x.rows, pos)
		}
		markCache(res, status)
		return res, pos, nil
	}
	val, seq, err := s.submit(ctx, groupSchema, func(t *txn) (any, error) { return x.writePass(ctx, t) })
	if err != nil {
		return nil, quire.Bookmark{}, x.failure(ctx, err)
	}
	return val.([]quire.SQLResult), quire.Bookmark{Epoch: s.epoch, Seq: seq}, nil
}

// sqlPiece is one statement of a request, from entry (a SQLStatement).
type sqlPiece struct {
	sql   string
	entry int
}

// sqlRun is one request being run.
type sqlRun struct {
	s      *Store
	req    *quire.SQLRequest
	pieces []sqlPiece
	colls  map[string]*quire.Collection
	sb     *sandbox
	c      *sqlite3.SQLiteConn
	used   []int // parameters taken so far, per entry
	rows   int   // result rows so far, all statements
	bytes  int   // result bytes so far, all statements
	server string
}

// readPass compiles every statement on a read connection and, if none
// writes, runs them there against one snapshot.
func (x *sqlRun) readPass(ctx context.Context, conn *sql.Conn) ([]quire.SQLResult, error) {
	var res []quire.SQLResult
	err := conn.Raw(func(dc any) error {
		x.start(dc.(*sqlite3.SQLiteConn), false, "quire-reader")
		defer x.limit()()
		if len(x.pieces) > 1 {
			if _, err := x.c.ExecContext(context.Background(), "BEGIN", nil); err != nil {
				return err
			}
			defer x.c.ExecContext(context.Background(), "ROLLBACK", nil)
		}
		remove := x.install()
		defer remove()
		stmts := make([]*sqlite3.SQLiteStmt, 0, len(x.pieces))
		defer func() {
			for _, st := range stmts {
				st.Close()
			}
		}()
		for i := range x.pieces {
			st, err := x.prepare(ctx, i)
			if err != nil {
				return err
			}
			stmts = append(stmts, st)
			if !st.Readonly() {
				if x.req.Role.Allows(quire.RoleWrite) {
					return errWriter
				}
				return quire.StatementError(forbidden("read keys may only read"), i, len(x.pieces))
			}
		}
		var err error
		if res, err = x.runAll(ctx, func(i int) (*sqlite3.SQLiteStmt, error) { return stmts[i], nil }); err != nil {
			return err
		}
		remove()
		return x.sizeAfter(ctx, res)
	})
	return res, err
}

// writePass runs the request on the writer, inside t's savepoint.
func (x *sqlRun) writePass(ctx context.Context, t *txn) (any, error) {
	defer t.bindWrite(x.req.KeyID)()
	var res []quire.SQLResult
	err := x.s.wconn.Raw(func(dc any) error {
		x.start(dc.(*sqlite3.SQLiteConn), true, "quire-writer")
		defer x.limit()()
		var before map[string]bool
		if x.req.Role.Allows(quire.RoleAdmin) {
			var err error
			if before, err = x.internalNames(ctx); err != nil {
				return err
			}
		}
		remove := x.install()
		defer remove()
		var err error
		res, err = x.runAll(ctx, func(i int) (*sqlite3.SQLiteStmt, error) { return x.prepare(ctx, i) })
		if err != nil {
			return err
		}
		remove()
		if before != nil {
			// ALTER TABLE ... RENAME TO names no new table to the
			// authorizer: look for one in Quire's namespace afterwards.
			after, err := x.internalNames(ctx)
			if err != nil {
				return err
			}
			for name := range after {
				if !before[name] {
					return forbidden("names starting with _quire_ are reserved for Quire")
				}
			}
		}
		return x.sizeAfter(ctx, res)
	})
	return res, err
}

// start prepares x to run on c.
func (x *sqlRun) start(c *sqlite3.SQLiteConn, writer bool, server string) {
	x.c, x.server = c, server
	x.sb = &sandbox{role: x.req.Role, colls: x.colls, writer: writer}
	x.used = make([]int, len(x.req.Statements))
	x.rows, x.bytes = 0, 0
}

// install sets the sandbox as c's authorizer. The returned function removes
// it and may be called more than once. Changing the authorizer expires the
// connection's prepared statements, so Quire's own cached statements are
// compiled again, without it.
func (x *sqlRun) install() (remove func()) {
	x.c.RegisterAuthorizer(x.sb.authorize)
	removed := false
	return func() {
		if !removed {
			removed = true
			x.c.RegisterAuthorizer(nil)
		}
	}
}

// limit lowers c's limits for the request and returns what restores them:
// no attached databases at all, and no string or blob larger than a result
// may be (so a query cannot build a gigabyte in memory).
func (x *sqlRun) limit() (restore func()) {
	maxLen := max(x.s.sqlLimit(x.s.limits().MaxSQLBytes, quire.MaxSQLResultBytes), 2*x.s.opts.MaxDocBytes)
	prevLen := x.c.SetLimit(sqlite3.SQLITE_LIMIT_LENGTH, maxLen)
	prevAttached := x.c.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
	return func() {
		x.c.SetLimit(sqlite3.SQLITE_LIMIT_LENGTH, prevLen)
		x.c.SetLimit(sqlite3.SQLITE_LIMIT_ATTACHED, prevAttached)
	}
}

// prepare compiles statement i under the sandbox.
func (x *sqlRun) prepare(ctx context.Context, i int) (*sqlite3.SQLiteStmt, error) {
	x.sb.reset()
	ds, err := x.c.PrepareContext(ctx, x.pieces[i].sql)
	if x.sb.wantsWriter {
		if ds != nil {
			ds.Close()
		}
		return nil, errWriter
	}
	if err != nil {
		// A denied action can fail compilation with another error than
		// SQLITE_AUTH (a denied function is "not authorized to use
		// function"), or SQLite can refuse first what the sandbox would.
		if e := x.sb.check(); e != nil {
			return nil, quire.StatementError(e, i, len(x.pieces))
		}
		return nil, x.statementError(i, err)
	}
	st := ds.(*sqlite3.SQLiteStmt)
	if emptyStatement(st) {
		// Running it would crash the driver; SplitSQL should never let
		// one through.
		st.Close()
		return nil, quire.StatementError(quire.Errorf(quire.EInvalid, "the SQL holds no statement"), i, len(x.pieces))
	}
	if err := x.sb.check(); err != nil {
		st.Close()
		return nil, quire.StatementError(err, i, len(x.pieces))
	}
	return st, nil
}

// runAll runs every statement in order, taking each from stmt, and checks
// that every parameter was used.
func (x *sqlRun) runAll(ctx context.Context, stmt func(i int) (*sqlite3.SQLiteStmt, error)) ([]quire.SQLResult, error) {
	res := make([]quire.SQLResult, len(x.pieces))
	for i := range x.pieces {
		st, err := stmt(i)
		if err != nil {
			return nil, err
		}
		res[i], err = x.run(ctx, i, st)
		if x.sb.writer {
			st.Close()
		}
		if err != nil {
			return nil, err
		}
	}
	for e, st := range x.req.Statements {
		if x.used[e] != len(st.Params) {
			return nil, quire.StatementError(quire.Errorf(quire.EInvalid, "%d parameters given, the SQL uses %d", len(st.Params), x.used[e]), e, len(x.req.Statements))
		}
	}
	return res, nil
}

// args takes statement i's parameters from its entry's.
func (x *sqlRun) args(i int, st *sqlite3.SQLiteStmt) ([]driver.NamedValue, error) {
	e := x.pieces[i].entry
	params, n := x.req.Statements[e].Params[x.used[e]:], st.NumInput()
	if n > len(params) {
		return nil, quire.StatementError(quire.Errorf(quire.EInvalid, "the statement has %d parameters, %d given", n, len(params)), i, len(x.pieces))
	}
	x.used[e] += n
	args := make([]driver.NamedValue, n)
	for j := range args {
		v := params[j]
		if b, ok := v.(bool); ok {
			v = int64(0)
			if b {
				v = int64(1)
			}
		}
		args[j] = driver.NamedValue{Ordinal: j + 1, Value: v}
	}
	return args, nil
}

// run executes statement i and collects its rows within the request's caps.
func (x *sqlRun) run(ctx context.Context, i int, st *sqlite3.SQLiteStmt) (quire.SQLResult, error) {
	t0 := time.Now()
	res := quire.SQLResult{Meta: quire.SQLMeta{ServedBy: x.server, ServedByPrimary: true}}
	args, err := x.args(i, st)
	if err != nil {
		return res, err
	}
	dr, err := st.QueryContext(ctx, args)
	if err != nil {
		return res, x.statementError(i, err)
	}
	defer dr.Close()
	res.Columns = dr.Columns()
	header := 0
	for _, c := range res.Columns {
		header += len(c) + 4
	}
	dest := make([]driver.Value, len(res.Columns))
	for {
		if err := dr.Next(dest); err == io.EOF {
			break
		} else if err != nil {
			return res, x.statementError(i, err)
		}
		row, size := resultRow(dest)
		x.rows++
		x.bytes += size + header
		if maxRows := x.s.sqlLimit(x.s.limits().MaxSQLRows, quire.MaxSQLRows); x.rows > maxRows {
			return res, quire.Errorf(quire.ETooLarge, "the result has more than %d rows: add a LIMIT, or page with a WHERE on the last key seen", maxRows)
		}
		if maxBytes := x.s.sqlLimit(x.s.limits().MaxSQLBytes, quire.MaxSQLResultBytes); x.bytes > maxBytes {
			return res, quire.Errorf(quire.ETooLarge, "the result is larger than %d bytes: select fewer columns or rows", maxBytes)
		}
		res.Rows = append(res.Rows, row)
	}
	dr.Close()
	m := &res.Meta
	m.RowsRead = int64(len(res.Rows))
	switch {
	case x.sb.ddl:
		m.ChangedDB = true
	case x.sb.first != "" && !st.Readonly():
		if err := x.changes(ctx, m); err != nil {
			return res, x.statementError(i, err)
		}
		m.RowsRead += m.Changes
		m.ChangedDB = m.Changes > 0
	}
	if res.Columns == nil {
		res.Columns = []string{}
	}
	m.Duration = float64(time.Since(t0).Microseconds()) / 1000
	return res, nil
}

// resultRow converts a row from the driver to the result's types: the
// driver turns columns declared BOOLEAN into bool and DATE, DATETIME or
// TIMESTAMP into time.Time; they go back to 1/0 and RFC 3339 text. It also
// returns the row's approximate size in JSON.
func resultRow(dest []driver.Value) ([]any, int) {
	row := make([]any, len(dest))
	size := 2
	for j, v := range dest {
		switch t := v.(type) {
		case bool:
			if t {
				v = int64(1)
			} else {
				v = int64(0)
			}
		case time.Time:
			v = t.Format(time.RFC3339Nano)
		}
		switch t := v.(type) {
		case string:
			size += len(t) + 3
		case []byte:
			size += len(t)*4/3 + 5
		default:
			size += 24
		}
		row[j] = v
	}
	return row, size
}

// changes fills in what an INSERT, UPDATE or DELETE changed: the rows it
// changed itself (not the change-log rows its triggers wrote) and, for an
// INSERT, the last row id it inserted.
func (x *sqlRun) changes(ctx context.Context, m *quire.SQLMeta) error {
	v, err := x.queryRow(ctx, "SELECT changes(), last_insert_rowid()")
	if err != nil {
		return err
	}
	m.Changes, _ = v[0].(int64)
	if x.sb.firstOp == sqlite3.SQLITE_INSERT {
		m.LastRowID, _ = v[1].(int64)
	}
	m.RowsWritten = m.Changes
	return nil
}

// sizeAfter records the database size in every result. It runs once the
// authorizer is removed.
func (x *sqlRun) sizeAfter(ctx context.Context, res []quire.SQLResult) error {
	v, err := x.queryRow(ctx, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
	if err != nil {
		return err
	}
	size, _ := v[0].(int64)
	for i := range res {
		res[i].Meta.SizeAfter = size
	}
	return nil
}

// internalNames lists the schema objects in Quire's namespace.
func (x *sqlRun) internalNames(ctx context.Context) (map[string]bool, error) {
	rows, err := x.c.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE name LIKE '\_quire\_%' ESCAPE '\'`, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := map[string]bool{}
	dest := make([]driver.Value, 1)
	for {
		if err := rows.Next(dest); err == io.EOF {
			return names, nil
		} else if err != nil {
			return nil, err
		}
		name, _ := dest[0].(string)
		names[name] = true
	}
}

// queryRow runs a query of Quire's own on the request's connection and
// returns its first row.
func (x *sqlRun) queryRow(ctx context.Context, q string) ([]driver.Value, error) {
	rows, err := x.c.QueryContext(ctx, q, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	return dest, nil
}

// failure turns what stopped a request into the user's error.
func (x *sqlRun) failure(ctx context.Context, err error) error {
	var qe *quire.Error
	isQuire := errors.As(err, &qe)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && (!isQuire || qe.Code == quire.EUnavailable) {
		// Also a request that waited for the writer past its deadline.
		return x.timeout()
	}
	if !isQuire && errors.Is(err, context.Canceled) {
		return quire.Errorf(quire.EUnavailable, "the request was cancelled")
	}
	return err
}

func (x *sqlRun) timeout() error {
	return quire.Errorf(quire.ETimeout, "the SQL request ran past its deadline of %s and was stopped", x.req.Timeout)
}

// statementError classifies a failure of statement i. SQLite's message is
// shown for errors in the user's SQL; I/O and internal failures are not.
func (x *sqlRun) statementError(i int, err error) error {
	n := len(x.pieces)
	var qe *quire.Error
	switch {
	case errors.As(err, &qe):
		return quire.StatementError(qe, i, n)
	case errors.Is(err, context.DeadlineExceeded):
		return x.timeout()
	case errors.Is(err, context.Canceled):
		return quire.Errorf(quire.EUnavailable, "the request was cancelled")
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("statement %d: %w", i, err)
	}
	switch se.Code {
	case sqlite3.ErrAuth:
		if x.sb.denied != nil {
			return quire.StatementError(x.sb.denied, i, n)
		}
		return quire.StatementError(forbidden("this statement is not allowed"), i, n)
	case sqlite3.ErrInterrupt:
		return x.timeout()
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return quire.Errorf(quire.EUnavailable, "the database is busy, retry")
	case sqlite3.ErrTooBig:
		return quire.StatementError(quire.Errorf(quire.ETooLarge, "a string or blob would be larger than the limit"), i, n)
	case sqlite3.ErrReadonly:
		return quire.StatementError(forbidden("read keys may only read"), i, n)
	case sqlite3.ErrError, sqlite3.ErrConstraint, sqlite3.ErrMismatch, sqlite3.ErrRange:
		if te := triggerError(err); te != nil {
			return quire.StatementError(te, i, n)
		}
		msg := se.Error()
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return quire.StatementError(quire.Errorf(quire.ESQL, "%s", msg), i, n)
	}
	return fmt.Errorf("statement %d: %w", i, err)
}

// emptyStatement reports whether SQLite compiled st from text without a
// statement (only spaces or comments). mattn keeps the sqlite3_stmt in an
// unexported field and runs a NULL one into a segmentation fault; a test
// guards the field's name.
func emptyStatement(st *sqlite3.SQLiteStmt) bool {
	f := reflect.ValueOf(st).Elem().FieldByName("s")
	return f.IsValid() && f.Kind() == reflect.Pointer && f.IsNil()
}

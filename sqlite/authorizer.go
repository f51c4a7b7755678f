package sqlite

import (
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/quiredb/quire"
)

// sandbox is the SQLite authorizer of one SQL request: SQLite asks it about
// every action a statement would take while compiling it (triggers and
// foreign key actions included), and a denied action fails the statement
// before it runs. The rules depend on the key's role and on whether the
// statement is compiled on a read connection (any write is refused, which
// sends a write key's request to the writer) or on the writer.
//
// mattn's callback does not say whether an action comes from a trigger, so
// the sandbox remembers the first table a statement writes: a trigger's
// write to the change log is only allowed after a write to a collection.
// What it cannot decide during compilation it records, and check refuses
// the statement afterwards, before it runs.
type sandbox struct {
	role   quire.Role
	colls  map[string]*quire.Collection
	writer bool // compiling on the writer connection

	// Per statement; reset before each is prepared.
	first       string       // the first table the statement writes
	firstOp     int          // and how: SQLITE_INSERT, SQLITE_UPDATE or SQLITE_DELETE
	ddl         bool         // it creates, drops or alters a table or index
	createTable bool         // it creates a table (possibly AS SELECT)
	schemaRead  bool         // it reads sqlite_schema other than row ids
	schemaUse   bool         // it touches sqlite_schema at all
	denied      *quire.Error // why the first denied action was denied
	wantsWriter bool         // denied only because it writes, on a read connection

	// For the whole request: whether a result may be cached (see
	// sqlcache.go). Kept across statements.
	reads    map[string]bool // collections the statements read
	volatile bool            // a function whose result is not a function of the data
}

// reset forgets the previous statement.
func (sb *sandbox) reset() {
	*sb = sandbox{role: sb.role, colls: sb.colls, writer: sb.writer, reads: sb.reads, volatile: sb.volatile}
}

// pragmas are the PRAGMAs the SQL endpoint allows: read-only schema
// introspection of one named table or index.
var pragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "index_list": true,
	"index_info": true, "index_xinfo": true, "foreign_key_list": true,
}

// authRecursive is SQLITE_RECURSIVE (a recursive CTE), which mattn does
// not export; the deadline bounds what a recursive query can cost.
const authRecursive = 33

// deniedFunctions are SQL functions no request may call.
var deniedFunctions = map[string]bool{"load_extension": true, "fts3_tokenizer": true}

// authorize is the callback given to RegisterAuthorizer.
func (sb *sandbox) authorize(op int, arg1, arg2, db string) int {
	if err := sb.decide(op, arg1, arg2, db); err != nil {
		if sb.denied == nil {
			sb.denied = err
		}
		return sqlite3.SQLITE_DENY
	}
	return sqlite3.SQLITE_OK
}

func forbidden(format string, args ...any) *quire.Error {
	return quire.Errorf(quire.EForbidden, "SQL sandbox: "+format, args...)
}

// errNeedsWriter marks a write compiled on a read connection by a key that
// may write: the request is run again on the writer.
var errNeedsWriter = forbidden("read keys may only read")

// decide returns why the action is refused, or nil.
func (sb *sandbox) decide(op int, arg1, arg2, db string) *quire.Error {
	switch op {
	case sqlite3.SQLITE_SELECT, authRecursive:
		return nil
	case sqlite3.SQLITE_READ:
		return sb.read(arg1, arg2, db)
	case sqlite3.SQLITE_FUNCTION:
		name := strings.ToLower(arg2)
		if deniedFunctions[name] {
			return forbidden("the function %s is not allowed", name)
		}
		if !deterministicFunctions[name] {
			sb.volatile = true
		}
		return nil
	case sqlite3.SQLITE_PRAGMA:
		return sb.pragma(arg1, arg2, db)
	case sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE:
		return sb.write(op, arg1, db)
	case sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_DROP_TABLE:
		return sb.schemaChange(op, arg1, db)
	case sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_DROP_INDEX:
		return sb.schemaChange(op, arg2, db)
	case sqlite3.SQLITE_ALTER_TABLE:
		return sb.schemaChange(op, arg2, arg1) // arg1 is the database here
	case sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT:
		return forbidden("transactions are managed by Quire: send the statements as one batch to run them atomically")
	case sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH:
		return forbidden("ATTACH and DETACH are not allowed")
	case sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
		sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_TRIGGER:
		return forbidden("triggers cannot be created or dropped through SQL")
	case sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_CREATE_TEMP_VIEW,
		sqlite3.SQLITE_DROP_VIEW, sqlite3.SQLITE_DROP_TEMP_VIEW:
		return forbidden("views cannot be created or dropped through SQL")
	case sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_INDEX,
		sqlite3.SQLITE_DROP_TEMP_TABLE, sqlite3.SQLITE_DROP_TEMP_INDEX:
		return forbidden("temporary tables and indexes are not allowed")
	case sqlite3.SQLITE_CREATE_VTABLE, sqlite3.SQLITE_DROP_VTABLE:
		return forbidden("virtual tables cannot be created or dropped through SQL")
	case sqlite3.SQLITE_REINDEX:
		// CREATE INDEX builds its index this way; REINDEX alone is refused.
		if sb.ddl {
			return nil
		}
	}
	// ANALYZE, REINDEX, COPY and any action a newer SQLite adds.
	return forbidden("this statement is not allowed")
}

// read decides a read of table.column.
func (sb *sandbox) read(table, column, db string) *quire.Error {
	t := strings.ToLower(table)
	switch {
	case isSchemaTable(t):
		// SQLite reads sqlite_schema itself while compiling DDL; a user's
		// read would list Quire's internal tables, so only an admin's DDL
		// may, and check refuses the rest.
		if !sb.role.Allows(quire.RoleAdmin) {
			return forbidden("reading sqlite_schema is not allowed (it lists Quire's internal tables); use PRAGMA table_info(name)")
		}
		sb.schemaUse = true
		if !strings.EqualFold(column, "rowid") {
			sb.schemaRead = true
		}
		return nil
	case !isMainDB(db):
		return forbidden("only the main database is accessible")
	case isInternal(t):
		return forbidden("Quire's internal tables are not accessible")
	case strings.HasPrefix(t, "sqlite_") && t != "sqlite_sequence", t == "dbstat":
		// sqlite_dbpage and dbstat (when compiled in) show every page
		// of the file, internal tables' included.
		return forbidden("the table %s is not accessible", t)
	}
	if sb.colls[t] != nil {
		if sb.reads == nil {
			sb.reads = map[string]bool{}
		}
		sb.reads[t] = true
	}
	return nil
}

// pragma decides PRAGMA name(arg), also reached through pragma_name(arg)
// table-valued functions.
func (sb *sandbox) pragma(name, arg, db string) *quire.Error {
	n := strings.ToLower(name)
	if !pragmas[n] {
		return forbidden("PRAGMA %s is not allowed; allowed: table_info, table_xinfo, index_list, index_info, index_xinfo, foreign_key_list", quire.ClipName(n))
	}
	a := strings.ToLower(strings.Trim(arg, "\"'`[] "))
	if a == "" || isInternal(a) || !isMainDB(db) {
		return forbidden("PRAGMA %s needs the name of one of your tables or indexes", n)
	}
	return nil
}

// needWriter is the first check of every change: on a read connection a
// key that may write asks for the writer (the request is run again there),
// and a read key is refused.
func (sb *sandbox) needWriter() *quire.Error {
	if sb.writer {
		return nil
	}
	if sb.role.Allows(quire.RoleWrite) {
		sb.wantsWriter = true
		return errNeedsWriter
	}
	return forbidden("read keys may only read")
}

// write decides an INSERT, UPDATE or DELETE on table.
func (sb *sandbox) write(op int, table, db string) *quire.Error {
	t := strings.ToLower(table)
	if err := sb.needWriter(); err != nil {
		return err
	}
	if !sb.role.Allows(quire.RoleWrite) {
		return forbidden("read keys may only read")
	}
	if isSchemaTable(t) {
		// SQLite's own bookkeeping of DDL; check refuses it without DDL.
		if !sb.role.Allows(quire.RoleAdmin) {
			return forbidden("changing the schema needs an admin key")
		}
		sb.schemaUse = true
		return nil
	}
	first := sb.first == ""
	if first {
		sb.first, sb.firstOp = t, op
	}
	switch {
	case !isMainDB(db):
		return forbidden("only the main database is accessible")
	case isInternal(t):
		// The change log and history are written by the collection
		// triggers, which SQLite compiles after the statement's own write.
		if !first && op == sqlite3.SQLITE_INSERT && (t == "_quire_changes" || t == "_quire_history") && sb.colls[sb.first] != nil {
			return nil
		}
		return forbidden("Quire's internal tables are not accessible")
	case strings.HasPrefix(t, "sqlite_") && t != "sqlite_sequence":
		return forbidden("the table %s is maintained by SQLite", t)
	}
	return nil
}

// schemaChange decides creating, dropping or altering table (or an index
// on it): only admin keys, only on tables of their own.
func (sb *sandbox) schemaChange(op int, table, db string) *quire.Error {
	t := strings.ToLower(table)
	if err := sb.needWriter(); err != nil {
		return err
	}
	switch {
	case !sb.role.Allows(quire.RoleAdmin):
		return forbidden("changing the schema needs an admin key")
	case !isMainDB(db):
		return forbidden("only the main database is accessible")
	case isInternal(t):
		return forbidden("names starting with _quire_ are reserved for Quire")
	case sb.colls[t] != nil:
		return forbidden("%s is a collection: change it through the collections API", t)
	case strings.HasPrefix(t, "sqlite_") && !(op == sqlite3.SQLITE_CREATE_TABLE && t == "sqlite_sequence"):
		return forbidden("the table %s is maintained by SQLite", t)
	}
	sb.ddl = true
	if op == sqlite3.SQLITE_CREATE_TABLE {
		sb.createTable = true
	}
	return nil
}

// check refuses, after a statement compiled, what the callback could only
// record: sqlite_schema touched by a statement that is not DDL, or read
// (beyond row ids) by CREATE TABLE ... AS SELECT.
func (sb *sandbox) check() *quire.Error {
	if sb.denied != nil {
		return sb.denied
	}
	if sb.schemaUse && (!sb.ddl || sb.createTable && sb.schemaRead) {
		return forbidden("reading or writing sqlite_schema is not allowed (it lists Quire's internal tables); use PRAGMA table_info(name)")
	}
	return nil
}

// isInternal reports whether a lower-case name is one of Quire's own.
func isInternal(name string) bool { return strings.HasPrefix(name, "_quire_") }

// isSchemaTable reports whether a lower-case name is SQLite's schema table.
func isSchemaTable(name string) bool {
	switch name {
	case "sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema":
		return true
	}
	return false
}

// isMainDB reports whether an action's database is the tenant's own.
func isMainDB(db string) bool { return db == "" || strings.EqualFold(db, "main") }

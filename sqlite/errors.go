package sqlite

import (
	"context"
	"errors"
	"strings"

	"github.com/mattn/go-sqlite3"

	"github.com/quiredb/quire"
)

// errConstraintDatatype is SQLITE_CONSTRAINT_DATATYPE: a STRICT table
// refused a value, here a generated index column whose JSON value does not
// fit the declared index type.
var errConstraintDatatype = sqlite3.ErrConstraint.Extend(12)

// classify turns a SQLite failure into a user-facing *quire.Error where the
// cause is the user's input, and wraps anything else with context. It is the
// one place SQLite error codes are interpreted.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	var qe *quire.Error
	if errors.As(err, &qe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The client went away or its deadline passed: not a server fault.
		return quire.Errorf(quire.EUnavailable, "%s: request cancelled (%v)", what, err)
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return errors.Join(errors.New(what), err)
	}
	msg := se.Error()
	switch {
	case se.ExtendedCode == sqlite3.ErrConstraintUnique:
		return quire.Errorf(quire.EUniqueViolation, "%s: a unique index already holds this value (%s)", what, uniqueColumns(msg))
	case se.ExtendedCode == sqlite3.ErrConstraintForeignKey:
		return quire.Errorf(quire.EConflict, "%s: a foreign key of another table refers to this row", what)
	case se.ExtendedCode == errConstraintDatatype:
		return quire.Errorf(quire.EInvalidDocument, "%s: an indexed field has the wrong type (%s)", what, msg)
	case se.ExtendedCode == sqlite3.ErrNoExtended(sqlite3.ErrConstraint):
		// A bare SQLITE_CONSTRAINT comes from ALTER TABLE ADD COLUMN, which
		// checks existing rows against a new index column's type.
		return quire.Errorf(quire.EInvalidDocument, "%s: an existing document has the wrong type for the indexed field", what)
	case se.Code == sqlite3.ErrError && strings.Contains(msg, "JSON"):
		// json_extract refuses what Go's validator accepted, e.g. nesting
		// deeper than SQLite's limit of 1000.
		return quire.Errorf(quire.EInvalidDocument, "%s: %s", what, msg)
	case se.Code == sqlite3.ErrTooBig:
		return quire.Errorf(quire.ETooLarge, "%s: value too large", what)
	case se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked:
		return quire.Errorf(quire.EUnavailable, "%s: database busy, retry", what)
	}
	return errors.Join(errors.New(what), err)
}

// isPrimaryKeyViolation reports whether err is an insert refused because
// its table already holds a row with the same primary key.
func isPrimaryKeyViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}

// uniqueColumns extracts "clients.email" from SQLite's
// "UNIQUE constraint failed: clients.email" message.
func uniqueColumns(msg string) string {
	if i := strings.Index(msg, "failed: "); i >= 0 {
		return msg[i+len("failed: "):]
	}
	return msg
}

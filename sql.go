package quire

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the SQL endpoint. Going over one is refused with a 4xx, never
// answered with a truncated result presented as complete.
const (
	MaxSQLBytes       = 100 << 10 // one "sql" string
	MaxSQLStatements  = 50        // statements in one request, after splitting
	MaxSQLParams      = 100       // bound parameters of one "sql" string
	MaxSQLRows        = 10_000    // result rows of one request, all statements together
	MaxSQLResultBytes = 8 << 20   // result values of one request, roughly as encoded in JSON
	DefaultSQLTimeout = 5 * time.Second
	MaxSQLTimeout     = 30 * time.Second
)

// SQLStatement is one entry of a SQL request: SQL text and its positional
// parameters. The text may hold several statements separated by ";"; each
// takes as many parameters, in order, as it has placeholders.
type SQLStatement struct {
	SQL string
	// Params are nil, int64, float64, string, []byte or bool (bound as 1 or 0).
	Params []any
}

// SQLRequest is a batch of statements run in order as one transaction, on
// behalf of a key with Role, under a deadline.
type SQLRequest struct {
	Statements []SQLStatement
	Role       Role
	KeyID      string        // recorded in the change log for writes
	Timeout    time.Duration // 0 means DefaultSQLTimeout

	// Since is the request's bookmark: a read must reflect at least this
	// position. NoCache makes a read skip the read cache.
	Since   Bookmark
	NoCache bool
}

// SQLResult is the outcome of one statement. Rows hold int64, float64,
// string, []byte (BLOB) or nil, in column order.
type SQLResult struct {
	Columns []string
	Rows    [][]any
	Meta    SQLMeta
}

// SQLMeta describes one statement's execution, with D1's field names.
type SQLMeta struct {
	Duration        float64 `json:"duration"`     // milliseconds
	RowsRead        int64   `json:"rows_read"`    // rows returned, plus rows changed
	RowsWritten     int64   `json:"rows_written"` // rows the statement inserted, updated or deleted
	Changes         int64   `json:"changes"`
	LastRowID       int64   `json:"last_row_id"`
	ChangedDB       bool    `json:"changed_db"`
	SizeAfter       int64   `json:"size_after"` // database size in bytes once the request ran
	ServedBy        string  `json:"served_by"`
	ServedByPrimary bool    `json:"served_by_primary"`
	// Cache tells how the request used the read cache (Quire-Cache).
	Cache CacheStatus `json:"-"`
}

// SQLStore runs SQL against one tenant's database inside a sandbox. It
// returns one result per statement executed and the position the request
// observed (a read) or committed at (a write).
type SQLStore interface {
	ExecSQL(ctx context.Context, req SQLRequest) ([]SQLResult, Bookmark, error)
}

// Validate checks a request's shape and limits before any SQL reaches
// SQLite, and fills in the default timeout.
func (r *SQLRequest) Validate() error {
	if !r.Role.Valid() {
		return Errorf(EForbidden, "unknown role %q", r.Role)
	}
	if len(r.Statements) == 0 {
		return Errorf(EInvalid, "no SQL statements")
	}
	if len(r.Statements) > MaxSQLStatements {
		return Errorf(EInvalid, "at most %d statements per request, got %d", MaxSQLStatements, len(r.Statements))
	}
	switch {
	case r.Timeout == 0:
		r.Timeout = DefaultSQLTimeout
	case r.Timeout < time.Millisecond || r.Timeout > MaxSQLTimeout:
		return Errorf(EInvalid, "timeout must be between 1 ms and %d ms", MaxSQLTimeout.Milliseconds())
	}
	for i, st := range r.Statements {
		if err := st.validate(); err != nil {
			return StatementError(err, i, len(r.Statements))
		}
	}
	return nil
}

func (st SQLStatement) validate() *Error {
	if len(st.SQL) > MaxSQLBytes {
		return Errorf(ETooLarge, "SQL text is %d bytes, the limit is %d", len(st.SQL), MaxSQLBytes)
	}
	if !utf8.ValidString(st.SQL) {
		return Errorf(EInvalid, "SQL text is not valid UTF-8")
	}
	if strings.IndexByte(st.SQL, 0) >= 0 {
		// SQLite would stop reading at the NUL: refuse rather than run a
		// statement other than the one the client sees.
		return Errorf(EInvalid, "SQL text contains a NUL byte")
	}
	if len(SplitSQL(st.SQL)) == 0 {
		return Errorf(EInvalid, "SQL text holds no statement")
	}
	if len(st.Params) > MaxSQLParams {
		return Errorf(EInvalid, "at most %d parameters per statement, got %d", MaxSQLParams, len(st.Params))
	}
	for j, p := range st.Params {
		switch v := p.(type) {
		case nil, int64, string, []byte, bool:
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Errorf(EInvalid, "parameter %d is not a finite number", j+1)
			}
		default:
			return Errorf(EInvalid, "parameter %d must be a string, number, boolean or null", j+1)
		}
	}
	return nil
}

// StatementError returns a copy of e naming statement i (of n) in its
// message, when there are several, and always in its details.
func StatementError(e *Error, i, n int) *Error {
	c := *e
	if n > 1 {
		c.Message = "statement " + strconv.Itoa(i) + ": " + e.Message
	}
	c.Details = map[string]any{"statement_index": i}
	return &c
}

// SplitSQL splits SQL text into its statements, without the separating
// semicolons; empty statements (only spaces and comments) are dropped. It
// decides where a statement ends exactly as SQLite's sqlite3_complete()
// does: semicolons inside quotes, [brackets], comments and the BEGIN...END
// body of CREATE TRIGGER do not end one. Splitting is not a security
// boundary: each piece is still prepared by SQLite under the sandbox.
func SplitSQL(sql string) []string {
	var out []string
	start, state, content := 0, 0, false
	for i := 0; i < len(sql); i++ {
		tok := tkOther
		switch c := sql[i]; {
		case c == ';':
			tok = tkSemi
		case c == ' ' || c == '\r' || c == '\t' || c == '\n' || c == '\f':
			tok = tkWS
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = len(sql) // an unterminated comment runs to the end
			} else {
				i += 2 + end + 1
			}
			tok = tkWS
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = len(sql) - i
			}
			i += end
			tok = tkWS
		case c == '[' || c == '`' || c == '"' || c == '\'':
			closing := c
			if c == '[' {
				closing = ']'
			}
			end := strings.IndexByte(sql[i+1:], closing)
			if end < 0 {
				i = len(sql) // unterminated: SQLite reports the error
			} else {
				i += 1 + end
			}
		case isIDChar(c):
			j := i + 1
			for j < len(sql) && isIDChar(sql[j]) {
				j++
			}
			tok = keywordToken(sql[i:j])
			i = j - 1
		}
		if tok != tkWS && tok != tkSemi {
			content = true
		}
		next := completeTrans[state][tok]
		if tok == tkSemi && next == 1 {
			if content {
				out = append(out, strings.Trim(sql[start:i], sqliteSpace))
			}
			start, content = i+1, false
		}
		state = next
	}
	if content {
		out = append(out, strings.Trim(sql[start:], sqliteSpace))
	}
	return out
}

// sqliteSpace is the white space of SQLite's tokenizer: not \v, which
// SQLite refuses, so trimming never empties a statement SQLite would see.
const sqliteSpace = " \t\n\f\r"

// Tokens and transitions of sqlite3_complete() (SQLite's complete.c).
const (
	tkSemi = iota
	tkWS
	tkOther
	tkExplain
	tkCreate
	tkTemp
	tkTrigger
	tkEnd
)

var completeTrans = [8][8]int{
	//          SEMI WS OTHER EXPLAIN CREATE TEMP TRIGGER END
	/* 0 INVALID */ {1, 0, 2, 3, 4, 2, 2, 2},
	/* 1 START   */ {1, 1, 2, 3, 4, 2, 2, 2},
	/* 2 NORMAL  */ {1, 2, 2, 2, 2, 2, 2, 2},
	/* 3 EXPLAIN */ {1, 3, 3, 2, 4, 2, 2, 2},
	/* 4 CREATE  */ {1, 4, 2, 2, 2, 4, 5, 2},
	/* 5 TRIGGER */ {6, 5, 5, 5, 5, 5, 5, 5},
	/* 6 SEMI    */ {6, 6, 5, 5, 5, 5, 5, 7},
	/* 7 END     */ {1, 7, 5, 5, 5, 5, 5, 5},
}

func keywordToken(word string) int {
	switch strings.ToLower(word) {
	case "create":
		return tkCreate
	case "trigger":
		return tkTrigger
	case "temp", "temporary":
		return tkTemp
	case "end":
		return tkEnd
	case "explain":
		return tkExplain
	}
	return tkOther
}

// isIDChar reports whether c may appear in an SQLite identifier: letters,
// digits, _, $ and every byte of a multi-byte UTF-8 character.
func isIDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

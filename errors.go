// Package quire holds Quire's domain: tenants, keys, collections, documents,
// bookmarks, errors and the service interfaces the HTTP layer is written
// against. It imports only the standard library.
package quire

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the API: clients match on them, so they never
// change once released. Every code has exactly one HTTP status (see StatusOf).
const (
	EInvalid          = "invalid"          // malformed request: bad JSON, wrong types, unknown fields
	EInvalidName      = "invalid_name"     // a tenant, collection or field name that is not allowed
	EInvalidDocument  = "invalid_document" // a document body that is not a JSON object or breaks an index type
	EInvalidBookmark  = "invalid_bookmark" // malformed, foreign, future or past-epoch bookmark
	EUnauthorized     = "unauthorized"     // missing or unknown credentials
	EForbidden        = "forbidden"        // credentials valid but not for this tenant or role
	ENotFound         = "not_found"        // tenant, collection, document, key or route missing
	EMethodNotAllowed = "method_not_allowed"
	EConflict         = "conflict"         // already exists
	EUniqueViolation  = "unique_violation" // a unique index refused the write
	EVersionMismatch  = "version_mismatch" // If-Match / if_version / If-None-Match failed
	ETooLarge         = "too_large"        // request body or document over its limit
	EUnavailable      = "unavailable"      // shutting down or overloaded; retry
	EInternal         = "internal"         // a bug or an I/O failure; details only in the log
	ESQL              = "sql_error"        // SQLite refused a statement of the SQL endpoint (syntax, constraint...)
	ETimeout          = "timeout"          // a SQL request ran past its deadline and was interrupted
	// ERegionNotAllowed refuses creating or serving a tenant whose region
	// this node may not hold (see --allow-regions).
	ERegionNotAllowed = "region_not_allowed"
	// EStorageQuotaExceeded refuses a write that would grow the tenant's
	// database past its storage quota; what was written before stays.
	EStorageQuotaExceeded = "storage_quota_exceeded"
	// EQuotaExceeded refuses a change past a count quota (collections).
	EQuotaExceeded = "quota_exceeded"
	// EInvalidBackup refuses a backup file that is truncated, damaged or
	// not a Quire backup.
	EInvalidBackup = "invalid_backup"
	// ELockHeld refuses acquiring a lock that another owner holds.
	ELockHeld = "lock_held"
	// EStaleFence refuses a write whose Quire-Fence token is no longer the
	// lock's newest: a newer holder may have written since.
	EStaleFence = "stale_fence"
	// ERateLimited refuses a request over its tenant's or key's rate limit.
	ERateLimited = "rate_limited"
	// EChangesExpired refuses a change-feed position older than retention.
	EChangesExpired = "changes_expired"
)

// statuses is the one table from error code to HTTP status, used by the
// server to answer and by the client to interpret answers.
var statuses = map[string]int{
	EInvalid:          400,
	EInvalidName:      400,
	EInvalidDocument:  400,
	EInvalidBookmark:  400,
	EUnauthorized:     401,
	EForbidden:        403,
	ENotFound:         404,
	EMethodNotAllowed: 405,
	EConflict:         409,
	EUniqueViolation:  409,
	EVersionMismatch:  412,
	ETooLarge:         413,
	EUnavailable:      503,
	EInternal:         500,
	ESQL:              400,
	ETimeout:          408,

	ERegionNotAllowed:     403,
	EStorageQuotaExceeded: 507,
	EQuotaExceeded:        409,
	EInvalidBackup:        400,
	ELockHeld:             409,
	EStaleFence:           409,
	ERateLimited:          429,
	EChangesExpired:       410,
}

// StatusOf returns the HTTP status for an error code; unknown codes are 500.
func StatusOf(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return 500
}

// Error is an error meant for the user: a stable code, a message that is
// safe to show, and optional structured details (for example which batch op
// failed).
type Error struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EInternal
// for any other non-nil error. It returns "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-safe message of err: the message of its
// *Error, or "Internal error." for anything else, so internal details never
// reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

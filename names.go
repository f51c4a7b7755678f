package quire

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDocIDLen is the longest document id accepted, in bytes.
const MaxDocIDLen = 256

// reservedNames may not be used as index field names: the columns every
// collection table has, and the list route's own query parameters.
var reservedNames = map[string]bool{"id": true, "body": true, "created_at": true, "updated_at": true, "version": true, "limit": true, "after": true}

// ValidName reports whether s is an acceptable tenant, collection or index
// field name: ^[a-z][a-z0-9_]{0,62}$ and not starting with "sqlite_".
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return !strings.HasPrefix(s, "sqlite_")
}

// CheckName returns an EInvalidName error if s is not a valid name; kind
// ("tenant", "collection", "field") is used in the message.
func CheckName(kind, s string) error {
	if !ValidName(s) {
		return Errorf(EInvalidName, "%s name %q is not allowed: use 1-63 characters a-z, 0-9 and _, starting with a letter", kind, truncate(s, 80))
	}
	return nil
}

// CheckFieldName is CheckName for index fields, which additionally may not
// shadow the columns every collection has.
func CheckFieldName(s string) error {
	if err := CheckName("field", s); err != nil {
		return err
	}
	if reservedNames[s] {
		return Errorf(EInvalidName, "field name %q is reserved", s)
	}
	return nil
}

// CheckDocID returns an error unless id is an acceptable document id: 1 to
// MaxDocIDLen bytes of valid UTF-8 with no control or invisible formatting
// characters (bidi overrides, zero-width joiners), so ids that look alike
// are alike.
func CheckDocID(id string) error {
	if id == "" || len(id) > MaxDocIDLen {
		return Errorf(EInvalid, "document id must be 1 to %d bytes", MaxDocIDLen)
	}
	if !utf8.ValidString(id) {
		return Errorf(EInvalid, "document id is not valid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return Errorf(EInvalid, "document id contains a control or formatting character (U+%04X)", r)
		}
	}
	return nil
}

// ClipName shortens an untrusted name for an error message.
func ClipName(s string) string { return truncate(s, 80) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

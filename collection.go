package quire

import (
	"strings"
	"time"
)

// IndexType is the SQLite type of an index field's generated column.
type IndexType string

// The index field types. Collection tables are STRICT, so a document whose
// indexed value cannot be stored losslessly as the declared type is refused.
const (
	IndexText    IndexType = "text"
	IndexInteger IndexType = "integer"
	IndexReal    IndexType = "real"
)

// Limits on collection definitions.
const (
	MaxIndexesPerCollection = 64 // ceiling; a tenant's quota (default 32) may be lower
	maxPathLen              = 256
)

// IndexSpec declares one indexed field of a collection: a generated column
// named Field holding json_extract(body, Path), with an index on it.
type IndexSpec struct {
	Field  string    `json:"field"`
	Path   string    `json:"path"`
	Type   IndexType `json:"type"`
	Unique bool      `json:"unique,omitempty"`
	// Stored is true for fields declared when the collection was created
	// (STORED generated columns, the seed's shape) and false for fields added
	// later (VIRTUAL generated columns: SQLite cannot add a STORED one).
	Stored bool `json:"stored"`
}

// Collection is a table of JSON documents with indexed fields.
type Collection struct {
	Name    string      `json:"name"`
	Indexes []IndexSpec `json:"indexes"`
	// History keeps every prior version of each document (off by default:
	// it roughly doubles storage for documents that change).
	History   bool      `json:"history"`
	CreatedAt time.Time `json:"created_at"`
}

// Index returns the index spec for field, if the collection has one.
func (c *Collection) Index(field string) (IndexSpec, bool) {
	for _, ix := range c.Indexes {
		if ix.Field == field {
			return ix, true
		}
	}
	return IndexSpec{}, false
}

// Normalize validates ix and fills defaults: type text, and a path given
// without "$" ("name.first") gets the "$." prefix.
func (ix *IndexSpec) Normalize() error {
	if err := CheckFieldName(ix.Field); err != nil {
		return err
	}
	if ix.Type == "" {
		ix.Type = IndexText
	}
	switch ix.Type {
	case IndexText, IndexInteger, IndexReal:
	default:
		return Errorf(EInvalid, "index %q: type must be text, integer or real", ix.Field)
	}
	if ix.Path == "" {
		return Errorf(EInvalid, "index %q: path is required", ix.Field)
	}
	if !strings.HasPrefix(ix.Path, "$") {
		ix.Path = "$." + ix.Path
	}
	if !ValidPath(ix.Path) {
		return Errorf(EInvalid, "index %q: path %q is not allowed: use $.key.key[0] with keys of letters, digits and _", ix.Field, truncate(ix.Path, 80))
	}
	return nil
}

// ValidPath reports whether p is a JSON path Quire accepts in index
// definitions: "$" followed by one or more ".key" (letters, digits, _) or
// "[n]" steps. The path ends up inside DDL (a generated column cannot take
// a bound parameter), so the grammar is deliberately small.
func ValidPath(p string) bool {
	if len(p) < 2 || len(p) > maxPathLen || p[0] != '$' {
		return false
	}
	i := 1
	for i < len(p) {
		switch p[i] {
		case '.':
			j := i + 1
			for j < len(p) && isKeyChar(p[j]) {
				j++
			}
			if j == i+1 {
				return false
			}
			i = j
		case '[':
			j := i + 1
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			if j == i+1 || j-i-1 > 9 || j >= len(p) || p[j] != ']' {
				return false
			}
			i = j + 1
		default:
			return false
		}
	}
	return true
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// Validate checks a collection definition: its name, and each index, with
// no field declared twice.
func (c *Collection) Validate() error {
	if err := CheckName("collection", c.Name); err != nil {
		return err
	}
	if len(c.Indexes) > MaxIndexesPerCollection {
		return Errorf(EInvalid, "a collection may have at most %d indexes", MaxIndexesPerCollection)
	}
	seen := map[string]bool{}
	for i := range c.Indexes {
		if err := c.Indexes[i].Normalize(); err != nil {
			return err
		}
		if seen[c.Indexes[i].Field] {
			return Errorf(EInvalid, "index field %q declared twice", c.Indexes[i].Field)
		}
		seen[c.Indexes[i].Field] = true
	}
	return nil
}

package sqlite

import (
	"encoding/json"

	"github.com/quiredb/quire"
)

// maxDocDepth is SQLite's JSON nesting limit: a deeper document could be
// stored in a collection without indexes but never indexed or patched.
const maxDocDepth = 1000

// checkStructure refuses, in one pass over valid JSON, documents nested
// deeper than SQLite can read and objects with a duplicate key. A duplicate
// key is ambiguous: SQLite's json_extract (and so every index) sees the
// first value, most JSON clients the last; a unique index and a reader
// could then disagree about what a document says.
func checkStructure(b []byte) error {
	type frame struct {
		object bool
		keys   keySet
	}
	var stack []frame
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			if len(stack) == maxDocDepth {
				return quire.Errorf(quire.EInvalidDocument, "document nests deeper than %d levels", maxDocDepth)
			}
			stack = append(stack, frame{object: c == '{'})
			expectKey = c == '{'
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			start := i
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if !expectKey {
				continue
			}
			expectKey = false
			key := string(b[start+1 : i])
			if containsByte(b[start:i], '\\') {
				json.Unmarshal(b[start:i+1], &key) // valid JSON: cannot fail
			}
			if !stack[len(stack)-1].keys.add(key) {
				return quire.Errorf(quire.EInvalidDocument, "document has the key %q twice in one object", quire.ClipName(key))
			}
		}
	}
	return nil
}

// keySet is the keys of one object: a slice while small, a map once large.
type keySet struct {
	list []string
	set  map[string]bool
}

// add adds key and reports whether it was new.
func (k *keySet) add(key string) bool {
	if k.set != nil {
		if k.set[key] {
			return false
		}
		k.set[key] = true
		return true
	}
	for _, x := range k.list {
		if x == key {
			return false
		}
	}
	k.list = append(k.list, key)
	if len(k.list) > 16 {
		k.set = make(map[string]bool, 2*len(k.list))
		for _, x := range k.list {
			k.set[x] = true
		}
		k.list = nil
	}
	return true
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

package cache

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// valueKind is what a JSON document holds at a path, as far as a text index
// column (json_extract(body, path) in a TEXT column) is concerned.
type valueKind int

const (
	valueAbsent valueKind = iota // nothing there: the column is NULL, no text condition holds
	valueText                    // a JSON string: the column holds it, unescaped
	valueOther                   // anything else, or not sure: any condition may hold
)

// textAt reads the value at path (an index path: "$" followed by ".key"
// and "[n]" steps, keys of letters, digits and _) in the JSON document
// body. Whatever it cannot be sure of (a key written with escapes, text
// that is not JSON) it reports as valueOther, which callers treat as
// possibly matching.
func textAt(body []byte, path string) (string, valueKind) {
	pos := skipSpace(body, 0)
	for i := 1; i < len(path); {
		if pos >= len(body) {
			return "", valueOther
		}
		var next int
		var found, sure bool
		switch path[i] {
		case '.':
			j := i + 1
			for j < len(path) && path[j] != '.' && path[j] != '[' {
				j++
			}
			key := path[i+1 : j]
			i = j
			if body[pos] != '{' {
				return "", valueAbsent
			}
			next, found, sure = findKey(body, pos, key)
		case '[':
			j := i + 1
			for j < len(path) && path[j] != ']' {
				j++
			}
			n, err := strconv.Atoi(path[i+1 : min(j, len(path))])
			if err != nil || j == len(path) {
				return "", valueOther
			}
			i = j + 1
			if body[pos] != '[' {
				return "", valueAbsent
			}
			next, found, sure = findElem(body, pos, n)
		default:
			return "", valueOther
		}
		if !sure {
			return "", valueOther
		}
		if !found {
			return "", valueAbsent
		}
		pos = next
	}
	if pos >= len(body) || body[pos] != '"' {
		return "", valueOther
	}
	end, ok := skipValue(body, pos)
	if !ok {
		return "", valueOther
	}
	raw := body[pos:end]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), valueText
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", valueOther
	}
	return s, valueText
}

// findKey looks for key among the members of the object at pos and returns
// the position of its value. The first member of that name counts, as in
// SQLite. sure is false when a member's name has escapes (it might spell
// key) or the text is not JSON.
func findKey(body []byte, pos int, key string) (value int, found, sure bool) {
	pos = skipSpace(body, pos+1)
	if pos < len(body) && body[pos] == '}' {
		return 0, false, true
	}
	for pos < len(body) {
		if body[pos] != '"' {
			return 0, false, false
		}
		end, ok := skipValue(body, pos)
		if !ok {
			return 0, false, false
		}
		name := body[pos+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			return 0, false, false
		}
		pos = skipSpace(body, end)
		if pos >= len(body) || body[pos] != ':' {
			return 0, false, false
		}
		pos = skipSpace(body, pos+1)
		if string(name) == key {
			return pos, true, true
		}
		var last bool
		if pos, last, ok = nextItem(body, pos, '}'); !ok || last {
			return 0, false, ok
		}
	}
	return 0, false, false
}

// findElem returns the position of element n of the array at pos.
func findElem(body []byte, pos, n int) (value int, found, sure bool) {
	pos = skipSpace(body, pos+1)
	if pos < len(body) && body[pos] == ']' {
		return 0, false, true
	}
	for i := 0; pos < len(body); i++ {
		if i == n {
			return pos, true, true
		}
		var last, ok bool
		if pos, last, ok = nextItem(body, pos, ']'); !ok || last {
			return 0, false, ok
		}
	}
	return 0, false, false
}

// nextItem skips the value at pos, a member's or an element's, and what
// follows it: a comma (it returns where the next item starts) or closer
// (last).
func nextItem(body []byte, pos int, closer byte) (next int, last, ok bool) {
	if pos, ok = skipValue(body, pos); !ok {
		return 0, false, false
	}
	pos = skipSpace(body, pos)
	switch {
	case pos >= len(body):
		return 0, false, false
	case body[pos] == closer:
		return 0, true, true
	case body[pos] == ',':
		return skipSpace(body, pos+1), false, true
	}
	return 0, false, false
}

// skipValue returns the position just past the JSON value at pos.
func skipValue(body []byte, pos int) (int, bool) {
	if pos >= len(body) {
		return 0, false
	}
	switch body[pos] {
	case '"':
		for i := pos + 1; i < len(body); i++ {
			switch body[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
		return 0, false
	case '{', '[':
		depth := 0
		for i := pos; i < len(body); i++ {
			switch body[i] {
			case '"':
				end, ok := skipValue(body, i)
				if !ok {
					return 0, false
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
		}
		return 0, false
	}
	i := pos
	for i < len(body) && body[i] != ',' && body[i] != '}' && body[i] != ']' && !isSpace(body[i]) {
		i++
	}
	return i, i > pos
}

func skipSpace(body []byte, pos int) int {
	for pos < len(body) && isSpace(body[pos]) {
		pos++
	}
	return pos
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

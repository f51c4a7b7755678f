package sqlite

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"unicode/utf8"

	"github.com/quiredb/quire"
)

// sortHash identifies a sort, so a cursor of another query's order is
// refused rather than misread.
func sortHash(keys []sortRef) uint32 {
	h := fnv.New32a()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%t\x00", k.name, k.desc)
	}
	return h.Sum32()
}

// queryCursor is the JSON inside a query's opaque next cursor: the sort's
// hash and the last document's sort values, its id last. Floats and text
// that is not valid UTF-8 are tagged objects, so every value comes back
// with its SQLite type and exact bytes.
type queryCursor struct {
	Sort uint32            `json:"s"`
	Keys []json.RawMessage `json:"k"`
}

type cursorValue struct {
	Float *string `json:"f,omitempty"`
	Text  []byte  `json:"t,omitempty"`
}

func encodeQueryCursor(hash uint32, vals []any) string {
	c := queryCursor{Sort: hash, Keys: make([]json.RawMessage, len(vals))}
	for i, v := range vals {
		var x any = v
		switch v := v.(type) {
		case float64:
			s := strconv.FormatFloat(v, 'g', -1, 64)
			x = cursorValue{Float: &s}
		case string:
			if !utf8.ValidString(v) {
				x = cursorValue{Text: []byte(v)}
			}
		case []byte:
			x = cursorValue{Text: v}
		}
		c.Keys[i], _ = json.Marshal(x)
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeQueryCursor returns the sort values a cursor holds, or nil for none.
func decodeQueryCursor(cursor string, st *statement) ([]any, error) {
	if cursor == "" {
		return nil, nil
	}
	bad := quire.Errorf(quire.EInvalid, "malformed cursor: pass the next value of the previous page unchanged")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, bad
	}
	var c queryCursor
	if json.Unmarshal(raw, &c) != nil {
		return nil, bad
	}
	if c.Sort != st.hash || len(c.Keys) != len(st.keys) {
		return nil, quire.Errorf(quire.EInvalid, "cursor belongs to a query with another sort")
	}
	vals := make([]any, len(c.Keys))
	for i, k := range c.Keys {
		var v any
		dec := json.NewDecoder(bytes.NewReader(k))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return nil, bad
		}
		switch v := v.(type) {
		case nil, string:
			vals[i] = v
		case json.Number:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return nil, bad
			}
			vals[i] = n
		default:
			var cv cursorValue
			if json.Unmarshal(k, &cv) != nil || (cv.Float == nil) == (cv.Text == nil) {
				return nil, bad
			}
			if cv.Text != nil {
				vals[i] = string(cv.Text)
				continue
			}
			f, err := strconv.ParseFloat(*cv.Float, 64)
			if err != nil {
				return nil, bad
			}
			vals[i] = f
		}
	}
	if id, ok := vals[len(vals)-1].(string); !ok || quire.CheckDocID(id) != nil {
		return nil, bad
	}
	return vals, nil
}

package sqlite

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/quiredb/quire"
)

func TestCheckStructure(t *testing.T) {
	many := `{`
	for i := range 40 {
		if i > 0 {
			many += ","
		}
		many += `"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1`
	}
	many += `}`
	deep := strings.Repeat(`[`, maxDocDepth) + strings.Repeat(`]`, maxDocDepth)
	tooDeep := `{"a":` + deep + `}`
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{`{}`, true},
		{`{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`, true},
		{`{"a":"x\"y","b":"\\"}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":1,"\u0061":2}`, false},
		{`{"x":{"b":1,"c":2,"b":3}}`, false},
		{`{"x":[{"k":1},{"k":2}],"k":3}`, true},
		{many, true},
		{strings.Replace(many, `}`, `,"kab":2}`, 1), false},
		{`{"a":` + strings.Repeat(`[`, maxDocDepth-1) + strings.Repeat(`]`, maxDocDepth-1) + `}`, true},
		{tooDeep, false},
	} {
		err := checkStructure([]byte(tc.doc))
		if got := err == nil; got != tc.ok {
			t.Errorf("checkStructure(%.60q) = %v, want ok=%v", tc.doc, err, tc.ok)
		}
		if err != nil && quire.ErrorCode(err) != quire.EInvalidDocument {
			t.Errorf("code %q, want invalid_document", quire.ErrorCode(err))
		}
	}
}

func FuzzCheckStructure(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":[1,{"b":"\"}"}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		b, err := checkBody([]byte(doc), 1<<20)
		if err != nil {
			return
		}
		// Whatever checkBody accepts is valid JSON, as it came and as it
		// is stored, and an object SQLite can read.
		if !json.Valid([]byte(doc)) || !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", doc)
		}
		if len(b) == 0 || b[0] != '{' {
			t.Fatalf("accepted non-object %q", b)
		}
	})
}

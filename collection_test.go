package quire

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// pathRE is the documented index path grammar.
var pathRE = regexp.MustCompile(`^\$(\.[A-Za-z0-9_]+|\[[0-9]{1,9}\])+$`)

func TestValidPath(t *testing.T) {
	good := []string{
		"$.a", "$.name.last", "$.a[0]", "$.a[0][1].b", "$[0]", "$.A_1", "$.0", "$.a[123456789]",
		"$." + strings.Repeat("a", maxPathLen-2),
	}
	for _, p := range good {
		if !ValidPath(p) {
			t.Errorf("ValidPath(%q) = false, want true", p)
		}
	}
	bad := []string{
		"", "$", "a", ".a", "$.", "$..a", "$[", "$]", "$[]", "$[x]", "$[-1]", "$[#-1]", "$[1", "$[1]]", "$.a.", "$.a[",
		"$.a'); DROP TABLE x; --", "$.a b", `$.a"b`, "$.a'b", `$."a"`, "$.é", "$.a)", "$.a(", "$.a;", "$.a\x00", "$.a\n",
		"$.a[1234567890]", "$.*", "$.a[*]", "$ .a", "$$.a", "@.a", "$['a']", "$.a[0x1]", "$.a[+1]", "$.a[1 ]", "$.a-b",
		"$.a/*", "$.a--", "$.a\\", "$." + strings.Repeat("a", maxPathLen-1),
	}
	for _, p := range bad {
		if ValidPath(p) {
			t.Errorf("ValidPath(%q) = true, want false", p)
		}
	}
}

func TestIndexSpecNormalize(t *testing.T) {
	cases := []struct {
		name     string
		in       IndexSpec
		want     IndexSpec
		wantCode string
	}{
		{"defaults", IndexSpec{Field: "f", Path: "a.b"}, IndexSpec{Field: "f", Path: "$.a.b", Type: IndexText}, ""},
		{"dollar path kept", IndexSpec{Field: "f", Path: "$.a", Type: IndexInteger}, IndexSpec{Field: "f", Path: "$.a", Type: IndexInteger}, ""},
		{"array step", IndexSpec{Field: "f", Path: "a[2]", Type: IndexReal, Unique: true}, IndexSpec{Field: "f", Path: "$.a[2]", Type: IndexReal, Unique: true}, ""},
		{"missing path", IndexSpec{Field: "f"}, IndexSpec{}, EInvalid},
		{"bad type", IndexSpec{Field: "f", Path: "a", Type: "blob"}, IndexSpec{}, EInvalid},
		{"upper-case type", IndexSpec{Field: "f", Path: "a", Type: "TEXT"}, IndexSpec{}, EInvalid},
		{"bad field", IndexSpec{Field: "F", Path: "a"}, IndexSpec{}, EInvalidName},
		{"reserved field", IndexSpec{Field: "body", Path: "a"}, IndexSpec{}, EInvalidName},
		{"prefixed injection", IndexSpec{Field: "f", Path: "a'); DROP TABLE x; --"}, IndexSpec{}, EInvalid},
		{"dot-led path", IndexSpec{Field: "f", Path: ".a"}, IndexSpec{}, EInvalid},
		{"bracket-led path", IndexSpec{Field: "f", Path: "[0]"}, IndexSpec{}, EInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ix := c.in
			err := ix.Normalize()
			if got, want := ErrorCode(err), c.wantCode; got != want {
				t.Fatalf("Normalize(%+v) = %v, want code %q", c.in, err, want)
			}
			if err == nil && ix != c.want {
				t.Errorf("Normalize(%+v) = %+v, want %+v", c.in, ix, c.want)
			}
			if err != nil && len(ErrorMessage(err)) > 400 {
				t.Errorf("message too long: %d bytes", len(ErrorMessage(err)))
			}
		})
	}
	t.Run("idempotent", func(t *testing.T) {
		ix := IndexSpec{Field: "f", Path: "a.b"}
		if err := ix.Normalize(); err != nil {
			t.Fatal(err)
		}
		again := ix
		if err := again.Normalize(); err != nil || again != ix {
			t.Errorf("second Normalize = %+v, %v; want %+v", again, err, ix)
		}
	})
	t.Run("hostile path message is clipped", func(t *testing.T) {
		ix := IndexSpec{Field: "f", Path: "$." + strings.Repeat("'", 5000)}
		if msg := ErrorMessage(ix.Normalize()); len(msg) > 400 {
			t.Errorf("message is %d bytes", len(msg))
		}
	})
}

func TestCollectionValidate(t *testing.T) {
	ok := Collection{Name: "people", Indexes: []IndexSpec{{Field: "a", Path: "a"}, {Field: "b", Path: "$.b", Type: IndexInteger}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	if got, want := ok.Indexes[0].Path, "$.a"; got != want {
		t.Errorf("Validate did not normalize: path %q, want %q", got, want)
	}
	if ix, found := ok.Index("b"); !found || ix.Type != IndexInteger {
		t.Errorf("Index(b) = %+v, %v", ix, found)
	}
	if _, found := ok.Index("c"); found {
		t.Error("Index(c) found")
	}

	many := make([]IndexSpec, MaxIndexesPerCollection+1)
	for i := range many {
		many[i] = IndexSpec{Field: fmt.Sprint("f", i), Path: fmt.Sprint("f", i)}
	}
	cases := []struct {
		name string
		c    Collection
		code string
	}{
		{"bad name", Collection{Name: "Bad"}, EInvalidName},
		{"sqlite name", Collection{Name: "sqlite_master"}, EInvalidName},
		{"empty name", Collection{}, EInvalidName},
		{"duplicate field", Collection{Name: "c", Indexes: []IndexSpec{{Field: "a", Path: "a"}, {Field: "a", Path: "b"}}}, EInvalid},
		{"too many indexes", Collection{Name: "c", Indexes: many}, EInvalid},
		{"bad index", Collection{Name: "c", Indexes: []IndexSpec{{Field: "a", Path: "$..a"}}}, EInvalid},
		{"reserved field", Collection{Name: "c", Indexes: []IndexSpec{{Field: "id", Path: "a"}}}, EInvalidName},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := ErrorCode(c.c.Validate()), c.code; got != want {
				t.Errorf("Validate code %q, want %q", got, want)
			}
		})
	}
	exact := Collection{Name: "c", Indexes: many[:MaxIndexesPerCollection]}
	if err := exact.Validate(); err != nil {
		t.Errorf("%d indexes refused: %v", MaxIndexesPerCollection, err)
	}
}

func TestStatusTable(t *testing.T) {
	want := map[string]int{
		EInvalid: 400, EInvalidName: 400, EInvalidDocument: 400, EInvalidBookmark: 400, EUnauthorized: 401, EForbidden: 403,
		ENotFound: 404, EMethodNotAllowed: 405, EConflict: 409, EUniqueViolation: 409, EVersionMismatch: 412, ETooLarge: 413,
		EUnavailable: 503, EInternal: 500,
	}
	for code, status := range want {
		if got := StatusOf(code); got != status {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, status)
		}
	}
	if got := StatusOf("no_such_code"); got != 500 {
		t.Errorf("StatusOf(unknown) = %d, want 500", got)
	}
	if got := ErrorMessage(fmt.Errorf("sqlite3: disk I/O error at /secret/path")); got != "Internal error." {
		t.Errorf("ErrorMessage of a plain error = %q", got)
	}
	if got := ErrorCode(fmt.Errorf("wrapped: %w", Errorf(EConflict, "x"))); got != EConflict {
		t.Errorf("ErrorCode of a wrapped error = %q", got)
	}
}

func FuzzValidPath(f *testing.F) {
	for _, s := range []string{
		"$.a", "$.a.b[0]", "$[0]", "$..a", "$[", "$.a'); DROP TABLE x; --", "$.a b", `$."a"`, "$.é", "$.a[1234567890]",
		"$.a[0", "a.b", "$", "", "$.a)", "$.a;", "$.a[99]", "$.a[-1]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		valid := ValidPath(p)
		if valid != (pathRE.MatchString(p) && len(p) <= maxPathLen) {
			t.Fatalf("ValidPath(%q) = %v, grammar says %v", p, valid, !valid)
		}
		if valid {
			// The path is spliced into DDL between single quotes.
			if strings.ContainsAny(p, "'\"` ;()\\\x00\n\r\t-/*") {
				t.Fatalf("ValidPath accepted %q", p)
			}
			for i := 0; i < len(p); i++ {
				if p[i] >= 0x80 {
					t.Fatalf("ValidPath accepted non-ASCII %q", p)
				}
			}
		}
		// Normalize's prefixing cannot turn a bad path into an unsafe one.
		ix := IndexSpec{Field: "f", Path: p}
		if err := ix.Normalize(); err == nil {
			if !ValidPath(ix.Path) || strings.ContainsAny(ix.Path, "'\"` ;()") {
				t.Fatalf("Normalize accepted %q as %q", p, ix.Path)
			}
		} else if p != "" && ErrorCode(err) != EInvalid {
			t.Fatalf("Normalize(%q) code %q", p, ErrorCode(err))
		}
	})
}

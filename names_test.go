package quire

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// nameRE is the documented name grammar.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func TestValidName(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"single letter", "a", true},
		{"letters digits underscore", "orders_2024", true},
		{"trailing underscore", "a_", true},
		{"63 chars", "a" + strings.Repeat("b", 62), true},
		{"sqlite without underscore", "sqlite", true},
		{"sqlitex", "sqlitex", true},
		{"empty", "", false},
		{"64 chars", "a" + strings.Repeat("b", 63), false},
		{"upper case", "A", false},
		{"mixed case", "aB", false},
		{"leading digit", "1a", false},
		{"leading underscore", "_a", false},
		{"internal prefix", "_quire_meta", false},
		{"sqlite_ prefix", "sqlite_master", false},
		{"sqlite_ alone", "sqlite_", false},
		{"dot", "a.b", false},
		{"dash", "a-b", false},
		{"slash", "a/b", false},
		{"dot dot slash", "../x", false},
		{"escaped slash", "..%2Fx", false},
		{"space", "a b", false},
		{"semicolon", "a;DROP TABLE x", false},
		{"double quote", `x"y`, false},
		{"single quote", "x'y", false},
		{"backtick", "x`y", false},
		{"accented", "é", false},
		{"accented suffix", "cafe\u0301", false},
		{"zero-width space", "a\u200bb", false},
		{"RTL override", "a\u202eb", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\n", false},
		{"invalid UTF-8", "a\xff", false},
		{"fullwidth letter", "\uff41", false},
		{"kelvin sign", "\u212a", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := ValidName(c.in), c.want; got != want {
				t.Errorf("ValidName(%q) = %v, want %v", c.in, got, want)
			}
			err := CheckName("collection", c.in)
			if got, want := err == nil, c.want; got != want {
				t.Errorf("CheckName(%q) = %v, want ok=%v", c.in, err, want)
			}
			if err != nil {
				if got, want := ErrorCode(err), EInvalidName; got != want {
					t.Errorf("CheckName(%q) code %q, want %q", c.in, got, want)
				}
				if got := ErrorMessage(err); !strings.HasPrefix(got, "collection name ") {
					t.Errorf("message %q does not name the kind", got)
				}
			}
		})
	}
}

func TestCheckNameMessageIsBounded(t *testing.T) {
	long := strings.Repeat("Z", 10000)
	msg := ErrorMessage(CheckName("tenant", long))
	if got, max := len(msg), 300; got > max {
		t.Errorf("message is %d bytes, want at most %d", got, max)
	}
	if !strings.Contains(msg, "...") {
		t.Errorf("message %q does not show the name was clipped", msg)
	}
	// Control characters are quoted, not written raw.
	msg = ErrorMessage(CheckName("tenant", "a\x1b[31mred\u202e"))
	if strings.ContainsAny(msg, "\x1b\u202e") {
		t.Errorf("message %q carries raw control characters", msg)
	}
}

func TestCheckFieldName(t *testing.T) {
	for _, reserved := range []string{"id", "body", "created_at", "updated_at"} {
		err := CheckFieldName(reserved)
		if got, want := ErrorCode(err), EInvalidName; got != want {
			t.Errorf("CheckFieldName(%q) code %q, want %q", reserved, got, want)
		}
		// Reserved only as fields: a collection may be called so.
		if err := CheckName("collection", reserved); err != nil {
			t.Errorf("CheckName(collection, %q) = %v", reserved, err)
		}
	}
	for _, bad := range []string{"", "_version", "A", "sqlite_x", "a.b"} {
		if got, want := ErrorCode(CheckFieldName(bad)), EInvalidName; got != want {
			t.Errorf("CheckFieldName(%q) code %q, want %q", bad, got, want)
		}
	}
	for _, ok := range []string{"age", "ids", "bodyx", "created", "id2"} {
		if err := CheckFieldName(ok); err != nil {
			t.Errorf("CheckFieldName(%q) = %v", ok, err)
		}
	}
}

func TestCheckDocID(t *testing.T) {
	good := []string{
		"a", "a/b", "with space", " ", "ünïcödé", "日本語", "🎉", "..", ".", "%2F", "a?b#c", `"q"`, `\`, "'; DROP TABLE x; --",
		"nbsp\u00a0", "line\u2028sep", strings.Repeat("a", MaxDocIDLen), strings.Repeat("é", MaxDocIDLen/2),
	}
	for _, id := range good {
		if err := CheckDocID(id); err != nil {
			t.Errorf("CheckDocID(%q) = %v, want ok", id, err)
		}
	}
	bad := []string{
		"", strings.Repeat("a", MaxDocIDLen+1), strings.Repeat("é", MaxDocIDLen/2) + "a",
		"a\x00b", "\t", "a\nb", "\r", "\x1b", "\x7f", "\u0085", "\u200b", "a\u200cb", "a\u200db", "\u200e", "\u200f",
		"a\u202ab", "a\u202eb", "\u2066", "\u2069", "\ufeff", "\u00ad", "\U000e0001",
		"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\ufffd",
	}
	for _, id := range bad {
		err := CheckDocID(id)
		if err == nil {
			t.Errorf("CheckDocID(%q) accepted", id)
			continue
		}
		if got, want := ErrorCode(err), EInvalid; got != want {
			t.Errorf("CheckDocID(%q) code %q, want %q", id, got, want)
		}
		if msg := ErrorMessage(err); !utf8.ValidString(msg) || strings.ContainsAny(msg, "\x00\u202e") {
			t.Errorf("CheckDocID(%q) message %q is not safe to show", id, msg)
		}
	}
}

func TestClipName(t *testing.T) {
	if got, want := ClipName("short"), "short"; got != want {
		t.Errorf("ClipName = %q, want %q", got, want)
	}
	if got := ClipName(strings.Repeat("x", 200)); len(got) != 83 || !strings.HasSuffix(got, "...") {
		t.Errorf("ClipName of 200 bytes = %d bytes %q", len(got), got)
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{
		"a", "orders", "a_1", "sqlite", "sqlite_master", "sqlite_", "_a", "A", "1a", "", "../x", "..%2Fx", "a;DROP TABLE x",
		`x"y`, "é", "a\u200bb", "a\u202eb", strings.Repeat("a", 63), strings.Repeat("a", 64), "id", "\x00",
		"\xfd" + strings.Repeat("\xba", 100), strings.Repeat("\U000e0001", 30),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := ValidName(s)
		if want := nameRE.MatchString(s) && !strings.HasPrefix(s, "sqlite_"); valid != want {
			t.Fatalf("ValidName(%q) = %v, grammar says %v", s, valid, want)
		}
		err := CheckName("tenant", s)
		if (err == nil) != valid {
			t.Fatalf("CheckName(%q) = %v but ValidName = %v", s, err, valid)
		}
		if err != nil {
			if ErrorCode(err) != EInvalidName {
				t.Fatalf("CheckName(%q) code %q", s, ErrorCode(err))
			}
			// At most 80 bytes of the name, each quoted as at most \xNN.
			if msg := ErrorMessage(err); len(msg) > 600 || !utf8.ValidString(msg) {
				t.Fatalf("CheckName(%q) message is unsafe: %q", s, msg)
			}
		}
		if valid {
			// A valid name is safe inside a double-quoted SQL identifier and
			// a URL path segment, unchanged.
			if strings.ContainsAny(s, "\"'`;. /\\%") {
				t.Fatalf("ValidName accepted %q", s)
			}
			if fe := CheckFieldName(s); fe != nil && !reservedNames[s] {
				t.Fatalf("CheckFieldName(%q) = %v for a valid, unreserved name", s, fe)
			}
		}
	})
}

func FuzzCheckDocID(f *testing.F) {
	for _, s := range []string{
		"a", "a/b", "ünïcödé", "..", " ", "a\x00b", "a\u202eb", "\u200b", "\xff", strings.Repeat("a", 256), strings.Repeat("a", 257),
		"\ufffd", "\U0010ffff", "\ufeff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := CheckDocID(id)
		if err != nil {
			if ErrorCode(err) != EInvalid {
				t.Fatalf("CheckDocID(%q) code %q", id, ErrorCode(err))
			}
			if msg := ErrorMessage(err); !utf8.ValidString(msg) || strings.ContainsAny(msg, "\x00\n\r\u202e") {
				t.Fatalf("CheckDocID(%q) message is unsafe: %q", id, msg)
			}
			return
		}
		if len(id) == 0 || len(id) > MaxDocIDLen {
			t.Fatalf("accepted id of %d bytes", len(id))
		}
		if !utf8.ValidString(id) {
			t.Fatalf("accepted invalid UTF-8 %q", id)
		}
		for _, r := range id {
			if unicode.IsControl(r) || unicode.In(r, unicode.Cf) || r == utf8.RuneError {
				t.Fatalf("accepted %q with U+%04X", id, r)
			}
		}
	})
}

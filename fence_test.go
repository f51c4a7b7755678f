package quire

import (
	"reflect"
	"testing"
)

func FuzzParseFences(f *testing.F) {
	for _, s := range []string{"", "a=1", "a=1, b=2", "a=0", "a=-1", "A=1", "a=1,", "=1", "a", "a=1=2",
		"a=9223372036854775807", "a=9223372036854775808", "../x=1", "a;drop=1", "a=1 ,  b=2", "a=0x10", "a=+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		fs, err := ParseFences(header)
		if err != nil {
			if c := ErrorCode(err); c != EInvalid && c != EInvalidName {
				t.Fatalf("ParseFences(%q): code %q", header, c)
			}
			return
		}
		if len(fs) > MaxFences {
			t.Fatalf("ParseFences(%q) accepted %d fences", header, len(fs))
		}
		for _, fe := range fs {
			if !ValidName(fe.Lock) || fe.Token <= 0 {
				t.Fatalf("ParseFences(%q) accepted %+v", header, fe)
			}
		}
		// What was accepted survives formatting and parsing again.
		again, err := ParseFences(FenceHeader(fs...))
		if err != nil || !reflect.DeepEqual(again, fs) && len(fs) > 0 {
			t.Fatalf("ParseFences(%q) = %+v; round trip %+v, %v", header, fs, again, err)
		}
	})
}

package server

import (
	"encoding/json"
	"testing"
)

// FuzzAppendJSONString: the fast path for plain ids writes exactly what
// encoding/json writes, for every string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "c1", "0192f0c4-7b1e-7c3a-9f00-1a2b3c4d5e6f", `a"b`, `a\b`, "<&>", "é", "\u2028", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("appendJSONString(%q) = %s, want x%s", s, got, want)
		}
	})
}

// TestResponseBuffersAreEmptyAndLargeEnough: a reused buffer comes back
// empty, with the room asked for, and huge ones are not kept.
func TestResponseBuffersAreEmptyAndLargeEnough(t *testing.T) {
	b := takeResponseBuffer(100)
	*b = append(*b, "left over"...)
	giveBackResponseBuffer(b)
	for range 3 {
		b := takeResponseBuffer(5000)
		if len(*b) != 0 || cap(*b) < 5000 {
			t.Fatalf("buffer len %d cap %d, want empty with room for 5000", len(*b), cap(*b))
		}
		giveBackResponseBuffer(b)
	}
	huge := takeResponseBuffer(maxPooledResponse + 1)
	giveBackResponseBuffer(huge)
	if b := takeResponseBuffer(1); cap(*b) > maxPooledResponse {
		t.Errorf("a %d-byte buffer was pooled", cap(*b))
	}
}

package quire

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestBookmarkFormat(t *testing.T) {
	cases := []struct {
		b    Bookmark
		tag  uint32
		want string
	}{
		{Bookmark{}, 0, "00000000-0000000000000000-00000000"},
		{Bookmark{Epoch: 1, Seq: 2}, 0xdeadbeef, "00000001-0000000000000002-deadbeef"},
		{Bookmark{Epoch: 0xffffffff, Seq: 0xffffffffffffffff}, 0xffffffff, "ffffffff-ffffffffffffffff-ffffffff"},
		{Bookmark{Epoch: 0x10, Seq: 0xabc}, 0x0a0b0c0d, "00000010-0000000000000abc-0a0b0c0d"},
	}
	for _, c := range cases {
		got := c.b.Format(c.tag)
		if got != c.want {
			t.Errorf("%+v.Format(%x) = %q, want %q", c.b, c.tag, got, c.want)
		}
		if len(got) != bookmarkLen {
			t.Errorf("token %q is %d bytes, want %d", got, len(got), bookmarkLen)
		}
		back, err := ParseBookmark(got, c.tag)
		if err != nil || back != c.b {
			t.Errorf("ParseBookmark(%q) = %+v, %v; want %+v", got, back, err, c.b)
		}
	}
}

func TestParseBookmarkRefuses(t *testing.T) {
	const tag = 0xdeadbeef
	good := Bookmark{Epoch: 1, Seq: 42}.Format(tag)
	cases := []struct{ name, token string }{
		{"empty", ""},
		{"garbage", "not-a-bookmark"},
		{"truncated", good[:len(good)-1]},
		{"extended", good + "0"},
		{"upper case", strings.ToUpper(good)},
		{"one upper-case digit", good[:9] + "A" + good[10:]},
		{"plus sign", good[:9] + "+" + good[10:]},
		{"minus sign", "-" + good[1:]},
		{"underscore", good[:9] + "_" + good[10:]},
		{"0x prefix", "0x000001" + good[8:]},
		{"space", " " + good[1:]},
		{"wrong separators", strings.ReplaceAll(good, "-", ":")},
		{"separator moved", good[:7] + "-0" + good[9:]},
		{"other tenant", Bookmark{Epoch: 1, Seq: 42}.Format(tag + 1)},
		{"non-ASCII", good[:9] + "é" + good[11:]},
		{"NUL", good[:9] + "\x00" + good[10:]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseBookmark(c.token, tag)
			if err == nil {
				t.Fatalf("ParseBookmark(%q) accepted", c.token)
			}
			if got, want := ErrorCode(err), EInvalidBookmark; got != want {
				t.Errorf("code %q, want %q", got, want)
			}
		})
	}
}

func TestBookmarkOrderMatchesStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	random := func() Bookmark {
		b := Bookmark{Epoch: r.Uint32(), Seq: r.Uint64()}
		switch r.IntN(3) { // small values, where ordering bugs hide
		case 0:
			b.Epoch = r.Uint32N(3)
			b.Seq = r.Uint64N(300)
		case 1:
			b.Epoch = r.Uint32N(3)
		}
		return b
	}
	for range 10000 {
		a, b := random(), random()
		sa, sb := a.Format(7), b.Format(7)
		if a.Less(b) != (sa < sb) {
			t.Fatalf("%+v.Less(%+v) = %v but %q < %q is %v", a, b, a.Less(b), sa, sb, sa < sb)
		}
		if a.Less(b) && b.Less(a) {
			t.Fatalf("%+v and %+v are each less than the other", a, b)
		}
		if (a == b) != (sa == sb) {
			t.Fatalf("%+v == %+v is %v but tokens %q, %q", a, b, a == b, sa, sb)
		}
	}
}

func FuzzParseBookmark(f *testing.F) {
	f.Add("00000001-0000000000000002-deadbeef", uint32(0xdeadbeef))
	f.Add("00000001-0000000000000002-deadbeef", uint32(0))
	f.Add("ffffffff-ffffffffffffffff-ffffffff", uint32(0xffffffff))
	f.Add("00000001-000000000000000G-deadbeef", uint32(0xdeadbeef))
	f.Add("0000000100000000000000002deadbeef0", uint32(0xdeadbeef))
	f.Add("+0000001-0000000000000002-deadbeef", uint32(0xdeadbeef))
	f.Add("", uint32(0))
	f.Add("00000001-0000000000000002-DEADBEEF", uint32(0xdeadbeef))
	f.Fuzz(func(t *testing.T, token string, tag uint32) {
		b, err := ParseBookmark(token, tag)
		if err != nil {
			if ErrorCode(err) != EInvalidBookmark {
				t.Fatalf("ParseBookmark(%q) code %q", token, ErrorCode(err))
			}
			if b != (Bookmark{}) {
				t.Fatalf("ParseBookmark(%q) failed but returned %+v", token, b)
			}
			return
		}
		// Every accepted token has one spelling: its own.
		if got := b.Format(tag); got != token {
			t.Fatalf("ParseBookmark(%q) = %+v, which formats as %q", token, b, got)
		}
		// And it belongs to exactly one tenant tag.
		if _, err := ParseBookmark(token, tag+1); err == nil {
			t.Fatalf("token %q accepted for tags %x and %x", token, tag, tag+1)
		}
	})
}

func FuzzBookmarkRoundTrip(f *testing.F) {
	f.Add(uint32(0), uint64(0), uint32(0), uint32(0), uint64(1))
	f.Add(uint32(1), uint64(42), uint32(0xdeadbeef), uint32(1), uint64(41))
	f.Add(uint32(0xffffffff), uint64(0xffffffffffffffff), uint32(0xffffffff), uint32(0), uint64(0xffffffffffffffff))
	f.Add(uint32(2), uint64(9), uint32(5), uint32(1), uint64(10))
	f.Fuzz(func(t *testing.T, epoch uint32, seq uint64, tag uint32, epoch2 uint32, seq2 uint64) {
		a := Bookmark{Epoch: epoch, Seq: seq}
		tok := a.Format(tag)
		got, err := ParseBookmark(tok, tag)
		if err != nil || got != a {
			t.Fatalf("ParseBookmark(%q) = %+v, %v; want %+v", tok, got, err, a)
		}
		b := Bookmark{Epoch: epoch2, Seq: seq2}
		if a.Less(b) != (tok < b.Format(tag)) {
			t.Fatalf("order of %+v and %+v disagrees with their tokens", a, b)
		}
	})
}

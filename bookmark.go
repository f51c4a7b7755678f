package quire

import (
	"fmt"
	"strconv"
)

// Bookmark is a position in one tenant's commit history: the epoch (bumped
// when the tenant is restored from a backup) and the commit sequence number.
type Bookmark struct {
	Epoch uint32
	Seq   uint64
}

// Less reports whether b is an earlier position than o.
func (b Bookmark) Less(o Bookmark) bool {
	return b.Epoch < o.Epoch || b.Epoch == o.Epoch && b.Seq < o.Seq
}

// bookmarkLen is the length of a bookmark token:
// 8 hex epoch, '-', 16 hex sequence, '-', 8 hex tenant tag.
const bookmarkLen = 8 + 1 + 16 + 1 + 8

// Format renders b as an opaque token for the tenant identified by tag.
// Tokens of one tenant sort lexicographically in commit order because the
// epoch and sequence are fixed-width hex; the tag makes a token from
// another tenant (or an earlier tenant of the same name) recognisable.
func (b Bookmark) Format(tag uint32) string {
	return fmt.Sprintf("%08x-%016x-%08x", b.Epoch, b.Seq, tag)
}

// ParseBookmark parses a token made by Format. It checks the shape and that
// the token belongs to the tenant with the given tag; whether the position
// exists is for the tenant's store to decide.
func ParseBookmark(token string, tag uint32) (Bookmark, error) {
	if len(token) != bookmarkLen || token[8] != '-' || token[25] != '-' {
		return Bookmark{}, Errorf(EInvalidBookmark, "malformed bookmark")
	}
	epoch, err1 := parseHex(token[:8], 32)
	seq, err2 := parseHex(token[9:25], 64)
	t, err3 := parseHex(token[26:], 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return Bookmark{}, Errorf(EInvalidBookmark, "malformed bookmark")
	}
	if uint32(t) != tag {
		return Bookmark{}, Errorf(EInvalidBookmark, "bookmark belongs to another tenant")
	}
	return Bookmark{Epoch: uint32(epoch), Seq: seq}, nil
}

// parseHex parses lower-case hex only, so each position has one spelling
// and tokens compare correctly as strings.
func parseHex(s string, bits int) (uint64, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseUint(s, 16, bits)
}

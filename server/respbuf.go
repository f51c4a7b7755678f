package server

import (
	"encoding/json"
	"sync"

	"github.com/quiredb/quire"
)

// Document lists and query pages are built in buffers taken from a pool
// and returned once written: at 4000 requests/s a query page (~10 kB for
// 20 client records) grown from a small buffer was a third of everything
// the server allocated, and each allocation brings the next garbage
// collection closer (docs/performance.md).
var responseBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledResponse is the largest buffer kept for reuse; a rare huge page
// is left to the garbage collector rather than pinned in the pool.
const maxPooledResponse = 1 << 20

// docOverhead is room for a document's envelope: id, version, timestamps.
const docOverhead = 96

// takeResponseBuffer returns an empty buffer with room for size bytes.
func takeResponseBuffer(size int) *[]byte {
	b := responseBuffers.Get().(*[]byte)
	if cap(*b) < size {
		*b = make([]byte, 0, size)
	}
	*b = (*b)[:0]
	return b
}

// giveBackResponseBuffer returns b to the pool; b must not be used after.
func giveBackResponseBuffer(b *[]byte) {
	if cap(*b) <= maxPooledResponse {
		responseBuffers.Put(b)
	}
}

// documentsSize is about how many bytes docs encode to.
func documentsSize(docs []*quire.Document) int {
	n := 64
	for _, d := range docs {
		n += len(d.ID) + len(d.Body) + docOverhead
	}
	return n
}

// querySize is about how many bytes a query page's documents encode to.
func querySize(docs []quire.QueryDoc) int {
	n := 256
	for i := range docs {
		n += len(docs[i].ID) + len(docs[i].Body) + docOverhead
		for _, j := range docs[i].Joins {
			n += len(j) + 32
		}
	}
	return n
}

// appendJSONString appends s as a JSON string. Ids are nearly always plain
// ASCII, which needs no escaping; anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

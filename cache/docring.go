package cache

import (
	"encoding/binary"
	"hash/maphash"
	"sync"

	"github.com/quiredb/quire"
)

// docRing holds cached documents in memory the garbage collector does not
// have to trace: each shard is a ring of large byte chunks that records are
// appended to, and an index from key hash to record position, a map of
// integers. Hundreds of thousands of documents held as Go objects (a
// document, its body, its id, an entry, a key, a cache node each) made
// every GC mark phase walk millions of pointers, long enough to show up in
// read tails (docs/performance.md); here they are a few dozen objects.
//
// Writing always appends at the head and the oldest chunk is reused first;
// a record read while in the older half of its ring is written again at
// the head, so documents that are read outlive documents that are only
// written (a bulk load, another tenant's import).
//
// A record is a header (key and value lengths), the key, and the value:
// the entry's sequence, the document's version and times, then its body.
// Records never straddle chunks. Positions are absolute (they only grow):
// a record is intact while it is within the last ringSize bytes written,
// and the key stored with it is compared on every read, so a hash
// collision or an overwritten record is a miss, never another entry.
type docRing struct {
	seed   maphash.Seed
	shards []ringShard
}

// The ring's geometry.
const (
	ringShards    = 32      // independent locks
	ringChunkMax  = 1 << 20 // largest chunk, and so largest record
	ringHeader    = 8       // key length, value length (uint32 each)
	ringDocFields = 32      // sequence, version, created, updated (uint64 each)
)

type ringShard struct {
	mu       sync.Mutex
	index    map[uint64]uint64 // key hash → absolute position of its record
	chunks   [][]byte          // allocated as first written
	chunk    uint64            // bytes per chunk
	ringSize uint64            // bytes held: a whole number of chunks
	pos      uint64            // absolute position of the next record
}

// newDocRing returns a ring holding about maxBytes of records. Each shard
// has at least four chunks, so reusing the oldest drops at most a quarter
// of it. A budget too small for any chunk holds nothing.
func newDocRing(maxBytes uint64) *docRing {
	per := maxBytes / ringShards
	chunk := min(uint64(ringChunkMax), per/4)
	r := &docRing{seed: maphash.MakeSeed(), shards: make([]ringShard, ringShards)}
	for i := range r.shards {
		s := &r.shards[i]
		s.index = map[uint64]uint64{}
		if chunk > 0 {
			s.chunk, s.ringSize = chunk, chunk*(per/chunk)
			s.chunks = make([][]byte, per/chunk)
		}
	}
	return r
}

func (r *docRing) shard(key string) (*ringShard, uint64) {
	h := maphash.String(r.seed, key)
	return &r.shards[h%ringShards], h
}

// get returns a copy of the document stored under key (its ID left for
// the caller, who knows it) and the sequence it was stored at.
func (r *docRing) get(key string) (*quire.Document, uint64, bool) {
	s, h := r.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.record(h, key)
	if !ok {
		return nil, 0, false
	}
	v := rec[ringHeader+len(key):]
	d := &quire.Document{
		Version:   int64(binary.LittleEndian.Uint64(v[8:])),
		CreatedAt: int64(binary.LittleEndian.Uint64(v[16:])),
		UpdatedAt: int64(binary.LittleEndian.Uint64(v[24:])),
		Body:      append([]byte(nil), v[ringDocFields:]...),
	}
	at := binary.LittleEndian.Uint64(v)
	if s.pos-s.index[h] > s.ringSize/2 {
		// Read while in the older half of the ring: written again at the
		// head, so what is read survives what is only written (a bulk
		// load, another tenant's import) instead of aging out with it.
		// The old copy is left to be overwritten: it may overlap the new.
		n := uint64(len(rec))
		copy(s.reserve(n), rec) // may overlap rec's own chunk: copy moves
		s.commit(h, n)
	}
	return d, at, true
}

// record returns the intact record of key, dropping a stale index entry.
func (s *ringShard) record(h uint64, key string) ([]byte, bool) {
	p, ok := s.index[h]
	if !ok {
		return nil, false
	}
	rec := s.at(p)
	if rec == nil {
		delete(s.index, h) // overwritten since
		return nil, false
	}
	if string(recordKey(rec)) != key {
		return nil, false // another key with the same hash
	}
	return rec, true
}

// at returns the record written at position p, or nil once overwritten.
func (s *ringShard) at(p uint64) []byte {
	if p+s.ringSize < s.pos {
		return nil
	}
	c := s.chunks[(p%s.ringSize)/s.chunk]
	off := p % s.chunk
	kl := uint64(binary.LittleEndian.Uint32(c[off:]))
	vl := uint64(binary.LittleEndian.Uint32(c[off+4:]))
	return c[off : off+ringHeader+kl+vl]
}

// recordKey returns the key a record was stored under.
func recordKey(rec []byte) []byte {
	return rec[ringHeader : ringHeader+binary.LittleEndian.Uint32(rec)]
}

// drop removes h's index entry and zeroes the record it pointed at, so a
// replaced or deleted document does not stay readable in memory.
func (s *ringShard) drop(h uint64) {
	p, ok := s.index[h]
	if !ok {
		return
	}
	if rec := s.at(p); rec != nil {
		clear(rec[ringHeader:])
	}
	delete(s.index, h)
}

// set stores d under key at sequence at, replacing (and zeroing) any record
// of key. A record larger than a chunk is not stored.
func (r *docRing) set(key string, d *quire.Document, at uint64) {
	s, h := r.shard(key)
	n := uint64(ringHeader + len(key) + ringDocFields + len(d.Body))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(h)
	if n > s.chunk {
		return
	}
	b := s.reserve(n)
	binary.LittleEndian.PutUint32(b, uint32(len(key)))
	binary.LittleEndian.PutUint32(b[4:], uint32(n-ringHeader-uint64(len(key))))
	v := b[ringHeader+copy(b[ringHeader:], key):]
	binary.LittleEndian.PutUint64(v, at)
	binary.LittleEndian.PutUint64(v[8:], uint64(d.Version))
	binary.LittleEndian.PutUint64(v[16:], uint64(d.CreatedAt))
	binary.LittleEndian.PutUint64(v[24:], uint64(d.UpdatedAt))
	copy(v[ringDocFields:], d.Body)
	s.commit(h, n)
}

// reserve returns the n bytes (at most a chunk) the next record goes in,
// at s.pos once moved past a chunk's unusable end.
func (s *ringShard) reserve(n uint64) []byte {
	if s.pos%s.chunk+n > s.chunk {
		s.pos += s.chunk - s.pos%s.chunk // the rest of this chunk stays unused
	}
	if s.pos%s.chunk == 0 {
		s.startChunk()
	}
	c := s.chunks[(s.pos%s.ringSize)/s.chunk]
	return c[s.pos%s.chunk : s.pos%s.chunk+n]
}

// commit indexes the n-byte record just written at s.pos under h.
func (s *ringShard) commit(h, n uint64) {
	s.index[h] = s.pos
	s.pos += n
}

// startChunk readies the chunk s.pos is at: allocated on first use, and
// when reused, the index entries of the records it held are dropped so the
// index stays as small as the ring.
func (s *ringShard) startChunk() {
	i := (s.pos % s.ringSize) / s.chunk
	if s.chunks[i] == nil {
		s.chunks[i] = make([]byte, s.chunk)
		return
	}
	gone := s.pos + s.chunk - s.ringSize // records before this are overwritten
	for h, p := range s.index {
		if p < gone {
			delete(s.index, h)
		}
	}
}

// delete drops key's record.
func (r *docRing) delete(key string) {
	s, h := r.shard(key)
	s.mu.Lock()
	s.drop(h)
	s.mu.Unlock()
}

// deletePrefix drops, and zeroes, every record whose key starts with
// prefix: a deleted tenant's documents do not linger in memory.
func (r *docRing) deletePrefix(prefix string) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for h, p := range s.index {
			rec := s.at(p)
			if rec == nil {
				delete(s.index, h)
			} else if k := recordKey(rec); len(k) >= len(prefix) && string(k[:len(prefix)]) == prefix {
				s.drop(h)
			}
		}
		s.mu.Unlock()
	}
}

// usage reports the records indexed and the bytes of chunks allocated.
func (r *docRing) usage() (entries int, bytes uint64) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		entries += len(s.index)
		for _, c := range s.chunks {
			bytes += uint64(len(c))
		}
		s.mu.Unlock()
	}
	return entries, bytes
}

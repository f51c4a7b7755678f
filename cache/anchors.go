package cache

import (
	"hash/maphash"

	"github.com/quiredb/quire"
)

// maxAnchoredPages bounds the anchored pages one namespace keeps track
// of. Past it (after forgetting pages the backend no longer holds), pages
// are cached as plain results, stale after any write of their collection.
const maxAnchoredPages = 20_000

// anchorIndex is a namespace's anchored query pages (quire.PageAnchor),
// indexed by what can make them stale: the documents they hold, and the
// values a written document may have that satisfy their condition. The
// Namespace's mu guards it.
//
// The document index holds about twenty entries per page, 400,000 at the
// bound: it is kept in memory the garbage collector need not scan (maps
// and slices of integers), keyed by a hash of the document. Two documents
// of equal hash share a list, which can only make a write of one stale
// the pages of the other: never a page kept that should not be.
type anchorIndex struct {
	pages  map[string]uint32                  // result key → its slot
	slots  []pageSlot                         // pages; unused ones listed in freeSlots
	byDoc  map[uint64]uint32                  // document hash → its list's first entry (index+1 in entries)
	byCond map[anchorCond]map[string]struct{} // condition → keys of the pages anchored on it
	paths  map[collPath]map[string]struct{}   // index path → keys of the pages anchored on it
	prefix map[collPath]map[int]int           // index path → lengths of its prefix conditions → pages
	colls  map[string]map[collPath]struct{}   // collection → its paths with anchored pages

	freeSlots []uint32
	entries   []docEntry // the lists of byDoc; unused ones chained from freeEntry
	freeEntry uint32     // index+1 of the first unused entry, 0 if none
	seed      maphash.Seed
}

// pageSlot is an anchored page: its key, and what add indexed it under.
type pageSlot struct {
	key    string
	coll   string
	path   string
	value  string
	prefix bool
	docs   []uint64 // hashes of its documents, one per entry it has in byDoc
}

// docEntry is one page in the list of a document hash; next is the index+1
// of the list's next entry, 0 at its end.
type docEntry struct{ page, next uint32 }

type collPath struct{ coll, path string }

type anchorCond struct {
	collPath
	value  string
	prefix bool
}

func newAnchorIndex() *anchorIndex {
	return &anchorIndex{
		pages:  map[string]uint32{},
		byDoc:  map[uint64]uint32{},
		byCond: map[anchorCond]map[string]struct{}{},
		paths:  map[collPath]map[string]struct{}{},
		prefix: map[collPath]map[int]int{},
		colls:  map[string]map[collPath]struct{}{},
		seed:   maphash.MakeSeed(),
	}
}

// docHash is the document index's key of document id of coll.
func (x *anchorIndex) docHash(coll, id string) uint64 {
	var h maphash.Hash
	h.SetSeed(x.seed)
	h.WriteString(coll)
	h.WriteByte(0)
	h.WriteString(id)
	return h.Sum64()
}

func addKey[K comparable](m map[K]map[string]struct{}, k K, key string) {
	set := m[k]
	if set == nil {
		set = map[string]struct{}{}
		m[k] = set
	}
	set[key] = struct{}{}
}

func removeKey[K comparable](m map[K]map[string]struct{}, k K, key string) {
	if set := m[k]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// linkDoc adds page to the list of document hash h.
func (x *anchorIndex) linkDoc(h uint64, page uint32) {
	e := docEntry{page: page, next: x.byDoc[h]}
	if x.freeEntry != 0 {
		i := x.freeEntry - 1
		x.freeEntry = x.entries[i].next
		x.entries[i] = e
		x.byDoc[h] = i + 1
		return
	}
	x.entries = append(x.entries, e)
	x.byDoc[h] = uint32(len(x.entries))
}

// unlinkDoc removes one entry of page from the list of document hash h.
func (x *anchorIndex) unlinkDoc(h uint64, page uint32) {
	prev := uint32(0)
	for cur := x.byDoc[h]; cur != 0; prev, cur = cur, x.entries[cur-1].next {
		if x.entries[cur-1].page != page {
			continue
		}
		next := x.entries[cur-1].next
		switch {
		case prev != 0:
			x.entries[prev-1].next = next
		case next != 0:
			x.byDoc[h] = next
		default:
			delete(x.byDoc, h)
		}
		x.entries[cur-1] = docEntry{next: x.freeEntry}
		x.freeEntry = cur
		return
	}
}

// add registers the page stored under key (replacing any earlier page of
// that key).
func (x *anchorIndex) add(coll, key string, a *quire.PageAnchor) {
	x.remove(key)
	var page uint32
	if n := len(x.freeSlots); n > 0 {
		page, x.freeSlots = x.freeSlots[n-1], x.freeSlots[:n-1]
	} else {
		page = uint32(len(x.slots))
		x.slots = append(x.slots, pageSlot{})
	}
	slot := pageSlot{key: key, coll: coll, path: a.Path, value: a.Value, prefix: a.Prefix, docs: make([]uint64, len(a.IDs))}
	for i, id := range a.IDs {
		slot.docs[i] = x.docHash(coll, id)
		x.linkDoc(slot.docs[i], page)
	}
	x.slots[page] = slot
	x.pages[key] = page
	cp := collPath{coll, a.Path}
	addKey(x.byCond, anchorCond{cp, a.Value, a.Prefix}, key)
	addKey(x.paths, cp, key)
	if a.Prefix {
		lens := x.prefix[cp]
		if lens == nil {
			lens = map[int]int{}
			x.prefix[cp] = lens
		}
		lens[len(a.Value)]++
	}
	if x.colls[coll] == nil {
		x.colls[coll] = map[collPath]struct{}{}
	}
	x.colls[coll][cp] = struct{}{}
}

// remove forgets the page stored under key.
func (x *anchorIndex) remove(key string) {
	page, ok := x.pages[key]
	if !ok {
		return
	}
	delete(x.pages, key)
	p := x.slots[page]
	x.slots[page] = pageSlot{}
	x.freeSlots = append(x.freeSlots, page)
	for _, h := range p.docs {
		x.unlinkDoc(h, page)
	}
	cp := collPath{p.coll, p.path}
	removeKey(x.byCond, anchorCond{cp, p.value, p.prefix}, key)
	removeKey(x.paths, cp, key)
	if p.prefix {
		if lens := x.prefix[cp]; lens != nil {
			if lens[len(p.value)]--; lens[len(p.value)] == 0 {
				delete(lens, len(p.value))
			}
			if len(lens) == 0 {
				delete(x.prefix, cp)
			}
		}
	}
	if _, still := x.paths[cp]; !still {
		delete(x.colls[p.coll], cp)
		if len(x.colls[p.coll]) == 0 {
			delete(x.colls, p.coll)
		}
	}
}

// stale returns the keys of the pages a write of d may change: those
// holding the document, and those whose condition its new body may
// satisfy.
func (x *anchorIndex) stale(d *quire.DocChange) []string {
	var keys []string
	for e := x.byDoc[x.docHash(d.Collection, d.ID)]; e != 0; e = x.entries[e-1].next {
		keys = append(keys, x.slots[x.entries[e-1].page].key)
	}
	if d.Doc == nil {
		return keys // a delete leaves no new value to match
	}
	for cp := range x.colls[d.Collection] {
		s, kind := textAt(d.Doc.Body, cp.path)
		switch kind {
		case valueAbsent:
		case valueOther:
			for key := range x.paths[cp] {
				keys = append(keys, key)
			}
		case valueText:
			for key := range x.byCond[anchorCond{cp, s, false}] {
				keys = append(keys, key)
			}
			for n := range x.prefix[cp] {
				if n <= len(s) {
					for key := range x.byCond[anchorCond{cp, s[:n], true}] {
						keys = append(keys, key)
					}
				}
			}
		}
	}
	return keys
}

// sweep forgets the pages for whose keys has is false (evicted ones).
func (x *anchorIndex) sweep(has func(key string) bool) {
	for key := range x.pages {
		if !has(key) {
			x.remove(key)
		}
	}
}

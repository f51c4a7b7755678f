package cache

import "github.com/quiredb/quire"

// maxAnchoredPages bounds the anchored pages one namespace keeps track
// of. Past it (after forgetting pages the backend no longer holds), pages
// are cached as plain results, stale after any write of their collection.
const maxAnchoredPages = 20_000

// anchorIndex is a namespace's anchored query pages (quire.PageAnchor),
// indexed by what can make them stale: the documents they hold, and the
// values a written document may have that satisfy their condition. The
// Namespace's mu guards it.
type anchorIndex struct {
	pages  map[string]anchoredPage            // result key → its page
	byDoc  map[docRef]map[string]struct{}     // document → keys of the pages holding it
	byCond map[anchorCond]map[string]struct{} // condition → keys of the pages anchored on it
	paths  map[collPath]map[string]struct{}   // index path → keys of the pages anchored on it
	prefix map[collPath]map[int]int           // index path → lengths of its prefix conditions → pages
	colls  map[string]map[collPath]struct{}   // collection → its paths with anchored pages
}

type anchoredPage struct {
	coll   string
	anchor *quire.PageAnchor
}

type docRef struct{ coll, id string }

type collPath struct{ coll, path string }

type anchorCond struct {
	collPath
	value  string
	prefix bool
}

func newAnchorIndex() *anchorIndex {
	return &anchorIndex{
		pages:  map[string]anchoredPage{},
		byDoc:  map[docRef]map[string]struct{}{},
		byCond: map[anchorCond]map[string]struct{}{},
		paths:  map[collPath]map[string]struct{}{},
		prefix: map[collPath]map[int]int{},
		colls:  map[string]map[collPath]struct{}{},
	}
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

// add registers the page stored under key (replacing any earlier page of
// that key).
func (x *anchorIndex) add(coll, key string, a *quire.PageAnchor) {
	x.remove(key)
	x.pages[key] = anchoredPage{coll: coll, anchor: a}
	cp := collPath{coll, a.Path}
	for _, id := range a.IDs {
		addKey(x.byDoc, docRef{coll, id}, key)
	}
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
	p, ok := x.pages[key]
	if !ok {
		return
	}
	delete(x.pages, key)
	a, cp := p.anchor, collPath{p.coll, p.anchor.Path}
	for _, id := range a.IDs {
		removeKey(x.byDoc, docRef{p.coll, id}, key)
	}
	removeKey(x.byCond, anchorCond{cp, a.Value, a.Prefix}, key)
	removeKey(x.paths, cp, key)
	if a.Prefix {
		if lens := x.prefix[cp]; lens != nil {
			if lens[len(a.Value)]--; lens[len(a.Value)] == 0 {
				delete(lens, len(a.Value))
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
	for key := range x.byDoc[docRef{d.Collection, d.ID}] {
		keys = append(keys, key)
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

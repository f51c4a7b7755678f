package cache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/quiredb/quire"
)

func write(seq uint64, coll, id, body string) *quire.Commit {
	var d *quire.Document
	if body != "" {
		d = doc(id, 1, body)
	}
	return &quire.Commit{Seq: seq, Collections: []string{coll}, Docs: []quire.DocChange{{Collection: coll, ID: id, Doc: d}}}
}

func wantResult(t *testing.T, n *Namespace, key string, now uint64, want quire.CacheStatus, why string) {
	t.Helper()
	if _, _, st := n.Result(key, bm(0), bm(now)); st != want {
		t.Errorf("%s: %s, want %s", why, st, want)
	}
}

// TestAnchoredPageStaysUntilAWriteMayChangeIt walks an anchored page
// through the writes that must and must not make it stale.
func TestAnchoredPageStaysUntilAWriteMayChangeIt(t *testing.T) {
	eq := func() *quire.PageAnchor {
		return &quire.PageAnchor{Path: "$.name.last", Value: "Smith", IDs: []string{"a", "b"}}
	}
	prefix := func() *quire.PageAnchor {
		return &quire.PageAnchor{Path: "$.postcode", Prefix: true, Value: "SW1A", IDs: []string{"p"}}
	}
	seq := uint64(10)
	for _, c := range []struct {
		anchor func() *quire.PageAnchor
		coll   string
		id     string
		body   string // "" deletes
		stale  bool
		why    string
	}{
		{eq, "clients", "c", `{"name":{"last":"Jones"}}`, false, "another value"},
		{eq, "clients", "c", `{"name":{"first":"Smith"}}`, false, "no value at the path"},
		{eq, "clients", "c", `{"name":"Smith"}`, false, "the path's parent is no object"},
		{eq, "notes", "c", `{"name":{"last":"Smith"}}`, false, "another collection"},
		{eq, "clients", "c", "", false, "a delete of another document"},
		{eq, "clients", "c", `{"name":{"last":"Smith"}}`, true, "a new match"},
		{eq, "clients", "c", `{"name":{"last":"Sm\u0069th"}}`, true, "a new match, escaped"},
		{eq, "clients", "c", `{ "name" : { "last" : "Smith" } }`, true, "a new match, spaced"},
		{eq, "clients", "a", `{"name":{"last":"Jones"}}`, true, "a member leaving"},
		{eq, "clients", "b", "", true, "a member deleted"},
		{eq, "clients", "c", `{"name":{"last":5}}`, true, "a number (a text column may hold it as text)"},
		{eq, "clients", "c", `{"name":{"l\u0061st":"Jones"}}`, true, "a key with escapes (unsure)"},
		{eq, "clients", "c", `{"name":{"last":["Smith"]}}`, true, "an array"},
		{prefix, "clients", "c", `{"postcode":"SW1A 1AA"}`, true, "a prefix match"},
		{prefix, "clients", "c", `{"postcode":"SW1A"}`, true, "the prefix itself"},
		{prefix, "clients", "c", `{"postcode":"SW1"}`, false, "shorter than the prefix"},
		{prefix, "clients", "c", `{"postcode":"SW1B 1AA"}`, false, "another prefix"},
		{prefix, "clients", "p", `{"postcode":"N1 1AA"}`, true, "a member leaving"},
	} {
		n := New(NewLocal(1 << 20)).Namespace("acme")
		n.FillPage("clients", "q", c.anchor(), "page", 10, bm(seq))
		wantResult(t, n, "q", seq, quire.CacheHit, c.why+": before the write")
		commit(n, write(seq+1, c.coll, c.id, c.body))
		want := quire.CacheHit
		if c.stale {
			want = quire.CacheMiss
		}
		wantResult(t, n, "q", seq+1, want, c.why)
		seq += 2
	}
}

func TestAnchoredPageFillsAndUnknownWrites(t *testing.T) {
	n := New(NewLocal(1 << 20)).Namespace("acme")
	a := func() *quire.PageAnchor { return &quire.PageAnchor{Path: "$.k", Value: "v", IDs: []string{"a"}} }
	commit(n, write(6, "c", "x", `{"k":"other"}`))
	n.FillPage("c", "q", a(), "raced", 10, bm(5))
	wantResult(t, n, "q", 6, quire.CacheMiss, "a fill read before a write of its collection")
	n.FillPage("c", "q", a(), "page", 10, bm(6))
	wantResult(t, n, "q", 6, quire.CacheHit, "a fill read after it")
	commit(n, &quire.Commit{Seq: 7, All: true})
	wantResult(t, n, "q", 7, quire.CacheMiss, "after a write of unknown extent")
	// The key refilled as a plain result is no longer anchored: a write
	// of its collection makes it stale, one of its old member does not
	// reach it twice.
	n.FillResult("q", []string{"c"}, "plain", 10, bm(7))
	if len(n.anchors.pages) != 0 {
		t.Errorf("%d anchored pages after the key was refilled as a plain result", len(n.anchors.pages))
	}
	commit(n, write(8, "c", "y", `{"k":"other"}`))
	wantResult(t, n, "q", 8, quire.CacheMiss, "a plain result after a write of its collection")
}

func TestAnchoredPagesAreBounded(t *testing.T) {
	n := New(NewLocal(64 << 20)).Namespace("acme")
	for i := range maxAnchoredPages + 10 {
		n.FillPage("c", fmt.Sprint("q", i), &quire.PageAnchor{Path: "$.k", Value: fmt.Sprint(i), IDs: []string{fmt.Sprint("d", i)}}, "p", 10, bm(5))
	}
	if got := len(n.anchors.pages); got != maxAnchoredPages {
		t.Fatalf("%d anchored pages, want %d", got, maxAnchoredPages)
	}
	// Past the bound a page depends on its whole collection.
	last := fmt.Sprint("q", maxAnchoredPages+9)
	wantResult(t, n, last, 5, quire.CacheHit, "an unanchored page")
	commit(n, write(6, "c", "z", `{"k":"unrelated"}`))
	wantResult(t, n, last, 6, quire.CacheMiss, "an unanchored page after a write of its collection")
	wantResult(t, n, "q0", 6, quire.CacheHit, "an anchored page after an unrelated write")
	// Removing a page cleans every index it was in.
	for key := range n.anchors.pages {
		n.anchors.remove(key)
	}
	if x := n.anchors; len(x.byDoc)+len(x.byCond)+len(x.paths)+len(x.prefix)+len(x.colls) != 0 {
		t.Errorf("indexes left after every page was removed: %d %d %d %d %d", len(x.byDoc), len(x.byCond), len(x.paths), len(x.prefix), len(x.colls))
	}
}

// FuzzTextAt checks textAt against encoding/json: where the document holds
// a string it must find that string (or be unsure), where it holds nothing
// it must find nothing (or be unsure), and anything else must be unsure.
// Reporting a different string, or nothing where a value is, would leave a
// cached page stale.
func FuzzTextAt(f *testing.F) {
	for _, s := range []string{`{"a":"x"}`, `{"a":{"b":"y"}}`, `{"a":[1,"z"]}`, `{"a":1}`, `{"b":"x","a":"\u00e9"}`, `{"a" : "x" , "c":{}}`, `[]`, `{"a":null}`} {
		for _, p := range []string{"$.a", "$.a.b", "$.a[1]", "$.c", "$[0]"} {
			f.Add([]byte(s), p)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		// Stored documents are valid UTF-8 (the store refuses others).
		if !quire.ValidPath(path) || !json.Valid(body) || !utf8.Valid(body) {
			return
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&v) != nil || hasDuplicateKeys(body) {
			return
		}
		want, present := walk(v, path)
		got, kind := textAt(body, path)
		switch {
		case kind == valueOther:
		case kind == valueAbsent && present:
			t.Fatalf("textAt(%s, %s) found nothing; the document holds %v", body, path, want)
		case kind == valueText && (!present || want != any(got)):
			t.Fatalf("textAt(%s, %s) = %q; the document holds %v (present %v)", body, path, got, want, present)
		}
	})
}

// walk follows an index path through a decoded document.
func walk(v any, path string) (any, bool) {
	for rest := path[1:]; rest != ""; {
		end := strings.IndexAny(rest[1:], ".[") + 1
		if end == 0 {
			end = len(rest)
		}
		step := rest[:end]
		rest = rest[end:]
		if step[0] == '.' {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[step[1:]]; !ok {
				return nil, false
			}
			continue
		}
		i, _ := strconv.Atoi(strings.Trim(step, "[]"))
		a, ok := v.([]any)
		if !ok || i >= len(a) {
			return nil, false
		}
		v = a[i]
	}
	return v, true
}

// hasDuplicateKeys reports whether an object in body names a key twice
// (encoding/json keeps the last, SQLite and textAt the first).
func hasDuplicateKeys(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{object: tok == '{', keys: map[string]bool{}, key: tok == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.key {
				if top.keys[tok] {
					return true
				}
				top.keys[tok] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}

// TestAnchorDocIndexFollowsAddsAndRemoves adds and removes pages sharing
// documents in random order and checks, after every step, that a delete of
// each document finds exactly the pages holding it, as a plain map of sets
// says; at the end nothing is left in the document index.
func TestAnchorDocIndexFollowsAddsAndRemoves(t *testing.T) {
	x := newAnchorIndex()
	rng := rand.New(rand.NewPCG(3, 3))
	model := map[string][]string{} // page key → its documents
	for step := range 3000 {
		key := fmt.Sprint("q", rng.IntN(60))
		if rng.IntN(3) == 0 {
			x.remove(key)
			delete(model, key)
		} else {
			ids := make([]string, rng.IntN(5))
			for i := range ids {
				ids[i] = fmt.Sprint("d", rng.IntN(40)) // repeats within a page too
			}
			x.add("c", key, &quire.PageAnchor{Path: "$.k", Value: "v", IDs: ids})
			model[key] = ids
		}
		for d := range 40 {
			id := fmt.Sprint("d", d)
			want := map[string]bool{}
			for key, ids := range model {
				if slices.Contains(ids, id) {
					want[key] = true
				}
			}
			got := map[string]bool{}
			for _, key := range x.stale(&quire.DocChange{Collection: "c", ID: id}) {
				got[key] = true
			}
			if !maps.Equal(got, want) {
				t.Fatalf("step %d: a delete of %s finds %v, want %v", step, id, got, want)
			}
		}
	}
	for key := range model {
		x.remove(key)
	}
	if len(x.byDoc) != 0 || len(x.pages) != 0 {
		t.Errorf("%d document lists and %d pages left after every page was removed", len(x.byDoc), len(x.pages))
	}
}

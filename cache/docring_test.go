package cache

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/quiredb/quire"
)

func ringDoc(version int64, body string) *quire.Document {
	return &quire.Document{Version: version, CreatedAt: 10 * version, UpdatedAt: 20 * version, Body: []byte(body)}
}

// wantRing checks what r holds under key: nothing (body ""), or exactly
// the document of version and body stored at sequence at.
func wantRing(t *testing.T, r *docRing, key string, version int64, body string, at uint64) {
	t.Helper()
	d, gotAt, ok := r.get(key)
	if body == "" {
		if ok {
			t.Fatalf("%q: got version %d %s, want a miss", key, d.Version, d.Body)
		}
		return
	}
	if !ok {
		t.Fatalf("%q: miss, want version %d", key, version)
	}
	if d.Version != version || d.CreatedAt != 10*version || d.UpdatedAt != 20*version || string(d.Body) != body || gotAt != at {
		t.Fatalf("%q: got version %d times %d/%d body %s at %d, want version %d body %s at %d",
			key, d.Version, d.CreatedAt, d.UpdatedAt, d.Body, gotAt, version, body, at)
	}
}

func TestDocRingStoresReplacesAndDeletes(t *testing.T) {
	r := newDocRing(1 << 20)
	wantRing(t, r, "a", 0, "", 0)
	r.set("a", ringDoc(1, `{"v":1}`), 5)
	r.set("b", ringDoc(1, `{"b":1}`), 5)
	wantRing(t, r, "a", 1, `{"v":1}`, 5)
	r.set("a", ringDoc(2, `{"v":2}`), 7)
	wantRing(t, r, "a", 2, `{"v":2}`, 7)
	wantRing(t, r, "b", 1, `{"b":1}`, 5)
	// The copy returned is the caller's: changing it changes nothing held.
	d, _, _ := r.get("a")
	d.Body[1] = 'X'
	wantRing(t, r, "a", 2, `{"v":2}`, 7)
	r.delete("a")
	wantRing(t, r, "a", 0, "", 0)
	wantRing(t, r, "b", 1, `{"b":1}`, 5)
	// Too large for a chunk: not stored, and the old record is gone too.
	r.set("b", ringDoc(2, strings.Repeat("x", 1<<20)), 9)
	wantRing(t, r, "b", 0, "", 0)
}

func TestDocRingHashCollisionIsAMiss(t *testing.T) {
	r := newDocRing(1 << 20)
	r.set("a", ringDoc(1, `{}`), 1)
	// Point another key's hash at a's record, as a collision would.
	s, ha := r.shard("a")
	for i := 0; ; i++ {
		k := fmt.Sprint("k", i)
		if s2, hk := r.shard(k); s2 == s {
			s.index[hk] = s.index[ha]
			wantRing(t, r, k, 0, "", 0)
			break
		}
	}
	wantRing(t, r, "a", 1, `{}`, 1)
}

func TestDocRingOverwritesOldestAndStaysBounded(t *testing.T) {
	const budget = 64 << 10 // 2 KiB a shard
	r := newDocRing(budget)
	body := `{"pad":"` + strings.Repeat("x", 200) + `"}`
	for i := range 20000 {
		r.set(fmt.Sprint("k", i), ringDoc(int64(i), body), uint64(i))
	}
	entries, bytes := r.usage()
	if bytes > budget {
		t.Errorf("ring holds %d bytes, budget %d", bytes, budget)
	}
	// Each shard holds at most a ring's worth of records.
	if most := ringShards * (budget / ringShards) / 240; entries == 0 || entries > most {
		t.Errorf("%d records indexed, want 1..%d", entries, most)
	}
	wantRing(t, r, "k0", 0, "", 0)
	wantRing(t, r, "k19999", 19999, body, 19999)
	held := 0
	for i := range 20000 {
		if d, at, ok := r.get(fmt.Sprint("k", i)); ok {
			held++
			if d.Version != int64(i) || at != uint64(i) || string(d.Body) != body {
				t.Fatalf("k%d: got version %d at %d", i, d.Version, at)
			}
		}
	}
	// Reading writes old records again at the head (reinsertion), so some
	// of what was indexed before the reads was overwritten by them; the
	// index still holds no more than the ring does.
	if after, _ := r.usage(); held == 0 || after > ringShards*(budget/ringShards)/240 {
		t.Errorf("%d records readable, %d indexed after the reads", held, after)
	}
}

// A document read now and then survives a stream of writes many times the
// ring's size; documents only written do not.
func TestDocRingKeepsWhatIsRead(t *testing.T) {
	r := newDocRing(64 << 10) // 2 KiB a shard in 512-byte chunks
	body := `{"pad":"` + strings.Repeat("x", 100) + `"}`
	r.set("hot", ringDoc(1, `{"hot":true}`), 1)
	r.set("cold", ringDoc(1, `{"cold":true}`), 1)
	for i := range 50000 {
		r.set(fmt.Sprint("k", i), ringDoc(2, body), 2)
		if i%5 == 0 { // its shard takes a write in ~1 of 6 rounds, 12 records fill it
			wantRing(t, r, "hot", 1, `{"hot":true}`, 1)
		}
	}
	wantRing(t, r, "hot", 1, `{"hot":true}`, 1)
	wantRing(t, r, "cold", 0, "", 0)
}

// inRing reports whether any chunk of r holds text.
func inRing(r *docRing, text string) bool {
	for i := range r.shards {
		for _, c := range r.shards[i].chunks {
			if strings.Contains(string(c), text) {
				return true
			}
		}
	}
	return false
}

// A replaced, deleted or deleted-tenant document does not stay in memory.
func TestDocRingZeroesWhatItDrops(t *testing.T) {
	r := newDocRing(1 << 20)
	r.set("acme\x00k", ringDoc(1, `{"secret":1}`), 1)
	r.set("acme2\x00k", ringDoc(1, `{"other":1}`), 1)
	r.set("acme\x00old", ringDoc(1, `{"replaced":1}`), 1)
	r.set("acme\x00old", ringDoc(2, `{"current":1}`), 2)
	r.set("acme2\x00gone", ringDoc(1, `{"deleted":1}`), 1)
	r.delete("acme2\x00gone")
	if inRing(r, "replaced") || inRing(r, "deleted") {
		t.Error("a replaced or deleted document is still in memory")
	}
	r.deletePrefix("acme\x00")
	wantRing(t, r, "acme\x00k", 0, "", 0)
	wantRing(t, r, "acme\x00old", 0, "", 0)
	wantRing(t, r, "acme2\x00k", 1, `{"other":1}`, 1)
	if inRing(r, "secret") || inRing(r, "current") {
		t.Error("a deleted tenant's document is still in memory")
	}
}

func TestDocRingTinyBudgetHoldsNothing(t *testing.T) {
	r := newDocRing(16)
	r.set("a", ringDoc(1, `{}`), 1)
	wantRing(t, r, "a", 0, "", 0)
	r.deletePrefix("a")
	if n, b := r.usage(); n != 0 || b != 0 {
		t.Errorf("usage %d entries %d bytes, want none", n, b)
	}
}

// Writers and readers on the same keys: every read is a miss or exactly
// a value some writer stored under that key (run with -race).
func TestDocRingConcurrent(t *testing.T) {
	r := newDocRing(256 << 10)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				k := fmt.Sprint("k", i%300)
				v := int64(i%300) + 1000*int64(w)
				r.set(k, ringDoc(v, fmt.Sprintf(`{"k":%d}`, i%300)), uint64(v))
				if d, at, ok := r.get(k); ok && (string(d.Body) != fmt.Sprintf(`{"k":%d}`, i%300) || at != uint64(d.Version)) {
					t.Errorf("%s: read %s at %d version %d", k, d.Body, at, d.Version)
					return
				}
				if i%7 == 0 {
					r.delete(k)
				}
			}
		})
	}
	wg.Wait()
}

// FuzzDocRing runs operations on a small ring against a map: a read is a
// miss or exactly the last document stored under its key, never another
// key's, a deleted one or an older one.
func FuzzDocRing(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("set get delete set set get get"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		r := newDocRing(32 << 10) // 1 KiB a shard in 256-byte chunks: wraps quickly
		model := map[string]uint64{}
		for i, op := range ops {
			k := fmt.Sprint("k", op%16)
			switch op >> 6 {
			case 0, 1:
				n := int(op) * 3 % 300
				r.set(k, ringDoc(int64(i), strings.Repeat("b", n)), uint64(i))
				model[k] = uint64(i)
			case 2:
				r.delete(k)
				delete(model, k)
			case 3:
				d, at, ok := r.get(k)
				if !ok {
					continue
				}
				want, held := model[k]
				if !held || at != want || d.Version != int64(want) {
					t.Fatalf("op %d: %s read at %d, model has %d (held %v)", i, k, at, want, held)
				}
			}
		}
	})
}

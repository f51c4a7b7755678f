package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/cache"
)

func queryStoreWithCache(t *testing.T) *Store {
	t.Helper()
	s := openTestStore(t, t.TempDir())
	s.SetCache(cache.New(cache.NewLocal(8 << 20)).Tenant("acme"))
	if _, _, err := s.PutCollection(context.Background(), clients); err != nil {
		t.Fatal(err)
	}
	return s
}

// pageOf runs q and renders what it answered: ids, versions and bodies.
func pageOf(t *testing.T, s *Store, q quire.Query) (string, quire.CacheStatus) {
	t.Helper()
	res, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("query %+v: %v", q, err)
	}
	out := ""
	for _, d := range res.Docs {
		out += fmt.Sprintf("%s@%d %s; ", d.ID, d.Version, d.Body)
	}
	return out + "next=" + res.Next, res.Cache
}

// TestCachedQueryPagesFollowWrites writes clients at random (creates,
// replacements, patches and deletes that move them between last names and
// postcodes) and after every write asks equality, prefix and paged
// queries twice: through the cache and past it. The answers must be the
// same every time; the cache must also have answered some of them.
func TestCachedQueryPagesFollowWrites(t *testing.T) {
	s := queryStoreWithCache(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"Smith", "Jones", "Smyth", "Sm"}
	postcodes := []string{"SW1A 1AA", "SW1A 2BB", "SW1B 1AA", "N1 1AA", "SW1"}
	body := func() string {
		// Now and then the name is a number or missing: a text index
		// column holds "5", or NULL.
		switch rng.IntN(10) {
		case 0:
			return fmt.Sprintf(`{"name":{"last":5},"address":{"postcode":%q}}`, postcodes[rng.IntN(len(postcodes))])
		case 1:
			return `{"address":{}}`
		}
		return fmt.Sprintf(`{"name":{"last":%q},"address":{"postcode":%q},"n":%d}`,
			names[rng.IntN(len(names))], postcodes[rng.IntN(len(postcodes))], rng.IntN(100))
	}
	var queries []quire.Query
	for _, n := range append(names, "5") {
		queries = append(queries, quire.Query{Collection: "clients", Where: &quire.Filter{Op: quire.OpEq, Field: "last_name", Value: n}})
	}
	for _, p := range []string{"SW1", "SW1A", "SW1A 1", "N"} {
		queries = append(queries, quire.Query{Collection: "clients", Where: &quire.Filter{Op: quire.OpPrefix, Field: "postcode", Value: p}})
	}
	queries = append(queries,
		// An $and whose second part anchors it; a path naming the index.
		quire.Query{Collection: "clients", Where: &quire.Filter{Op: quire.OpAnd, Sub: []*quire.Filter{
			{Op: quire.OpGte, Field: "n", Value: json.Number("50")},
			{Op: quire.OpEq, Field: "name.last", Value: "Smith"}}}},
		// Pages that do not hold every match.
		quire.Query{Collection: "clients", Where: &quire.Filter{Op: quire.OpEq, Field: "last_name", Value: "Jones"}, Limit: 2},
		quire.Query{Collection: "clients", Where: &quire.Filter{Op: quire.OpPrefix, Field: "postcode", Value: "SW1A"}, Limit: 1},
		// Counted.
		quire.Query{Collection: "clients", Where: &quire.Filter{Op: quire.OpPrefix, Field: "postcode", Value: "SW"}, Count: true},
	)
	hits := 0
	for step := range 400 {
		id := fmt.Sprintf("c%d", rng.IntN(12))
		var op quire.WriteOp
		switch rng.IntN(4) {
		case 0:
			op = quire.WriteOp{Op: quire.OpDelete, Collection: "clients", ID: id}
		case 1:
			op = quire.WriteOp{Op: quire.OpPatch, Collection: "clients", ID: id,
				Body: json.RawMessage(fmt.Sprintf(`{"name":{"last":%q}}`, names[rng.IntN(len(names))]))}
		default:
			op = quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: id, Body: json.RawMessage(body())}
		}
		if _, _, err := s.Write(ctx, []quire.WriteOp{op}, "k"); err != nil && quire.ErrorCode(err) != quire.ENotFound {
			t.Fatalf("step %d: %s %s: %v", step, op.Op, id, err)
		}
		for _, q := range queries {
			cached, st := pageOf(t, s, q)
			q.NoCache = true
			fresh, _ := pageOf(t, s, q)
			if cached != fresh {
				t.Fatalf("step %d (%s %s), query %s: the cache answered (%s)\n%s\nthe database\n%s", step, op.Op, id, mustJSON(q.Where), st, cached, fresh)
			}
			if st == quire.CacheHit {
				hits++
			}
		}
	}
	if hits < 1000 {
		t.Errorf("%d cache hits in 400 × %d queries: pages are not kept across unrelated writes", hits, len(queries))
	}
}

// TestCachedQueryPageKeptAcrossUnrelatedWrites pins the point of anchored
// pages: a write that cannot change a page leaves it cached.
func TestCachedQueryPageKeptAcrossUnrelatedWrites(t *testing.T) {
	s := queryStoreWithCache(t)
	put(t, s, "clients", "a", `{"name":{"last":"Smith"}}`)
	put(t, s, "clients", "b", `{"name":{"last":"Jones"}}`)
	smith := quire.Query{Collection: "clients", Where: &quire.Filter{Op: quire.OpEq, Field: "last_name", Value: "Smith"}}
	pageOf(t, s, smith)
	put(t, s, "clients", "b", `{"name":{"last":"Brown"}}`)
	put(t, s, "clients", "c", `{"name":{"last":"Smithers"}}`)
	if page, st := pageOf(t, s, smith); st != quire.CacheHit || !strings.HasPrefix(page, "a@1 ") || strings.Contains(page, "c@") {
		t.Errorf("after writes of other names: %s (%s), want a hit holding a alone", page, st)
	}
	put(t, s, "clients", "c", `{"name":{"last":"Smith"}}`)
	if page, st := pageOf(t, s, smith); st == quire.CacheHit || !strings.Contains(page, "c@2 ") {
		t.Errorf("after c became a Smith: %s (%s), want a miss holding a and c", page, st)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/cache"
)

// BenchmarkReadCache measures point reads by id and indexed equality
// queries with the read cache off and on, on one seeded store in one run,
// so the two can be compared as a ratio:
//
//	go test -run='^$' -bench=ReadCache -benchtime=3s ./sqlite/
//
// Reads pick among a hot set of 10,000 documents (and their last names)
// that fits the cache; the "on" runs start warm.
func BenchmarkReadCache(b *testing.B) {
	s := openBenchStore(b)
	n := benchSeedSize()
	seedBench(b, s, n)
	hot := min(n, 10_000)
	get := func(b *testing.B, rng *rand.Rand) error {
		id := benchID(rng.IntN(hot))
		d, _, _, err := s.ReadDoc(context.Background(), quire.DocRead{Collection: "clients", ID: id})
		if err == nil && d.ID != id {
			err = fmt.Errorf("got %s, want %s", d.ID, id)
		}
		return err
	}
	query := func(b *testing.B, rng *rand.Rand) error {
		res, err := s.Query(context.Background(), quire.Query{Collection: "clients", Limit: 50,
			Where: &quire.Filter{Op: quire.OpEq, Field: "last_name", Value: benchLastName(rng.IntN(hot), n)}})
		if err == nil && len(res.Docs) != benchDocsPerName {
			err = fmt.Errorf("query returned %d docs, want %d", len(res.Docs), benchDocsPerName)
		}
		return err
	}
	rates := map[string]float64{}
	run := func(name string, op func(*testing.B, *rand.Rand) error) {
		b.Run(name, func(b *testing.B) {
			var seed atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 3))
				for pb.Next() {
					if err := op(b, rng); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			reportRate(b, b.N, "reads/s")
			if sec := b.Elapsed().Seconds(); sec > 0 {
				rates[name] = float64(b.N) / sec
			}
		})
	}
	run("get/cache=off", get)
	run("query/cache=off", query)
	// Nothing else uses the store now: giving it a cache here is safe.
	s.SetCache(cache.New(cache.NewLocal(256 << 20)).Tenant("bench"))
	rng := rand.New(rand.NewPCG(9, 9))
	for range 4 * hot {
		if get(b, rng) != nil || query(b, rng) != nil {
			b.Fatal("warming the cache failed")
		}
	}
	run("get/cache=on", get)
	run("query/cache=on", query)
	if rates["get/cache=off"] > 0 && rates["query/cache=off"] > 0 {
		b.Logf("cache on / off: get %.2fx, query %.2fx",
			rates["get/cache=on"]/rates["get/cache=off"], rates["query/cache=on"]/rates["query/cache=off"])
	}
}

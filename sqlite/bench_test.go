package sqlite_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/sqlite"
)

// The benchmarks measure the store in-process: durable (synchronous=FULL)
// writes through the group-committing writer, point reads and index
// lookups. Documents are ~480-byte client records in a collection shaped
// like `quire bench`'s seed.
//
//	go test -run='^$' -bench=. -benchtime=3s ./sqlite/

var benchClients = quire.Collection{Name: "clients", Indexes: []quire.IndexSpec{
	{Field: "first_name", Path: "$.name.first"},
	{Field: "last_name", Path: "$.name.last"},
	{Field: "postcode", Path: "$.address.postcode"},
	{Field: "email", Path: "$.email", Unique: true},
}}

// benchDocsPerName is how many seeded clients share a last name: the size
// of an equality lookup's answer.
const benchDocsPerName = 20

// benchSeedSize is the number of documents the read benchmarks seed:
// 100k for measurements, 20k for smoke runs (-short, or -benchtime=1x as in
// CI), where seeding 100k twice would take most of a quarter of a minute.
func benchSeedSize() int {
	if f := flag.Lookup("test.benchtime"); testing.Short() || f != nil && f.Value.String() == "1x" {
		return 20_000
	}
	return 100_000
}

var benchFirst = strings.Fields("Oliver George Harry Jack Jacob Noah Charlie Thomas Oscar William Olivia Amelia Isla Ava Emily Mia Poppy Ella Lily Grace")

// benchLastName is the i-th last name of a pool of n/benchDocsPerName.
func benchLastName(i, n int) string {
	return fmt.Sprintf("Surname%05d", i%max(1, n/benchDocsPerName))
}

// benchDoc returns client document i, about 480 bytes of JSON, whose last
// name is drawn from a pool sized for n documents.
func benchDoc(i, n int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	first := benchFirst[rng.IntN(len(benchFirst))]
	last := benchLastName(i, n)
	b := fmt.Appendf(nil, `{"name":{"title":"Mx","first":%q,"last":%q},"email":"%s.%s.%d@example.co.uk",`+
		`"phone":"07700 9%05d","dob":"%d-%02d-%02d","ni_number":"AB%06dC",`+
		`"address":{"line1":"%d High Street","town":"London","postcode":"SW%d %d%c%c","country":"GB"},`+
		`"status":"active","risk_profile":"balanced","adviser":"Priya Shah","tags":["pension","isa"],`+
		`"marketing_consent":true,"review_due":"2026-%02d-01","notes":"`,
		first, last, strings.ToLower(first), strings.ToLower(last), i,
		rng.IntN(100000), 1940+rng.IntN(65), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(1000000),
		1+rng.IntN(180), 1+rng.IntN(20), rng.IntN(10), 'A'+rng.IntN(26), 'A'+rng.IntN(26), 1+rng.IntN(12))
	for len(b) < 478 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

func benchID(i int) string { return fmt.Sprintf("c%08d", i) }

// openBenchStore opens a fresh store with the clients collection at the
// default durability (full).
func openBenchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(b.TempDir(), "bench", sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	// The server's default quota: writes pay for its check as they do there.
	s.SetQuotas(quire.Quotas{StorageBytes: quire.DefaultStorageBytes})
	if _, _, err := s.PutCollection(context.Background(), benchClients); err != nil {
		b.Fatal(err)
	}
	return s
}

// seedBench writes n client documents in batches of 1000.
func seedBench(b *testing.B, s *sqlite.Store, n int) {
	b.Helper()
	const batch = 1000
	var wg sync.WaitGroup
	errc := make(chan error, n/batch+1)
	sem := make(chan struct{}, 4)
	for start := 0; start < n; start += batch {
		ops := make([]quire.WriteOp, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			ops = append(ops, quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: benchID(i), Body: benchDoc(i, n)})
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, _, err := s.Write(context.Background(), ops, "seed"); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
}

// runPool runs op(i) for i in [0, b.N) on `workers` goroutines.
func runPool(b *testing.B, workers int, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range min(workers, b.N) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N || failed.Load() != nil {
					return
				}
				if err := op(i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}

func reportRate(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// BenchmarkPut measures durable single-document puts of new documents by
// 1, 64 and 1024 concurrent writers: with group commit, many writers share
// each fsync.
func BenchmarkPut(b *testing.B) { benchmarkSingleWrites(b, quire.OpPut) }

// BenchmarkCreate is BenchmarkPut with creates, which skip the existence
// read, their savepoint and (far below the storage quota) the page count.
func BenchmarkCreate(b *testing.B) { benchmarkSingleWrites(b, quire.OpCreate) }

func benchmarkSingleWrites(b *testing.B, kind quire.OpKind) {
	for _, conc := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			s := openBenchStore(b)
			b.SetBytes(int64(len(benchDoc(0, 1<<20))))
			b.ReportAllocs()
			b.ResetTimer()
			runPool(b, conc, func(i int) error {
				op := quire.WriteOp{Op: kind, Collection: "clients", ID: benchID(i), Body: benchDoc(i, 1<<20)}
				_, _, err := s.Write(context.Background(), []quire.WriteOp{op}, "bench")
				return err
			})
			b.StopTimer()
			reportRate(b, b.N, "docs/s")
		})
	}
}

// BenchmarkBatchPut measures the CPU cost of a document write without the
// fsync: batches of 10, 100 and 1000 creates, relaxed durability, one
// writer. A batch is one request: its ops share a savepoint (or, alone in
// its group, the transaction), so the larger batches show what a request's
// size costs per document.
func BenchmarkBatchPut(b *testing.B) {
	for _, batch := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("ops=%d", batch), func(b *testing.B) {
			s, err := sqlite.Open(b.TempDir(), "bench", sqlite.Options{Durability: sqlite.DurabilityRelaxed})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if _, _, err := s.PutCollection(context.Background(), benchClients); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(batch * len(benchDoc(0, 1<<20))))
			b.ResetTimer()
			for i := range b.N {
				ops := make([]quire.WriteOp, batch)
				for j := range ops {
					n := i*batch + j
					ops[j] = quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: benchID(n), Body: benchDoc(n, 1<<20)}
				}
				if _, _, err := s.Write(context.Background(), ops, "bench"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRate(b, b.N*batch, "docs/s")
		})
	}
}

// BenchmarkGet measures point reads by id from parallel readers.
func BenchmarkGet(b *testing.B) {
	s := openBenchStore(b)
	n := benchSeedSize()
	seedBench(b, s, n)
	b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
		var seed atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(seed.Add(1), 1))
			for pb.Next() {
				id := benchID(rng.IntN(n))
				d, err := s.Get(context.Background(), "clients", id)
				if err != nil {
					b.Error(err)
					return
				}
				if d.ID != id {
					b.Errorf("got %s, want %s", d.ID, id)
					return
				}
			}
		})
		b.StopTimer()
		reportRate(b, b.N, "docs/s")
	})
}

// BenchmarkListByIndex measures equality lookups on last_name, each
// returning about 20 documents, from parallel readers.
func BenchmarkListByIndex(b *testing.B) {
	s := openBenchStore(b)
	n := benchSeedSize()
	seedBench(b, s, n)
	b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
		var seed atomic.Uint64
		var docs atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(seed.Add(1), 2))
			got := 0
			for pb.Next() {
				ds, _, err := s.List(context.Background(), quire.ListQuery{
					Collection: "clients", Field: "last_name", Value: benchLastName(rng.IntN(n), n), Limit: 50})
				if err != nil {
					b.Error(err)
					return
				}
				if len(ds) != benchDocsPerName {
					b.Errorf("lookup returned %d docs, want %d", len(ds), benchDocsPerName)
					return
				}
				got += len(ds)
			}
			docs.Add(int64(got))
		})
		b.StopTimer()
		reportRate(b, b.N, "lists/s")
		reportRate(b, int(docs.Load()), "docs/s")
	})
}

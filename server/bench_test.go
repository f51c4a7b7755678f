package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/cache"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
)

// The HTTP benchmarks drive a real server (registry over SQLite files, full
// durability) through httptest with many keep-alive clients, and measure a
// trivial handler answering a body of the same size as a ceiling, so that
// the cost of Quire itself is the ratio of the two.
//
//	go test -run='^$' -bench=HTTP -benchtime=3s ./server/

// benchHTTPParallelism is RunParallel's multiplier: this many clients per
// CPU keep the server busy while others wait on the network or an fsync.
const benchHTTPParallelism = 32

const benchHTTPDocs = 10_000

var benchHTTPFirst = strings.Fields("Oliver George Harry Jack Jacob Noah Charlie Thomas Oscar William Olivia Amelia Isla Ava Emily Mia Poppy Ella Lily Grace")

// benchHTTPDoc returns client document i, about 480 bytes of JSON.
func benchHTTPDoc(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	first := benchHTTPFirst[rng.IntN(len(benchHTTPFirst))]
	last := fmt.Sprintf("Surname%05d", i%max(1, benchHTTPDocs/20))
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

func benchHTTPID(i int) string { return fmt.Sprintf("c%08d", i) }

var benchHTTPCollection = quire.Collection{Name: "clients", Indexes: []quire.IndexSpec{
	{Field: "first_name", Path: "$.name.first"},
	{Field: "last_name", Path: "$.name.last"},
	{Field: "postcode", Path: "$.address.postcode"},
	{Field: "email", Path: "$.email", Unique: true},
}}

// benchHTTPServer is a Quire server with one tenant, its clients
// collection seeded with `seed` documents, and read and write keys.
type benchHTTPServer struct {
	url          string
	read, write  string // key secrets
	client       *http.Client
	docPathBase  string
	getRespBytes int
}

func newBenchHTTPServer(b *testing.B, seed int) *benchHTTPServer {
	b.Helper()
	ctx := context.Background()
	reg, err := registry.New(registry.Config{DataDir: b.TempDir(), Cache: cache.New(cache.NewLocal(256 << 20))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	if _, err := reg.CreateTenant(ctx, quire.TenantCreate{ID: "bench"}); err != nil {
		b.Fatal(err)
	}
	_, read, err := reg.CreateKey(ctx, "bench", quire.RoleRead, "bench-read")
	if err != nil {
		b.Fatal(err)
	}
	_, write, err := reg.CreateKey(ctx, "bench", quire.RoleWrite, "bench-write")
	if err != nil {
		b.Fatal(err)
	}
	st, release, err := reg.OpenStore(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := st.PutCollection(ctx, benchHTTPCollection); err != nil {
		b.Fatal(err)
	}
	for start := 0; start < seed; start += 1000 {
		var ops []quire.WriteOp
		for i := start; i < min(start+1000, seed); i++ {
			ops = append(ops, quire.WriteOp{Op: quire.OpPut, Collection: "clients", ID: benchHTTPID(i), Body: benchHTTPDoc(i)})
		}
		if _, _, err := st.Write(ctx, ops, "seed"); err != nil {
			b.Fatal(err)
		}
	}
	release()
	hs := httptest.NewServer(server.New(server.Config{AdminToken: "bench-admin"}, reg, reg))
	b.Cleanup(hs.Close)
	s := &benchHTTPServer{url: hs.URL, read: read, write: write, client: benchHTTPClient(b),
		docPathBase: hs.URL + "/v1/tenants/bench/collections/clients/docs/"}
	if seed > 0 {
		req, _ := http.NewRequest("GET", s.docPathBase+benchHTTPID(0), nil)
		req.Header.Set("Authorization", "Bearer "+read)
		n, err := benchHTTPDo(s.client, req, http.StatusOK)
		if err != nil {
			b.Fatal(err)
		}
		s.getRespBytes = n
	}
	return s
}

// benchHTTPClient is one keep-alive client shared by every goroutine, with
// room for an idle connection per goroutine.
func benchHTTPClient(b *testing.B) *http.Client {
	t := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, DisableCompression: true}
	b.Cleanup(t.CloseIdleConnections)
	return &http.Client{Transport: t}
}

// benchHTTPDo sends req, drains the body (so the connection is reused)
// and checks the status. It returns the body's size.
func benchHTTPDo(c *http.Client, req *http.Request, want int) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return int(n), err
	}
	if resp.StatusCode != want {
		return int(n), fmt.Errorf("%s %s: status %d, want %d", req.Method, req.URL.Path, resp.StatusCode, want)
	}
	return int(n), nil
}

// benchHTTPParallel runs req(rng, i) from benchHTTPParallelism clients per
// CPU and reports requests per second as docs/s.
func benchHTTPParallel(b *testing.B, c *http.Client, want int, req func(rng *rand.Rand, i int64) *http.Request) {
	var seed, seq atomic.Int64
	b.SetParallelism(benchHTTPParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(seed.Add(1)), 3))
		for pb.Next() {
			if _, err := benchHTTPDo(c, req(rng, seq.Add(1)), want); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "docs/s")
	}
}

// BenchmarkHTTPGet measures GET of one document by id with a read key,
// through the read cache (warm) and past it (Cache-Control: no-cache).
func BenchmarkHTTPGet(b *testing.B) {
	s := newBenchHTTPServer(b, benchHTTPDocs) // seeded once for every b.N
	for _, mode := range []string{"cache=off", "cache=on"} {
		b.Run(fmt.Sprintf("docs=%d/%s", benchHTTPDocs, mode), func(b *testing.B) {
			b.SetBytes(int64(s.getRespBytes))
			benchHTTPParallel(b, s.client, http.StatusOK, func(rng *rand.Rand, _ int64) *http.Request {
				req, _ := http.NewRequest("GET", s.docPathBase+benchHTTPID(rng.IntN(benchHTTPDocs)), nil)
				req.Header.Set("Authorization", "Bearer "+s.read)
				if mode == "cache=off" {
					req.Header.Set("Cache-Control", "no-cache")
				}
				return req
			})
		})
	}
}

// BenchmarkHTTPQuery measures an indexed equality query returning 20
// documents (by last name), through the read cache and past it.
func BenchmarkHTTPQuery(b *testing.B) {
	s := newBenchHTTPServer(b, benchHTTPDocs)
	url := strings.TrimSuffix(s.docPathBase, "docs/") + "query"
	for _, mode := range []string{"cache=off", "cache=on"} {
		b.Run(fmt.Sprintf("docs=%d/%s", benchHTTPDocs, mode), func(b *testing.B) {
			benchHTTPParallel(b, s.client, http.StatusOK, func(rng *rand.Rand, _ int64) *http.Request {
				body := fmt.Sprintf(`{"where":{"last_name":"Surname%05d"}}`, rng.IntN(benchHTTPDocs/20))
				req, _ := http.NewRequest("POST", url, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+s.read)
				if mode == "cache=off" {
					req.Header.Set("Cache-Control", "no-cache")
				}
				return req
			})
		})
	}
}

// BenchmarkHTTPPut measures durable PUTs creating new documents with a
// write key; concurrent requests share commits.
func BenchmarkHTTPPut(b *testing.B) {
	s := newBenchHTTPServer(b, 0) // a fresh tenant for every b.N
	b.SetBytes(int64(len(benchHTTPDoc(0))))
	benchHTTPParallel(b, s.client, http.StatusCreated, func(_ *rand.Rand, i int64) *http.Request {
		req, _ := http.NewRequest("PUT", s.docPathBase+benchHTTPID(int(i)), bytes.NewReader(benchHTTPDoc(int(i))))
		req.Header.Set("Authorization", "Bearer "+s.write)
		req.Header.Set("Content-Type", "application/json")
		return req
	})
}

// BenchmarkHTTPCeiling is the same client load against a handler that
// only writes a fixed body the size of a document GET's answer: what Go's
// HTTP stack costs on this machine, the most Quire's GET could reach.
func BenchmarkHTTPCeiling(b *testing.B) {
	// The size of BenchmarkHTTPGet's answer: the document in its envelope.
	body := fmt.Appendf(nil, `{"id":%q,"version":1,"created_at":1767225600000,"updated_at":1767225600000,"body":%s}`,
		benchHTTPID(0), benchHTTPDoc(0))
	length := strconv.Itoa(len(body))
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	}))
	b.Cleanup(hs.Close)
	c := benchHTTPClient(b)
	b.SetBytes(int64(len(body)))
	benchHTTPParallel(b, c, http.StatusOK, func(rng *rand.Rand, _ int64) *http.Request {
		req, _ := http.NewRequest("GET", hs.URL+"/v1/tenants/bench/collections/clients/docs/"+benchHTTPID(rng.IntN(benchHTTPDocs)), nil)
		req.Header.Set("Authorization", "Bearer quire_kxxxxxxxxxxxxxxxx_secret")
		return req
	})
}

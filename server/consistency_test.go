package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/server"
)

// The consistency test: many clients write and read the same documents
// and queries over HTTP, with the read cache on and under memory pressure
// (a tiny budget and a reader churning other documents through it). Three
// checks would each catch a stale read:
//
//   - session guarantees, inline: every read returns, for each document, a
//     version at least the client's last acknowledged write and last read
//     of it (read-your-writes, monotonic reads);
//   - bookmarks, afterwards: a read presenting bookmark B returns at least
//     the version of every acknowledged write committed at or before B;
//   - linearizability, afterwards, with porcupine: per document, the
//     history of writes (versions) and reads (versions seen) must fit one
//     sequential order consistent with real time. Reads without a
//     bookmark are in it too: on one node, Quire promises strong reads.

const consistencyDocs = 6

// regOp is one operation on a document for porcupine: a write making
// version out (sql writes do not learn their version: out is 0), or a
// read seeing version out.
type regOp struct {
	doc  int
	kind string // "read", "write", "sql"
}

var versionModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		parts := make([][]porcupine.Operation, consistencyDocs)
		for _, op := range h {
			d := op.Input.(regOp).doc
			parts[d] = append(parts[d], op)
		}
		return parts
	},
	Init: func() any { return int64(1) },
	Step: func(state, input, output any) (bool, any) {
		v, out := state.(int64), output.(int64)
		switch input.(regOp).kind {
		case "read":
			return out == v, v
		case "write":
			return out == v+1, out
		default: // sql: one row updated, its version moved by one
			return true, v + 1
		}
	},
	DescribeOperation: func(in, out any) string {
		return fmt.Sprintf("%s(a%d) -> %d", in.(regOp).kind, in.(regOp).doc, out)
	},
}

// ackedWrite is a write whose version and commit sequence are known.
type ackedWrite struct {
	doc     int
	version int64
	seq     uint64
}

// observedRead is a read of a document under a request bookmark.
type observedRead struct {
	doc     int
	version int64
	since   uint64 // the request's bookmark sequence (0: none)
}

// tokenSeq extracts the sequence of a bookmark token (epoch-seq-tag);
// usable from any goroutine.
func tokenSeq(t *testing.T, token string) uint64 {
	parts := strings.Split(token, "-")
	n, err := strconv.ParseUint(parts[len(parts)/2], 16, 64)
	if len(parts) != 3 || err != nil {
		t.Errorf("malformed bookmark %q", token)
	}
	return n
}

// httpResult is what a consistency client needs of a response.
type httpResult struct {
	status   int
	body     []byte
	bookmark string
	cache    string
}

// call performs one request; usable from any goroutine (no t.Fatal).
func call(client *http.Client, method, url, token, bookmark string, body any) (httpResult, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return httpResult{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return httpResult{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if bookmark != "" {
		req.Header.Set("Quire-Bookmark", bookmark)
	}
	res, err := client.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return httpResult{res.StatusCode, b, res.Header.Get("Quire-Bookmark"), res.Header.Get("Quire-Cache")}, err
}

// consistencyClient is one client session: what it knows and saw.
type consistencyClient struct {
	t        *testing.T
	id       int
	base     string
	token    string
	http     *http.Client
	rng      *rand.Rand
	bookmark string  // the newest bookmark of the session
	known    []int64 // per document: newest version written or read
	mu       *sync.Mutex
	ops      *[]porcupine.Operation
	writes   *[]ackedWrite
	reads    *[]observedRead
	caches   map[string]int
}

func (c *consistencyClient) advance(token string) {
	if token > c.bookmark { // tokens of one tenant sort in commit order
		c.bookmark = token
	}
}

func (c *consistencyClient) record(op porcupine.Operation, w *ackedWrite, r *observedRead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.ops = append(*c.ops, op)
	if w != nil {
		*c.writes = append(*c.writes, *w)
	}
	if r != nil {
		*c.reads = append(*c.reads, *r)
	}
}

// saw checks a version read of doc against the session and records it.
func (c *consistencyClient) saw(doc int, version int64, since string, what string) {
	if version < c.known[doc] {
		c.t.Errorf("client %d: %s of a%d returned version %d, but the session already wrote or read version %d (stale read)",
			c.id, what, doc, version, c.known[doc])
	}
	c.known[doc] = max(c.known[doc], version)
	var seq uint64
	if since != "" {
		seq = tokenSeq(c.t, since)
	}
	c.mu.Lock()
	*c.reads = append(*c.reads, observedRead{doc: doc, version: version, since: seq})
	c.mu.Unlock()
}

func (c *consistencyClient) step() error {
	doc := c.rng.IntN(consistencyDocs)
	path := fmt.Sprintf("%s/v1/tenants/bank/collections/acct/docs/a%d", c.base, doc)
	// A third of the reads carry no bookmark: strong reads on one node.
	since := c.bookmark
	if c.rng.IntN(3) == 0 {
		since = ""
	}
	start := time.Now().UnixNano()
	switch p := c.rng.IntN(100); {
	case p < 8: // read through the SQL endpoint
		r, err := call(c.http, "POST", c.base+"/v1/tenants/bank/sql", c.token, since, map[string]any{
			"sql": "SELECT _version AS version FROM acct WHERE id = ?", "params": []any{fmt.Sprintf("a%d", doc)}})
		if err != nil || r.status != 200 {
			return fmt.Errorf("sql read a%d: %v %d %s", doc, err, r.status, r.body)
		}
		end := time.Now().UnixNano()
		var res struct{ Results []struct{ Version int64 } }
		if err := json.Unmarshal(r.body, &res); err != nil || len(res.Results) != 1 {
			return fmt.Errorf("sql read a%d answered %s", doc, r.body)
		}
		c.caches["sql "+r.cache]++
		c.saw(doc, res.Results[0].Version, since, "SQL read")
		c.advance(r.bookmark)
		c.record(porcupine.Operation{ClientId: c.id, Input: regOp{doc, "read"}, Call: start, Output: res.Results[0].Version, Return: end}, nil, nil)
	case p < 40: // read by id
		r, err := call(c.http, "GET", path, c.token, since, nil)
		if err != nil || r.status != 200 {
			return fmt.Errorf("get a%d: %v %d %s", doc, err, r.status, r.body)
		}
		end := time.Now().UnixNano()
		var d struct{ Version int64 }
		if err := json.Unmarshal(r.body, &d); err != nil {
			return err
		}
		c.caches["get "+r.cache]++
		c.saw(doc, d.Version, since, "GET")
		c.advance(r.bookmark)
		c.record(porcupine.Operation{ClientId: c.id, Input: regOp{doc, "read"}, Call: start, Output: d.Version, Return: end}, nil, nil)
	case p < 60: // query: every document of one owner
		owner := doc % 2
		r, err := call(c.http, "POST", c.base+"/v1/tenants/bank/collections/acct/query", c.token, since,
			map[string]any{"where": map[string]any{"owner": fmt.Sprintf("o%d", owner)}, "limit": 10})
		if err != nil || r.status != 200 {
			return fmt.Errorf("query: %v %d %s", err, r.status, r.body)
		}
		end := time.Now().UnixNano()
		var res struct {
			Docs []struct {
				ID      string
				Version int64
			}
		}
		if err := json.Unmarshal(r.body, &res); err != nil {
			return err
		}
		if len(res.Docs) != consistencyDocs/2 {
			return fmt.Errorf("query of owner o%d returned %d documents, want %d", owner, len(res.Docs), consistencyDocs/2)
		}
		c.caches["query "+r.cache]++
		for _, d := range res.Docs {
			n, _ := strconv.Atoi(strings.TrimPrefix(d.ID, "a"))
			c.saw(n, d.Version, since, "query")
			c.record(porcupine.Operation{ClientId: c.id, Input: regOp{n, "read"}, Call: start, Output: d.Version, Return: end}, nil, nil)
		}
		c.advance(r.bookmark)
	case p < 92: // write: replace or patch
		method, body := "PUT", map[string]any{"owner": fmt.Sprintf("o%d", doc%2), "n": c.rng.Int64(), "pad": strings.Repeat("p", 300)}
		if p >= 80 {
			method, body = "PATCH", map[string]any{"n": c.rng.Int64()}
		}
		r, err := call(c.http, method, path, c.token, since, body)
		if err != nil || r.status != 200 {
			return fmt.Errorf("%s a%d: %v %d %s", method, doc, err, r.status, r.body)
		}
		end := time.Now().UnixNano()
		var w struct{ Version int64 }
		if err := json.Unmarshal(r.body, &w); err != nil {
			return err
		}
		c.known[doc] = max(c.known[doc], w.Version)
		c.advance(r.bookmark)
		c.record(porcupine.Operation{ClientId: c.id, Input: regOp{doc, "write"}, Call: start, Output: w.Version, Return: end},
			&ackedWrite{doc: doc, version: w.Version, seq: tokenSeq(c.t, r.bookmark)}, nil)
	default: // a SQL write: the cache cannot know what it touched
		r, err := call(c.http, "POST", c.base+"/v1/tenants/bank/sql", c.token, since, map[string]any{
			"sql":    "UPDATE acct SET body = json_set(body, '$.n', ?) WHERE id = ?",
			"params": []any{c.rng.Int64N(1 << 40), fmt.Sprintf("a%d", doc)},
		})
		if err != nil || r.status != 200 {
			return fmt.Errorf("sql update a%d: %v %d %s", doc, err, r.status, r.body)
		}
		end := time.Now().UnixNano()
		c.known[doc]++ // at least one more than anything the session knew
		c.advance(r.bookmark)
		c.record(porcupine.Operation{ClientId: c.id, Input: regOp{doc, "sql"}, Call: start, Output: int64(0), Return: end}, nil, nil)
	}
	return nil
}

func TestConsistencyUnderCacheAndMemoryPressure(t *testing.T) {
	clients, steps := 12, 120
	if testing.Short() {
		clients, steps = 6, 60
	}
	// 128 KiB: 64 KiB for documents (2 KiB a ring shard, in 512-byte
	// chunks: eight documents or so each), 64 KiB for results; the churn
	// below (200 documents of ~250 bytes) keeps evicting.
	const budget = 128 << 10
	e := newEnvCache(t, server.Config{}, budget, func(rc quire.ReadCache) quire.ReadCache { return jitterCache{rc} })
	k := e.createTenant(t, "bank")
	e.putCollection(t, "bank", "acct", map[string]any{"field": "owner", "path": "$.owner", "type": "text"})
	e.putCollection(t, "bank", "noise")
	for i := range consistencyDocs {
		e.do(t, "PUT", fmt.Sprintf("/v1/tenants/bank/collections/acct/docs/a%d", i), k.write,
			map[string]any{"owner": fmt.Sprintf("o%d", i%2), "n": 0}).expect(t, 201, "")
	}
	for i := range 200 {
		e.do(t, "PUT", fmt.Sprintf("/v1/tenants/bank/collections/noise/docs/n%d", i), k.write,
			map[string]any{"pad": strings.Repeat("z", 150)}).expect(t, 201, "")
	}

	var (
		mu     sync.Mutex
		ops    []porcupine.Operation
		writes []ackedWrite
		reads  []observedRead
		wg     sync.WaitGroup
		stop   = make(chan struct{})
		caches = make([]map[string]int, clients)
	)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients + 2}}
	go func() { // memory pressure: churn other documents through the cache
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			call(httpc, "GET", fmt.Sprintf("%s/v1/tenants/bank/collections/noise/docs/n%d", e.ts.URL, i%200), k.read, "", nil)
		}
	}()
	for id := range clients {
		c := &consistencyClient{t: t, id: id, base: e.ts.URL, token: k.write, http: httpc,
			rng: rand.New(rand.NewPCG(uint64(id), 7)), known: make([]int64, consistencyDocs),
			mu: &mu, ops: &ops, writes: &writes, reads: &reads, caches: map[string]int{}}
		caches[id] = c.caches
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range steps {
				if err := c.step(); err != nil {
					t.Errorf("client %d: %v", c.id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)

	// Bookmarks: a read under bookmark B sees every write committed at or
	// before B.
	for _, r := range reads {
		if r.since == 0 {
			continue
		}
		for _, w := range writes {
			if w.doc == r.doc && w.seq <= r.since && r.version < w.version {
				t.Errorf("a read of a%d under bookmark seq %d returned version %d, but version %d was committed at seq %d",
					r.doc, r.since, r.version, w.version, w.seq)
				break
			}
		}
	}

	res, info := porcupine.CheckOperationsVerbose(versionModel, ops, time.Minute)
	if res != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		porcupine.VisualizePath(versionModel, info, path)
		t.Errorf("history of %d operations is not linearizable (%s); visualization: %s", len(ops), res, path)
	}

	total := map[string]int{}
	for _, m := range caches {
		for k, v := range m {
			total[k] += v
		}
	}
	stats := e.cache.Stats()
	t.Logf("%d operations, %d acknowledged writes, %d reads; cache outcomes %v; cache %+v", len(ops), len(writes), len(reads), total, stats)
	// The test is only worth something if the cache served reads and was
	// under pressure while it did.
	if total["get hit"] == 0 || total["query hit"] == 0 {
		t.Errorf("the cache never served a read (%v): the test did not exercise it", total)
	}
	if stats.Bytes > budget*11/10 {
		t.Errorf("cache weighs %d bytes, over its %d-byte budget", stats.Bytes, budget)
	}
}

// jitterCache delays the cache calls where reads and writes race (after a
// lookup, before a fill, before the write-through) by up to 2 ms, as the
// scheduler of a loaded machine might: a missing freshness rule then
// shows up as a stale read in the history instead of hiding in a
// microsecond window. Removing either of the cache's two invalidation
// rules (refusing a raced fill, deleting written documents before COMMIT)
// makes this test fail.
type jitterCache struct{ quire.ReadCache }

func (j jitterCache) Tenant(tenant string) quire.TenantCache {
	return jitterNamespace{j.ReadCache.Tenant(tenant)}
}

type jitterNamespace struct{ quire.TenantCache }

func jitter() { time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) }

func (n jitterNamespace) Doc(coll, id string, after, now quire.Bookmark) (*quire.Document, quire.Bookmark, quire.CacheStatus) {
	d, at, st := n.TenantCache.Doc(coll, id, after, now)
	jitter()
	return d, at, st
}

func (n jitterNamespace) FillDoc(coll, id string, d *quire.Document, at quire.Bookmark) {
	jitter()
	n.TenantCache.FillDoc(coll, id, d, at)
}

func (n jitterNamespace) FillResult(key string, deps []string, v any, size int, at quire.Bookmark) {
	jitter()
	n.TenantCache.FillResult(key, deps, v, size, at)
}

func (n jitterNamespace) FillPage(coll, key string, a *quire.PageAnchor, v any, size int, at quire.Bookmark) {
	jitter()
	n.TenantCache.FillPage(coll, key, a, v, size, at)
}

func (n jitterNamespace) AfterCommit(c *quire.Commit) {
	jitter()
	n.TenantCache.AfterCommit(c)
}

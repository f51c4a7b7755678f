package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash tests run the real binary, write to it from many clients, stop
// it abruptly (SIGKILL) or politely (SIGTERM) in the middle of the stream,
// restart it on the same data directory, and check that every write the
// server acknowledged is there.

const (
	crashTenant  = "crash"
	crashColl    = "items"
	crashWriters = 16
	crashLoad    = 1500 * time.Millisecond
)

// docState is what a document must look like after a given write.
type docState struct {
	version int64
	body    map[string]any // decoded through JSON, so numbers are float64
}

// workerLog is what one writer goroutine saw. Each document is written by
// one worker only, one request at a time, so a document's versions are
// known in advance and at most one write per worker is in doubt: the one
// in flight when the server went away.
type workerLog struct {
	acked     map[string]docState // last acknowledged state of each document
	doubt     map[string]docState // the state the unanswered write would produce
	bookmark  string              // greatest bookmark acknowledged
	puts      int
	patches   int
	truncated []error // responses whose body was cut short
	bad       []error // complete responses that were wrong
}

func normalize(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// writeResult is the part of a write's answer the test checks.
type writeResult struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// runWriter writes until a request fails (the server is going or gone);
// signalled tells whether failures are expected by now.
func runWriter(c *http.Client, base string, w int, signalled func() bool) *workerLog {
	log := &workerLog{acked: map[string]docState{}, doubt: map[string]docState{}}
	rng := rand.New(rand.NewPCG(uint64(w), 42))
	pad := strings.Repeat(string(rune('a'+w%26)), 120)
	var mine []string
	for n := 0; ; n++ {
		var (
			id, method string
			body       map[string]any
			want       docState
		)
		if n%4 == 3 {
			// A merge patch of one of this worker's documents.
			id = mine[rng.IntN(len(mine))]
			method = "PATCH"
			body = map[string]any{"n": n, "patched": n}
			cur := log.acked[id]
			merged := map[string]any{}
			for k, v := range cur.body {
				merged[k] = v
			}
			for k, v := range body {
				merged[k] = v
			}
			want = docState{cur.version + 1, normalize(merged)}
		} else {
			id = fmt.Sprintf("w%02d-%06d", w, n)
			method = "PUT"
			body = map[string]any{"worker": w, "n": n, "pad": pad}
			want = docState{1, normalize(body)}
		}
		raw, _ := json.Marshal(body)
		r, err := do(context.Background(), c, method, base+"/docs/"+url.PathEscape(id), raw)
		var te *truncatedError
		if errors.As(err, &te) {
			log.truncated = append(log.truncated, fmt.Errorf("%s %s: %w", method, id, err))
		}
		if err != nil {
			log.doubt[id] = want
			if !signalled() {
				log.bad = append(log.bad, fmt.Errorf("%s %s failed before the server was stopped: %w", method, id, err))
			}
			return log
		}
		if !json.Valid(r.body) {
			log.bad = append(log.bad, fmt.Errorf("%s %s: status %d with a body that is not JSON: %q", method, id, r.status, r.body))
		}
		if r.status/100 != 2 {
			// Not acknowledged. A 503 while shutting down is fine; it is
			// treated as in doubt all the same.
			log.doubt[id] = want
			if !signalled() || r.status != 503 {
				log.bad = append(log.bad, fmt.Errorf("%s %s: status %d: %s", method, id, r.status, r.body))
			}
			return log
		}
		var res writeResult
		if err := json.Unmarshal(r.body, &res); err != nil || res.ID != id || res.Version != want.version {
			log.bad = append(log.bad, fmt.Errorf("%s %s: acknowledged %s, want version %d (%v)", method, id, r.body, want.version, err))
			return log
		}
		bm := r.header.Get("Quire-Bookmark")
		if bm == "" || bm <= log.bookmark {
			log.bad = append(log.bad, fmt.Errorf("%s %s: bookmark %q after %q: bookmarks must increase", method, id, bm, log.bookmark))
		}
		log.bookmark = max(log.bookmark, bm)
		log.acked[id] = want
		if method == "PUT" {
			mine = append(mine, id)
			log.puts++
		} else {
			log.patches++
		}
	}
}

// crashRun is the outcome of a write load against one server process.
type crashRun struct {
	logs     []*workerLog
	acked    int
	bookmark string // greatest acknowledged bookmark
}

// loadAndStop creates the tenant and collection, writes from crashWriters
// clients for crashLoad, then calls halt (which stops the server) and
// collects what the clients saw.
func loadAndStop(t *testing.T, c *http.Client, p *proc, halt func()) *crashRun {
	t.Helper()
	mustDo(t, c, "POST", p.url+"/v1/tenants", `{"id":"`+crashTenant+`"}`, 201)
	mustDo(t, c, "PUT", p.url+"/v1/tenants/"+crashTenant+"/collections/"+crashColl,
		`{"indexes":[{"field":"worker","path":"$.worker","type":"integer"},{"field":"n","path":"$.n","type":"integer"}]}`, 201)
	base := p.url + "/v1/tenants/" + crashTenant + "/collections/" + crashColl
	var (
		mu         sync.Mutex
		isStopping bool
	)
	signalled := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return isStopping
	}
	run := &crashRun{logs: make([]*workerLog, crashWriters)}
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run.logs[w] = runWriter(c, base, w, signalled)
		}()
	}
	time.Sleep(crashLoad)
	mu.Lock()
	isStopping = true
	mu.Unlock()
	halt()
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	select {
	case <-writersDone:
	case <-time.After(30 * time.Second):
		t.Fatal("writers still running 30s after the server stopped")
	}
	patches := 0
	for w, l := range run.logs {
		run.acked += len(l.acked)
		patches += l.patches
		run.bookmark = max(run.bookmark, l.bookmark)
		for _, err := range l.bad {
			t.Errorf("writer %d: %v", w, err)
		}
	}
	t.Logf("%d documents acknowledged (%d patches) in %v by %d writers", run.acked, patches, crashLoad, crashWriters)
	if run.acked < 100 || patches == 0 {
		t.Fatalf("only %d writes and %d patches acknowledged: the load did not run", run.acked, patches)
	}
	return run
}

// listDocs reads the whole collection through the list endpoint.
func listDocs(t *testing.T, c *http.Client, p *proc) map[string]docState {
	t.Helper()
	out := map[string]docState{}
	after := ""
	for {
		u := p.url + "/v1/tenants/" + crashTenant + "/collections/" + crashColl + "/docs?limit=1000"
		if after != "" {
			u += "&after=" + url.QueryEscape(after)
		}
		r := mustDo(t, c, "GET", u, "", 200)
		var page struct {
			Docs []struct {
				ID      string          `json:"id"`
				Version int64           `json:"version"`
				Body    json.RawMessage `json:"body"`
			} `json:"docs"`
			Next string `json:"next"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, d := range page.Docs {
			var body map[string]any
			if err := json.Unmarshal(d.Body, &body); err != nil {
				t.Fatalf("doc %s: body %s: %v", d.ID, d.Body, err)
			}
			out[d.ID] = docState{d.Version, body}
		}
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
}

// verifyAfterRestart checks every acknowledged write against the restarted
// server, that nothing appeared that nobody wrote, and that bookmarks carry
// on increasing from where they were.
func verifyAfterRestart(t *testing.T, c *http.Client, p *proc, run *crashRun) {
	t.Helper()
	stored := listDocs(t, c, p)
	seen := map[string]bool{}
	lost, doubtful := 0, 0
	for w, l := range run.logs {
		for id, want := range l.acked {
			seen[id] = true
			got, ok := stored[id]
			switch {
			case !ok:
				lost++
				if lost <= 10 {
					t.Errorf("writer %d: acknowledged %s v%d is missing", w, id, want.version)
				}
			case got.version == want.version:
				if !reflect.DeepEqual(got.body, want.body) {
					t.Errorf("writer %d: %s v%d has body %v, acknowledged %v", w, id, got.version, got.body, want.body)
				}
			case got.version < want.version:
				lost++
				t.Errorf("writer %d: %s is at v%d, but v%d was acknowledged", w, id, got.version, want.version)
			default:
				// Newer than acknowledged: only the write in doubt can be.
				d, ok := l.doubt[id]
				if !ok || d.version != got.version || !reflect.DeepEqual(got.body, d.body) {
					t.Errorf("writer %d: %s is v%d %v; acknowledged v%d, in doubt %v", w, id, got.version, got.body, want.version, d)
				}
				doubtful++
			}
		}
		for id, d := range l.doubt {
			if _, ok := l.acked[id]; ok {
				continue
			}
			seen[id] = true
			// A create that was never answered: absent, or exactly as sent.
			if got, ok := stored[id]; ok {
				doubtful++
				if got.version != d.version || !reflect.DeepEqual(got.body, d.body) {
					t.Errorf("writer %d: unacknowledged %s is v%d %v, sent v%d %v", w, id, got.version, got.body, d.version, d.body)
				}
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, run.acked)
	}
	for id := range stored {
		if !seen[id] {
			t.Errorf("document %s exists but was never written", id)
		}
	}
	t.Logf("after restart: %d documents stored, %d writes in doubt found committed", len(stored), doubtful)

	// The greatest acknowledged position exists after the restart...
	base := p.url + "/v1/tenants/" + crashTenant
	r := mustDo(t, c, "GET", base+"/collections/"+crashColl, "", 200, "Quire-Bookmark", run.bookmark)
	if got := r.header.Get("Quire-Bookmark"); got < run.bookmark {
		t.Errorf("position after restart %s is behind acknowledged bookmark %s", got, run.bookmark)
	}
	// ...and the next write is after it, with the same tenant tag.
	r = mustDo(t, c, "PUT", base+"/collections/"+crashColl+"/docs/after-restart", `{"worker":-1,"n":-1}`, 201)
	next := r.header.Get("Quire-Bookmark")
	if next <= run.bookmark {
		t.Errorf("first write after restart has bookmark %s, not after acknowledged %s", next, run.bookmark)
	}
	if len(next) < 8 || len(run.bookmark) < 8 || next[len(next)-8:] != run.bookmark[len(run.bookmark)-8:] {
		t.Errorf("bookmark %s after restart belongs to another incarnation than %s", next, run.bookmark)
	}
	mustDo(t, c, "GET", base+"/collections/"+crashColl+"/docs/after-restart", "", 200, "Quire-Bookmark", next)
}

// TestCrashKill SIGKILLs the server in the middle of a write stream:
// every acknowledged write survives, nothing unwritten appears, and
// bookmarks keep increasing across the restart.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server binary for several seconds")
	}
	bin := buildQuire(t)
	dir := t.TempDir()
	c := newHTTPClient()
	p := startQuire(t, bin, dir)
	run := loadAndStop(t, c, p, p.kill)
	if p.err == nil {
		t.Fatalf("quire exited cleanly after SIGKILL?")
	}
	c.CloseIdleConnections()

	p2 := startQuire(t, bin, dir)
	verifyAfterRestart(t, c, p2, run)
	p2.stop()
	if t.Failed() {
		t.Logf("server log before the kill:\n%s\nafter:\n%s", p.stderr, p2.stderr)
	}
}

// TestCrashTerm SIGTERMs the server under write load: it exits 0 within
// its shutdown deadline, no client sees a truncated response, and every
// acknowledged write is there after a restart.
func TestCrashTerm(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server binary for several seconds")
	}
	const deadline = 5 * time.Second
	bin := buildQuire(t)
	dir := t.TempDir()
	c := newHTTPClient()
	p := startQuire(t, bin, dir, "--shutdown-timeout", deadline.String())
	var sent time.Time
	run := loadAndStop(t, c, p, func() {
		sent = time.Now()
		// Allow a little over the deadline for closing the databases.
		if err := p.signal(syscall.SIGTERM, deadline+5*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	took := p.exited.Sub(sent)
	t.Logf("exited %v after SIGTERM: %v", took.Round(time.Millisecond), p.err)
	if p.err != nil {
		t.Errorf("quire exited with %v after SIGTERM, want status 0\n%s", p.err, p.stderr)
	}
	if took > deadline {
		t.Errorf("quire took %v to exit after SIGTERM, shutdown deadline %v", took, deadline)
	}
	if strings.Contains(p.stderr.String(), "did not finish in time") {
		t.Errorf("shutdown ran past its deadline:\n%s", p.stderr)
	}
	for w, l := range run.logs {
		for _, err := range l.truncated {
			t.Errorf("writer %d: %v", w, err)
		}
	}
	c.CloseIdleConnections()

	p2 := startQuire(t, bin, dir)
	verifyAfterRestart(t, c, p2, run)
	p2.stop()
}

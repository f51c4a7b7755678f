package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
	"github.com/quiredb/quire/sqlite"
)

// feedChange is a change as the feed answers it.
type feedChange struct {
	Bookmark      string          `json:"bookmark"`
	Cursor        string          `json:"cursor"`
	Collection    string          `json:"collection"`
	ID            string          `json:"id"`
	Op            string          `json:"op"`
	Version       int64           `json:"version"`
	At            int64           `json:"at"`
	KeyID         string          `json:"key_id"`
	BodyAvailable *bool           `json:"body_available"`
	RawBody       json.RawMessage `json:"body"`
}

// key identifies the write a change records.
func (c feedChange) key() string {
	return fmt.Sprintf("%s/%s:%s:%d", c.Collection, c.ID, c.Op, c.Version)
}

type feedPage struct {
	Changes []feedChange `json:"changes"`
	Next    string       `json:"next"`
}

func changesPath(tenant string, q url.Values) string {
	p := "/v1/tenants/" + tenant + "/changes"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// readFeed pages through the feed after since with pages of limit and
// returns every change and the final next.
func (e *env) readFeed(t *testing.T, tenant, token, since string, limit int, extra url.Values) ([]feedChange, string) {
	t.Helper()
	var out []feedChange
	for range 10000 {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		for k, v := range extra {
			q[k] = v
		}
		if since != "" {
			q.Set("since", since)
		}
		var p feedPage
		e.do(t, "GET", changesPath(tenant, q), token, nil).expect(t, 200, "").into(t, &p)
		out = append(out, p.Changes...)
		if len(p.Changes) == 0 {
			return out, p.Next
		}
		since = p.Next
	}
	t.Fatal("feed never ended")
	return nil, ""
}

// checkExactlyOnce fails unless the changes are exactly the acknowledged
// writes, each once, in commit order.
func checkExactlyOnce(t *testing.T, got []feedChange, acked []string) {
	t.Helper()
	seen := map[string]int{}
	for i, c := range got {
		seen[c.key()]++
		if i > 0 && c.Bookmark < got[i-1].Bookmark {
			t.Fatalf("change %d (%s) at %s comes after %s", i, c.key(), c.Bookmark, got[i-1].Bookmark)
		}
	}
	want := map[string]int{}
	for _, k := range acked {
		want[k]++
	}
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("%s: in the feed %d times, acknowledged %d times", k, seen[k], n)
		}
	}
	for k, n := range seen {
		if want[k] == 0 {
			t.Errorf("%s: in the feed %d times, never acknowledged", k, n)
		}
	}
}

// writer writes documents and records every acknowledged change.
type writer struct {
	mu    sync.Mutex
	acked []string
}

func (wr *writer) note(k string) {
	wr.mu.Lock()
	wr.acked = append(wr.acked, k)
	wr.mu.Unlock()
}

func (wr *writer) list() []string {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return append([]string(nil), wr.acked...)
}

// write does n writes on docs of prefix: puts, updates and deletes.
func (wr *writer) write(t *testing.T, e *env, token, tenant, coll, prefix string, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i%3)
		method, body := "PUT", any(map[string]any{"i": i})
		if i%5 == 4 {
			method, body = "DELETE", nil
		}
		r := e.do(t, method, docPath(tenant, coll, id), token, body)
		if r.status == 404 && method == "DELETE" {
			continue
		}
		if r.status != 200 && r.status != 201 {
			t.Errorf("%s", r)
			return
		}
		var res struct {
			Version int64 `json:"version"`
		}
		r.into(t, &res)
		op := "put"
		if method == "DELETE" {
			op = "delete"
		}
		wr.note(fmt.Sprintf("%s/%s:%s:%d", coll, id, op, res.Version))
	}
}

func TestChangesConcurrentWritersExactlyOnce(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	stream := e.openStream(t, "acme", k.read, url.Values{"limit": {"5"}}, "")
	var wr writer
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr.write(t, e, k.write, "acme", "notes", fmt.Sprintf("w%d", w), 15)
		}()
	}
	wg.Wait()
	acked := wr.list()
	got, _ := e.readFeed(t, "acme", k.read, "", 4, nil)
	checkExactlyOnce(t, got, acked)
	// The live stream, started before the writes, saw the same.
	checkExactlyOnce(t, stream.collect(t, len(acked)), acked)
}

func TestChangesStreamResume(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	var wr writer
	wr.write(t, e, k.write, "acme", "notes", "a", 10)
	s1 := e.openStream(t, "acme", k.read, url.Values{"limit": {"3"}}, "")
	first := s1.collect(t, 4)
	s1.close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		wr.write(t, e, k.write, "acme", "notes", "b", 20)
	}()
	// Resume from the last event id while writes go on.
	s2 := e.openStream(t, "acme", k.read, url.Values{"since": {"ignored-when-resuming"}}, first[len(first)-1].Cursor)
	<-done
	acked := wr.list()
	rest := s2.collect(t, len(acked)-len(first))
	checkExactlyOnce(t, append(first, rest...), acked)
}

func TestChangesPagesSplitCommits(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "a")
	e.putCollection(t, "acme", "b")
	var acked, ackedB []string
	for round := range 3 {
		var ops []map[string]any
		for i := range 50 {
			coll := []string{"a", "b"}[i%3%2]
			id := fmt.Sprintf("d%d", i)
			ops = append(ops, map[string]any{"op": "put", "collection": coll, "id": id, "body": map[string]any{"r": round}})
			acked = append(acked, fmt.Sprintf("%s/%s:put:%d", coll, id, round+1))
			if coll == "b" {
				ackedB = append(ackedB, acked[len(acked)-1])
			}
		}
		e.do(t, "POST", "/v1/tenants/acme/batch", k.write, map[string]any{"ops": ops}).expect(t, 200, "")
	}
	for _, limit := range []int{1, 7, 49, 1000} {
		got, _ := e.readFeed(t, "acme", k.read, "", limit, nil)
		checkExactlyOnce(t, got, acked)
		got, _ = e.readFeed(t, "acme", k.read, "", limit, url.Values{"collection": {"b"}})
		checkExactlyOnce(t, got, ackedB)
	}
	// SSE ids inside a commit are resume points too.
	s := e.openStream(t, "acme", k.read, url.Values{"limit": {"7"}}, "")
	evs := s.collect(t, 60)
	s.close()
	if evs[10].Cursor == evs[10].Bookmark {
		t.Fatalf("event inside a commit has the commit's bookmark as id")
	}
	s = e.openStream(t, "acme", k.read, nil, evs[10].Cursor)
	checkExactlyOnce(t, append(evs[:11], s.collect(t, len(acked)-11)...), acked)
}

func TestChangesDeletesAndSQL(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.do(t, "PUT", "/v1/tenants/acme/collections/notes", adminToken, map[string]any{"indexes": []any{}, "history": true})
	e.do(t, "PUT", docPath("acme", "notes", "n1"), k.write, map[string]any{"v": 1}).expect(t, 201, "")
	sql := func(q string) {
		e.do(t, "POST", "/v1/tenants/acme/sql", k.write, map[string]any{"sql": q}).expect(t, 200, "")
	}
	sql(`INSERT INTO notes (id, body) VALUES ('s1', '{"v":1}')`)
	sql(`UPDATE notes SET body = json_set(body, '$.v', 2) WHERE id = 's1'`)
	e.do(t, "DELETE", docPath("acme", "notes", "n1"), k.write, nil).expect(t, 200, "")
	sql(`DELETE FROM notes WHERE id = 's1'`)
	var p feedPage
	e.do(t, "GET", changesPath("acme", url.Values{"body": {"true"}}), k.read, nil).expect(t, 200, "").into(t, &p)
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.key()+":"+string(c.RawBody))
		if c.KeyID != k.ids["write"] {
			t.Errorf("%s: key_id %q, want %q", c.key(), c.KeyID, k.ids["write"])
		}
	}
	want := []string{`notes/n1:put:1:{"v":1}`, `notes/s1:put:1:{"v":1}`, `notes/s1:put:2:{"v":2}`,
		`notes/n1:delete:1:{"v":1}`, `notes/s1:delete:2:{"v":2}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestChangesRefusals(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	other := e.createTenant(t, "other")
	e.putCollection(t, "acme", "notes")
	e.do(t, "PUT", docPath("acme", "notes", "n1"), k.write, map[string]any{}).expect(t, 201, "")
	foreign := e.do(t, "GET", changesPath("other", nil), other.read, nil).expect(t, 200, "").bookmark()
	cases := []struct {
		q      url.Values
		token  string
		status int
		code   string
	}{
		{url.Values{"since": {foreign}}, k.read, 400, quire.EInvalidBookmark},
		{url.Values{"since": {"garbage"}}, k.read, 400, quire.EInvalidBookmark},
		{url.Values{"limit": {"0"}}, k.read, 400, quire.EInvalid},
		{url.Values{"limit": {"1001"}}, k.read, 400, quire.EInvalid},
		{url.Values{"limit": {"ten"}}, k.read, 400, quire.EInvalid},
		{url.Values{"body": {"maybe"}}, k.read, 400, quire.EInvalid},
		{url.Values{"collection": {"Bad Name"}}, k.read, 400, quire.EInvalidName},
		{nil, other.admin, 403, quire.EForbidden},
		{nil, "", 401, quire.EUnauthorized},
		{url.Values{"limit": {"1000"}}, k.read, 200, ""},
		{nil, adminToken, 200, ""},
	}
	for _, c := range cases {
		e.do(t, "GET", changesPath("acme", c.q), c.token, nil).expect(t, c.status, c.code)
		if c.status != 200 { // refused before any stream starts
			e.do(t, "GET", changesPath("acme", c.q), c.token, nil, "Accept", "text/event-stream").expect(t, c.status, c.code)
		}
	}
}

func TestChangesStreamEndsWithTenant(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	e.do(t, "PUT", docPath("acme", "notes", "n1"), k.write, map[string]any{}).expect(t, 201, "")
	// A stream ends when its key is deleted...
	secret, id := e.createKey(t, "acme", "read")
	byKey := e.openStream(t, "acme", secret, nil, "")
	byKey.collect(t, 1)
	e.do(t, "DELETE", "/v1/tenants/acme/keys/"+id, adminToken, nil)
	byKey.waitEnd(t)
	if !strings.Contains(byKey.lastError, quire.EUnauthorized) {
		t.Errorf("stream of a deleted key ended with %q", byKey.lastError)
	}
	// ...and when its tenant is.
	s := e.openStream(t, "acme", k.read, nil, "")
	s.collect(t, 1)
	e.do(t, "DELETE", "/v1/tenants/acme", adminToken, nil).expect(t, 200, "")
	s.waitEnd(t)
	if s.lastError == "" {
		t.Errorf("stream ended without an error event")
	}
}

func TestChangesStreamEndsOnClose(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	s := e.openStream(t, "acme", k.read, nil, "")
	if err := e.reg.Close(); err != nil {
		t.Fatal(err)
	}
	s.waitEnd(t)
}

// TestChangesStreamOutlivesTimeouts runs a stream behind a server with
// short read and write timeouts: heartbeats keep coming and so do changes.
func TestChangesStreamOutlivesTimeouts(t *testing.T) {
	reg, err := registry.New(registry.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, cfg: server.Config{AdminToken: adminToken, ChangesHeartbeat: 200 * time.Millisecond}, reg: reg}
	e.ts = httptest.NewUnstartedServer(server.New(e.cfg, reg, reg))
	e.ts.Config.ReadTimeout = 300 * time.Millisecond
	e.ts.Config.WriteTimeout = 300 * time.Millisecond
	e.ts.Start()
	t.Cleanup(e.stop)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	s := e.openStream(t, "acme", k.read, nil, "")
	deadline := time.Now().Add(20 * time.Second)
	for s.heartbeats.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d heartbeats", s.heartbeats.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.do(t, "PUT", docPath("acme", "notes", "late"), k.write, map[string]any{}).expect(t, 201, "")
	if c := s.collect(t, 1)[0]; c.ID != "late" {
		t.Fatalf("got %+v", c)
	}
}

// TestChangesExpired prunes a tenant's log with a tiny retention and
// checks that an older position is refused, never served a partial feed.
func TestChangesExpired(t *testing.T) {
	dir := t.TempDir()
	reg, err := registry.New(registry.Config{DataDir: dir, Store: sqlite.Options{ChangeRetention: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, cfg: server.Config{AdminToken: adminToken, ChangesHeartbeat: 200 * time.Millisecond}, reg: reg}
	e.ts = httptest.NewServer(server.New(e.cfg, reg, reg))
	t.Cleanup(e.stop)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	start := e.do(t, "GET", changesPath("acme", nil), k.read, nil).expect(t, 200, "").bookmark()
	seen := e.do(t, "PUT", docPath("acme", "notes", "n1"), k.write, map[string]any{}).expect(t, 201, "").bookmark()
	st, release, err := reg.OpenStore(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// A commit may also have started a pass in the background: poll until
	// the log is pruned past start, whoever pruned it.
	deadline := time.Now().Add(10 * time.Second)
	var r *resp
	for {
		if _, err := st.(*sqlite.Store).PruneChanges(context.Background()); err != nil {
			t.Fatal(err)
		}
		r = e.do(t, "GET", changesPath("acme", url.Values{"since": {start}}), k.read, nil)
		if r.status != 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.expect(t, 410, quire.EChangesExpired)
	if r.errDetails()["oldest"] == nil || !strings.Contains(r.errMessage(), "oldest position") {
		t.Errorf("410 does not say where to restart: %s", r.body)
	}
	e.do(t, "GET", changesPath("acme", url.Values{"since": {seen}}), k.read, nil).expect(t, 200, "")
	e.do(t, "GET", changesPath("acme", nil), k.read, nil).expect(t, 200, "")

	// The Go client sees the same.
	c := client.New(e.ts.URL, k.read)
	_, err = c.Changes(context.Background(), "acme", quire.ChangesQuery{Since: start})
	var qe *quire.Error
	if !errors.As(err, &qe) || qe.Code != quire.EChangesExpired || qe.Details["oldest"] == nil {
		t.Fatalf("client: %v", err)
	}
	e.do(t, "PUT", docPath("acme", "notes", "n2"), k.write, map[string]any{"x": 1}).expect(t, 201, "")
	p, err := c.Changes(context.Background(), "acme", quire.ChangesQuery{Since: seen, Body: true, Collection: "notes", Limit: 5})
	if err != nil || len(p.Changes) != 1 || p.Changes[0].ID != "n2" || string(p.Changes[0].Body) != `{"x":1}` {
		t.Fatalf("client: %+v, %v", p, err)
	}
	if next, err := c.Changes(context.Background(), "acme", quire.ChangesQuery{Since: p.Next}); err != nil || len(next.Changes) != 0 {
		t.Fatalf("client after next: %+v, %v", next, err)
	}
}

// stream is an open change stream read by a goroutine.
type stream struct {
	heartbeats atomic.Int32
	events     chan feedChange
	done       chan struct{}
	cancel     context.CancelFunc
	lastError  string
}

// openStream opens an SSE stream of tenant's changes, resuming after
// lastID if it is not "".
func (e *env) openStream(t *testing.T, tenant, token string, q url.Values, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+changesPath(tenant, q), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		res.Body.Close()
		t.Fatalf("stream answered %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &stream{events: make(chan feedChange, 100000), done: make(chan struct{}), cancel: cancel}
	go s.read(t, res)
	t.Cleanup(s.close)
	return s
}

// read parses events until the stream ends.
func (s *stream) read(t *testing.T, res *http.Response) {
	defer close(s.done)
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	var id, event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			switch event {
			case "change":
				var c feedChange
				if err := json.Unmarshal([]byte(data), &c); err != nil {
					t.Errorf("bad event data %q: %v", data, err)
					return
				}
				if c.Cursor != id {
					t.Errorf("event id %q, cursor %q", id, c.Cursor)
				}
				s.events <- c
			case "error":
				s.lastError = data
			}
			id, event, data = "", "", ""
		case strings.HasPrefix(line, ":"):
			s.heartbeats.Add(1)
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

// collect returns the next n events, failing if they do not come.
func (s *stream) collect(t *testing.T, n int) []feedChange {
	t.Helper()
	var out []feedChange
	deadline := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case c := <-s.events:
			out = append(out, c)
		case <-s.done:
			t.Fatalf("stream ended after %d of %d events (error %s)", len(out), n, s.lastError)
		case <-deadline:
			t.Fatalf("only %d of %d events came", len(out), n)
		}
	}
	return out
}

// waitEnd waits for the server to end the stream.
func (s *stream) waitEnd(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not end")
	}
}

// close disconnects and waits for the reader.
func (s *stream) close() {
	s.cancel()
	<-s.done
}

// TestChangesCollectionDrop: dropping a collection fires no trigger, yet
// a consumer mirroring the feed must learn that its documents are gone.
func TestChangesCollectionDrop(t *testing.T) {
	e := newEnv(t)
	k := e.createTenant(t, "acme")
	e.putCollection(t, "acme", "notes")
	for _, id := range []string{"a", "b", "c"} {
		e.do(t, "PUT", docPath("acme", "notes", id), k.write, map[string]any{}).expect(t, 201, "")
	}
	e.do(t, "PUT", docPath("acme", "notes", "b"), k.write, map[string]any{"v": 2}).expect(t, 200, "")
	since := e.do(t, "GET", changesPath("acme", nil), k.read, nil).expect(t, 200, "").bookmark()
	e.do(t, "DELETE", "/v1/tenants/acme/collections/notes", k.admin, nil).expect(t, 200, "")
	got, _ := e.readFeed(t, "acme", k.read, since, 100, nil)
	var keys []string
	for _, c := range got {
		keys = append(keys, c.key())
	}
	if want := "[notes/a:delete:1 notes/b:delete:2 notes/c:delete:1]"; fmt.Sprint(keys) != want {
		t.Errorf("feed after dropping the collection: %v, want %s", keys, want)
	}
}

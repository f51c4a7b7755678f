package bench

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/quiredb/quire"
)

// ceilingServer is the HTTP ceiling: a trivial Go handler on 127.0.0.1
// that reads the request and answers 200 with a fixed body. Before each
// phase the body is set to the median response size of the workload it
// stands for, so the ceiling moves the same bytes as Quire did and differs
// only in doing no work. Quire cannot be faster over HTTP than this.
type ceilingServer struct {
	srv  *http.Server
	url  string
	body atomic.Pointer[[]byte]
}

// startCeilingServer starts the ceiling on a free port of 127.0.0.1.
func startCeilingServer() (*ceilingServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &ceilingServer{url: "http://" + ln.Addr().String()}
	c.setBodySize(2)
	c.srv = newHTTPServer(http.HandlerFunc(c.serveHTTP), io.Discard)
	go c.srv.Serve(ln)
	return c, nil
}

func (c *ceilingServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	body := *c.body.Load()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("ETag", `"1"`) // what an update worker reads as the new version
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// setBodySize makes the handler answer with a JSON object of n bytes (at
// least 2: "{}").
func (c *ceilingServer) setBodySize(n int) {
	b := []byte("{}")
	if n > 10 {
		b = make([]byte, n)
		copy(b, `{"pad":"`)
		for i := 8; i < n-2; i++ {
			b[i] = 'x'
		}
		copy(b[n-2:], `"}`)
	}
	c.body.Store(&b)
}

func (c *ceilingServer) close() { c.srv.Close() }

// engineTarget is the engine ceiling: the same ops as Quire's workloads,
// called in-process on the tenants' stores, with no HTTP and no
// authentication in the way. Queries are decoded from the same JSON the
// HTTP requests carry (a few microseconds, next to the query itself).
type engineTarget struct {
	stores  map[string]quire.Store
	release []func()
}

// newEngineTarget opens the stores of tenants; close releases them.
func newEngineTarget(ctx context.Context, opener quire.StoreOpener, tenants []*tenant) (*engineTarget, error) {
	e := &engineTarget{stores: map[string]quire.Store{}}
	for _, t := range tenants {
		st, release, err := opener.OpenStore(ctx, t.id)
		if err != nil {
			e.close()
			return nil, err
		}
		e.stores[t.id] = st
		e.release = append(e.release, release)
	}
	return e, nil
}

func (e *engineTarget) close() {
	for _, r := range e.release {
		r()
	}
}

// probe reports why the engine cannot run the query o, or "" if it can.
func (e *engineTarget) probe(ctx context.Context, o *op) string {
	res, err := e.query(ctx, o)
	switch {
	case err != nil:
		return "engine: " + err.Error()
	case len(res.Docs) == 0:
		return "engine: the query answered no documents where some match"
	}
	return ""
}

// query runs the query op o.
func (e *engineTarget) query(ctx context.Context, o *op) (*quire.QueryResult, error) {
	var q quire.Query
	if err := json.Unmarshal(o.body, &q); err != nil {
		return nil, err
	}
	q.Collection = collClients
	return e.stores[o.tenant.id].Query(ctx, q)
}

func (e *engineTarget) do(ctx context.Context, o *op) result {
	st := e.stores[o.tenant.id]
	switch o.kind {
	case opGet:
		d, err := st.Get(ctx, collClients, o.id)
		if err != nil {
			return storeFailure(o, err)
		}
		return result{outcome: outcomeOK, bytes: len(d.Body)}
	case opQueryEq, opQueryPrefix, opJoin:
		if _, err := e.query(ctx, o); err != nil {
			return storeFailure(o, err)
		}
		return result{outcome: outcomeOK}
	case opCreate:
		id, err := uuid.NewV7()
		if err != nil {
			return storeFailure(o, err)
		}
		return e.write(ctx, o, quire.WriteOp{Op: quire.OpCreate, Collection: collClients, ID: id.String(), Body: o.body})
	default: // opUpdate
		v := o.version
		return e.write(ctx, o, quire.WriteOp{Op: quire.OpPatch, Collection: collClients, ID: o.id, Body: o.body, IfVersion: &v})
	}
}

func (e *engineTarget) write(ctx context.Context, o *op, w quire.WriteOp) result {
	res, _, err := e.stores[o.tenant.id].Write(ctx, []quire.WriteOp{w}, "bench")
	if err != nil {
		return storeFailure(o, err)
	}
	return result{outcome: outcomeOK, version: res[0].Version}
}

func (e *engineTarget) version(ctx context.Context, o *op) (int64, error) {
	d, err := e.stores[o.tenant.id].Get(ctx, collClients, o.id)
	if err != nil {
		return 0, err
	}
	return d.Version, nil
}

// storeFailure classifies an error from the store.
func storeFailure(o *op, err error) result {
	oc := outcomeError
	if quire.ErrorCode(err) == quire.EVersionMismatch {
		oc = outcomePreconditionFailed
	}
	return result{outcome: oc, err: o.kind.String() + ": " + err.Error()}
}

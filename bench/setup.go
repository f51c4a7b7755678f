package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/actor"
	"github.com/quiredb/quire/cache"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
	"github.com/quiredb/quire/sqlite"
)

// newHTTPServer returns an http.Server with the settings `quire serve`
// uses, so that the in-process server and the HTTP ceiling behave like a
// deployed Quire. Server errors (accept failures…) go to errLog.
func newHTTPServer(h http.Handler, errLog io.Writer) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(errLog, "http server: ", 0),
	}
}

// inProcess is a Quire server the bench started itself: a registry over a
// temporary data directory and the HTTP API on a free port of 127.0.0.1.
type inProcess struct {
	dir   string
	reg   *registry.Registry
	srv   *http.Server
	url   string
	token string
}

// startInProcess starts Quire with the given durability; it logs warnings
// and errors to logw.
func startInProcess(durability string, cacheBytes int64, logw io.Writer) (*inProcess, error) {
	dir, err := os.MkdirTemp("", "quire-bench-")
	if err != nil {
		return nil, err
	}
	// The read cache as `quire serve` has it (--cache-bytes).
	cfg := registry.Config{DataDir: dir, Store: sqlite.Options{Durability: sqlite.Durability(durability)}}
	if cacheBytes > 0 {
		cfg.Cache = cache.New(cache.NewLocal(uint64(cacheBytes)))
	}
	reg, err := registry.New(cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	token := "bench_" + randomHex(16)
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	api := server.New(server.Config{AdminToken: token, Logger: logger, Actors: actor.New(actor.Config{})}, reg, reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		reg.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	p := &inProcess{dir: dir, reg: reg, srv: newHTTPServer(api, logw), url: "http://" + ln.Addr().String(), token: token}
	go p.srv.Serve(ln)
	return p, nil
}

// close stops the server, closes the databases and removes the directory.
func (p *inProcess) close() error {
	p.srv.Close()
	err := p.reg.Close()
	os.RemoveAll(p.dir)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// adminClient makes the bench's setup calls (tenants, keys, collections,
// seeding batches) with the admin token.
type adminClient struct {
	base  string
	token string
	hc    *http.Client
}

func newAdminClient(base, token string, timeout time.Duration) *adminClient {
	return &adminClient{base: strings.TrimRight(base, "/"), token: token,
		hc: &http.Client{Timeout: max(timeout, time.Minute), Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

// call sends a JSON request and decodes a 2xx answer into out (if not nil).
func (a *adminClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b[:min(len(b), 300)]))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// createTenant creates tenant id with the data set's collections and a
// write key, and returns it (not yet seeded).
func (a *adminClient) createTenant(ctx context.Context, id string, data *Dataset) (*tenant, error) {
	if err := a.call(ctx, "POST", "/v1/tenants", quire.TenantCreate{ID: id, Name: "quire bench"}, nil); err != nil {
		return nil, err
	}
	for _, c := range collections() {
		if err := a.call(ctx, "PUT", "/v1/tenants/"+id+"/collections/"+c.Name, map[string]any{"indexes": c.Indexes}, nil); err != nil {
			return nil, err
		}
	}
	var key struct{ Secret string }
	if err := a.call(ctx, "POST", "/v1/tenants/"+id+"/keys", map[string]string{"role": "write", "name": "bench"}, &key); err != nil {
		return nil, err
	}
	t := &tenant{id: id, auth: "Bearer " + key.Secret, data: data, versions: make([]int64, data.Clients()), created: new(atomic.Int64)}
	for i := range t.versions {
		t.versions[i] = 1 // what seeding leaves
	}
	return t, nil
}

// deleteTenant removes a tenant the bench created on a server it did not
// start.
func (a *adminClient) deleteTenant(ctx context.Context, id string) error {
	return a.call(ctx, "DELETE", "/v1/tenants/"+id, nil, nil)
}

// seed loads t's data set through the batch API: seeders goroutines, each
// posting batches of about batchSize ops (whole clients: a client, its
// finances and its notes go in one batch). It returns how many documents
// it wrote.
func (a *adminClient) seed(ctx context.Context, t *tenant, seeders, batchSize int) (int64, error) {
	var next, docs atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, seeders)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range seeders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := make([]quire.WriteOp, 0, batchSize+8)
			for ctx.Err() == nil {
				ops = ops[:0]
				for len(ops) < batchSize {
					i := int(next.Add(1) - 1)
					if i >= t.data.Clients() {
						break
					}
					ops = append(ops, t.data.SeedOps(i)...)
				}
				if len(ops) == 0 {
					return
				}
				if err := a.call(ctx, "POST", "/v1/tenants/"+t.id+"/batch", map[string]any{"ops": ops}, nil); err != nil {
					errs <- fmt.Errorf("seeding %s: %w", t.id, err)
					cancel()
					return
				}
				docs.Add(int64(len(ops)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return docs.Load(), err
	}
	return docs.Load(), ctx.Err()
}

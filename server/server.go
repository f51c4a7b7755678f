// Package server is Quire's HTTP API. Handlers return errors; one function
// turns them into responses, using the code → status table of package quire.
package server

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/quiredb/quire"
)

// Config configures the HTTP API.
type Config struct {
	AdminToken   string // the operator's token: every tenant, every route
	MaxDocBytes  int    // largest document body
	MaxBodyBytes int64  // largest request body (batches)
	Logger       *slog.Logger
	// Node and Region name this server in the Quire-Served-By header of
	// tenant responses; defaults: the host name and "local".
	Node   string
	Region string
	// Observer, if set, is told about every answered request (metrics).
	Observer RequestObserver
	// Metrics, if set, is served at GET /metrics to the admin token.
	Metrics http.Handler
	// Ready, if set, is part of /readyz: it reports whether the server's
	// dependencies (the tenant catalog) answer.
	Ready func(ctx context.Context) error
	// ChangesHeartbeat is how often an idle change stream sends a comment
	// (which keeps proxies from closing it and finds dead clients) and
	// reads the feed again in case a wake-up was missed; default 15 s.
	ChangesHeartbeat time.Duration
	// Actors is the per-tenant actor (counters, session state, rate
	// limiting); nil: the server makes its own in-memory hub.
	Actors quire.ActorService
}

// Server serves the HTTP API over a tenant catalog and tenants' stores.
type Server struct {
	cfg       Config
	tenants   quire.TenantService
	stores    quire.StoreOpener
	mux       *http.ServeMux
	adminHash [32]byte
	log       *slog.Logger
	draining  atomic.Bool // set by Drain: /readyz answers 503
}

// New returns a Server. tenants and stores are usually the same registry.
func New(cfg Config, tenants quire.TenantService, stores quire.StoreOpener) *Server {
	if cfg.MaxDocBytes <= 0 {
		cfg.MaxDocBytes = quire.DefaultMaxDocBytes
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.ChangesHeartbeat <= 0 {
		cfg.ChangesHeartbeat = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.setServedBy()
	s := &Server{cfg: cfg, tenants: tenants, stores: stores, mux: http.NewServeMux(),
		adminHash: sha256.Sum256([]byte(cfg.AdminToken)), log: cfg.Logger}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.route("/healthz", methods{"GET": s.handleHealth})
	s.route("/readyz", methods{"GET": s.handleReady})
	if s.cfg.Metrics != nil {
		s.route("/metrics", methods{"GET": s.admin(s.handleMetrics)})
	}

	s.route("/v1/tenants", methods{"POST": s.admin(s.handleCreateTenant), "GET": s.admin(s.handleListTenants)})
	s.route("/v1/tenants/{tenant}", methods{
		"GET":    s.tenant(quire.RoleRead, s.handleGetTenant),
		"PATCH":  s.admin(s.handlePatchTenant),
		"DELETE": s.admin(s.handleDeleteTenant),
	})
	s.route("/v1/tenants/{tenant}/usage", methods{"GET": s.tenant(quire.RoleRead, s.handleUsage)})
	s.route("/v1/tenants/{tenant}/backup", methods{"POST": s.admin(s.handleBackup)})
	s.route("/v1/tenants/{tenant}/restore", methods{"POST": s.admin(s.handleRestore)})
	s.route("/v1/tenants/{tenant}/export", methods{"GET": s.tenant(quire.RoleRead, s.handleExport)})
	s.route("/v1/tenants/{tenant}/import", methods{"POST": s.tenant(quire.RoleAdmin, s.handleImport)})
	s.route("/v1/tenants/{tenant}/keys", methods{
		"POST": s.tenant(quire.RoleAdmin, s.handleCreateKey),
		"GET":  s.tenant(quire.RoleAdmin, s.handleListKeys),
	})
	s.route("/v1/tenants/{tenant}/keys/{key}", methods{
		"DELETE": s.tenant(quire.RoleAdmin, s.handleDeleteKey),
		"PATCH":  s.admin(s.handlePatchKey),
	})

	s.route("/v1/tenants/{tenant}/collections", methods{"GET": s.tenant(quire.RoleRead, s.handleListCollections)})
	s.route("/v1/tenants/{tenant}/collections/{coll}", methods{
		"GET":    s.tenant(quire.RoleRead, s.handleGetCollection),
		"PUT":    s.tenant(quire.RoleAdmin, s.handlePutCollection),
		"DELETE": s.tenant(quire.RoleAdmin, s.handleDeleteCollection),
	})
	s.route("/v1/tenants/{tenant}/collections/{coll}/indexes", methods{"POST": s.tenant(quire.RoleAdmin, s.handleAddIndex)})
	s.route("/v1/tenants/{tenant}/collections/{coll}/indexes/{field}", methods{"DELETE": s.tenant(quire.RoleAdmin, s.handleDropIndex)})

	s.route("/v1/tenants/{tenant}/collections/{coll}/docs", methods{
		"POST": s.tenant(quire.RoleWrite, s.handleCreateDoc),
		"GET":  s.tenant(quire.RoleRead, s.handleListDocs),
	})
	s.route("/v1/tenants/{tenant}/collections/{coll}/docs/{id}", methods{
		"GET":    s.tenant(quire.RoleRead, s.handleGetDoc),
		"PUT":    s.tenant(quire.RoleWrite, s.handlePutDoc),
		"PATCH":  s.tenant(quire.RoleWrite, s.handlePatchDoc),
		"DELETE": s.tenant(quire.RoleWrite, s.handleDeleteDoc),
	})
	s.historyRoutes()
	s.route("/v1/tenants/{tenant}/collections/{coll}/query", methods{"POST": s.tenant(quire.RoleRead, s.handleQuery)})
	s.route("/v1/tenants/{tenant}/batch", methods{"POST": s.tenant(quire.RoleWrite, s.handleBatch)})
	s.sqlRoutes()
	s.changesRoutes()
	s.lockRoutes()
	s.actorRoutes()

	s.mux.Handle("/", s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		return quire.Errorf(quire.ENotFound, "no route for %s %s", r.Method, r.URL.Path)
	}))
}

// methods maps HTTP methods to the handlers of one path.
type methods map[string]handlerFunc

// handlerFunc is an HTTP handler that returns its error instead of
// writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route registers each method of path, and a fallback answering any other
// method with a JSON 405.
func (s *Server) route(path string, ms methods) {
	allow := make([]string, 0, len(ms))
	for m, h := range ms {
		s.mux.Handle(m+" "+path, s.wrap(h))
		allow = append(allow, m)
	}
	allowHeader := strings.Join(allow, ", ")
	s.mux.Handle(path, s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allowHeader)
		return quire.Errorf(quire.EMethodNotAllowed, "method %s not allowed here; allowed: %s", r.Method, allowHeader)
	}))
}

// ServeHTTP routes a request. A request for /v1/... (not /v1/tenants) whose
// Host is a tenant's domain is served as that tenant's /v1/tenants/{t}/...
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/v1/"); ok && rest != "tenants" && !strings.HasPrefix(rest, "tenants/") {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if t, ok := s.tenants.TenantForHost(host); ok {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/v1/tenants/" + t + "/" + rest
			// Keep the client's escaping: an id with %2F is one segment. If
			// the escaped path does not start with /v1/, RawPath does not
			// match Path and is ignored.
			r2.URL.RawPath = "/v1/tenants/" + t + "/" + strings.TrimPrefix(r.URL.EscapedPath(), "/v1/")
			r = r2
		}
	}
	s.observe(w, r, s.mux)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Package registry is the tenant catalog and lifecycle: it creates, lists
// and deletes tenants and keys, opens tenant databases lazily, and closes
// idle ones so that many thousands of tenants run with bounded memory and
// open files.
package registry

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/sqlite"
)

var _ quire.TenantService = (*Registry)(nil)
var _ quire.StoreOpener = (*Registry)(nil)

// Config configures a Registry.
type Config struct {
	DataDir        string
	Region         string        // this node's region: the default region of new tenants
	AllowRegions   []string      // regions whose tenants this node may hold; empty: Region only
	Quotas         quire.Quotas  // default quotas of tenants; zero fields: quire's defaults
	MaxOpenTenants int           // open tenant databases kept at most (when idle)
	IdleTimeout    time.Duration // an unused tenant is closed after this long
	Store          sqlite.Options
	// Cache, if set, is the read cache tenants' stores use.
	Cache quire.ReadCache
}

// Registry implements quire.TenantService and quire.StoreOpener.
type Registry struct {
	cfg     Config
	catalog *sqlite.Catalog

	mu      sync.Mutex
	tenants map[string]*quire.Tenant
	domains map[string]string // host → tenant id
	keys    map[string]*sqlite.CatalogKey
	open    map[string]*openTenant
	lru     *list.List // of *openTenant, most recently released first
	closed  bool

	overrides map[string]quire.Quotas // tenants' quota overrides (see quotas.go)
	limits    rateLimits              // rate limits and deletion hooks (see ratelimit.go)

	stopJanitor chan struct{}
	janitorDone chan struct{}

	changes *changeHub // wakes change-feed readers on commits (see changes.go)
}

// New opens the catalog in cfg.DataDir, loads tenants and keys, and removes
// tenant directories left behind by an interrupted delete.
func New(cfg Config) (*Registry, error) {
	if cfg.MaxOpenTenants <= 0 {
		cfg.MaxOpenTenants = 256
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if err := cfg.checkRegions(); err != nil {
		return nil, err
	}
	if err := cfg.checkQuotas(); err != nil {
		return nil, err
	}
	if err := cfg.Store.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "tenants"), 0o700); err != nil {
		return nil, err
	}
	cat, err := sqlite.OpenCatalog(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		cfg: cfg, catalog: cat,
		tenants: map[string]*quire.Tenant{}, domains: map[string]string{},
		keys: map[string]*sqlite.CatalogKey{}, open: map[string]*openTenant{}, lru: list.New(),
		stopJanitor: make(chan struct{}), janitorDone: make(chan struct{}),
		changes: newChangeHub(),
	}
	if err := r.load(context.Background()); err != nil {
		cat.Close()
		return nil, err
	}
	r.removeOrphans()
	go r.janitor()
	return r, nil
}

func (r *Registry) load(ctx context.Context) error {
	ts, err := r.catalog.Tenants(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		r.noteQuotas(t)
		r.tenants[t.ID] = t
		for _, d := range t.Domains {
			r.domains[d] = t.ID
		}
	}
	ks, err := r.catalog.Keys(ctx)
	if err != nil {
		return err
	}
	for _, k := range ks {
		r.keys[k.ID] = k
	}
	return r.loadRateLimits(ctx)
}

// removeOrphans deletes tenant directories with no catalog entry: what a
// delete interrupted between the catalog and the file system leaves.
func (r *Registry) removeOrphans() {
	entries, _ := os.ReadDir(filepath.Join(r.cfg.DataDir, "tenants"))
	for _, e := range entries {
		if _, ok := r.tenants[e.Name()]; !ok {
			os.RemoveAll(filepath.Join(r.cfg.DataDir, "tenants", e.Name()))
		}
	}
}

// Close closes every open tenant (each writer finishes its queue) and the
// catalog.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.changes.close() // change-feed streams end instead of waiting on
	close(r.stopJanitor)
	<-r.janitorDone
	r.mu.Lock()
	var all []*openTenant
	for _, ot := range r.open {
		all = append(all, ot)
	}
	r.mu.Unlock()
	for _, ot := range all {
		<-ot.ready
		if ot.store != nil {
			ot.store.Close()
		}
	}
	return r.catalog.Close()
}

func (r *Registry) tenantDir(id string) string {
	return filepath.Join(r.cfg.DataDir, "tenants", id)
}

var regionRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CreateTenant records a tenant. Its database is created on first use.
func (r *Registry) CreateTenant(ctx context.Context, c quire.TenantCreate) (*quire.Tenant, error) {
	if err := quire.CheckName("tenant", c.ID); err != nil {
		return nil, err
	}
	if c.Region == "" {
		c.Region = r.cfg.Region
	}
	if !regionRE.MatchString(c.Region) {
		return nil, quire.Errorf(quire.EInvalid, "region %q is not allowed: use lower-case letters, digits and -", c.Region)
	}
	if len(c.Name) > 200 {
		return nil, quire.Errorf(quire.EInvalid, "name may be at most 200 bytes")
	}
	domains := make([]string, 0, len(c.Domains))
	for _, d := range c.Domains {
		d = strings.ToLower(d)
		if len(d) > 253 || !domainRE.MatchString(d) {
			return nil, quire.Errorf(quire.EInvalid, "domain %q is not a valid host name", d)
		}
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	t := &quire.Tenant{ID: c.ID, Name: c.Name, Region: c.Region, Domains: domains, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := r.checkResidency(t); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tenants[t.ID]; ok {
		return nil, quire.Errorf(quire.EConflict, "tenant %q already exists", t.ID)
	}
	if _, ok := r.open[t.ID]; ok {
		// A delete of this id is still waiting for requests on the old
		// store; a new tenant must never be served it.
		return nil, quire.Errorf(quire.EConflict, "tenant %q is still being deleted, retry", t.ID)
	}
	for _, d := range domains {
		if other, ok := r.domains[d]; ok {
			return nil, quire.Errorf(quire.EConflict, "domain %q already belongs to tenant %q", d, other)
		}
	}
	// A directory left by an interrupted delete must not come back to life.
	if err := os.RemoveAll(r.tenantDir(t.ID)); err != nil {
		return nil, fmt.Errorf("create tenant %q: %w", t.ID, err)
	}
	if err := r.catalog.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	r.noteQuotas(t)
	r.tenants[t.ID] = t
	for _, d := range domains {
		r.domains[d] = t.ID
	}
	return t, nil
}

// Tenant returns one tenant.
func (r *Registry) Tenant(ctx context.Context, id string) (*quire.Tenant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tenants[id]
	if !ok {
		return nil, tenantNotFound(id)
	}
	return t, nil
}

func tenantNotFound(id string) error {
	if err := quire.CheckName("tenant", id); err != nil {
		return err
	}
	return quire.Errorf(quire.ENotFound, "tenant %q not found", id)
}

// Tenants returns every tenant, by id.
func (r *Registry) Tenants(ctx context.Context) ([]*quire.Tenant, error) {
	r.mu.Lock()
	out := make([]*quire.Tenant, 0, len(r.tenants))
	for _, t := range r.tenants {
		out = append(out, t)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b *quire.Tenant) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// TenantForHost returns the tenant that listed host (without port) as one
// of its domains.
func (r *Registry) TenantForHost(host string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.domains[strings.ToLower(host)]
	return id, ok
}

// DeleteTenant removes a tenant: its catalog entry and keys first (so no
// new request can reach it), then, once in-flight requests are done, its
// files.
func (r *Registry) DeleteTenant(ctx context.Context, id string) error {
	r.mu.Lock()
	t, ok := r.tenants[id]
	if !ok {
		r.mu.Unlock()
		return tenantNotFound(id)
	}
	if err := r.catalog.DeleteTenant(ctx, id); err != nil {
		r.mu.Unlock()
		return err
	}
	delete(r.tenants, id)
	for _, d := range t.Domains {
		delete(r.domains, d)
	}
	for kid, k := range r.keys {
		if k.Tenant == id {
			delete(r.keys, kid)
		}
	}
	r.mu.Unlock()
	r.closeTenant(id)
	r.tenantDeleted(id)
	r.forget(id)
	// Under r.mu, so a tenant re-created with this id meanwhile (which
	// removed the old files itself) does not lose its new ones. The
	// directory is only renamed under the lock; removing a large one
	// happens outside it. A crash in between leaves a directory that no
	// tenant owns, which the next start removes.
	r.mu.Lock()
	if _, ok := r.tenants[id]; ok {
		r.mu.Unlock()
		return nil
	}
	trash := filepath.Join(r.cfg.DataDir, "tenants", ".deleted-"+id+"-"+randomHex(4))
	err := os.Rename(r.tenantDir(id), trash)
	r.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = os.RemoveAll(trash)
	}
	if err != nil {
		return fmt.Errorf("delete tenant %q files: %w", id, err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/quiredb/quire"
)

// Catalog is the server's own database of tenants and keys (catalog.db in
// the data directory). Collection definitions live in each tenant's own
// database, so they change atomically with the tables they describe and
// travel with the tenant's backups.
type Catalog struct {
	db *sql.DB
}

const catalogSchema = `
CREATE TABLE IF NOT EXISTS tenants (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	region TEXT NOT NULL,
	domains TEXT NOT NULL DEFAULT '[]',
	created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS keys (
	id TEXT PRIMARY KEY,
	tenant TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
	role TEXT NOT NULL,
	name TEXT NOT NULL,
	hash BLOB NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS keys_tenant ON keys(tenant);
`

// CatalogKey is a stored key: its public part and the hash of its secret.
type CatalogKey struct {
	quire.Key
	Hash []byte
}

// OpenCatalog opens (creating if needed) catalog.db in dataDir. It always
// uses full durability: losing a key or tenant is never acceptable.
func OpenCatalog(dataDir string) (*Catalog, error) {
	db, err := openDB(filepath.Join(dataDir, "catalog.db"), Options{Durability: DurabilityFull}.withDefaults(), roleWriter, 1)
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	if _, err := db.Exec(catalogSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create catalog: %w", err)
	}
	if err := migrateCatalog(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate catalog: %w", err)
	}
	if err := migrateCatalogRateLimits(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate catalog: %w", err)
	}
	return &Catalog{db: db}, nil
}

// Close closes the catalog.
func (c *Catalog) Close() error { return c.db.Close() }

// Ping reports whether the catalog answers a query.
func (c *Catalog) Ping(ctx context.Context) error {
	var n int
	return c.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM tenants LIMIT 1)`).Scan(&n)
}

// Tenants returns every tenant.
func (c *Catalog) Tenants(ctx context.Context) ([]*quire.Tenant, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT id, name, region, domains, created_at, quotas FROM tenants ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*quire.Tenant
	for rows.Next() {
		t := &quire.Tenant{}
		var domains, quotas string
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Region, &domains, &created, &quotas); err != nil {
			return nil, err
		}
		t.Quotas = &quire.Quotas{}
		if err := json.Unmarshal([]byte(quotas), t.Quotas); err != nil {
			return nil, fmt.Errorf("tenant %q: bad quotas: %w", t.ID, err)
		}
		if err := json.Unmarshal([]byte(domains), &t.Domains); err != nil {
			return nil, fmt.Errorf("tenant %q: bad domains: %w", t.ID, err)
		}
		t.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// CreateTenant records a new tenant; EConflict if the id is taken.
func (c *Catalog) CreateTenant(ctx context.Context, t *quire.Tenant) error {
	domains, _ := json.Marshal(t.Domains)
	_, err := c.db.ExecContext(ctx, `INSERT INTO tenants (id, name, region, domains, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Region, string(domains), t.CreatedAt.UnixMilli())
	if err := classify(err, "create tenant"); quire.ErrorCode(err) == quire.EUniqueViolation {
		return quire.Errorf(quire.EConflict, "tenant %q already exists", t.ID)
	}
	return classify(err, "create tenant")
}

// DeleteTenant removes a tenant and its keys from the catalog.
func (c *Catalog) DeleteTenant(ctx context.Context, id string) error {
	_, err := c.db.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id)
	return classify(err, "delete tenant")
}

// Keys returns every key with its hash.
func (c *Catalog) Keys(ctx context.Context) ([]*CatalogKey, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT id, tenant, role, name, hash, created_at FROM keys ORDER BY tenant, created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*CatalogKey
	for rows.Next() {
		k := &CatalogKey{}
		var created int64
		if err := rows.Scan(&k.ID, &k.Tenant, &k.Role, &k.Name, &k.Hash, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// CreateKey records a key.
func (c *Catalog) CreateKey(ctx context.Context, k *CatalogKey) error {
	_, err := c.db.ExecContext(ctx, `INSERT INTO keys (id, tenant, role, name, hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Tenant, string(k.Role), k.Name, k.Hash, k.CreatedAt.UnixMilli())
	return classify(err, "create key")
}

// DeleteKey removes a key.
func (c *Catalog) DeleteKey(ctx context.Context, id string) error {
	_, err := c.db.ExecContext(ctx, `DELETE FROM keys WHERE id = ?`, id)
	return classify(err, "delete key")
}

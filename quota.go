package quire

import "context"

// Default quotas of a tenant, used unless the node or an admin override
// says otherwise.
const (
	DefaultStorageBytes   = 10 << 30 // 10 GiB, like a D1 database
	DefaultMaxCollections = 100
	DefaultMaxIndexes     = 32       // per collection; at most MaxIndexesPerCollection
	DefaultMaxBodyBytes   = 16 << 20 // a request body (batches, SQL, import)
	MaxSQLRowsCeiling     = 1_000_000
	MaxSQLBytesCeiling    = 64 << 20
)

// Quotas are the limits of one tenant. In a tenant or usage response every
// field is set (the effective limit); in an update, a field that is 0 or
// absent falls back to the node's default.
type Quotas struct {
	StorageBytes   int64 `json:"storage_bytes"`   // database size, page_count*page_size
	MaxDocBytes    int64 `json:"max_doc_bytes"`   // largest document
	MaxCollections int64 `json:"max_collections"` // most collections
	MaxIndexes     int64 `json:"max_indexes"`     // most indexes per collection
	MaxBodyBytes   int64 `json:"max_body_bytes"`  // largest request body (batch, SQL, import)
	MaxSQLRows     int64 `json:"max_sql_rows"`    // most result rows of one SQL request
	MaxSQLBytes    int64 `json:"max_sql_bytes"`   // largest result of one SQL request
}

// Or returns q with every unset (zero) field taken from def.
func (q Quotas) Or(def Quotas) Quotas {
	if q.StorageBytes <= 0 {
		q.StorageBytes = def.StorageBytes
	}
	if q.MaxDocBytes <= 0 {
		q.MaxDocBytes = def.MaxDocBytes
	}
	if q.MaxCollections <= 0 {
		q.MaxCollections = def.MaxCollections
	}
	if q.MaxIndexes <= 0 {
		q.MaxIndexes = def.MaxIndexes
	}
	if q.MaxBodyBytes <= 0 {
		q.MaxBodyBytes = def.MaxBodyBytes
	}
	if q.MaxSQLRows <= 0 {
		q.MaxSQLRows = def.MaxSQLRows
	}
	if q.MaxSQLBytes <= 0 {
		q.MaxSQLBytes = def.MaxSQLBytes
	}
	return q
}

// Usage is what a tenant uses, beside its quotas.
type Usage struct {
	StorageBytes int64            `json:"storage_bytes"`
	Documents    map[string]int64 `json:"documents"` // by collection
	Collections  int              `json:"collections"`
	Quotas       *Quotas          `json:"quotas,omitempty"`
}

// UsageReporter is a store that can measure its usage.
type UsageReporter interface {
	Usage(ctx context.Context) (*Usage, error)
}

// QuotasPatch changes a tenant's quota overrides: a nil field keeps the
// current value, a positive one overrides the node's default, 0 returns to
// the default. Negative values are refused.
type QuotasPatch struct {
	StorageBytes   *int64 `json:"storage_bytes"`
	MaxDocBytes    *int64 `json:"max_doc_bytes"`
	MaxCollections *int64 `json:"max_collections"`
	MaxIndexes     *int64 `json:"max_indexes"`
	MaxBodyBytes   *int64 `json:"max_body_bytes"`
	MaxSQLRows     *int64 `json:"max_sql_rows"`
	MaxSQLBytes    *int64 `json:"max_sql_bytes"`
}

// QuotaSetter is a tenant catalog whose tenants' quotas an admin can
// override. SetTenantQuotas applies p to the tenant's overrides and returns
// the updated tenant.
type QuotaSetter interface {
	SetTenantQuotas(ctx context.Context, tenant string, p QuotasPatch) (*Tenant, error)
}

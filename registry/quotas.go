package registry

import (
	"context"
	"fmt"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/sqlite"
)

var _ quire.QuotaSetter = (*Registry)(nil)

// checkQuotas fills the node's default quotas.
func (c *Config) checkQuotas() error {
	q := c.Quotas
	if q.StorageBytes < 0 || q.MaxDocBytes < 0 || q.MaxCollections < 0 || q.MaxIndexes < 0 || q.MaxBodyBytes < 0 || q.MaxSQLRows < 0 || q.MaxSQLBytes < 0 {
		return fmt.Errorf("quotas may not be negative")
	}
	maxDoc := int64(c.Store.MaxDocBytes)
	if maxDoc <= 0 {
		maxDoc = quire.DefaultMaxDocBytes
	}
	c.Quotas = c.Quotas.Or(quire.Quotas{
		StorageBytes:   quire.DefaultStorageBytes,
		MaxDocBytes:    maxDoc,
		MaxCollections: quire.DefaultMaxCollections,
		MaxIndexes:     quire.DefaultMaxIndexes,
		MaxBodyBytes:   quire.DefaultMaxBodyBytes,
		MaxSQLRows:     quire.MaxSQLRows,
		MaxSQLBytes:    quire.MaxSQLResultBytes,
	})
	if c.Quotas.MaxIndexes > quire.MaxIndexesPerCollection {
		return fmt.Errorf("default max indexes %d is over the ceiling of %d", c.Quotas.MaxIndexes, quire.MaxIndexesPerCollection)
	}
	if c.Quotas.MaxDocBytes > maxDoc {
		return fmt.Errorf("default max document size %d is over the node's largest document %d", c.Quotas.MaxDocBytes, maxDoc)
	}
	return nil
}

// noteQuotas records the quota overrides t was loaded with (t.Quotas, nil
// for none) and replaces them with the effective quotas; r.mu must be held
// or r not yet shared.
func (r *Registry) noteQuotas(t *quire.Tenant) {
	if r.overrides == nil {
		r.overrides = map[string]quire.Quotas{}
	}
	var o quire.Quotas
	if t.Quotas != nil {
		o = *t.Quotas
	}
	r.overrides[t.ID] = o
	eff := o.Or(r.cfg.Quotas)
	t.Quotas = &eff
}

// applyQuotas gives an opened store its tenant's quotas; r.mu must be held.
func (r *Registry) applyQuotas(st *sqlite.Store, tenant string) {
	if t := r.tenants[tenant]; t != nil && t.Quotas != nil {
		st.SetQuotas(*t.Quotas)
	} else {
		st.SetQuotas(r.cfg.Quotas)
	}
}

// SetTenantQuotas changes a tenant's quota overrides, records them in the
// catalog and applies them to its store if open. A document size over the
// node's --max-doc-bytes is refused: the server reads no larger body.
func (r *Registry) SetTenantQuotas(ctx context.Context, id string, p quire.QuotasPatch) (*quire.Tenant, error) {
	fields := []struct {
		name string
		v    *int64
	}{{"storage_bytes", p.StorageBytes}, {"max_doc_bytes", p.MaxDocBytes}, {"max_collections", p.MaxCollections}, {"max_indexes", p.MaxIndexes}, {"max_body_bytes", p.MaxBodyBytes}, {"max_sql_rows", p.MaxSQLRows}, {"max_sql_bytes", p.MaxSQLBytes}}
	for _, f := range fields {
		if f.v != nil && *f.v < 0 {
			return nil, quire.Errorf(quire.EInvalid, "quotas.%s may not be negative", f.name)
		}
	}
	if maxDoc := int64(r.cfg.Store.MaxDocBytes); p.MaxDocBytes != nil && maxDoc > 0 && *p.MaxDocBytes > maxDoc {
		return nil, quire.Errorf(quire.EInvalid, "quotas.max_doc_bytes may be at most %d, this node's largest document", maxDoc)
	}
	if p.MaxDocBytes != nil && r.cfg.Store.MaxDocBytes <= 0 && *p.MaxDocBytes > quire.DefaultMaxDocBytes {
		return nil, quire.Errorf(quire.EInvalid, "quotas.max_doc_bytes may be at most %d, this node's largest document", quire.DefaultMaxDocBytes)
	}
	if p.MaxIndexes != nil && *p.MaxIndexes > quire.MaxIndexesPerCollection {
		return nil, quire.Errorf(quire.EInvalid, "quotas.max_indexes may be at most %d", quire.MaxIndexesPerCollection)
	}
	if p.MaxBodyBytes != nil && *p.MaxBodyBytes > r.cfg.Quotas.MaxBodyBytes {
		return nil, quire.Errorf(quire.EInvalid, "quotas.max_body_bytes may be at most %d, this node's largest request body", r.cfg.Quotas.MaxBodyBytes)
	}
	if p.MaxSQLRows != nil && *p.MaxSQLRows > quire.MaxSQLRowsCeiling {
		return nil, quire.Errorf(quire.EInvalid, "quotas.max_sql_rows may be at most %d", quire.MaxSQLRowsCeiling)
	}
	if p.MaxSQLBytes != nil && *p.MaxSQLBytes > quire.MaxSQLBytesCeiling {
		return nil, quire.Errorf(quire.EInvalid, "quotas.max_sql_bytes may be at most %d", quire.MaxSQLBytesCeiling)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.tenants[id]
	if !ok {
		return nil, tenantNotFound(id)
	}
	o := r.overrides[id]
	if p.StorageBytes != nil {
		o.StorageBytes = *p.StorageBytes
	}
	if p.MaxDocBytes != nil {
		o.MaxDocBytes = *p.MaxDocBytes
	}
	if p.MaxCollections != nil {
		o.MaxCollections = *p.MaxCollections
	}
	if p.MaxIndexes != nil {
		o.MaxIndexes = *p.MaxIndexes
	}
	if p.MaxBodyBytes != nil {
		o.MaxBodyBytes = *p.MaxBodyBytes
	}
	if p.MaxSQLRows != nil {
		o.MaxSQLRows = *p.MaxSQLRows
	}
	if p.MaxSQLBytes != nil {
		o.MaxSQLBytes = *p.MaxSQLBytes
	}
	if err := r.catalog.SetTenantQuotas(ctx, id, o); err != nil {
		return nil, err
	}
	// Tenants are shared with readers of r.tenants: replace, never mutate.
	t := *cur
	t.Quotas = &o
	r.noteQuotas(&t)
	r.tenants[id] = &t
	if ot := r.open[id]; ot != nil && ot.store != nil && ot.closing == nil {
		ot.store.SetQuotas(*t.Quotas)
	}
	return &t, nil
}

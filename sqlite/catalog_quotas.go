package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/quiredb/quire"
)

// migrateCatalog brings a catalog created by an older Quire up to date:
// the tenants' quota overrides column.
func migrateCatalog(db *sql.DB) error {
	var n int
	err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('tenants') WHERE name = 'quotas'`).Scan(&n)
	if err != nil || n > 0 {
		return err
	}
	_, err = db.Exec(`ALTER TABLE tenants ADD COLUMN quotas TEXT NOT NULL DEFAULT '{}'`)
	return err
}

// SetTenantQuotas records a tenant's quota overrides (zero fields: the
// node's default).
func (c *Catalog) SetTenantQuotas(ctx context.Context, id string, q quire.Quotas) error {
	b, _ := json.Marshal(q)
	res, err := c.db.ExecContext(ctx, `UPDATE tenants SET quotas = ? WHERE id = ?`, string(b), id)
	if err != nil {
		return classify(err, "set tenant quotas")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return quire.Errorf(quire.ENotFound, "tenant %q not found", id)
	}
	return nil
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/quiredb/quire"
)

// migrateCatalogRateLimits adds the rate_limit columns of tenants and keys
// to a catalog created by an older Quire. NULL is no limit, so existing
// rows need no backfill.
func migrateCatalogRateLimits(db *sql.DB) error {
	for _, table := range []string{"tenants", "keys"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = 'rate_limit'`, table).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := db.Exec(`ALTER TABLE ` + table + ` ADD COLUMN rate_limit TEXT`); err != nil {
				return err
			}
		}
	}
	return nil
}

// RateLimits returns the rate limits recorded for tenants and for keys,
// by id.
func (c *Catalog) RateLimits(ctx context.Context) (tenants, keys map[string]*quire.RateLimit, err error) {
	if tenants, err = c.rateLimits(ctx, "tenants"); err != nil {
		return nil, nil, err
	}
	if keys, err = c.rateLimits(ctx, "keys"); err != nil {
		return nil, nil, err
	}
	return tenants, keys, nil
}

func (c *Catalog) rateLimits(ctx context.Context, table string) (map[string]*quire.RateLimit, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT id, rate_limit FROM `+table+` WHERE rate_limit IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*quire.RateLimit{}
	for rows.Next() {
		var id, js string
		if err := rows.Scan(&id, &js); err != nil {
			return nil, err
		}
		l := &quire.RateLimit{}
		if err := json.Unmarshal([]byte(js), l); err != nil {
			return nil, fmt.Errorf("%s %q: bad rate limit: %w", table, id, err)
		}
		out[id] = l
	}
	return out, rows.Err()
}

// SetTenantRateLimit records a tenant's rate limit; nil removes it.
func (c *Catalog) SetTenantRateLimit(ctx context.Context, id string, l *quire.RateLimit) error {
	return c.setRateLimit(ctx, "tenants", "tenant", id, l)
}

// SetKeyRateLimit records a key's rate limit; nil removes it.
func (c *Catalog) SetKeyRateLimit(ctx context.Context, id string, l *quire.RateLimit) error {
	return c.setRateLimit(ctx, "keys", "key", id, l)
}

func (c *Catalog) setRateLimit(ctx context.Context, table, what, id string, l *quire.RateLimit) error {
	var v any // NULL: no limit
	if l != nil {
		b, _ := json.Marshal(l)
		v = string(b)
	}
	res, err := c.db.ExecContext(ctx, `UPDATE `+table+` SET rate_limit = ? WHERE id = ?`, v, id)
	if err != nil {
		return classify(err, "set "+what+" rate limit")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return quire.Errorf(quire.ENotFound, "%s %q not found", what, id)
	}
	return nil
}

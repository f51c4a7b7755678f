package sqlite

import (
	"context"

	"github.com/quiredb/quire"
)

var _ quire.UsageReporter = (*Store)(nil)

// SetQuotas sets the tenant's limits; zero fields keep the store's
// options (MaxDocBytes) or mean no limit (storage, collections). It may be
// called at any time: the next write sees the new limits.
func (s *Store) SetQuotas(q quire.Quotas) { s.quotas.Store(&q) }

// limits returns the quotas set with SetQuotas, or none.
func (s *Store) limits() quire.Quotas {
	if q := s.quotas.Load(); q != nil {
		return *q
	}
	return quire.Quotas{}
}

// maxDocBytes is the largest document this tenant may store.
func (s *Store) maxDocBytes() int {
	if n := s.limits().MaxDocBytes; n > 0 {
		return int(n)
	}
	return s.opts.MaxDocBytes
}

// maxIndexes is the most indexes one collection of this tenant may have.
func (s *Store) maxIndexes() int {
	if n := s.limits().MaxIndexes; n > 0 {
		return int(min(n, quire.MaxIndexesPerCollection))
	}
	return quire.DefaultMaxIndexes
}

// sqlLimit is a tenant's SQL result limit: its quota, or def without one.
func (s *Store) sqlLimit(quota int64, def int) int {
	if quota > 0 {
		return int(quota)
	}
	return def
}

// checkCollectionCount refuses creating a collection past the tenant's
// collection quota. It runs on the writer, so the count is exact.
func (s *Store) checkCollectionCount() error {
	limit := s.limits().MaxCollections
	if n := int64(len(*s.colls.Load())); limit > 0 && n >= limit {
		return quire.Errorf(quire.EQuotaExceeded, "this tenant has %d collections, its quota is %d", n, limit)
	}
	return nil
}

// pageCount returns the size in pages of the database as the writer's
// transaction sees it, and the page size. It reads the pager's state: no
// I/O, no fsync.
func (s *Store) pageCount() (pages int64, err error) {
	ctx := context.Background()
	if s.pageSize == 0 {
		if err := s.wconn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&s.pageSize); err != nil {
			return 0, err
		}
	}
	err = s.wconn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages)
	return pages, err
}

// notePages records the database size at the start of a group; writer
// goroutine only.
func (s *Store) notePages() {
	if p, err := s.pageCount(); err == nil {
		s.pages, s.pagesBound = p, p
	}
}

// exactPages counts the database's pages again if requests that skipped
// their storage check ran since the last count, so that checkStorage
// compares with the size before the request it checks.
func (s *Store) exactPages() {
	if s.pagesBound != s.pages {
		s.notePages()
	}
}

// storageCovered reports whether a request that can grow the database by
// at most the bound g returns stays within the storage quota whatever it
// does, so its exact check can be skipped. Its bound then counts against
// the quota until the next exact count. Without a bound, it is false.
func (s *Store) storageCovered(g func() growth) bool {
	limit := s.limits().StorageBytes
	if limit <= 0 {
		return true
	}
	if g == nil || s.pageSize <= 0 {
		return false
	}
	n := g().pages(s.pageSize)
	if n <= 0 || (s.pagesBound+n)*s.pageSize > limit {
		return false
	}
	s.pagesBound += n
	return true
}

// growth bounds what a request can add to the database: it inserts at
// most trees entries into B-trees (a row into a table, an entry into an
// index), none of them more than payload bytes. Requests whose growth is
// unknown (updates may add history rows of any size) have none.
type growth struct{ trees, payload int64 }

// maxBtreeDepth is the deepest SQLite lets a B-tree be: a deeper one is
// reported as corrupt (BTCURSOR_MAX_DEPTH).
const maxBtreeDepth = 20

// pages is an upper bound of the pages the inserts of g can add to a
// database of pageSize pages. One insert writes its cell, with an overflow
// chain if the cell is larger than a page; a page that overflows is split
// by balancing it with its siblings, three pages into at most five, which
// may push up to two divider cells into the parent, each with an overflow
// chain of its own in an index (whose dividers carry whole keys); that
// repeats at most once per level, and the root may gain a level.
func (g growth) pages(pageSize int64) int64 {
	if g.trees <= 0 || pageSize <= 4 {
		return 0
	}
	chain := g.payload/(pageSize-4) + 1
	perInsert := chain + (maxBtreeDepth+1)*2*(1+chain) + 1
	return g.trees * perInsert
}

// checkStorage runs after each write request that storageCovered could
// not clear, inside its savepoint (or alone in its group): a request that
// grew the database past the storage quota fails (and is rolled back) with
// EStorageQuotaExceeded. A request that does not grow it (a delete, an
// update in place) always passes, so a tenant over its quota can still
// free space.
func (s *Store) checkStorage() error {
	limit := s.limits().StorageBytes
	if limit <= 0 {
		return nil
	}
	pages, err := s.pageCount()
	if err != nil {
		return classify(err, "page count")
	}
	if pages > s.pages && pages*s.pageSize > limit {
		return quire.Errorf(quire.EStorageQuotaExceeded,
			"this write would grow the tenant's database to %d bytes, over its storage quota of %d bytes", pages*s.pageSize, limit)
	}
	s.pages, s.pagesBound = pages, pages
	return nil
}

// Usage measures the tenant: its database size and the documents of each
// collection. Counting reads every collection's primary key index.
func (s *Store) Usage(ctx context.Context) (*quire.Usage, error) {
	conn, release, err := s.readConn(ctx, "usage")
	if err != nil {
		return nil, err
	}
	defer release()
	u := &quire.Usage{Documents: map[string]int64{}}
	var pages, size int64
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return nil, classify(err, "usage")
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&size); err != nil {
		return nil, classify(err, "usage")
	}
	u.StorageBytes = pages * size
	colls, _ := s.Collections(ctx)
	u.Collections = len(colls)
	for _, c := range colls {
		var n int64
		// The collection may be dropped between listing and counting.
		err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(c.Name)).Scan(&n)
		if err != nil {
			if _, gone := s.collection(c.Name); gone != nil {
				continue
			}
			return nil, classify(err, "usage")
		}
		u.Documents[c.Name] = n
	}
	return u, nil
}

package sqlite

import (
	"context"
	"encoding/json"

	"github.com/quiredb/quire"
)

// The read paths through the tenant's read cache. The rules deciding what
// may be served live in the cache (package cache, Namespace); the store
// only offers what it read together with the position it loaded before
// reading, and tells the cache about commits (writer.go).

// ReadDoc reads a document by id, from the cache when it may.
func (s *Store) ReadDoc(ctx context.Context, r quire.DocRead) (*quire.Document, quire.Bookmark, quire.CacheStatus, error) {
	if _, err := s.collection(r.Collection); err != nil {
		return nil, quire.Bookmark{}, "", err
	}
	now := s.Position()
	status := quire.CacheBypass
	if s.cache != nil && !r.NoCache {
		d, at, st := s.cache.Doc(r.Collection, r.ID, r.After, now)
		if st == quire.CacheHit {
			return d, at, st, nil
		}
		status = st
	}
	d, err := s.Get(ctx, r.Collection, r.ID)
	if err != nil {
		return nil, now, status, err
	}
	if s.cache != nil {
		s.cache.FillDoc(r.Collection, r.ID, d, now)
	}
	return d, now, status, nil
}

// cachedQuery answers a query from the cache when it may, and offers what
// it reads from the database. Results are shared between requests: the
// caller gets a copy of the result header, never writes to its documents.
func (s *Store) cachedQuery(ctx context.Context, q quire.Query) (*quire.QueryResult, error) {
	key, err := queryKey(&q)
	if err != nil {
		return s.timedQuery(ctx, q)
	}
	now := s.Position()
	status := quire.CacheBypass
	if !q.NoCache {
		v, _, st := s.cache.Result(key, q.Since, now)
		if st == quire.CacheHit {
			res := *v.(*quire.QueryResult)
			res.Cache, res.RowsRead = quire.CacheHit, 0
			return &res, nil
		}
		status = st
	}
	res, err := s.timedQuery(ctx, q)
	if err != nil {
		return nil, err
	}
	shared := *res
	if a := s.pageAnchor(&q, res); a != nil {
		s.cache.FillPage(q.Collection, key, a, &shared, resultSize(res), now)
	} else {
		deps := []string{q.Collection}
		for _, j := range q.Join {
			deps = append(deps, j.Collection)
		}
		s.cache.FillResult(key, deps, &shared, resultSize(res), now)
	}
	res.Cache = status
	return res, nil
}

// pageAnchor returns the anchor of a query page (quire.PageAnchor), or nil
// if the page must count as depending on its whole collection: it joins,
// it counts matches beyond its last document, or no part of its filter
// that every match satisfies is an equality or prefix on a text index.
//
// A page that is not the last one holds the first matches in order and
// says that one more exists (Next). Its anchor includes that next match
// (NextID): a match further on may change or leave without changing
// either, and one that moves into the page matches after its write.
func (s *Store) pageAnchor(q *quire.Query, res *quire.QueryResult) *quire.PageAnchor {
	if len(q.Join) > 0 || q.Where == nil || q.Count && res.Next != "" || res.Next != "" && res.NextID == "" {
		return nil
	}
	c, err := s.collection(q.Collection)
	if err != nil {
		return nil
	}
	conds := []*quire.Filter{q.Where}
	if q.Where.Op == quire.OpAnd {
		conds = q.Where.Sub
	}
	for _, f := range conds {
		a := textAnchor(c, f)
		if a == nil {
			continue
		}
		a.IDs = make([]string, len(res.Docs), len(res.Docs)+1)
		for i := range res.Docs {
			a.IDs[i] = res.Docs[i].ID
		}
		if res.Next != "" {
			a.IDs = append(a.IDs, res.NextID)
		}
		return a
	}
	return nil
}

// textAnchor returns f as an anchor if it is an equality with a string, or
// a prefix whose range has an upper bound, on a text index field: then the
// SQL compares the index column (json_extract of its path) with the string
// bytewise, which is what the cache reproduces on written bodies.
func textAnchor(c *quire.Collection, f *quire.Filter) *quire.PageAnchor {
	v, ok := f.Value.(string)
	if !ok || f.Op != quire.OpEq && f.Op != quire.OpPrefix {
		return nil
	}
	r, err := resolve(c, mainAlias, f.Field)
	if err != nil || !r.indexed || r.typ != quire.IndexText || r.path == "" {
		return nil
	}
	if f.Op == quire.OpPrefix {
		if _, bounded := prefixUpperBound(v); !bounded {
			return nil
		}
	}
	return &quire.PageAnchor{Path: r.path, Prefix: f.Op == quire.OpPrefix, Value: v}
}

// queryKey identifies a query among the tenant's cached results: its
// collection and its canonical JSON (filters render canonically).
func queryKey(q *quire.Query) (string, error) {
	b, err := json.Marshal(q)
	if err != nil {
		return "", err
	}
	return "q" + q.Collection + "\x00" + string(b), nil
}

// resultSize approximates the memory a query result holds.
func resultSize(res *quire.QueryResult) int {
	n := 64 + len(res.Next)
	for i := range res.Docs {
		d := &res.Docs[i]
		n += 96 + len(d.ID) + len(d.Body)
		for _, j := range d.Joins {
			n += 24 + len(j)
		}
	}
	return n
}

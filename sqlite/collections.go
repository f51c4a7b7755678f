package sqlite

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/quiredb/quire"
)

// PutCollection creates the collection, or, if it exists, reconciles its
// indexes with c: fields not in c are dropped, new ones added (VIRTUAL),
// and fields whose definition changed are re-created.
func (s *Store) PutCollection(ctx context.Context, c quire.Collection) (*quire.Collection, quire.Bookmark, error) {
	if err := c.Validate(); err != nil {
		return nil, quire.Bookmark{}, err
	}
	return s.schemaChange(ctx, c.Name, func(t *txn, cur *quire.Collection) (*quire.Collection, error) {
		if cur == nil {
			if err := s.checkCollectionCount(); err != nil {
				return nil, err
			}
			if taken, err := t.tableExists(c.Name); err != nil || taken {
				if err == nil {
					err = quire.Errorf(quire.EConflict, "%q is the name of a SQL table of this tenant, not a collection", c.Name)
				}
				return nil, err
			}
			next := &quire.Collection{Name: c.Name, History: c.History, CreatedAt: time.UnixMilli(t.now).UTC()}
			for _, ix := range c.Indexes {
				ix.Stored = true
				next.Indexes = append(next.Indexes, ix)
			}
			return next, t.execAll(createCollection(next))
		}
		next := cur
		for _, ix := range cur.Indexes {
			want, ok := c.Index(ix.Field)
			if !ok || !sameIndex(want, ix) {
				var err error
				if next, err = t.dropIndex(next, ix.Field); err != nil {
					return nil, err
				}
			}
		}
		for _, ix := range c.Indexes {
			if _, ok := next.Index(ix.Field); !ok {
				var err error
				if next, err = t.addIndex(next, ix); err != nil {
					return nil, err
				}
			}
		}
		if next.History != c.History {
			return t.setHistory(next, c.History)
		}
		return next, nil
	})
}

// sameIndex reports whether two specs define the same index, ignoring
// whether the column is STORED or VIRTUAL.
func sameIndex(a, b quire.IndexSpec) bool {
	return a.Field == b.Field && a.Path == b.Path && a.Type == b.Type && a.Unique == b.Unique
}

// DeleteCollection drops a collection, its documents and their kept
// versions. Its entries in the change log stay: they are history.
func (s *Store) DeleteCollection(ctx context.Context, name string) (quire.Bookmark, error) {
	if _, err := s.collection(name); err != nil {
		return quire.Bookmark{}, err
	}
	_, b, err := s.schemaChange(ctx, name, func(t *txn, cur *quire.Collection) (*quire.Collection, error) {
		if cur == nil {
			return nil, quire.Errorf(quire.ENotFound, "collection %q not found", name)
		}
		// DROP TABLE fires no triggers: log every document as deleted,
		// so a change-feed consumer mirroring the data learns they went.
		if err := t.exec(`INSERT INTO _quire_changes (seq, collection, doc_id, op, version, at, key_id)
			SELECT ?, ?, id, 'delete', _version, ?, '' FROM `+quoteIdent(name)+` ORDER BY id`, int64(t.seq), name, t.now); err != nil {
			return nil, err
		}
		if err := t.exec("DROP TABLE " + quoteIdent(name)); err != nil {
			return nil, err
		}
		return nil, t.exec("DELETE FROM _quire_history WHERE collection = ?", name)
	})
	return b, err
}

// AddIndex adds an indexed field to an existing collection.
func (s *Store) AddIndex(ctx context.Context, collection string, ix quire.IndexSpec) (*quire.Collection, quire.Bookmark, error) {
	if err := quire.CheckName("collection", collection); err != nil {
		return nil, quire.Bookmark{}, err
	}
	if err := ix.Normalize(); err != nil {
		return nil, quire.Bookmark{}, err
	}
	return s.schemaChange(ctx, collection, func(t *txn, cur *quire.Collection) (*quire.Collection, error) {
		if cur == nil {
			return nil, quire.Errorf(quire.ENotFound, "collection %q not found", collection)
		}
		if _, ok := cur.Index(ix.Field); ok {
			return nil, quire.Errorf(quire.EConflict, "collection %q already has an index %q", collection, ix.Field)
		}
		return t.addIndex(cur, ix)
	})
}

// DropIndex removes an indexed field from a collection.
func (s *Store) DropIndex(ctx context.Context, collection, field string) (*quire.Collection, quire.Bookmark, error) {
	if err := quire.CheckName("collection", collection); err != nil {
		return nil, quire.Bookmark{}, err
	}
	if err := quire.CheckFieldName(field); err != nil {
		return nil, quire.Bookmark{}, err
	}
	return s.schemaChange(ctx, collection, func(t *txn, cur *quire.Collection) (*quire.Collection, error) {
		if cur == nil {
			return nil, quire.Errorf(quire.ENotFound, "collection %q not found", collection)
		}
		if _, ok := cur.Index(field); !ok {
			return nil, quire.Errorf(quire.ENotFound, "collection %q has no index %q", collection, field)
		}
		return t.dropIndex(cur, field)
	})
}

// schemaChange runs change through the writer, alone in its transaction,
// records the resulting definition (nil: dropped) in _quire_collections,
// and publishes it to readers once committed.
func (s *Store) schemaChange(ctx context.Context, name string, change func(t *txn, cur *quire.Collection) (*quire.Collection, error)) (*quire.Collection, quire.Bookmark, error) {
	val, seq, err := s.submit(ctx, groupSchema, func(t *txn) (any, error) {
		cur := (*s.colls.Load())[name]
		next, err := change(t, cur)
		if err != nil {
			return nil, classify(err, "schema change")
		}
		if next == nil {
			err = t.exec("DELETE FROM _quire_collections WHERE name = ?", name)
		} else if limit := s.maxIndexes(); len(next.Indexes) > limit {
			err = quire.Errorf(quire.EQuotaExceeded, "collection %q would have %d indexes, this tenant's quota is %d", name, len(next.Indexes), limit)
		} else {
			spec, _ := json.Marshal(next.Indexes)
			err = t.exec(`INSERT INTO _quire_collections (name, spec, created_at) VALUES (?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET spec = excluded.spec`, name, string(spec), next.CreatedAt.UnixMilli())
		}
		if err != nil {
			return nil, classify(err, "record collection")
		}
		t.after = append(t.after, func() { s.publish(name, next) })
		return next, nil
	})
	if err != nil {
		return nil, quire.Bookmark{}, err
	}
	c, _ := val.(*quire.Collection)
	return c, quire.Bookmark{Epoch: s.epoch, Seq: seq}, nil
}

// publish replaces the readers' view of one collection (nil removes it).
// Only the writer calls it, after commit, so updates never race.
func (s *Store) publish(name string, c *quire.Collection) {
	m := maps.Clone(*s.colls.Load())
	if c == nil {
		delete(m, name)
	} else {
		m[name] = c
	}
	s.colls.Store(&m)
}

// tableExists reports whether the database has a table or view called name
// (a plain SQL table an admin key created, for instance).
func (t *txn) tableExists(name string) (bool, error) {
	var n int
	err := t.s.wconn.QueryRowContext(context.Background(),
		"SELECT count(*) FROM sqlite_schema WHERE name = ? COLLATE NOCASE", name).Scan(&n)
	return n > 0, err
}

func (t *txn) execAll(stmts []string) error {
	for _, q := range stmts {
		if err := t.exec(q); err != nil {
			return err
		}
	}
	return nil
}

// addIndex adds a VIRTUAL generated column and its index, returning the
// new definition. Building the index checks every existing document
// against the field's type.
func (t *txn) addIndex(cur *quire.Collection, ix quire.IndexSpec) (*quire.Collection, error) {
	ix.Stored = false
	if err := t.execAll(addIndex(cur.Name, ix)); err != nil {
		return nil, err
	}
	next := *cur
	next.Indexes = append(append([]quire.IndexSpec(nil), cur.Indexes...), ix)
	return &next, nil
}

// dropIndex drops an indexed field's index and column.
func (t *txn) dropIndex(cur *quire.Collection, field string) (*quire.Collection, error) {
	if err := t.execAll(dropIndex(cur.Name, field)); err != nil {
		return nil, err
	}
	next := *cur
	next.Indexes = nil
	for _, ix := range cur.Indexes {
		if ix.Field != field {
			next.Indexes = append(next.Indexes, ix)
		}
	}
	return &next, nil
}

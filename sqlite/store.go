package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quiredb/quire"
)

var _ quire.Store = (*Store)(nil)

// FileName is the name of a tenant's database inside its directory.
const FileName = "quire.db"

// Store is one tenant's open database: a writer goroutine owning the only
// write connection, and a pool of read-only connections.
type Store struct {
	tenant string
	opts   Options

	wdb   *sql.DB   // holds exactly one connection, wconn
	wconn *sql.Conn // owned by the writer goroutine after Open
	rdb   *sql.DB   // query_only connections
	// readSlots has one slot per read connection; see readers.go.
	readSlots chan struct{}
	ckpt      *checkpointer

	tag   uint32 // identifies this tenant's bookmarks
	epoch uint32 // bumped by restores
	seq   atomic.Uint64
	// tempStore is the writer connection's temp_store setting; only the
	// writer goroutine touches it.
	tempStore string
	colls     atomic.Pointer[map[string]*quire.Collection]
	wctx      *writeContext // the write the change-log triggers record; writer goroutine only
	// quotas are the tenant's limits (see usage.go); pages and pageSize
	// are the database's size as the writer last counted it, pagesBound
	// an upper bound of its size since (writer goroutine only).
	quotas     atomic.Pointer[quire.Quotas]
	pages      int64
	pagesBound int64
	pageSize   int64

	// cache is the tenant's read cache and notify hears of every commit;
	// both are set before the store is shared (SetCache, SetNotify).
	cache  quire.TenantCache
	notify func(quire.Bookmark)

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	reqs   chan *writeReq
	done   chan struct{}
}

// Open opens (creating if needed) the database of tenant in dir and starts
// its writer.
func Open(dir, tenant string, opts Options) (*Store, error) {
	if err := quire.CheckName("tenant", tenant); err != nil {
		return nil, err
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open tenant %q: %w", tenant, err)
	}
	path := filepath.Join(dir, FileName)
	s := &Store{tenant: tenant, opts: opts, reqs: make(chan *writeReq, 4096), done: make(chan struct{}),
		readSlots: make(chan struct{}, opts.Readers)}
	var err error
	if s.wdb, err = openDB(path, opts, roleWriter, 1); err != nil {
		return nil, fmt.Errorf("open tenant %q: %w", tenant, err)
	}
	ctx := context.Background()
	if s.wconn, err = s.wdb.Conn(ctx); err == nil {
		err = s.init(ctx)
	}
	if err == nil {
		s.rdb, err = openDB(path, opts, roleReader, opts.Readers)
	}
	if err == nil {
		if s.ckpt, err = startCheckpointer(path, opts); err != nil {
			s.rdb.Close()
		}
	}
	if err != nil {
		if s.wconn != nil {
			s.wconn.Close()
		}
		s.wdb.Close()
		return nil, fmt.Errorf("open tenant %q: %w", tenant, err)
	}
	go s.writeLoop()
	return s, nil
}

// init creates the internal tables, the tenant's identity on first open,
// and loads the committed position and collections.
func (s *Store) init(ctx context.Context) error {
	if err := s.setupWriter(ctx); err != nil {
		return err
	}
	if _, err := s.wconn.ExecContext(ctx, internalSchema+historySchema+locksSchema); err != nil {
		return err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	_, err := s.wconn.ExecContext(ctx, `INSERT OR IGNORE INTO _quire_meta(k, v) VALUES
		('incarnation', ?), ('epoch', 1), ('seq', 0)`, int64(binary.BigEndian.Uint32(b[:])))
	if err != nil {
		return err
	}
	var incarnation, epoch, seq int64
	err = s.wconn.QueryRowContext(ctx, `SELECT
		(SELECT v FROM _quire_meta WHERE k='incarnation'),
		(SELECT v FROM _quire_meta WHERE k='epoch'),
		(SELECT v FROM _quire_meta WHERE k='seq')`).Scan(&incarnation, &epoch, &seq)
	if err != nil {
		return err
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", s.tenant, incarnation))
	s.tag = binary.BigEndian.Uint32(h[:4])
	s.epoch = uint32(epoch)
	s.seq.Store(uint64(seq))
	if err := s.loadCollections(ctx); err != nil {
		return err
	}
	return s.ensureTriggers(ctx)
}

// loadCollections reads the collection catalog into the published map.
func (s *Store) loadCollections(ctx context.Context) error {
	rows, err := s.wconn.QueryContext(ctx, `SELECT name, spec, created_at FROM _quire_collections`)
	if err != nil {
		return err
	}
	defer rows.Close()
	m := map[string]*quire.Collection{}
	for rows.Next() {
		var name, spec string
		var created int64
		if err := rows.Scan(&name, &spec, &created); err != nil {
			return err
		}
		c := &quire.Collection{Name: name, CreatedAt: time.UnixMilli(created).UTC()}
		if err := json.Unmarshal([]byte(spec), &c.Indexes); err != nil {
			return fmt.Errorf("collection %q: bad spec: %w", name, err)
		}
		m[name] = c
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := loadHistoryFlags(ctx, s.wconn, m); err != nil {
		return err
	}
	s.colls.Store(&m)
	return nil
}

// Close stops accepting writes, lets the writer finish everything queued,
// and closes the connections.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	return errors.Join(s.ckpt.close(), s.rdb.Close(), s.wconn.Close(), s.wdb.Close())
}

// SetCache gives the store its tenant's read cache. Call it before the
// store is shared.
func (s *Store) SetCache(c quire.TenantCache) { s.cache = c }

// SetNotify makes the writer call f with the new position after every
// commit, before answering; f must return quickly. Call it before the
// store is shared.
func (s *Store) SetNotify(f func(quire.Bookmark)) { s.notify = f }

// FormatBookmark renders b as a token of this tenant.
func (s *Store) FormatBookmark(b quire.Bookmark) string { return b.Format(s.tag) }

// Position returns the latest committed position. A read that loads it
// before querying observes at least that position.
func (s *Store) Position() quire.Bookmark {
	return quire.Bookmark{Epoch: s.epoch, Seq: s.seq.Load()}
}

// CheckBookmark refuses a token that is malformed, from another tenant,
// from another epoch or from the future. Every committed position is visible
// to every reader on this node, so a valid bookmark needs no waiting.
func (s *Store) CheckBookmark(token string) error {
	_, err := s.ParseBookmark(token)
	return err
}

// ParseBookmark is CheckBookmark returning the position.
func (s *Store) ParseBookmark(token string) (quire.Bookmark, error) {
	b, err := quire.ParseBookmark(token, s.tag)
	if err != nil {
		return quire.Bookmark{}, err
	}
	if b.Epoch != s.epoch {
		return quire.Bookmark{}, quire.Errorf(quire.EInvalidBookmark, "bookmark is from another epoch of this tenant (it was restored since)")
	}
	if b.Seq > s.seq.Load() {
		return quire.Bookmark{}, quire.Errorf(quire.EInvalidBookmark, "bookmark is ahead of this tenant's history")
	}
	return b, nil
}

// collection returns the published definition of name, or ENotFound.
func (s *Store) collection(name string) (*quire.Collection, error) {
	if c := (*s.colls.Load())[name]; c != nil {
		return c, nil
	}
	if err := quire.CheckName("collection", name); err != nil {
		return nil, err
	}
	return nil, quire.Errorf(quire.ENotFound, "collection %q not found", name)
}

// Collections lists the tenant's collections by name.
func (s *Store) Collections(ctx context.Context) ([]*quire.Collection, error) {
	m := *s.colls.Load()
	out := make([]*quire.Collection, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Collection returns one collection's definition.
func (s *Store) Collection(ctx context.Context, name string) (*quire.Collection, error) {
	return s.collection(name)
}

// Package sqlite is Quire's storage engine: one SQLite database per tenant,
// written by a single writer goroutine with group commit and read through a
// small pool of read-only connections.
package sqlite

import (
	"database/sql"
	"fmt"
	"net/url"
	"runtime"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Durability selects how a commit reaches the disk.
type Durability string

// The durability levels.
const (
	// DurabilityFull fsyncs the WAL on every commit (synchronous=FULL): an
	// acknowledged write survives power loss.
	DurabilityFull Durability = "full"
	// DurabilityRelaxed uses synchronous=NORMAL: an acknowledged write
	// survives a crash of the process but may be lost on power loss.
	DurabilityRelaxed Durability = "relaxed"
)

// Options configure how tenant databases are opened.
type Options struct {
	Durability  Durability
	Readers     int           // read-only connections per tenant; 0 = number of CPUs
	BusyTimeout time.Duration // how long a connection waits for a lock
	MaxDocBytes int           // largest document body (after a patch too)
	MaxBatch    int           // most write requests grouped into one commit; default 4096
	// QueryTimeout stops a document query (POST .../query) that runs
	// longer, so one unindexed scan cannot hold a reader forever.
	QueryTimeout time.Duration
	// ChangeRetention is how long the change feed keeps changes (see
	// PruneChanges); default 30 days.
	ChangeRetention time.Duration
	// Observer, if set, is told about every group commit (for metrics).
	Observer Observer
}

// Observer watches the writer. Its methods are called on the writer
// goroutine and must return quickly.
type Observer interface {
	// ObserveCommit reports one group commit: how many write requests it
	// carried and how long it took, from BEGIN to the answers.
	ObserveCommit(requests int, d time.Duration)
}

func (o Options) withDefaults() Options {
	if o.Durability == "" {
		o.Durability = DurabilityFull
	}
	if o.Readers <= 0 {
		o.Readers = max(2, runtime.NumCPU())
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.MaxDocBytes <= 0 {
		o.MaxDocBytes = 2 << 20
	}
	if o.MaxBatch <= 0 {
		// Larger groups share index pages between more documents: less
		// WAL to write and fsync per document. At low concurrency groups
		// stay small, so this adds no latency there.
		o.MaxBatch = 4096
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 5 * time.Second
	}
	if o.ChangeRetention <= 0 {
		o.ChangeRetention = 30 * 24 * time.Hour
	}
	return o
}

// Validate reports whether the options are usable.
func (o Options) Validate() error {
	switch o.Durability {
	case "", DurabilityFull, DurabilityRelaxed:
		return nil
	}
	return fmt.Errorf("durability must be %q or %q, not %q", DurabilityFull, DurabilityRelaxed, o.Durability)
}

// writerDriver is mattn's driver with the per-connection settings a DSN
// cannot express, for writer connections; the others use mattn's driver
// as it is.
const (
	writerDriver = "quire-sqlite3-writer"
	readerDriver = "sqlite3"
)

// mmapBytes is how much of a database file the writer reads through a
// memory map instead of read() calls. It is address space, not heap: the
// pages are the kernel's page cache.
//
// Readers do not map the file. In WAL mode a reader whose transaction
// starts after any commit drops its page cache and unmaps the whole file
// (SQLite's pager, to guard against a file truncated behind its back), so
// under steady writes every read paid an munmap, TLB shootdowns and a page
// fault per page it touched: with 400 writes/s, 46% of indexed queries
// answered within 0.5 ms mapped against 78% unmapped. On a database
// nobody writes the two measure the same (docs/performance.md). The
// writer is never invalidated by its own commits, so it keeps its map.
const mmapBytes = 256 << 20

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(fmt.Sprintf("PRAGMA mmap_size = %d", mmapBytes), nil)
		return err
	}})
}

// connRole is what a database's connections are for.
type connRole int

const (
	roleWriter       connRole = iota // writes; maps the file (mmapBytes)
	roleReader                       // query_only, not mapped
	roleCheckpointer                 // runs checkpoints only, not mapped
)

// openDB opens path with the connection settings every Quire database uses:
// WAL, the chosen synchronous level, foreign keys, a busy timeout and the
// driver's prepared statement cache, plus those of role.
func openDB(path string, o Options, role connRole, conns int) (*sql.DB, error) {
	sync := "FULL"
	if o.Durability == DurabilityRelaxed {
		sync = "NORMAL"
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", sync)
	q.Set("_foreign_keys", "1")
	q.Set("_busy_timeout", fmt.Sprint(o.BusyTimeout.Milliseconds()))
	q.Set("_stmt_cache_size", "128")
	driver := readerDriver
	switch role {
	case roleWriter:
		q.Set("_txlock", "immediate")
		driver = writerDriver
	case roleReader:
		q.Set("_query_only", "1")
	}
	db, err := sql.Open(driver, "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

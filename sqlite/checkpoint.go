package sqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// checkpointer copies committed pages from the WAL back into the database
// file on a connection of its own, beside the writer, a little after
// commits happen. Without it SQLite does that copy inside the COMMIT that
// takes the WAL past walCheckpointPages: ~40 MB copied and fsynced while
// every write of the tenant waits, which made the slowest 2-3% of writes in
// a steady mix wait 10-100 ms.
//
// The writer keeps its automatic checkpoint as the backstop: a checkpoint
// here runs in PASSIVE mode, never waits for anyone and cannot by itself
// let the WAL start over while writes keep coming; the writer's own, at
// the end of a COMMIT, finds little left to copy and lets the WAL restart,
// so the WAL stays as bounded as before (TestCheckpointerBackfills).
type checkpointer struct {
	db   *sql.DB // one connection, used for nothing else
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	// runs counts the checkpoints that found a WAL to copy, for tests.
	runs atomic.Int64
}

// checkpointPause is how long the checkpointer lets commits accumulate
// before it copies them: at most a few checkpoints per second per tenant.
const checkpointPause = 250 * time.Millisecond

func startCheckpointer(path string, o Options) (*checkpointer, error) {
	db, err := openDB(path, o, roleCheckpointer, 1)
	if err != nil {
		return nil, err
	}
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

// noteCommit tells the checkpointer that the WAL has grown. It never
// blocks the writer.
func (c *checkpointer) noteCommit() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	pause := time.NewTimer(checkpointPause)
	defer pause.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		pause.Reset(checkpointPause)
		select {
		case <-c.stop:
			return
		case <-pause.C:
		}
		c.checkpoint()
	}
}

// checkpoint copies what it can without waiting. A failure is not
// reported here: the pages stay in the WAL, where reads find them, and the
// writer's automatic checkpoint tries again; a failing disk fails the
// writer's next commit, which its client sees.
func (c *checkpointer) checkpoint() {
	var busy, log, copied int64
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
	if err == nil && log > 0 {
		c.runs.Add(1)
	}
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}

package sqlite

import (
	"context"
	"database/sql"

	"github.com/quiredb/quire"
)

// Reads take turns for the tenant's read connections in arrival order.
// database/sql hands a connection that comes free to a random waiter, so
// under overload (4000 clients, 2 readers) some reads waited seconds while
// later ones went first: the closed-loop mix had read p99 of 6 s and timed
// out 65 reads in 15 s (docs/performance.md). Every read first takes one
// of readSlots, a channel as deep as the pool: goroutines blocked sending
// on a channel are woken in the order they came, and whoever holds a slot
// finds a connection free in the pool. A holder must not wait for a
// second slot (History reads its versions, gives the slot back, then reads
// the document): with every slot held that way, no read could go on.

// readSlot waits its turn for a read connection and returns the function
// that gives the turn back; call it once the connection is released (rows
// closed, Conn closed).
func (s *Store) readSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.readSlots <- struct{}{}:
		return s.releaseReadSlot, nil
	default:
	}
	select {
	case s.readSlots <- struct{}{}:
		return s.releaseReadSlot, nil
	case <-ctx.Done():
		return nil, quire.Errorf(quire.EUnavailable, "waiting for a read connection: %v", ctx.Err())
	}
}

func (s *Store) releaseReadSlot() { <-s.readSlots }

// readConn waits its turn (readSlot) and takes a read connection for the
// reads of one operation, named by what in errors. release closes the
// connection, then gives the turn back.
func (s *Store) readConn(ctx context.Context, what string) (conn *sql.Conn, release func(), err error) {
	done, err := s.readSlot(ctx)
	if err != nil {
		return nil, nil, err
	}
	conn, err = s.rdb.Conn(ctx)
	if err != nil {
		done()
		return nil, nil, classify(err, what)
	}
	return conn, func() { conn.Close(); done() }, nil
}

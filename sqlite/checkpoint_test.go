package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCheckpointerBackfills: shortly after commits, the checkpointer has
// copied the WAL into the database file, so the writer's own checkpoint
// finds nothing left to do; closing the store stops it.
func TestCheckpointerBackfills(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	if _, _, err := s.PutCollection(context.Background(), clients); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		put(t, s, "clients", fmt.Sprintf("c%d", i), fmt.Sprintf(`{"email":"%d@x","name":{"last":"L%d"}}`, i, i%7))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.ckpt.copied.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the checkpointer copied nothing within 10 s of 50 commits")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The last commits may have come after its checkpoint started: wait
	// until it has copied everything there is (it stops finding more).
	for before := int64(-1); before != s.ckpt.copied.Load() && time.Now().Before(deadline); {
		before = s.ckpt.copied.Load()
		time.Sleep(2 * checkpointPause)
	}
	var busy, log, copied int64
	if err := s.wconn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied); err != nil {
		t.Fatal(err)
	}
	if busy != 0 || log == 0 || copied != log {
		t.Errorf("writer's checkpoint after the checkpointer: busy %d, %d frames in the WAL, %d copied; want every frame already copied", busy, log, copied)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.ckpt.done:
	default:
		t.Error("the checkpointer still runs after Close")
	}
}

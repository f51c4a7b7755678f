package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestCheckpointerBackfills: shortly after commits, the checkpointer has
// copied the WAL into the database file (the writer's automatic checkpoint
// is far from due after 50 small commits); closing the store stops it.
func TestCheckpointerBackfills(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if _, _, err := s.PutCollection(context.Background(), clients); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		put(t, s, "clients", fmt.Sprintf("c%d", i), fmt.Sprintf(`{"email":"%d@x","name":{"last":"L%d"}}`, i, i%7))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.ckpt.runs.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the checkpointer did not run within 10 s of 50 commits")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The last commits may have come after its checkpoint started: wait
	// until it stops running (no commit is left to kick it).
	for before := int64(-1); before != s.ckpt.runs.Load() && time.Now().Before(deadline); {
		before = s.ckpt.runs.Load()
		time.Sleep(2 * checkpointPause)
	}
	// The database file alone, read as if there were no WAL, holds every
	// document: the checkpointer copied them there.
	file, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, FileName)+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var n int
	if err := file.QueryRow("SELECT count(*) FROM clients").Scan(&n); err != nil || n != 50 {
		t.Errorf("documents in the database file without its WAL: %d, %v; want all 50", n, err)
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

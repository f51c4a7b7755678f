package sqlite

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/quiredb/quire"
)

// TestReadsTakeTurns: reads waiting for a read connection get one in the
// order they came (database/sql alone picks a random waiter), and a read
// whose client gives up stops waiting.
func TestReadsTakeTurns(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), "acme", Options{Readers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	put(t, s, "docs", "d1", `{}`)
	release, err := s.readSlot(ctx) // the only reader is busy
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Get(ctx, "docs", "d1"); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		}()
		time.Sleep(20 * time.Millisecond) // let read i queue before read i+1
	}
	gaveUp, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Get(gaveUp, "docs", "d1"); quire.ErrorCode(err) != quire.EUnavailable {
		t.Errorf("a read whose context ended while waiting: %v, want unavailable", err)
	}
	release()
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("reads were served in the order %v, want the order they came", order)
		}
	}
}

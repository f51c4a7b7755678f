package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/quiredb/quire"
)

// TestQueryDeadline checks that a query running past QueryTimeout is
// stopped with a timeout error and that the store serves on afterwards.
func TestQueryDeadline(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), "acme", Options{Durability: DurabilityRelaxed, QueryTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	for b := range 5 {
		ops := make([]quire.WriteOp, 1000)
		for i := range ops {
			n := b*1000 + i
			ops[i] = quire.WriteOp{Op: quire.OpPut, Collection: "docs", ID: fmt.Sprintf("d%05d", n), Body: json.RawMessage(fmt.Sprintf(`{"n":%d,"ref":"d%05d"}`, n, n))}
		}
		if _, _, err := s.Write(ctx, ops, "k"); err != nil {
			t.Fatal(err)
		}
	}
	// An unindexed self-join: every returned document scans the collection.
	slow := quire.Query{Collection: "docs", Limit: 1000,
		Join: []quire.Join{{Collection: "docs", On: map[string]string{"$.ref": "id"}, As: "same"}}}
	start := time.Now()
	_, err = s.Query(ctx, slow)
	if got, want := quire.ErrorCode(err), quire.ETimeout; got != want {
		t.Fatalf("slow query: got %v, want code %s", err, want)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("slow query was stopped only after %s", elapsed)
	}
	res, err := s.Query(ctx, quire.Query{Collection: "docs", Limit: 5})
	if err != nil || len(res.Docs) != 5 {
		t.Fatalf("store after a timeout: %v, %d docs", err, len(res.Docs))
	}
}

// TestDeadlineStartsWithAReader: a query or SQL read that waits for a
// reader connection longer than its deadline (a loaded server) is answered
// once it gets one; only running past the deadline is a timeout.
func TestDeadlineStartsWithAReader(t *testing.T) {
	ctx := context.Background()
	const deadline = 300 * time.Millisecond
	s, err := Open(t.TempDir(), "acme", Options{Durability: DurabilityRelaxed, Readers: 1, QueryTimeout: deadline})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.PutCollection(ctx, quire.Collection{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	busy := func() {
		conn, err := s.rdb.Conn(ctx) // the only reader
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(3 * deadline)
			conn.Close()
		}()
	}
	busy()
	if _, err := s.Query(ctx, quire.Query{Collection: "docs", NoCache: true}); err != nil {
		t.Errorf("query that waited for a reader: %v", err)
	}
	busy()
	_, _, err = s.ExecSQL(ctx, quire.SQLRequest{Role: quire.RoleRead, Timeout: deadline,
		Statements: []quire.SQLStatement{{SQL: "SELECT count(*) FROM docs"}}})
	if err != nil {
		t.Errorf("SQL read that waited for a reader: %v", err)
	}
}

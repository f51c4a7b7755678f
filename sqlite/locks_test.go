package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quiredb/quire"
)

// lockCode fails the test unless err has code, and returns its details.
func lockCode(t *testing.T, what string, err error, code string) map[string]any {
	t.Helper()
	if got := quire.ErrorCode(err); got != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
	if err == nil {
		return nil
	}
	return err.(*quire.Error).Details
}

// waitFree polls until the lock's lease has ended, or fails the test.
func waitFree(t *testing.T, s *Store, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := s.Lock(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if !l.Held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock %s still held after 10 s: %+v", name, l)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLockLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())

	l, err := s.Lock(ctx, "job")
	if err != nil || l.Held || l.Token != 0 {
		t.Fatalf("never acquired: %+v, %v", l, err)
	}
	a, b, err := s.Acquire(ctx, "job", quire.LockRequest{Owner: "w1", TTLMillis: 60_000})
	if err != nil || a.Token != 1 || !a.Held || a.Owner != "w1" || b.Seq == 0 {
		t.Fatalf("acquire: %+v %v %v", a, b, err)
	}
	_, _, err = s.Acquire(ctx, "job", quire.LockRequest{Owner: "w2"})
	d := lockCode(t, "acquire of held lock", err, quire.ELockHeld)
	if d["owner"] != "w1" || d["expires_at"] != a.ExpiresAt || d["retry_after_ms"].(int64) <= 0 {
		t.Fatalf("lock_held details: %v", d)
	}
	r, _, err := s.Renew(ctx, "job", quire.LockRequest{Token: 1, TTLMillis: 120_000})
	if err != nil || r.Token != 1 || r.ExpiresAt < a.ExpiresAt {
		t.Fatalf("renew: %+v %v", r, err)
	}
	_, _, err = s.Renew(ctx, "job", quire.LockRequest{Token: 2})
	lockCode(t, "renew with a token never issued", err, quire.EStaleFence)

	_, released, _, err := s.Release(ctx, "job", 1)
	if err != nil || !released {
		t.Fatalf("release: %v %v", released, err)
	}
	// A retried release is harmless, and says the lease was gone.
	_, released, _, err = s.Release(ctx, "job", 1)
	if err != nil || released {
		t.Fatalf("second release: %v %v", released, err)
	}
	_, _, err = s.Renew(ctx, "job", quire.LockRequest{Token: 1})
	if d := lockCode(t, "renew after release", err, quire.EStaleFence); d["reason"] != "released" {
		t.Fatalf("details %v", d)
	}
	a2, _, err := s.Acquire(ctx, "job", quire.LockRequest{})
	if err != nil || a2.Token != 2 || a2.ExpiresAt-time.Now().UnixMilli() > quire.DefaultLockTTLMillis {
		t.Fatalf("reacquire: %+v %v", a2, err)
	}
	_, _, _, err = s.Release(ctx, "job", 1)
	if d := lockCode(t, "release with an old token", err, quire.EStaleFence); d["reason"] != "superseded" {
		t.Fatalf("details %v", d)
	}
	if l, _ := s.Lock(ctx, "job"); !l.Held || l.Token != 2 {
		t.Fatalf("old release touched the new lease: %+v", l)
	}
	_, _, _, err = s.Release(ctx, "nolock", 1)
	lockCode(t, "release of an unknown lock", err, quire.EStaleFence)
}

func TestLockBadInput(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	for _, name := range []string{"", "../x", "a;DROP", "Job", "jоb", "_quire_meta", "sqlite_x", strings.Repeat("a", 64)} {
		_, _, err := s.Acquire(ctx, name, quire.LockRequest{})
		lockCode(t, "acquire "+name, err, quire.EInvalidName)
		_, err = s.Lock(ctx, name)
		lockCode(t, "get "+name, err, quire.EInvalidName)
	}
	for _, r := range []quire.LockRequest{
		{TTLMillis: -1}, {TTLMillis: quire.MaxLockTTLMillis + 1}, {Token: 3},
		{Owner: strings.Repeat("x", 257)}, {Owner: "a\x00b"}, {Owner: "a\u202eb"}, {Owner: "\xff"},
	} {
		_, _, err := s.Acquire(ctx, "job", r)
		lockCode(t, "acquire with bad request", err, quire.EInvalid)
	}
	_, _, err := s.Renew(ctx, "job", quire.LockRequest{})
	lockCode(t, "renew without token", err, quire.EInvalid)
}

// TestCheckFences checks the fence rule on the writer: only the newest
// token of a live lease passes; the write is refused whole otherwise.
func TestCheckFences(t *testing.T) {
	ctx := context.Background()
	s := sqlStore(t)
	fenced := func(fs ...quire.Fence) error {
		_, _, err := s.Write(quire.WithFences(ctx, fs), []quire.WriteOp{{Op: quire.OpPut, Collection: "clients", ID: "c1",
			Body: json.RawMessage(`{"email":"fenced@x"}`)}}, "k1")
		return err
	}
	unchanged := func(what string) {
		t.Helper()
		d, err := s.Get(ctx, "clients", "c1")
		if err != nil || strings.Contains(string(d.Body), "fenced") {
			t.Fatalf("%s: document changed: %s %v", what, d.Body, err)
		}
	}
	if d := lockCode(t, "unknown lock", fenced(quire.Fence{Lock: "job", Token: 1}), quire.EStaleFence); d["reason"] != "unknown" {
		t.Fatalf("details %v", d)
	}
	unchanged("unknown lock")

	a, _, err := s.Acquire(ctx, "job", quire.LockRequest{TTLMillis: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.Acquire(ctx, "other", quire.LockRequest{TTLMillis: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	lockCode(t, "token from the future", fenced(quire.Fence{Lock: "job", Token: a.Token + 1}), quire.EStaleFence)
	lockCode(t, "one good fence, one bad", fenced(quire.Fence{Lock: "job", Token: a.Token}, quire.Fence{Lock: "other", Token: 9}), quire.EStaleFence)
	unchanged("bad fences")
	if err := fenced(quire.Fence{Lock: "job", Token: a.Token}, quire.Fence{Lock: "other", Token: other.Token}); err != nil {
		t.Fatalf("live fences refused: %v", err)
	}
	put(t, s, "clients", "c1", `{"email":"a@x"}`)

	// SQL writes are fenced too (they run on the writer the same way).
	if _, _, _, err := s.Release(ctx, "job", a.Token); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.ExecSQL(quire.WithFences(ctx, []quire.Fence{{Lock: "job", Token: a.Token}}), quire.SQLRequest{Role: quire.RoleWrite, KeyID: "k1",
		Statements: []quire.SQLStatement{{SQL: `UPDATE clients SET body = '{"email":"fenced@x"}' WHERE id = 'c1'`}}})
	if d := lockCode(t, "released lock, SQL write", err, quire.EStaleFence); d["reason"] != "released" {
		t.Fatalf("details %v", d)
	}
	unchanged("SQL write")

	// A lease that ran out refuses its holder even though nobody took
	// the lock since.
	short, _, err := s.Acquire(ctx, "job", quire.LockRequest{TTLMillis: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFree(t, s, "job")
	if d := lockCode(t, "expired lease", fenced(quire.Fence{Lock: "job", Token: short.Token}), quire.EStaleFence); d["reason"] != "expired" {
		t.Fatalf("details %v", d)
	}
	unchanged("expired lease")
	b2, _, err := s.Acquire(ctx, "job", quire.LockRequest{TTLMillis: 60_000})
	if err != nil || b2.Token != short.Token+1 {
		t.Fatalf("acquire after expiry: %+v %v", b2, err)
	}
	if d := lockCode(t, "superseded", fenced(quire.Fence{Lock: "job", Token: short.Token}), quire.EStaleFence); d["reason"] != "superseded" {
		t.Fatalf("details %v", d)
	}
	unchanged("superseded")
}

// TestLockTokensConcurrent runs acquire/release loops on one lock from
// many goroutines: every token is issued once, and a later grant (in
// commit order, which bookmarks give) always has a higher token.
func TestLockTokensConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	type grant struct {
		token int64
		seq   uint64
	}
	var mu sync.Mutex
	var grants []grant
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 20; {
				l, b, err := s.Acquire(ctx, "job", quire.LockRequest{TTLMillis: 60_000})
				if quire.ErrorCode(err) == quire.ELockHeld {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				grants = append(grants, grant{l.Token, b.Seq})
				mu.Unlock()
				if _, _, _, err := s.Release(ctx, "job", l.Token); err != nil {
					t.Error(err)
					return
				}
				n++
			}
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	bySeq := map[uint64]int64{}
	for _, g := range grants {
		if seen[g.token] {
			t.Fatalf("token %d issued twice", g.token)
		}
		seen[g.token] = true
		bySeq[g.seq] = g.token
	}
	if len(grants) != 16*20 {
		t.Fatalf("%d grants", len(grants))
	}
	var last int64
	for seq := uint64(0); seq <= s.Position().Seq; seq++ {
		if tok, ok := bySeq[seq]; ok {
			if tok <= last {
				t.Fatalf("grant at seq %d has token %d after %d", seq, tok, last)
			}
			last = tok
		}
	}
}

// TestLockTokensAcrossRestarts reopens the store, and moves it to a new
// epoch as a restore would: tokens never go back.
func TestLockTokensAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, "acme", Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.Acquire(ctx, "job", quire.LockRequest{TTLMillis: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir, "acme", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Lock(ctx, "job"); !l.Held || l.Token != a.Token {
		t.Fatalf("lease lost by reopening: %+v", l)
	}
	if _, _, _, err := s.Release(ctx, "job", a.Token); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A restore rolls the table back with the database but bumps the
	// epoch: set it by hand, as the restore does.
	db, err := sql.Open("sqlite3", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE _quire_meta SET v = 2 WHERE k = 'epoch'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openTestStore(t, dir)
	b, _, err := s.Acquire(ctx, "job", quire.LockRequest{})
	if err != nil || b.Token != 1<<epochTokenBits+1 {
		t.Fatalf("acquire in epoch 2: %+v %v", b, err)
	}
	_, _, _, err = s.Release(ctx, "job", b.Token)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := s.Acquire(ctx, "job", quire.LockRequest{})
	if err != nil || c.Token != b.Token+1 {
		t.Fatalf("next acquire in epoch 2: %+v %v", c, err)
	}
}

func TestTokenFloor(t *testing.T) {
	if tokenFloor(0) != 1 || tokenFloor(1) != 1 || tokenFloor(2) != 1<<40+1 || tokenFloor(^uint32(0)) <= 0 {
		t.Fatalf("floors: %d %d %d %d", tokenFloor(0), tokenFloor(1), tokenFloor(2), tokenFloor(^uint32(0)))
	}
}

// TestLocksHiddenFromSQL checks that the sandbox keeps users' SQL, of any
// role, away from the lock table: no reading tokens, no forging them.
func TestLocksHiddenFromSQL(t *testing.T) {
	ctx := context.Background()
	s := sqlStore(t)
	if _, _, err := s.Acquire(ctx, "job", quire.LockRequest{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT * FROM _quire_locks`,
		`SELECT (SELECT max(token) FROM _quire_locks) AS t`,
		`SELECT * FROM main._quire_locks`,
		`SELECT * FROM "_QUIRE_LOCKS"`,
		`WITH x AS (SELECT token FROM _quire_locks) SELECT * FROM x`,
		`UPDATE clients SET body = (SELECT json_object('t', token) FROM _quire_locks) WHERE id = 'c1'`,
		`INSERT INTO _quire_locks(name, token) VALUES ('job', 999)`,
		`UPDATE _quire_locks SET token = 999, expires_at = NULL`,
		`DELETE FROM _quire_locks`,
		`DROP TABLE _quire_locks`,
		`ALTER TABLE _quire_locks RENAME TO x`,
		`CREATE INDEX x ON _quire_locks(token)`,
		`PRAGMA table_info(_quire_locks)`,
		`SELECT * FROM pragma_table_info('_quire_locks')`,
	} {
		for _, role := range []quire.Role{quire.RoleRead, quire.RoleWrite, quire.RoleAdmin} {
			_, _, err := execSQL(s, role, q)
			if code := quire.ErrorCode(err); code != quire.EForbidden {
				t.Errorf("%s as %s: got %v, want refused", q, role, err)
			}
		}
	}
	if l, _ := s.Lock(ctx, "job"); !l.Held || l.Token != 1 {
		t.Fatalf("lock changed by SQL: %+v", l)
	}
}

// commitRecorder is a read cache that only records the commits it hears.
type commitRecorder struct {
	quire.TenantCache
	mu  sync.Mutex
	all int
}

func (c *commitRecorder) BeforeCommit(cm *quire.Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cm.All {
		c.all++
	}
}
func (c *commitRecorder) AfterCommit(*quire.Commit) {}

// TestLocksKeepCache checks lock traffic does not flush the read cache.
func TestLocksKeepCache(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), "acme", Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &commitRecorder{}
	s.SetCache(rec)
	defer s.Close()
	l, _, err := s.Acquire(ctx, "job", quire.LockRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Renew(ctx, "job", quire.LockRequest{Token: l.Token}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Release(ctx, "job", l.Token); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.all != 0 {
		t.Fatalf("%d lock commits flushed the whole cache", rec.all)
	}
}

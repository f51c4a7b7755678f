package actor

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quiredb/quire"
)

// clock is a manual clock for deterministic expiry and refill.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newHub(t *testing.T, cfg Config) (*Hub, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg.Now = c.now
	h := New(cfg)
	t.Cleanup(func() { h.Close() })
	return h, c
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := quire.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

var ctx = context.Background()

func TestCountersConcurrent(t *testing.T) {
	h, _ := newHub(t, Config{})
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if _, err := h.AddCounter(ctx, "t1", "hits", 1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Deletes of another counter race with the adds without losing any.
	for i := 0; i < 100; i++ {
		h.AddCounter(ctx, "t1", "other", 1)
		h.DeleteCounter(ctx, "t1", "other")
	}
	wg.Wait()
	if v, _ := h.Counter(ctx, "t1", "hits"); v != 16*500 {
		t.Fatalf("hits = %d, want %d", v, 16*500)
	}
	if v, _ := h.Counter(ctx, "t2", "hits"); v != 0 {
		t.Fatalf("another tenant's counter = %d, want 0", v)
	}
}

func TestCounterOverflowAndLimits(t *testing.T) {
	h, _ := newHub(t, Config{MaxCounters: 2})
	if _, err := h.AddCounter(ctx, "t", "a", math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	_, err := h.AddCounter(ctx, "t", "a", 1)
	wantCode(t, err, quire.EInvalid)
	if v, _ := h.Counter(ctx, "t", "a"); v != math.MaxInt64 {
		t.Fatalf("a refused add changed the value: %d", v)
	}
	if _, err := h.AddCounter(ctx, "t", "b", math.MinInt64); err != nil {
		t.Fatal(err)
	}
	_, err = h.AddCounter(ctx, "t", "b", -1)
	wantCode(t, err, quire.EInvalid)
	_, err = h.AddCounter(ctx, "t", "c", 1)
	wantCode(t, err, quire.EQuotaExceeded)
	if ok, _ := h.DeleteCounter(ctx, "t", "a"); !ok {
		t.Fatal("delete of an existing counter reported absent")
	}
	if _, err := h.AddCounter(ctx, "t", "c", 1); err != nil {
		t.Fatalf("after a delete there is room: %v", err)
	}
	for _, bad := range []string{"", "../x", "a;DROP", "A", "é", "sqlite_x", strings.Repeat("a", 64)} {
		_, err := h.AddCounter(ctx, "t", bad, 1)
		wantCode(t, err, quire.EInvalidName)
	}
}

func TestStateTTLAndBudget(t *testing.T) {
	h, c := newHub(t, Config{MaxStateBytes: 4096, MaxStateValue: 1024})
	if _, err := h.PutState(ctx, "t", "s1", []byte(`{"a":1}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	e, err := h.State(ctx, "t", "s1")
	if err != nil || string(e.Value) != `{"a":1}` {
		t.Fatalf("State = %q, %v", e.Value, err)
	}
	c.advance(time.Minute)
	_, err = h.State(ctx, "t", "s1")
	wantCode(t, err, quire.ENotFound)

	_, err = h.PutState(ctx, "t", "big", make([]byte, 1025), 0)
	wantCode(t, err, quire.ETooLarge)
	_, err = h.PutState(ctx, "t", "bad", []byte(`{"a":`), 0)
	wantCode(t, err, quire.EInvalid)
	_, err = h.PutState(ctx, "t", "x", []byte(`1`), 25*time.Hour)
	wantCode(t, err, quire.EInvalid)
	_, err = h.PutState(ctx, "t", "a\u202eb", []byte(`1`), 0)
	wantCode(t, err, quire.EInvalid)

	// Fill the budget: the next put is refused, nothing is evicted.
	v := []byte(`"` + strings.Repeat("x", 800) + `"`)
	n := 0
	for ; ; n++ {
		_, err := h.PutState(ctx, "t", "k"+string(rune('a'+n)), v, time.Hour)
		if err != nil {
			wantCode(t, err, quire.EQuotaExceeded)
			break
		}
	}
	if n == 0 || n > 5 {
		t.Fatalf("%d values of 800 bytes fit in 4096", n)
	}
	if _, err := h.State(ctx, "t", "ka"); err != nil {
		t.Fatalf("a refused put evicted another key: %v", err)
	}
	// Replacing a key within budget works; expiry makes room.
	if _, err := h.PutState(ctx, "t", "ka", v, time.Second); err != nil {
		t.Fatalf("replace: %v", err)
	}
	c.advance(time.Second)
	if _, err := h.PutState(ctx, "t", "new", v, time.Hour); err != nil {
		t.Fatalf("expired entries should make room: %v", err)
	}
	// Deleting everything returns every byte to the node.
	for k := range n + 1 {
		h.DeleteState(ctx, "t", "k"+string(rune('a'+k)))
	}
	h.DeleteState(ctx, "t", "new")
	if got := h.stateBytes.Load(); got != 0 {
		t.Fatalf("node state bytes after deleting all = %d", got)
	}
}

func TestSweepAndDrop(t *testing.T) {
	h, c := newHub(t, Config{})
	h.PutState(ctx, "t", "a", []byte(`1`), time.Second)
	h.PutState(ctx, "t", "b", []byte(`2`), time.Hour)
	h.AddCounter(ctx, "u", "n", 5)
	c.advance(2 * time.Second)
	h.Sweep()
	a, _ := h.load("t")
	a.mu.RLock()
	left := len(a.state)
	a.mu.RUnlock()
	if left != 1 {
		t.Fatalf("sweep left %d entries, want 1", left)
	}
	h.DropTenant("t")
	h.DropTenant("u")
	if _, err := h.State(ctx, "t", "b"); quire.ErrorCode(err) != quire.ENotFound {
		t.Fatalf("state survived DropTenant: %v", err)
	}
	if v, _ := h.Counter(ctx, "u", "n"); v != 0 {
		t.Fatalf("counter survived DropTenant: %d", v)
	}
	if got := h.stateBytes.Load(); got != 0 {
		t.Fatalf("node state bytes after drop = %d", got)
	}
}

func TestNodeBudget(t *testing.T) {
	h, _ := newHub(t, Config{MaxNodeStateBytes: 1000})
	if _, err := h.PutState(ctx, "t1", "a", make([]byte, 0, 1), time.Hour); err == nil {
		t.Fatal("empty value is not JSON")
	}
	if _, err := h.PutState(ctx, "t1", "a", []byte(`"`+strings.Repeat("x", 600)+`"`), time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err := h.PutState(ctx, "t2", "a", []byte(`"`+strings.Repeat("x", 600)+`"`), time.Hour)
	wantCode(t, err, quire.EUnavailable)
}

func TestBuckets(t *testing.T) {
	h, c := newHub(t, Config{})
	if d := h.Allow("t", "k1", nil, nil); !d.Allowed || d.Limited {
		t.Fatalf("no limit: %+v", d)
	}
	kl := &quire.RateLimit{RequestsPerSecond: 1, Burst: 3}
	for i := 0; i < 3; i++ {
		if d := h.Allow("t", "k1", nil, kl); !d.Allowed || d.Remaining != int64(2-i) || d.Limit != 3 {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := h.Allow("t", "k1", nil, kl)
	if d.Allowed || d.RetryAfter != time.Second || d.Reset != 3*time.Second {
		t.Fatalf("over the burst: %+v", d)
	}
	if d := h.Allow("t", "k2", nil, kl); !d.Allowed {
		t.Fatalf("another key has its own bucket: %+v", d)
	}
	c.advance(time.Second)
	if d := h.Allow("t", "k1", nil, kl); !d.Allowed {
		t.Fatalf("refilled: %+v", d)
	}

	// A tenant limit refusing gives the key its token back.
	tl := &quire.RateLimit{RequestsPerSecond: 1, Burst: 1}
	h.Allow("u", "k", tl, nil)
	kl2 := &quire.RateLimit{RequestsPerSecond: 1, Burst: 5}
	if d := h.Allow("u", "k", tl, kl2); d.Allowed || d.Limit != 1 {
		t.Fatalf("tenant limit: %+v", d)
	}
	if d := h.Allow("u", "k", nil, kl2); d.Remaining != 4 {
		t.Fatalf("key bucket was charged for a refused request: %+v", d)
	}
	// A new setting, even of equal value, starts a full bucket of its size.
	low := &quire.RateLimit{RequestsPerSecond: 1, Burst: 2}
	for i := 0; i < 2; i++ {
		if d := h.Allow("u", "k", nil, low); !d.Allowed || d.Remaining != int64(1-i) {
			t.Fatalf("new setting, request %d: %+v", i, d)
		}
	}
	if d := h.Allow("u", "k", nil, low); d.Allowed {
		t.Fatalf("new setting, over its burst: %+v", d)
	}
	same := *low
	if d := h.Allow("u", "k", nil, &same); !d.Allowed {
		t.Fatalf("a setting made again starts full: %+v", d)
	}
	// Full idle buckets are reclaimed by the sweep.
	c.advance(time.Hour)
	h.Sweep()
	n := 0
	h.buckets.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d idle full buckets left after a sweep", n)
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		in   quire.RateLimit
		want *quire.RateLimit
		err  bool
	}{
		{quire.RateLimit{}, nil, false},
		{quire.RateLimit{RequestsPerSecond: 2.5}, &quire.RateLimit{RequestsPerSecond: 2.5, Burst: 3}, false},
		{quire.RateLimit{RequestsPerSecond: 0.01}, &quire.RateLimit{RequestsPerSecond: 0.01, Burst: 1}, false},
		{quire.RateLimit{RequestsPerSecond: -1, Burst: 1}, nil, true},
		{quire.RateLimit{RequestsPerSecond: 1, Burst: -1}, nil, true},
		{quire.RateLimit{Burst: 5}, nil, true},
		{quire.RateLimit{RequestsPerSecond: 1e9, Burst: 5}, nil, true},
		{quire.RateLimit{RequestsPerSecond: 1, Burst: 1e9}, nil, true},
		{quire.RateLimit{RequestsPerSecond: math.NaN()}, nil, true},
	} {
		got, err := c.in.Normalize()
		if (err != nil) != c.err || (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%+v.Normalize() = %+v, %v; want %+v, err %v", c.in, got, err, c.want, c.err)
		}
	}
}

package registry

import (
	"context"
	"sync"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/sqlite"
)

var _ quire.ChangeWaiter = (*Registry)(nil)

// changeHub tells change-feed readers when a tenant commits. It lives in
// the registry, outside the stores, so that a waiting reader holds no
// reference to a store: idle stores still close and deleted tenants still
// go away while streams wait.
type changeHub struct {
	mu      sync.Mutex
	tenants map[string]*changeTopic
	// closed is closed by close, and then every topic's wake channel is
	// it: waiters wake and stay awake.
	closed   chan struct{}
	isClosed bool
}

// changeTopic is one tenant's latest known position and the channel its
// waiters wait on, closed and replaced on every commit.
type changeTopic struct {
	pos       quire.Bookmark
	wake      chan struct{}
	lastPrune time.Time
}

// pruneEvery is how often a tenant's commits may trigger a retention
// pass (sqlite.Store.PruneChanges) at most.
const pruneEvery = time.Minute

func newChangeHub() *changeHub {
	return &changeHub{tenants: map[string]*changeTopic{}, closed: make(chan struct{})}
}

// topic returns tenant's topic, creating it; h.mu must be held.
func (h *changeHub) topic(tenant string) *changeTopic {
	t := h.tenants[tenant]
	if t == nil {
		t = &changeTopic{wake: make(chan struct{})}
		h.tenants[tenant] = t
	}
	return t
}

// notifier returns the commit callback of a freshly opened store of
// tenant. Opening resets the known position: a tenant deleted and
// created again under the same id starts a new history.
func (h *changeHub) notifier(st *sqlite.Store, tenant string) func(quire.Bookmark) {
	h.mu.Lock()
	h.topic(tenant).pos = st.Position()
	h.mu.Unlock()
	return func(b quire.Bookmark) {
		h.mu.Lock()
		if h.isClosed {
			h.mu.Unlock()
			return
		}
		t := h.topic(tenant)
		t.pos = b
		close(t.wake)
		t.wake = make(chan struct{})
		prune := time.Since(t.lastPrune) >= pruneEvery
		if prune {
			t.lastPrune = time.Now()
		}
		h.mu.Unlock()
		if prune {
			// Off the writer goroutine, which is calling us and which the
			// pass itself needs. Errors (a store closing) only postpone
			// the pass to a later commit.
			go st.PruneChanges(context.Background())
		}
	}
}

// ChangeSignal implements quire.ChangeWaiter.
func (r *Registry) ChangeSignal(tenant string, after quire.Bookmark) <-chan struct{} {
	h := r.changes
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isClosed {
		return h.closed
	}
	t := h.topic(tenant)
	if after.Less(t.pos) {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return t.wake
}

// close wakes every waiter, now and later (Registry.Close).
func (h *changeHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isClosed {
		return
	}
	h.isClosed = true
	close(h.closed)
	for _, t := range h.tenants {
		close(t.wake)
		t.wake = h.closed
	}
}

// drop wakes a deleted tenant's waiters (their next read finds the tenant
// gone and ends the stream) and forgets its topic.
func (h *changeHub) drop(tenant string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.tenants[tenant]; t != nil && !h.isClosed {
		close(t.wake)
		delete(h.tenants, tenant)
	}
}

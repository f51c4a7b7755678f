package registry_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/registry"
)

// closedSoon reports whether ch closes within a generous deadline.
func closedSoon(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestChangeSignal(t *testing.T) {
	r := newRegistry(t, registry.Config{DataDir: t.TempDir(), IdleTimeout: 20 * time.Millisecond})
	createTenant(t, r, "acme")
	st, release, err := r.OpenStore(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutCollection(ctx, quire.Collection{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	pos := st.Position()
	release()

	// A waiter holds no store: the idle tenant closes while it waits, and
	// the commit of a store opened later still wakes it.
	wake := r.ChangeSignal("acme", pos)
	if isClosed(wake) {
		t.Fatal("signal closed before any commit")
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.OpenTenants() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle tenant never closed while a reader waited")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st, release, err = r.OpenStore(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, b, err := st.Write(ctx, []quire.WriteOp{{Op: quire.OpPut, Collection: "notes", ID: "a", Body: json.RawMessage(`{}`)}}, "k")
	if err != nil {
		t.Fatal(err)
	}
	if !closedSoon(wake) {
		t.Fatal("commit did not wake the waiter")
	}
	// A waiter behind the tenant's position wakes at once; one at it waits.
	if !isClosed(r.ChangeSignal("acme", pos)) {
		t.Fatal("signal for an older position is not closed")
	}
	wake = r.ChangeSignal("acme", b)
	if isClosed(wake) {
		t.Fatal("signal at the position closed early")
	}
	release()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !isClosed(wake) || !isClosed(r.ChangeSignal("acme", b)) {
		t.Fatal("Close did not wake waiters")
	}
}

package client

import "testing"

// Answers to a session's concurrent requests may arrive in any order; the
// session must keep the latest position, not the last answer's.
func TestBookmarkLogKeepsLatestPosition(t *testing.T) {
	const (
		early = "00000001-0000000000000005-0fa741bf"
		late  = "00000001-000000000000000a-0fa741bf"
		other = "00000001-0000000000000002-11111111" // a re-created tenant
		epoch = "00000002-0000000000000001-11111111" // restored from a backup
	)
	l := newBookmarkLog()
	l.record("acme", late)
	l.record("acme", early)
	if got, want := l.forTenant("acme"), late; got != want {
		t.Errorf("after late then early: %q, want %q", got, want)
	}
	if got, want := l.lastSeen(), early; got != want {
		t.Errorf("lastSeen = %q, want the last answer's %q", got, want)
	}
	l.record("acme", "")
	if got, want := l.forTenant("acme"), late; got != want {
		t.Errorf("an answer without a bookmark changed it to %q, want %q", got, want)
	}
	l.record("acme", other)
	if got, want := l.forTenant("acme"), other; got != want {
		t.Errorf("another incarnation's bookmark: %q, want %q", got, want)
	}
	l.record("acme", epoch)
	l.record("acme", other)
	if got, want := l.forTenant("acme"), epoch; got != want {
		t.Errorf("after a new epoch: %q, want %q", got, want)
	}
	if got := l.forTenant("beta"); got != "" {
		t.Errorf("beta has bookmark %q, want none", got)
	}
	l.forget("acme")
	if got := l.forTenant("acme"); got != "" {
		t.Errorf("after forget: %q, want none", got)
	}
}

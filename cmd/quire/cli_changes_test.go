package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/client"
)

// feedLines decodes the NDJSON the changes command printed.
func feedLines(t *testing.T, out string) []quire.Change {
	t.Helper()
	var cs []quire.Change
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var c quire.Change
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		cs = append(cs, c)
	}
	return cs
}

func TestChangesCommand(t *testing.T) {
	startServer(t)
	mustRun(t, "", "tenant", "create", "acme")
	mustRun(t, "", "collection", "create", "--tenant", "acme", "notes")
	for _, id := range []string{"a", "b", "c"} {
		mustRun(t, "", "doc", "put", "--tenant", "acme", "notes", id, `{"n":1}`)
	}
	mustRun(t, "", "doc", "delete", "--tenant", "acme", "notes", "b")

	all := feedLines(t, mustRun(t, "", "changes", "--tenant", "acme", "--limit", "2"))
	var got []string
	for _, c := range all {
		got = append(got, c.Op+" "+c.ID)
	}
	if strings.Join(got, ",") != "put a,put b,put c,delete b" {
		t.Fatalf("changes = %v, want the three puts and the delete, in order, over pages of 2", got)
	}
	rest := feedLines(t, mustRun(t, "", "changes", "--tenant", "acme", "--since", all[1].Cursor))
	if len(rest) != 2 || rest[0].ID != "c" || rest[1].Op != "delete" {
		t.Errorf("changes after the second = %+v", rest)
	}
	if out := mustRun(t, "", "changes", "--tenant", "acme", "--collection", "other"); out != "" {
		t.Errorf("changes of a collection without writes: %q", out)
	}
	if res := runCLI(t, "", "changes", "--tenant", "acme", "--since", "nonsense"); res.code != 1 || !strings.Contains(res.stderr, "bookmark") {
		t.Errorf("a malformed --since: exit %d, %q", res.code, res.stderr)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestChangesFollow(t *testing.T) {
	startServer(t)
	mustRun(t, "", "tenant", "create", "acme")
	mustRun(t, "", "collection", "create", "--tenant", "acme", "notes")
	mustRun(t, "", "doc", "put", "--tenant", "acme", "notes", "first", `{}`)

	out := &lockedBuffer{}
	oldOut, oldPoll := stdout, changesPollEvery
	stdout, changesPollEvery = out, 20*time.Millisecond
	defer func() { stdout, changesPollEvery = oldOut, oldPoll }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runChanges(ctx, []string{"--tenant", "acme", "--follow"}) }()

	c := client.New(os.Getenv("QUIRE_URL"), testAdminToken)
	if _, err := c.Put(context.Background(), "acme", "notes", "later", json.RawMessage(`{}`), client.Condition{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `"later"`) {
		if time.Now().After(deadline) {
			t.Fatalf("--follow did not print the later write; printed %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("following ended with %v, want a clean end on interrupt", err)
	}
	if cs := feedLines(t, out.String()); len(cs) != 2 || cs[0].ID != "first" || cs[1].ID != "later" {
		t.Errorf("followed %+v, want first then later, once each", cs)
	}
}

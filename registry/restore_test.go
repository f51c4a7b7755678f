package registry_test

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/registry"
)

// TestBackupRestoreUnderWrites takes a backup while writers run, restores
// it, and checks that the restored tenant holds exactly the documents
// committed at the backup's sequence, each complete, in a new epoch.
func TestBackupRestoreUnderWrites(t *testing.T) {
	dir := t.TempDir()
	r := newRegistry(t, registry.Config{DataDir: dir})
	createTenant(t, r, "acme")
	st, release := open(t, r, "acme")
	putCollection(t, st, "c")
	old := st.FormatBookmark(mustPut(t, st, "c", "first", `{"n":0}`))

	// Writers put documents whose body repeats their id, so a torn
	// document would show.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("w%d_%d", w, i)
				if _, _, err := putDoc(st, "c", id, fmt.Sprintf(`{"n":%d,"id":%q}`, i, id)); err != nil {
					t.Errorf("put: %v", err)
					return
				}
			}
		}()
	}
	for countDocs(t, st, "c") < 50 {
	}
	var buf bytes.Buffer
	m, err := r.Backup(ctx, "acme", &buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	stop.Store(true)
	wg.Wait()
	release()
	if m.Tenant != "acme" || m.Region != "local" || m.Seq < 50 {
		t.Fatalf("manifest = %+v", m)
	}
	backup := buf.Bytes()

	t.Run("OK", func(t *testing.T) {
		res, err := r.Restore(ctx, "acme", bytes.NewReader(backup))
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if got, want := res.Seq, m.Seq; got != want {
			t.Errorf("restored seq = %d, want %d", got, want)
		}
		if res.Epoch <= m.Epoch {
			t.Errorf("restored epoch %d, want > %d", res.Epoch, m.Epoch)
		}
		st, release := open(t, r, "acme")
		defer release()
		if got, want := st.Position(), (quire.Bookmark{Epoch: res.Epoch, Seq: m.Seq}); got != want {
			t.Errorf("position = %+v, want %+v", got, want)
		}
		// Every document committed by the backup's seq is there, whole.
		// Each put is its own commit, so seq-1 documents plus "first".
		if got, want := countDocs(t, st, "c"), int(m.Seq)-1; got != want {
			t.Errorf("documents = %d, want %d", got, want)
		}
		docs, _, err := st.List(ctx, quire.ListQuery{Collection: "c", Limit: quire.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if d.ID != "first" && !bytes.Contains(d.Body, []byte(`"id":"`+d.ID+`"`)) {
				t.Errorf("document %s is torn: %s", d.ID, d.Body)
			}
		}
		err = st.CheckBookmark(old)
		wantCode(t, "old bookmark", err, quire.EInvalidBookmark)
		// Writes continue in the new epoch.
		b := mustPut(t, st, "c", "after", `{"n":1}`)
		if b.Epoch != res.Epoch || b.Seq != m.Seq+1 {
			t.Errorf("next write at %+v", b)
		}
	})
	t.Run("AgainBumpsEpoch", func(t *testing.T) {
		st, release := open(t, r, "acme")
		before := st.Position()
		release()
		res, err := r.Restore(ctx, "acme", bytes.NewReader(backup))
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if res.Epoch <= before.Epoch {
			t.Errorf("epoch %d after restore, want > %d", res.Epoch, before.Epoch)
		}
	})
	t.Run("AsNewTenant", func(t *testing.T) {
		res, err := r.Restore(ctx, "acme2", bytes.NewReader(backup))
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if !res.Created || res.FromTenant != "acme" {
			t.Errorf("result = %+v", res)
		}
		st, release := open(t, r, "acme2")
		defer release()
		if got, want := countDocs(t, st, "c"), int(m.Seq)-1; got != want {
			t.Errorf("documents = %d, want %d", got, want)
		}
		wantCode(t, "acme bookmark on acme2", st.CheckBookmark(old), quire.EInvalidBookmark)
	})
	t.Run("ErrInvalidBackup", func(t *testing.T) {
		corrupt := bytes.Clone(backup)
		corrupt[len(corrupt)-100] ^= 0xff
		cases := map[string][]byte{
			"truncated": backup[:len(backup)-10],
			"corrupt":   corrupt,
			"empty":     nil,
			"garbage":   []byte("hello world\n"),
			"header":    backup[:20],
			"trailing":  append(bytes.Clone(backup), 'x'),
		}
		for name, b := range cases {
			_, err := r.Restore(ctx, "acme3", bytes.NewReader(b))
			wantCode(t, name, err, quire.EInvalidBackup)
		}
		if _, err := r.Tenant(ctx, "acme3"); quire.ErrorCode(err) != quire.ENotFound {
			t.Errorf("a refused restore created the tenant: %v", err)
		}
	})
}

// TestRestoreRegionRefused refuses a backup of a region the node may not
// hold.
func TestRestoreRegionRefused(t *testing.T) {
	src := newRegistry(t, registry.Config{DataDir: t.TempDir(), Region: "eu"})
	createTenant(t, src, "acme")
	var buf bytes.Buffer
	if _, err := src.Backup(ctx, "acme", &buf); err != nil {
		t.Fatal(err)
	}
	dst := newRegistry(t, registry.Config{DataDir: t.TempDir(), Region: "uk"})
	_, err := dst.Restore(ctx, "", &buf)
	wantCode(t, "restore", err, quire.ERegionNotAllowed)
}

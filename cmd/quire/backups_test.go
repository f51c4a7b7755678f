package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/registry"
)

func TestScheduledBackups(t *testing.T) {
	ctx := context.Background()
	reg, err := registry.New(registry.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, id := range []string{"a", "b"} {
		if _, err := reg.CreateTenant(ctx, quire.TenantCreate{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(id string) {
		t.Helper()
		st, release, err := reg.OpenStore(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if _, err := st.Collection(ctx, "c"); err != nil {
			if _, _, err := st.PutCollection(ctx, quire.Collection{Name: "c"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := st.Write(ctx, []quire.WriteOp{{Op: quire.OpPut, Collection: "c", ID: id, Body: json.RawMessage(`{}`)}}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := newBackupScheduler(reg, dir, time.Hour, 2, log)
	if err != nil {
		t.Fatal(err)
	}
	put("x")
	if got, want := b.runOnce(ctx), 2; got != want {
		t.Errorf("first run backed up %d tenants, want %d", got, want)
	}
	if got, want := b.runOnce(ctx), 0; got != want {
		t.Errorf("run without writes backed up %d tenants, want %d", got, want)
	}
	for i, id := range []string{"y", "z"} {
		put(id)
		time.Sleep(2 * time.Millisecond) // distinct file names
		if got, want := b.runOnce(ctx), 1; got != want {
			t.Errorf("run %d after a write backed up %d tenants, want %d", i, got, want)
		}
	}
	if got, want := len(backupFiles(filepath.Join(dir, "a"))), 2; got != want {
		t.Errorf("tenant a has %d backups, want %d (--backup-keep)", got, want)
	}
	if got, want := len(backupFiles(filepath.Join(dir, "b"))), 1; got != want {
		t.Errorf("tenant b has %d backups, want %d", got, want)
	}

	t.Run("RestartRemembers", func(t *testing.T) {
		b2, _ := newBackupScheduler(reg, dir, time.Hour, 2, log)
		if got := b2.runOnce(ctx); got != 0 {
			t.Errorf("a new scheduler backed up %d unchanged tenants", got)
		}
	})
	t.Run("Restore", func(t *testing.T) {
		files := backupFiles(filepath.Join(dir, "a"))
		f, err := os.Open(filepath.Join(dir, "a", files[len(files)-1]))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := reg.Restore(ctx, "a_copy", f); err != nil {
			t.Fatal(err)
		}
		st, release, err := reg.OpenStore(ctx, "a_copy")
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if _, err := st.Get(ctx, "c", "z"); err != nil {
			t.Errorf("latest write missing from the latest backup: %v", err)
		}
	})
	t.Run("Ticker", func(t *testing.T) {
		d := t.TempDir()
		b3, _ := newBackupScheduler(reg, d, 10*time.Millisecond, 3, log)
		stop := b3.start(ctx)
		deadline := time.Now().Add(5 * time.Second)
		for len(backupFiles(filepath.Join(d, "b"))) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		if len(backupFiles(filepath.Join(d, "b"))) == 0 {
			t.Error("the scheduler took no backup")
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		if _, err := newBackupScheduler(reg, dir, 0, 1, log); err == nil {
			t.Error("zero interval accepted")
		}
		if _, err := newBackupScheduler(reg, dir, time.Hour, 0, log); err == nil {
			t.Error("zero keep accepted")
		}
	})
}

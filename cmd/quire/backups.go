package main

// Scheduled backups: quire serve --backup-dir D --backup-every 1h
// --backup-keep 24 backs up every tenant written since its last backup to
// D/<tenant>/<tenant>-<time>-e<epoch>-s<seq>.qbak and keeps the newest
// --backup-keep files of each tenant.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/registry"
)

// backupSource is what the scheduler backs up: the registry.
type backupSource interface {
	Tenants(ctx context.Context) ([]*quire.Tenant, error)
	OpenStore(ctx context.Context, tenant string) (quire.Store, func(), error)
	Backup(ctx context.Context, tenant string, w io.Writer) (*quire.BackupManifest, error)
}

// backupScheduler takes scheduled backups of every tenant.
type backupScheduler struct {
	src   backupSource
	dir   string
	every time.Duration
	keep  int
	log   *slog.Logger

	last map[string]quire.Bookmark // position of each tenant's latest backup
}

func newBackupScheduler(src backupSource, dir string, every time.Duration, keep int, log *slog.Logger) (*backupScheduler, error) {
	if every <= 0 {
		return nil, usageError{"--backup-every must be positive"}
	}
	if keep < 1 {
		return nil, usageError{"--backup-keep must be at least 1"}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup directory: %w", err)
	}
	return &backupScheduler{src: src, dir: dir, every: every, keep: keep, log: log, last: map[string]quire.Bookmark{}}, nil
}

// start runs the scheduler until ctx ends; the returned function cancels
// it and waits for a backup in progress to finish.
func (b *backupScheduler) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(b.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.runOnce(ctx)
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// runOnce backs up every tenant whose position moved since its latest
// backup, and returns how many it backed up.
func (b *backupScheduler) runOnce(ctx context.Context) int {
	ts, err := b.src.Tenants(ctx)
	if err != nil {
		b.log.Error("scheduled backups: list tenants", "err", err.Error())
		return 0
	}
	n := 0
	for _, t := range ts {
		if ctx.Err() != nil {
			return n
		}
		took, err := b.backupTenant(ctx, t.ID)
		if err != nil {
			b.log.Error("scheduled backup failed", "tenant", t.ID, "err", err.Error())
			continue
		}
		if took {
			n++
		}
	}
	return n
}

// backupTenant backs up tenant if it was written since its latest backup,
// then applies retention.
func (b *backupScheduler) backupTenant(ctx context.Context, tenant string) (bool, error) {
	dir := filepath.Join(b.dir, tenant)
	last, ok := b.last[tenant]
	if !ok {
		last, ok = latestBackup(dir)
	}
	st, release, err := b.src.OpenStore(ctx, tenant)
	if err != nil {
		return false, err
	}
	pos := st.Position()
	release()
	if ok && pos == last {
		b.last[tenant] = last
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	f, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(f.Name())
	m, err := b.src.Backup(ctx, tenant, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	name := fmt.Sprintf("%s-%s-e%d-s%d.qbak", tenant, m.CreatedAt.Format("20060102T150405.000Z"), m.Epoch, m.Seq)
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return false, err
	}
	b.last[tenant] = quire.Bookmark{Epoch: m.Epoch, Seq: m.Seq}
	b.log.Info("scheduled backup", "tenant", tenant, "file", name, "bytes", m.Size)
	return true, b.prune(dir)
}

// backupFiles lists the backup files in dir, oldest first: their names
// start with the tenant and the time, fixed-width.
func backupFiles(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".qbak") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// prune removes all but the newest b.keep backups in dir.
func (b *backupScheduler) prune(dir string) error {
	files := backupFiles(dir)
	for len(files) > b.keep {
		if err := os.Remove(filepath.Join(dir, files[0])); err != nil {
			return err
		}
		files = files[1:]
	}
	return nil
}

// latestBackup returns the position of the newest backup in dir, read from
// its manifest.
func latestBackup(dir string) (quire.Bookmark, bool) {
	files := backupFiles(dir)
	if len(files) == 0 {
		return quire.Bookmark{}, false
	}
	f, err := os.Open(filepath.Join(dir, files[len(files)-1]))
	if err != nil {
		return quire.Bookmark{}, false
	}
	defer f.Close()
	m, err := registry.ReadBackupHeader(bufio.NewReader(f))
	if err != nil {
		return quire.Bookmark{}, false
	}
	return quire.Bookmark{Epoch: m.Epoch, Seq: m.Seq}, true
}

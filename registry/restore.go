package registry

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/sqlite"
)

// A backup file (.qbak) is a text header followed by the tenant's SQLite
// database image:
//
//	QUIRE-BACKUP 1\n
//	{"tenant":"acme","region":"uk","epoch":1,"seq":42,...}\n
//	<size bytes of SQLite database>
//
// The manifest line records the image's size and SHA-256, so a truncated
// or altered file is refused before anything is restored.

// backupMagic is the first line of every backup file.
const backupMagic = "QUIRE-BACKUP 1\n"

// maxManifest bounds the manifest line of a backup file.
const maxManifest = 64 << 10

var _ quire.BackupService = (*Registry)(nil)

// snapshotter is a store that can copy itself consistently (sqlite.Store).
type snapshotter interface {
	Snapshot(ctx context.Context, path string) (quire.Bookmark, error)
}

// Backup writes a backup file of tenant to w while writes continue, and
// returns its manifest.
func (r *Registry) Backup(ctx context.Context, tenant string, w io.Writer) (*quire.BackupManifest, error) {
	m, path, err := r.snapshot(ctx, tenant)
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, backupMagic+string(line)+"\n"); err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, f); err != nil {
		return nil, err
	}
	return m, nil
}

// snapshot copies tenant's database to a temporary file and describes it.
func (r *Registry) snapshot(ctx context.Context, tenant string) (*quire.BackupManifest, string, error) {
	t, err := r.Tenant(ctx, tenant)
	if err != nil {
		return nil, "", err
	}
	st, release, err := r.OpenStore(ctx, tenant)
	if err != nil {
		return nil, "", err
	}
	defer release()
	sn, ok := st.(snapshotter)
	if !ok {
		return nil, "", fmt.Errorf("backup tenant %q: store cannot snapshot", tenant)
	}
	path := r.tempPath("backup", tenant)
	pos, err := sn.Snapshot(ctx, path)
	if err != nil {
		return nil, "", err
	}
	sum, size, err := hashFile(path)
	if err != nil {
		os.Remove(path)
		return nil, "", err
	}
	return &quire.BackupManifest{Tenant: tenant, Region: t.Region, Epoch: pos.Epoch, Seq: pos.Seq,
		CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Size: size, SHA256: sum, Format: 1}, path, nil
}

// tempPath is a file name in the tenants directory that no tenant can own
// (tenant ids cannot start with '.'); a crash leaves it to removeOrphans.
func (r *Registry) tempPath(what, tenant string) string {
	return filepath.Join(r.cfg.DataDir, "tenants", "."+what+"-"+tenant+"-"+randomHex(6)+".db")
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// badBackup is the error for a backup file that cannot be restored.
func badBackup(format string, args ...any) error {
	return quire.Errorf(quire.EInvalidBackup, format, args...)
}

// ReadBackupHeader reads the header of a backup file and returns its
// manifest; br is left at the start of the database image.
func ReadBackupHeader(br *bufio.Reader) (*quire.BackupManifest, error) {
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return nil, badBackup("not a Quire backup file (it should start with %q)", strings.TrimSpace(backupMagic))
	}
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxManifest {
			return nil, badBackup("the backup's manifest is too long")
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, badBackup("the backup file ends inside its manifest")
		}
	}
	var m quire.BackupManifest
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, badBackup("the backup's manifest is not valid JSON: %v", err)
	}
	if quire.CheckName("tenant", m.Tenant) != nil || !regionRE.MatchString(m.Region) || m.Size <= 0 || len(m.SHA256) != 64 || m.Epoch == 0 {
		return nil, badBackup("the backup's manifest is incomplete or invalid")
	}
	return &m, nil
}

// Restore restores a tenant from a backup file read from src, as tenant
// target ("" = the tenant the backup was taken of). An existing tenant is
// replaced: its store is closed once in-flight requests are done, its
// database swapped for the backup's, and reopened in a new epoch, so
// bookmarks issued before the restore are refused. A missing tenant is
// created in the backup's region. Keys are kept (or, for a new tenant,
// none exist).
func (r *Registry) Restore(ctx context.Context, target string, src io.Reader) (*quire.RestoreResult, error) {
	br := bufio.NewReaderSize(src, 64<<10)
	m, err := ReadBackupHeader(br)
	if err != nil {
		return nil, err
	}
	if target == "" {
		target = m.Tenant
	}
	if err := quire.CheckName("tenant", target); err != nil {
		return nil, err
	}
	if err := r.checkResidency(&quire.Tenant{ID: target, Region: m.Region}); err != nil {
		return nil, err
	}
	existing, err := r.Tenant(ctx, target)
	if err != nil && quire.ErrorCode(err) != quire.ENotFound {
		return nil, err
	}
	if existing != nil && existing.Region != m.Region {
		return nil, quire.Errorf(quire.EConflict, "tenant %q is in region %q, the backup is of region %q", target, existing.Region, m.Region)
	}

	tmp := r.tempPath("restore", target)
	defer os.Remove(tmp)
	if err := receiveImage(br, m, tmp); err != nil {
		return nil, err
	}
	if _, err := sqlite.ReadImage(ctx, tmp); err != nil {
		return nil, err
	}

	res := &quire.RestoreResult{Tenant: target, FromTenant: m.Tenant, Region: m.Region}
	if existing == nil {
		if _, err := r.CreateTenant(ctx, quire.TenantCreate{ID: target, Region: m.Region}); err != nil {
			return nil, err
		}
		res.Created = true
	}
	online, err := r.takeOffline(ctx, target)
	if err != nil {
		return nil, err
	}
	pos, err := r.swapIn(ctx, target, tmp, target != m.Tenant)
	online()
	if err != nil {
		return nil, err
	}
	res.Epoch, res.Seq = pos.Epoch, pos.Seq
	st, release, err := r.OpenStore(ctx, target)
	if err != nil {
		return nil, err
	}
	defer release()
	res.Bookmark = st.FormatBookmark(st.Position())
	return res, nil
}

// receiveImage copies the database image that follows a backup's header to
// path, checking its size and checksum.
func receiveImage(br *bufio.Reader, m *quire.BackupManifest, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(br, m.Size))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("receive backup image: %w", err)
	}
	if n != m.Size {
		return badBackup("the backup file is truncated: its image has %d of %d bytes", n, m.Size)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return badBackup("the backup file has data after its image")
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return badBackup("the backup's checksum does not match its image (sha256 %s, manifest says %s)", got, m.SHA256)
	}
	return nil
}

// swapIn replaces the database of tenant id, which is offline, with the
// image at tmp, in an epoch past the one it replaces.
func (r *Registry) swapIn(ctx context.Context, id, tmp string, newIncarnation bool) (quire.Bookmark, error) {
	dir := r.tenantDir(id)
	prev, err := sqlite.Epoch(ctx, dir)
	if err != nil {
		return quire.Bookmark{}, fmt.Errorf("restore tenant %q: read current epoch: %w", id, err)
	}
	pos, err := sqlite.PrepareRestore(ctx, tmp, prev, newIncarnation)
	if err != nil {
		return quire.Bookmark{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return quire.Bookmark{}, err
	}
	db := filepath.Join(dir, sqlite.FileName)
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(db + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return quire.Bookmark{}, fmt.Errorf("restore tenant %q: %w", id, err)
		}
	}
	if err := os.Rename(tmp, db); err != nil {
		return quire.Bookmark{}, fmt.Errorf("restore tenant %q: %w", id, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return pos, nil
}

// takeOffline closes tenant id's store once its in-flight requests are
// done and keeps it closed, every new request waiting, until the returned
// function is called.
func (r *Registry) takeOffline(ctx context.Context, id string) (online func(), err error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, quire.Errorf(quire.EUnavailable, "server is shutting down")
		}
		ot := r.open[id]
		switch {
		case ot == nil:
			ready := make(chan struct{})
			close(ready)
			ot = &openTenant{id: id, ready: ready, closing: make(chan struct{})}
			r.open[id] = ot
			r.mu.Unlock()
			return r.onlineFunc(ot), nil
		case ot.closing != nil:
			closing := ot.closing
			r.mu.Unlock()
			<-closing
			continue
		case ot.refs == 0 && ot.elem != nil:
			r.beginClose(ot)
			r.mu.Unlock()
			ot.store.Close()
			return r.onlineFunc(ot), nil
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, quire.Errorf(quire.EUnavailable, "tenant %q is busy: %v", id, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// onlineFunc ends ot's offline period: requests waiting for it open the
// tenant's (new) database.
func (r *Registry) onlineFunc(ot *openTenant) func() {
	return func() {
		r.mu.Lock()
		if r.open[ot.id] == ot {
			delete(r.open, ot.id)
		}
		close(ot.closing)
		r.mu.Unlock()
	}
}

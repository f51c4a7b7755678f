package quire

import (
	"context"
	"io"
	"time"
)

// BackupManifest describes the database image in a backup file (.qbak):
// whose it is, the position it holds, and how to check it arrived whole.
type BackupManifest struct {
	Tenant    string    `json:"tenant"`
	Region    string    `json:"region"`
	Epoch     uint32    `json:"epoch"`
	Seq       uint64    `json:"seq"`
	CreatedAt time.Time `json:"created_at"`
	Size      int64     `json:"size"`   // bytes of the image
	SHA256    string    `json:"sha256"` // of the image, lower-case hex
	Format    int       `json:"format"`
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Tenant     string `json:"tenant"`
	FromTenant string `json:"from_tenant"`
	Region     string `json:"region"`
	Created    bool   `json:"created"` // the tenant did not exist before
	Epoch      uint32 `json:"epoch"`   // the tenant's new epoch
	Seq        uint64 `json:"seq"`     // the position the backup held
	Bookmark   string `json:"bookmark"`
}

// BackupService takes and restores tenant backups.
type BackupService interface {
	// Backup writes a backup file of tenant to w while writes continue.
	// Nothing is written to w before the snapshot is complete.
	Backup(ctx context.Context, tenant string, w io.Writer) (*BackupManifest, error)
	// Restore restores the backup file read from src as tenant target ("":
	// the tenant it was taken of), in a new epoch.
	Restore(ctx context.Context, target string, src io.Reader) (*RestoreResult, error)
}

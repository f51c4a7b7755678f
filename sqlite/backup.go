package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"net/url"
	"os"

	"github.com/quiredb/quire"
)

// Snapshot writes a consistent copy of the tenant's database to path (which
// must not exist) while writes continue, and returns the position the copy
// holds. VACUUM INTO reads one snapshot of the database, so the copy holds
// exactly the transactions committed before it started, and its
// _quire_meta row 'seq' is the position of that snapshot.
func (s *Store) Snapshot(ctx context.Context, path string) (quire.Bookmark, error) {
	conn, release, err := s.readConn(ctx, "snapshot")
	if err != nil {
		return quire.Bookmark{}, err
	}
	defer release()
	// query_only forbids VACUUM INTO; it writes only the new file, so the
	// connection is switched for the statement and back afterwards.
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only = 0"); err != nil {
		return quire.Bookmark{}, fmt.Errorf("snapshot tenant %q: %w", s.tenant, err)
	}
	_, err = conn.ExecContext(ctx, "VACUUM INTO ?", path)
	if _, rerr := conn.ExecContext(context.Background(), "PRAGMA query_only = 1"); rerr != nil {
		// Never hand a writable connection back to the read pool.
		conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck
	}
	if err != nil {
		os.Remove(path)
		return quire.Bookmark{}, fmt.Errorf("snapshot tenant %q: %w", s.tenant, err)
	}
	info, err := ReadImage(ctx, path)
	if err != nil {
		os.Remove(path)
		return quire.Bookmark{}, err
	}
	return quire.Bookmark{Epoch: info.Epoch, Seq: info.Seq}, nil
}

// ImageInfo is what a database image says about itself.
type ImageInfo struct {
	Epoch       uint32
	Seq         uint64
	Incarnation int64
}

// openImage opens a database file that is not a live tenant (a snapshot, a
// file being restored) with one plain connection.
func openImage(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	if readOnly {
		q.Set("mode", "ro")
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// ReadImage checks that path is an intact Quire tenant database and
// returns its epoch, sequence and incarnation. A damaged or foreign file is
// refused with EInvalidBackup.
func ReadImage(ctx context.Context, path string) (ImageInfo, error) {
	db, err := openImage(path, true)
	if err != nil {
		return ImageInfo{}, err
	}
	defer db.Close()
	return readImage(ctx, db)
}

func readImage(ctx context.Context, db *sql.DB) (ImageInfo, error) {
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil || check != "ok" {
		return ImageInfo{}, quire.Errorf(quire.EInvalidBackup, "the backup's database image is damaged")
	}
	var info ImageInfo
	var epoch, seq int64
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT v FROM _quire_meta WHERE k='incarnation'),
		(SELECT v FROM _quire_meta WHERE k='epoch'),
		(SELECT v FROM _quire_meta WHERE k='seq')`).Scan(&info.Incarnation, &epoch, &seq)
	if err != nil || epoch < 1 || seq < 0 {
		return ImageInfo{}, quire.Errorf(quire.EInvalidBackup, "the backup's database image is not a Quire tenant database")
	}
	info.Epoch, info.Seq = uint32(epoch), uint64(seq)
	return info, nil
}

// PrepareRestore readies the image at path to become a tenant's database:
// it checks the image, sets its epoch to one past both its own and
// minEpoch (so bookmarks issued before the restore are refused), and, if
// newIncarnation, gives it a new identity (a tenant restored under another
// id, whose bookmarks must not pass for the original's). It returns the
// image's new position.
func PrepareRestore(ctx context.Context, path string, minEpoch uint32, newIncarnation bool) (quire.Bookmark, error) {
	db, err := openImage(path, false)
	if err != nil {
		return quire.Bookmark{}, err
	}
	defer db.Close()
	info, err := readImage(ctx, db)
	if err != nil {
		return quire.Bookmark{}, err
	}
	epoch := max(info.Epoch, minEpoch) + 1
	if epoch == 0 {
		return quire.Bookmark{}, quire.Errorf(quire.EInvalidBackup, "the tenant has run out of epochs")
	}
	if _, err := db.ExecContext(ctx, "UPDATE _quire_meta SET v = ? WHERE k = 'epoch'", int64(epoch)); err != nil {
		return quire.Bookmark{}, fmt.Errorf("prepare restore: %w", err)
	}
	if newIncarnation {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return quire.Bookmark{}, err
		}
		inc := int64(binary.BigEndian.Uint32(b[:]))
		if inc == info.Incarnation {
			inc++
		}
		if _, err := db.ExecContext(ctx, "UPDATE _quire_meta SET v = ? WHERE k = 'incarnation'", inc); err != nil {
			return quire.Bookmark{}, fmt.Errorf("prepare restore: %w", err)
		}
	}
	return quire.Bookmark{Epoch: epoch, Seq: info.Seq}, nil
}

// Epoch returns the epoch of the tenant database in dir, or 0 if there is
// none.
func Epoch(ctx context.Context, dir string) (uint32, error) {
	path := dir + string(os.PathSeparator) + FileName
	if _, err := os.Stat(path); err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, err
	}
	db, err := openImage(path, true)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var epoch int64
	err = db.QueryRowContext(ctx, "SELECT v FROM _quire_meta WHERE k='epoch'").Scan(&epoch)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return uint32(epoch), err
}

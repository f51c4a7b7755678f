package server

import (
	"net/http"
	"time"

	"github.com/quiredb/quire"
)

// streamDeadline is how long a backup, restore, export or import may take:
// they move whole databases, past the server's ordinary timeouts.
const streamDeadline = 6 * time.Hour

// extendDeadlines lifts the server's read and write timeouts for one
// streaming request.
func extendDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	t := time.Now().Add(streamDeadline)
	rc.SetReadDeadline(t)  //nolint:errcheck // not every writer supports deadlines
	rc.SetWriteDeadline(t) //nolint:errcheck
}

func (s *Server) backups() (quire.BackupService, error) {
	b, ok := s.tenants.(quire.BackupService)
	if !ok {
		return nil, quire.Errorf(quire.ENotFound, "backups are not available on this server")
	}
	return b, nil
}

// handleBackup answers POST /v1/tenants/{t}/backup with a backup file
// (.qbak) of the tenant, taken while writes continue.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) error {
	b, err := s.backups()
	if err != nil {
		return err
	}
	id := r.PathValue("tenant")
	if err := quire.CheckName("tenant", id); err != nil {
		return err
	}
	extendDeadlines(w)
	w.Header().Set("Content-Type", "application/vnd.quire.backup")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.qbak"`)
	// Backup writes nothing until its snapshot is complete, so an error
	// before that still gets an error response.
	_, err = b.Backup(r.Context(), id, w)
	return err
}

// handleRestore answers POST /v1/tenants/{t}/restore: the body is a
// backup file, restored as tenant {t} (created if missing) in a new epoch.
func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) error {
	b, err := s.backups()
	if err != nil {
		return err
	}
	id := r.PathValue("tenant")
	if err := quire.CheckName("tenant", id); err != nil {
		return err
	}
	extendDeadlines(w)
	res, err := b.Restore(r.Context(), id, r.Body)
	if err != nil {
		return err
	}
	w.Header().Set(headerBookmark, res.Bookmark)
	w.Header().Set(headerD1Bookmark, res.Bookmark)
	return writeJSON(w, http.StatusOK, res)
}

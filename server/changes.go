package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/quiredb/quire"
)

// changesCheckEvery is how often a waiting stream checks that its tenant
// and key still exist and that the server is not draining; cheap checks
// that open no store.
const changesCheckEvery = time.Second

// changesWriteWindow is how long one write to a stream may take; the
// server's WriteTimeout would otherwise cut every stream after it.
const changesWriteWindow = 30 * time.Second

// changesRoutes registers the change feed (GET /v1/tenants/{t}/changes).
func (s *Server) changesRoutes() {
	s.route("/v1/tenants/{tenant}/changes", methods{"GET": s.handleChanges})
}

// changeStream is a validated stream request and its first page.
type changeStream struct {
	tenant string
	q      quire.ChangesQuery
	page   *quire.ChangesPage
}

// handleChanges answers a page of the feed as JSON, or, to a client that
// accepts text/event-stream, a stream of it (see streamChanges). The first
// page is read inside the tenant wrapper, so authentication, role, rate
// limit and every error of the request (bad since, expired) are exactly
// those of other tenant routes; the stream itself then runs after the
// wrapper released the store.
func (s *Server) handleChanges(w http.ResponseWriter, r *http.Request) error {
	stream := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	var cs *changeStream
	err := s.tenant(quire.RoleRead, func(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
		q, err := changesQuery(r, stream)
		if err != nil {
			return err
		}
		page, err := readChanges(r.Context(), tr.store, q)
		if err != nil {
			return err
		}
		setBookmark(w, tr.store, page.Head)
		if !stream {
			return writeJSON(w, http.StatusOK, page)
		}
		cs = &changeStream{tenant: tr.tenant, q: q, page: page}
		return nil
	})(w, r)
	if err != nil || cs == nil {
		return err
	}
	s.streamChanges(w, r, cs)
	return nil
}

// changesQuery parses the feed's query parameters. A stream resumes from
// Last-Event-ID when the client sends one (an EventSource reconnecting
// repeats the URL's since, which is older).
func changesQuery(r *http.Request, stream bool) (quire.ChangesQuery, error) {
	v := r.URL.Query()
	q := quire.ChangesQuery{Since: v.Get("since"), Collection: v.Get("collection"), Limit: quire.DefaultChangesLimit}
	if id := r.Header.Get("Last-Event-ID"); stream && id != "" {
		q.Since = id
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > quire.MaxChangesLimit {
			return q, quire.Errorf(quire.EInvalid, "limit must be an integer from 1 to %d", quire.MaxChangesLimit)
		}
		q.Limit = n
	}
	if b := v.Get("body"); b != "" {
		on, err := strconv.ParseBool(b)
		if err != nil {
			return q, quire.Errorf(quire.EInvalid, "body must be true or false")
		}
		q.Body = on
	}
	return q, nil
}

// readChanges reads a page from st, which must serve the feed.
func readChanges(ctx context.Context, st quire.Store, q quire.ChangesQuery) (*quire.ChangesPage, error) {
	cs, ok := st.(quire.ChangeStore)
	if !ok {
		return nil, quire.Errorf(quire.ENotFound, "this server's stores have no change feed")
	}
	return cs.Changes(ctx, q)
}

// streamChanges sends the feed as server-sent events: each change one
// event whose id is its cursor, the backlog first, then new changes as
// they commit. Between reads it holds no store: it waits on the
// registry's commit signal (quire.ChangeWaiter), with a heartbeat that
// also re-reads the feed. It ends when the client goes away, the tenant
// or the key is deleted, or the server drains or closes; an error after
// the stream started is sent as an "error" event.
func (s *Server) streamChanges(w http.ResponseWriter, r *http.Request, cs *changeStream) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	// The server's ReadTimeout would cancel the request mid-stream.
	rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	waiter, _ := s.stores.(quire.ChangeWaiter)
	if waiter == nil {
		waiter, _ = s.tenants.(quire.ChangeWaiter)
	}
	heartbeat := s.cfg.ChangesHeartbeat
	check := time.NewTicker(min(changesCheckEvery, heartbeat))
	defer check.Stop()
	q, page := cs.q, cs.page
	var lastWrite time.Time
	for {
		if err := writeChangeEvents(w, rc, page); err != nil {
			return // the client is gone
		}
		lastWrite = time.Now()
		q.Since = page.Next
		if len(page.Changes) < q.Limit {
			// Everything up to page.Head was sent: wait for a later commit.
			var wake <-chan struct{}
			if waiter != nil {
				wake = waiter.ChangeSignal(cs.tenant, page.Head)
			}
		wait:
			for {
				select {
				case <-ctx.Done():
					return
				case <-wake:
					break wait
				case <-check.C:
					if err := s.streamAllowed(r, cs.tenant); err != nil {
						s.writeStreamError(w, r, rc, err)
						return
					}
					if time.Since(lastWrite) >= heartbeat {
						if err := writeStreamBytes(w, rc, []byte(": heartbeat\n\n")); err != nil {
							return
						}
						break wait // and read again, in case a wake-up was missed
					}
				}
			}
		}
		err := s.streamAllowed(r, cs.tenant)
		if err == nil {
			page, err = s.readStreamPage(ctx, cs.tenant, q)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.writeStreamError(w, r, rc, err)
			}
			return
		}
	}
}

// streamAllowed re-checks what the tenant wrapper checked when the stream
// started and could have changed since: the key, the tenant, the server.
func (s *Server) streamAllowed(r *http.Request, tenant string) error {
	if s.draining.Load() {
		return quire.Errorf(quire.EUnavailable, "server is shutting down; reconnect with Last-Event-ID")
	}
	if _, err := s.principal(r); err != nil {
		return err
	}
	_, err := s.tenants.Tenant(r.Context(), tenant)
	return err
}

// readStreamPage opens the tenant's store for one read and releases it.
func (s *Server) readStreamPage(ctx context.Context, tenant string, q quire.ChangesQuery) (*quire.ChangesPage, error) {
	st, release, err := s.stores.OpenStore(ctx, tenant)
	if err != nil {
		return nil, err
	}
	defer release()
	return readChanges(ctx, st, q)
}

// writeChangeEvents writes one event per change and flushes.
func writeChangeEvents(w http.ResponseWriter, rc *http.ResponseController, page *quire.ChangesPage) error {
	var b []byte
	for _, c := range page.Changes {
		// Marshal compacts stored bodies, so data is one line.
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		b = fmt.Appendf(b, "id: %s\nevent: change\ndata: %s\n\n", c.Cursor, data)
	}
	return writeStreamBytes(w, rc, b)
}

// writeStreamBytes writes b (if any) and flushes, within a fresh write
// deadline.
func writeStreamBytes(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	rc.SetWriteDeadline(time.Now().Add(changesWriteWindow))
	if len(b) > 0 {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return rc.Flush()
}

// writeStreamError sends err as the stream's last event, in the API's
// error shape; like writeError, it logs what the client cannot be told.
func (s *Server) writeStreamError(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, err error) {
	e := &quire.Error{Code: quire.ErrorCode(err), Message: quire.ErrorMessage(err)}
	if quire.StatusOf(e.Code) >= 500 && e.Code != quire.EUnavailable {
		s.log.Error("change stream failed", "path", r.URL.Path, "request_id", requestID(r), "code", e.Code, "err", err.Error())
	}
	data, _ := json.Marshal(errorBody{Error: e})
	writeStreamBytes(w, rc, fmt.Appendf(nil, "event: error\ndata: %s\n\n", data))
}

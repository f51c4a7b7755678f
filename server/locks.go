package server

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/quiredb/quire"
)

// lockBodyLimit bounds a lock request's body: a token, a TTL and an owner
// of at most 256 bytes (escaped, up to six bytes each) fit many times over.
const lockBodyLimit = 16 << 10

// lockRoutes registers the lock routes (/v1/tenants/{t}/locks/{name}).
// See docs/locks.md.
func (s *Server) lockRoutes() {
	s.route("/v1/tenants/{tenant}/locks/{name}", methods{
		"GET":    s.tenant(quire.RoleRead, s.handleGetLock),
		"POST":   s.tenant(quire.RoleWrite, s.handleAcquireLock),
		"DELETE": s.tenant(quire.RoleWrite, s.handleReleaseLock),
	})
	s.route("/v1/tenants/{tenant}/locks/{name}/renew", methods{"POST": s.tenant(quire.RoleWrite, s.handleRenewLock)})
}

// lockStore returns the tenant's store as a quire.LockStore, and the
// path's lock name once it is known to be valid.
func lockStore(r *http.Request, tr *tenantRequest) (quire.LockStore, string, error) {
	name := r.PathValue("name")
	if err := quire.CheckName("lock", name); err != nil {
		return nil, "", err
	}
	ls, ok := tr.store.(quire.LockStore)
	if !ok {
		return nil, "", quire.Errorf(quire.ENotFound, "this store keeps no locks")
	}
	return ls, name, nil
}

// ttlField checks an explicit ttl_ms: absent means the default, but an
// explicit 0 or less is a mistake, not a request for the default.
func ttlField(ttl *int64) (int64, error) {
	if ttl == nil {
		return 0, nil
	}
	if *ttl < quire.MinLockTTLMillis {
		return 0, quire.Errorf(quire.EInvalid, "ttl_ms must be %d to %d (milliseconds)", quire.MinLockTTLMillis, quire.MaxLockTTLMillis)
	}
	return *ttl, nil
}

func (s *Server) handleAcquireLock(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	ls, name, err := lockStore(r, tr)
	if err != nil {
		return err
	}
	var in struct {
		TTLMillis *int64 `json:"ttl_ms"`
		Owner     string `json:"owner"`
	}
	body, err := readBody(w, r, lockBodyLimit)
	if err != nil {
		return err
	}
	// An empty body asks for the defaults: `curl -X POST .../locks/job`.
	if len(bytes.TrimSpace(body)) > 0 {
		if err := unmarshalStrict(body, &in); err != nil {
			return err
		}
	}
	req := quire.LockRequest{Owner: in.Owner}
	if req.TTLMillis, err = ttlField(in.TTLMillis); err != nil {
		return err
	}
	l, b, err := ls.Acquire(r.Context(), name, req)
	if err != nil {
		setRetryAfter(w, err)
		return err
	}
	setBookmark(w, tr.store, b)
	return writeJSON(w, http.StatusCreated, l)
}

// setRetryAfter tells a client refused with lock_held when the lease ends,
// in whole seconds rounded up (at least 1).
func setRetryAfter(w http.ResponseWriter, err error) {
	var qe *quire.Error
	if !errors.As(err, &qe) || qe.Code != quire.ELockHeld {
		return
	}
	ms, _ := qe.Details["retry_after_ms"].(int64)
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, (ms+999)/1000), 10))
}

func (s *Server) handleRenewLock(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	ls, name, err := lockStore(r, tr)
	if err != nil {
		return err
	}
	var in struct {
		Token     *int64 `json:"token"`
		TTLMillis *int64 `json:"ttl_ms"`
	}
	if err := decodeJSON(w, r, lockBodyLimit, &in); err != nil {
		return err
	}
	if in.Token == nil || *in.Token <= 0 {
		return quire.Errorf(quire.EInvalid, "token must be the positive token the lease was acquired with")
	}
	req := quire.LockRequest{Token: *in.Token}
	if req.TTLMillis, err = ttlField(in.TTLMillis); err != nil {
		return err
	}
	l, b, err := ls.Renew(r.Context(), name, req)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	return writeJSON(w, http.StatusOK, l)
}

// releaseToken is the token a release names: ?token=N, or the request's
// Quire-Fence entry for this lock. If both are given they must agree.
func releaseToken(r *http.Request, name string) (int64, error) {
	var tok int64
	for k, vs := range r.URL.Query() {
		if k != "token" {
			return 0, quire.Errorf(quire.EInvalid, "unknown query parameter %q (token)", quire.ClipName(k))
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if len(vs) != 1 || err != nil || n <= 0 {
			return 0, quire.Errorf(quire.EInvalid, "token must be one positive integer")
		}
		tok = n
	}
	for _, f := range quire.FencesFrom(r.Context()) {
		if f.Lock != name {
			continue
		}
		if tok != 0 && tok != f.Token {
			return 0, quire.Errorf(quire.EInvalid, "the release names two tokens for lock %q (?token= and Quire-Fence)", name)
		}
		tok = f.Token
	}
	if tok == 0 {
		return 0, quire.Errorf(quire.EInvalid, "a release needs the lease's token: ?token=N or Quire-Fence: %s=N", name)
	}
	return tok, nil
}

func (s *Server) handleReleaseLock(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	ls, name, err := lockStore(r, tr)
	if err != nil {
		return err
	}
	tok, err := releaseToken(r, name)
	if err != nil {
		return err
	}
	l, released, b, err := ls.Release(r.Context(), name, tok)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, b)
	return writeJSON(w, http.StatusOK, struct {
		*quire.Lock
		Released bool `json:"released"`
	}{l, released})
}

func (s *Server) handleGetLock(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	ls, name, err := lockStore(r, tr)
	if err != nil {
		return err
	}
	if len(r.URL.Query()) > 0 {
		return quire.Errorf(quire.EInvalid, "this route takes no query parameters")
	}
	pos := tr.store.Position()
	l, err := ls.Lock(r.Context(), name)
	if err != nil {
		return err
	}
	setBookmark(w, tr.store, pos)
	return writeJSON(w, http.StatusOK, l)
}

package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/quiredb/quire"
)

// principal authenticates the request's bearer token: the admin token or a
// tenant key.
func (s *Server) principal(r *http.Request) (quire.Principal, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return quire.Principal{}, quire.Errorf(quire.EUnauthorized, "missing bearer token: send Authorization: Bearer <key>")
	}
	th := sha256.Sum256([]byte(token))
	if s.cfg.AdminToken != "" && subtle.ConstantTimeCompare(th[:], s.adminHash[:]) == 1 {
		noteKey(r, "admin")
		return quire.Principal{Admin: true}, nil
	}
	k, err := s.tenants.Authenticate(token)
	if err != nil {
		return quire.Principal{}, err
	}
	noteKey(r, k.ID)
	return quire.Principal{Key: k}, nil
}

// admin wraps a control-plane handler that only the admin token may call.
func (s *Server) admin(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.principal(r)
		if err != nil {
			return err
		}
		if !p.Admin {
			return quire.Errorf(quire.EForbidden, "this route needs the admin token")
		}
		return h(w, r)
	}
}

// tenantRequest is what a tenant route's handler works with.
type tenantRequest struct {
	tenant string
	who    quire.Principal
	store  quire.Store
	// after is the request's bookmark (zero without one): reads must
	// reflect at least this position.
	after quire.Bookmark
}

// tenantHandler handles a request on one tenant's store.
type tenantHandler func(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error

// tenant wraps a tenant route: it authenticates, checks that the key
// belongs to the tenant and has the role need (before looking the tenant
// up, so a foreign key learns nothing), opens the store, and checks the
// request's bookmark. Every response, errors included, carries a bookmark.
func (s *Server) tenant(need quire.Role, h tenantHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set(headerServedBy, s.cfg.servedBy())
		p, err := s.principal(r)
		if err != nil {
			return err
		}
		id := r.PathValue("tenant")
		if !p.Admin {
			if p.Key.Tenant != id {
				return quire.Errorf(quire.EForbidden, "this key does not belong to tenant %q", quire.ClipName(id))
			}
			if !p.Key.Role.Allows(need) {
				return quire.Errorf(quire.EForbidden, "this route needs a %s key; this key is %s", need, p.Key.Role)
			}
		}
		if err := quire.CheckName("tenant", id); err != nil {
			return err
		}
		if err := s.rateLimit(w, r, id, p); err != nil {
			return err
		}
		// Every Quire-Fence line counts: a fence on a second header line
		// must not go unchecked.
		fences, err := quire.ParseFences(strings.Join(r.Header.Values(headerFence), ","))
		if err != nil {
			return err
		}
		r = r.WithContext(quire.WithFences(r.Context(), fences))
		st, release, err := s.stores.OpenStore(r.Context(), id)
		if err != nil {
			return err
		}
		defer release()
		tr := &tenantRequest{tenant: id, who: p, store: st}
		if token := requestBookmark(r); token != "" {
			if tr.after, err = st.ParseBookmark(token); err != nil {
				setBookmark(w, st, st.Position())
				return err
			}
		}
		err = h(w, r, tr)
		if err != nil && w.Header().Get(headerBookmark) == "" {
			setBookmark(w, st, st.Position())
		}
		return err
	}
}

// Bookmark headers: Quire's own, and the seed's D1 name as an alias.
const (
	headerBookmark   = "Quire-Bookmark"
	headerD1Bookmark = "X-D1-Bookmark"
	// headerFence carries lock tokens a write must still hold (see locks).
	headerFence = "Quire-Fence"
)

func requestBookmark(r *http.Request) string {
	if b := r.Header.Get(headerBookmark); b != "" {
		return b
	}
	return r.Header.Get(headerD1Bookmark)
}

func setBookmark(w http.ResponseWriter, st quire.Store, b quire.Bookmark) {
	token := st.FormatBookmark(b)
	h := w.Header()
	h.Set(headerBookmark, token)
	h.Set(headerD1Bookmark, token)
}

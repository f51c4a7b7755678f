package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/quiredb/quire"
)

// actorRoutes registers the per-tenant actor's routes: counters and
// session state. A server without Config.Actors has none (and refuses to
// set rate limits it could not enforce). The actor forgets a tenant when
// the catalog deletes it.
func (s *Server) actorRoutes() {
	if s.cfg.Actors == nil {
		return
	}
	if n, ok := s.tenants.(quire.TenantDeleteNotifier); ok {
		n.OnTenantDeleted(s.cfg.Actors.DropTenant)
	}
	s.route("/v1/tenants/{tenant}/counters/{name}", methods{
		"GET":    s.tenant(quire.RoleRead, s.handleGetCounter),
		"POST":   s.tenant(quire.RoleWrite, s.handleAddCounter),
		"DELETE": s.tenant(quire.RoleWrite, s.handleDeleteCounter),
	})
	s.route("/v1/tenants/{tenant}/state/{key}", methods{
		"GET":    s.tenant(quire.RoleRead, s.handleGetState),
		"PUT":    s.tenant(quire.RoleWrite, s.handlePutState),
		"DELETE": s.tenant(quire.RoleWrite, s.handleDeleteState),
	})
}

// actorAnswer writes a 200 answer of an actor route. Like every tenant
// response it carries a bookmark: the tenant's current position (the actor
// writes nothing to the database, so it is only a position to read at).
func actorAnswer(w http.ResponseWriter, tr *tenantRequest, v any) error {
	setBookmark(w, tr.store, tr.store.Position())
	return writeJSON(w, http.StatusOK, v)
}

// counterValue is a counter as the API shows it.
type counterValue struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

func (s *Server) handleAddCounter(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	name := r.PathValue("name")
	if err := quire.CheckName("counter", name); err != nil {
		return err
	}
	var body struct {
		Delta *int64 `json:"delta"`
	}
	if err := decodeJSON(w, r, controlBodyLimit, &body); err != nil {
		return err
	}
	if body.Delta == nil {
		return quire.Errorf(quire.EInvalid, `delta is required: send {"delta": <integer>}`)
	}
	v, err := s.cfg.Actors.AddCounter(r.Context(), tr.tenant, name, *body.Delta)
	if err != nil {
		return err
	}
	return actorAnswer(w, tr, counterValue{Name: name, Value: v})
}

func (s *Server) handleGetCounter(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	name := r.PathValue("name")
	v, err := s.cfg.Actors.Counter(r.Context(), tr.tenant, name)
	if err != nil {
		return err
	}
	return actorAnswer(w, tr, counterValue{Name: name, Value: v})
}

func (s *Server) handleDeleteCounter(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	name := r.PathValue("name")
	existed, err := s.cfg.Actors.DeleteCounter(r.Context(), tr.tenant, name)
	if err != nil {
		return err
	}
	return actorAnswer(w, tr, map[string]any{"name": name, "deleted": existed})
}

// stateValue is a session state value as the API shows it.
type stateValue struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value,omitempty"`
	ExpiresAt time.Time       `json:"expires_at"`
	TTLMs     int64           `json:"ttl_ms"` // left until expiry
}

func newStateValue(e quire.StateEntry, withValue bool) stateValue {
	v := stateValue{Key: e.Key, ExpiresAt: e.ExpiresAt.UTC(), TTLMs: max(0, time.Until(e.ExpiresAt).Milliseconds())}
	if withValue {
		v.Value = e.Value
	}
	return v
}

// maxStateTTLParam bounds ttl_ms before it becomes a Duration (the hub
// checks its own, lower, maximum).
const maxStateTTLParam = 1 << 40

func (s *Server) handlePutState(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	key := r.PathValue("key")
	if err := quire.CheckStateKey(key); err != nil {
		return err
	}
	var ttl time.Duration
	if q := r.URL.Query(); q.Has("ttl_ms") {
		ms, err := strconv.ParseInt(q.Get("ttl_ms"), 10, 64)
		if err != nil || ms <= 0 || ms > maxStateTTLParam {
			return quire.Errorf(quire.EInvalid, "ttl_ms must be a positive integer of milliseconds, at most %d", quire.MaxStateTTL.Milliseconds())
		}
		ttl = time.Duration(ms) * time.Millisecond
	}
	limit := int64(quire.DefaultMaxStateValue)
	if m, ok := s.cfg.Actors.(interface{ MaxStateValue() int }); ok {
		limit = int64(m.MaxStateValue())
	}
	body, err := readBody(w, r, limit)
	if quire.ErrorCode(err) == quire.ETooLarge {
		return quire.Errorf(quire.ETooLarge, "state value is larger than %d bytes", limit)
	}
	if err != nil {
		return err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return quire.Errorf(quire.EInvalid, "request body is empty; send the value as JSON")
	}
	e, err := s.cfg.Actors.PutState(r.Context(), tr.tenant, key, body, ttl)
	if err != nil {
		return err
	}
	return actorAnswer(w, tr, newStateValue(e, false))
}

func (s *Server) handleGetState(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	e, err := s.cfg.Actors.State(r.Context(), tr.tenant, r.PathValue("key"))
	if err != nil {
		return err
	}
	return actorAnswer(w, tr, newStateValue(e, true))
}

func (s *Server) handleDeleteState(w http.ResponseWriter, r *http.Request, tr *tenantRequest) error {
	key := r.PathValue("key")
	if err := s.cfg.Actors.DeleteState(r.Context(), tr.tenant, key); err != nil {
		return err
	}
	return actorAnswer(w, tr, map[string]any{"key": key, "deleted": true})
}

// rateLimitField is a "rate_limit" member of a PATCH body: absent (set
// false), null (set, limit nil: remove) or an object.
type rateLimitField struct {
	set   bool
	limit *quire.RateLimit
}

// UnmarshalJSON reads the member strictly; encoding/json calls it for
// null too.
func (f *rateLimitField) UnmarshalJSON(b []byte) error {
	f.set = true
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return quire.Errorf(quire.EInvalid, `rate_limit must be an object {"requests_per_second": <number>, "burst": <integer>} or null`)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l quire.RateLimit
	if err := dec.Decode(&l); err != nil {
		return quire.Errorf(quire.EInvalid, "rate_limit: %s", quire.ErrorMessage(jsonError(err)))
	}
	var err error
	f.limit, err = l.Normalize()
	return err
}

// rateLimitSetter returns the catalog's rate-limit setter.
func (s *Server) rateLimitSetter() (quire.RateLimitSetter, error) {
	rs, ok := s.tenants.(quire.RateLimitSetter)
	if !ok || s.cfg.Actors == nil {
		// Without an actor nothing would enforce the limit: refuse it
		// rather than accept a setting that does nothing.
		return nil, quire.Errorf(quire.EMethodNotAllowed, "this server cannot enforce rate limits")
	}
	return rs, nil
}

// handlePatchKey changes a key's rate limit (admin token only: limits
// protect the node, so a tenant's own admin key may not lift them).
func (s *Server) handlePatchKey(w http.ResponseWriter, r *http.Request) error {
	tenant := r.PathValue("tenant")
	if err := quire.CheckName("tenant", tenant); err != nil {
		return err
	}
	var p struct {
		RateLimit rateLimitField `json:"rate_limit"`
	}
	if err := decodeJSON(w, r, controlBodyLimit, &p); err != nil {
		return err
	}
	if !p.RateLimit.set {
		return quire.Errorf(quire.EInvalid, `nothing to change: send {"rate_limit": {...}} or {"rate_limit": null}`)
	}
	rs, err := s.rateLimitSetter()
	if err != nil {
		return err
	}
	k, err := rs.SetKeyRateLimit(r.Context(), tenant, r.PathValue("key"), p.RateLimit.limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}

// rateLimit refuses a request of tenant by p over its tenant's or key's
// rate limit with 429 and Retry-After, and sets the RateLimit-* headers
// (draft-ietf-httpapi-ratelimit-headers) whenever a limit applies. The
// admin token is never limited. Without limits it costs one sync.Map read.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request, tenant string, p quire.Principal) error {
	if p.Admin || p.Key == nil || s.cfg.Actors == nil {
		return nil
	}
	var tl *quire.RateLimit
	if src, ok := s.tenants.(quire.RateLimitSource); ok {
		tl = src.TenantRateLimit(tenant)
	}
	if tl == nil && p.Key.RateLimit == nil {
		return nil
	}
	d := s.cfg.Actors.Allow(tenant, p.Key.ID, tl, p.Key.RateLimit)
	if !d.Limited {
		return nil
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.FormatInt(d.Limit, 10))
	h.Set("RateLimit-Remaining", strconv.FormatInt(d.Remaining, 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(int64(d.Reset/time.Second), 10))
	if d.Allowed {
		return nil
	}
	retry := max(1, int64(d.RetryAfter/time.Second))
	h.Set("Retry-After", strconv.FormatInt(retry, 10))
	return quire.Errorf(quire.ERateLimited, "rate limit exceeded (burst of %d requests); retry in %d s", d.Limit, retry)
}

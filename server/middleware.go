package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/quiredb/quire"
)

// headerRequestID carries a request's id: taken from the client when it is
// well formed, generated otherwise, and echoed on every response.
const headerRequestID = "Quire-Request-Id"

// RequestObserver is told about every answered request (for metrics).
// route is the matched route pattern, never the raw path, so its values
// are bounded.
type RequestObserver interface {
	ObserveRequest(method, route string, status int, d time.Duration)
}

// requestInfo is what the layers of one request learn for its access log
// line: the authenticated key, filled in by principal.
type requestInfo struct {
	id    string
	keyID string
}

type requestInfoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	ri, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// requestID returns the request's id, or "" outside observe.
func requestID(r *http.Request) string {
	if ri := infoOf(r); ri != nil {
		return ri.id
	}
	return ""
}

// noteKey records who the request authenticated as, for the access log.
func noteKey(r *http.Request, keyID string) {
	if ri := infoOf(r); ri != nil {
		ri.keyID = keyID
	}
}

// validRequestID reports whether a client's request id may be reused: 1 to
// 128 characters of [A-Za-z0-9._:-], so it is safe in headers and logs.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// observe serves r with h, giving it a request id, and then writes one
// access log line and tells the observer. It logs the route pattern, not
// the path, and never headers or bodies: no secret or document reaches the
// logs.
func (s *Server) observe(w http.ResponseWriter, r *http.Request, h http.Handler) {
	start := time.Now()
	id := r.Header.Get(headerRequestID)
	if !validRequestID(id) {
		id = newRequestID()
	}
	w.Header().Set(headerRequestID, id)
	ri := &requestInfo{id: id}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
	rw := &statusWriter{ResponseWriter: w}
	defer func() {
		// A panic the handlers did not recover (http.ErrAbortHandler)
		// still gets its log line; net/http handles the panic itself.
		d := time.Since(start)
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		route := routeOf(r.Pattern)
		if s.cfg.Observer != nil {
			s.cfg.Observer.ObserveRequest(r.Method, route, status, d)
		}
		level := slog.LevelInfo
		if route == "/healthz" || route == "/readyz" || route == "/metrics" {
			level = slog.LevelDebug // probes would drown the log
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("duration", d),
			slog.Int64("bytes", rw.bytes),
			slog.String("tenant", quire.ClipName(r.PathValue("tenant"))), // unvalidated on refusals
			slog.String("key_id", ri.keyID),
			slog.String("request_id", id),
		)
	}()
	h.ServeHTTP(rw, r)
}

// routeOf turns a mux pattern ("GET /v1/tenants/{tenant}") into the route
// label ("/v1/tenants/{tenant}"); requests the mux did not match are
// "unmatched".
func routeOf(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return pattern[i+1:]
	}
	return pattern
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Drain marks the server as shutting down: /readyz answers 503 from now
// on, so load balancers stop sending requests before the listener closes.
func (s *Server) Drain() { s.draining.Store(true) }

// handleReady answers /readyz: 200 when the server can serve, 503 when it
// is draining or its catalog does not answer.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return quire.Errorf(quire.EUnavailable, "shutting down")
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err.Error())
			return quire.Errorf(quire.EUnavailable, "catalog not reachable")
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleMetrics serves the Prometheus metrics (admin token only on the API
// listener; --metrics-addr serves them without a token on a listener of
// their own).
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	s.cfg.Metrics.ServeHTTP(w, r)
	return nil
}

package server

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/quiredb/quire"
)

// wrap turns a handlerFunc into an http.Handler: the one place errors and
// panics become responses.
func (s *Server) wrap(h handlerFunc) http.Handler { return s.wrapWith(h, s.writeError) }

// wrapWith is wrap with the error writer of a response dialect (Quire's
// error shape, or Cloudflare's v4 envelope on the D1 routes).
func (s *Server) wrapWith(h handlerFunc, writeErr func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				writeErr(w, r, errors.New("panic"))
			}
		}()
		if err := h(w, r); err != nil {
			writeErr(w, r, err)
		}
	})
}

// errorBody is the one error shape of the API.
type errorBody struct {
	Error *quire.Error `json:"error"`
}

// writeError answers with err's code and status. Errors without a code are
// logged and shown only as "Internal error."
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := quire.ErrorCode(err)
	e := &quire.Error{Code: code, Message: quire.ErrorMessage(err)}
	var qe *quire.Error
	if errors.As(err, &qe) {
		e.Details = qe.Details
	}
	status := quire.StatusOf(code)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r), "code", code, "err", err.Error())
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="quire"`)
	}
	writeJSON(w, status, errorBody{Error: e})
}

package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/quiredb/quire"
)

// readBody reads the whole request body, refusing more than limit bytes.
// The body is parsed as JSON whatever its Content-Type says, so that plain
// `curl -d` works.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(limit)
	}
	if err != nil {
		return nil, quire.Errorf(quire.EInvalid, "reading request body: %v", err)
	}
	return body, nil
}

func tooLarge(limit int64) error {
	return quire.Errorf(quire.ETooLarge, "request body is larger than %d bytes", limit)
}

// decodeJSON reads a control body into v strictly: one JSON value, no
// unknown fields, and type errors named by field.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	return unmarshalStrict(body, v)
}

func unmarshalStrict(body []byte, v any) error { return unmarshalObject(body, v, true) }

// unmarshalObject reads one JSON object into v; strict refuses unknown
// fields. A *quire.Error from a type's own UnmarshalJSON passes through.
func unmarshalObject(body []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return quire.Errorf(quire.EInvalid, "request body is empty; expected JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var qe *quire.Error
		if errors.As(err, &qe) {
			return err
		}
		return jsonError(err)
	}
	// dec.More misses a stray ']' or '}': check the rest is only space.
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return quire.Errorf(quire.EInvalid, "request body has data after the JSON value")
	}
	// Every control body is an object; null would decode as one with
	// every field zero (a PUT of a collection would drop all its indexes).
	if bytes.TrimSpace(body)[0] != '{' {
		return quire.Errorf(quire.EInvalid, "request body must be a JSON object")
	}
	return nil
}

// jsonError explains a decoding failure without echoing large input.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return quire.Errorf(quire.EInvalid, "%s must be %s, not %s", quire.ClipName(field), jsonTypeName(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return quire.Errorf(quire.EInvalid, "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return quire.Errorf(quire.EInvalid, "malformed JSON: unexpected end")
	}
	return quire.Errorf(quire.EInvalid, "invalid JSON: %s", quire.ClipName(err.Error()))
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return "a number"
}

// bodyLimit is the largest request body a tenant may send (batches, SQL,
// imports): its quota, within the node's --max-body-bytes.
func (s *Server) bodyLimit(r *http.Request, tenant string) int64 {
	if t, err := s.tenants.Tenant(r.Context(), tenant); err == nil && t.Quotas != nil && t.Quotas.MaxBodyBytes > 0 {
		return min(t.Quotas.MaxBodyBytes, s.cfg.MaxBodyBytes)
	}
	return s.cfg.MaxBodyBytes
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	writeRaw(w, status, append(b, '\n'))
	return nil
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// target carries out ops: Quire over HTTP, the HTTP ceiling's trivial
// handler, or the store in-process (the engine ceiling).
type target interface {
	// do performs o and reports how it went.
	do(ctx context.Context, o *op) result
	// version reads the current version of o's client, for an update whose
	// expected version is unknown (after a 412 or a timeout).
	version(ctx context.Context, o *op) (int64, error)
}

// result is the outcome of one op.
type result struct {
	outcome outcome
	bytes   int    // response body size
	version int64  // writes: the version written (0 if not known)
	err     string // what went wrong, for the report's error samples
}

// httpTarget sends ops over HTTP with keep-alive connections, at most one
// per worker: a worker takes an idle connection for each request, and
// there are never more requests in flight than workers.
type httpTarget struct {
	client *wireClient
}

// newHTTPTarget returns a target for the server at base, with a timeout
// per request.
func newHTTPTarget(base string, timeout time.Duration) (*httpTarget, error) {
	c, err := newWireClient(base, timeout)
	if err != nil {
		return nil, err
	}
	return &httpTarget{client: c}, nil
}

// close closes the target's idle connections.
func (t *httpTarget) close() { t.client.closeIdle() }

// send performs o over HTTP.
func (t *httpTarget) send(ctx context.Context, o *op) (wireResponse, error) {
	coll := "/v1/tenants/" + o.tenant.id + "/collections/" + collClients
	var method, path string
	switch o.kind {
	case opGet:
		method, path = http.MethodGet, coll+"/docs/"+o.id
	case opQueryEq, opQueryPrefix, opJoin:
		method, path = http.MethodPost, coll+"/query"
	case opCreate:
		method, path = http.MethodPost, coll+"/docs"
	case opUpdate:
		method, path = http.MethodPatch, coll+"/docs/"+o.id
	}
	header := "Authorization: " + o.tenant.auth + "\r\n"
	if o.kind == opUpdate {
		header += `If-Match: "` + strconv.FormatInt(o.version, 10) + "\"\r\n"
	}
	return t.client.do(ctx, method, path, header, o.body)
}

func (t *httpTarget) do(ctx context.Context, o *op) result {
	resp, err := t.send(ctx, o)
	switch {
	case err != nil:
		return transportFailure(err)
	case resp.status < 300:
		return result{outcome: outcomeOK, bytes: resp.bytes, version: etagVersion(resp.etag)}
	case resp.status == http.StatusPreconditionFailed:
		return result{outcome: outcomePreconditionFailed, err: o.kind.String() + ": HTTP 412"}
	}
	return result{outcome: outcomeError, err: fmt.Sprintf("%s: HTTP %d: %s", o.kind, resp.status, bytes.TrimSpace(resp.head))}
}

func (t *httpTarget) version(ctx context.Context, o *op) (int64, error) {
	get := *o
	get.kind, get.body = opGet, nil
	resp, err := t.send(ctx, &get)
	if err != nil {
		return 0, err
	}
	v := etagVersion(resp.etag)
	if resp.status != http.StatusOK || v == 0 {
		return 0, fmt.Errorf("reading the version of %s: HTTP %d", o.id, resp.status)
	}
	return v, nil
}

// transportFailure classifies an error from the HTTP client.
func transportFailure(err error) result {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return result{outcome: outcomeTimeout, err: "timeout"}
	}
	return result{outcome: outcomeError, err: err.Error()}
}

// etagVersion parses an ETag of the form "3"; it returns 0 otherwise.
func etagVersion(etag string) int64 {
	v, err := strconv.ParseInt(strings.Trim(etag, `"`), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

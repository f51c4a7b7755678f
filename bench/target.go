package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
// per worker: the transport allows as many connections as the phase has
// workers, so each worker in effect has its own.
type httpTarget struct {
	base   string
	client *http.Client
}

// newHTTPTarget returns a target for the server at base using up to conns
// connections, with a client timeout per request.
func newHTTPTarget(base string, conns int, timeout time.Duration) *httpTarget {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &httpTarget{base: strings.TrimRight(base, "/"), client: &http.Client{Transport: tr, Timeout: timeout}}
}

// close closes the target's idle connections.
func (t *httpTarget) close() { t.client.CloseIdleConnections() }

// request builds the HTTP request for o.
func (t *httpTarget) request(ctx context.Context, o *op) (*http.Request, error) {
	coll := t.base + "/v1/tenants/" + o.tenant.id + "/collections/" + collClients
	var method, url string
	switch o.kind {
	case opGet:
		method, url = http.MethodGet, coll+"/docs/"+o.id
	case opQueryEq, opQueryPrefix, opJoin:
		method, url = http.MethodPost, coll+"/query"
	case opCreate:
		method, url = http.MethodPost, coll+"/docs"
	case opUpdate:
		method, url = http.MethodPatch, coll+"/docs/"+o.id
	}
	var body io.Reader
	if o.body != nil {
		body = bytes.NewReader(o.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", o.tenant.auth)
	if o.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if o.kind == opUpdate {
		req.Header.Set("If-Match", `"`+strconv.FormatInt(o.version, 10)+`"`)
	}
	return req, nil
}

func (t *httpTarget) do(ctx context.Context, o *op) result {
	req, err := t.request(ctx, o)
	if err != nil {
		return result{outcome: outcomeError, err: err.Error()}
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return transportFailure(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			return transportFailure(err)
		}
		return result{outcome: outcomeOK, bytes: int(n), version: etagVersion(resp.Header.Get("ETag"))}
	case resp.StatusCode == http.StatusPreconditionFailed:
		io.Copy(io.Discard, resp.Body)
		return result{outcome: outcomePreconditionFailed, err: o.kind.String() + ": HTTP 412"}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	io.Copy(io.Discard, resp.Body)
	return result{outcome: outcomeError, err: fmt.Sprintf("%s: HTTP %d: %s", o.kind, resp.StatusCode, bytes.TrimSpace(msg))}
}

func (t *httpTarget) version(ctx context.Context, o *op) (int64, error) {
	get := *o
	get.kind, get.body = opGet, nil
	req, err := t.request(ctx, &get)
	if err != nil {
		return 0, err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	v := etagVersion(resp.Header.Get("ETag"))
	if resp.StatusCode != http.StatusOK || v == 0 {
		return 0, fmt.Errorf("reading the version of %s: HTTP %d", o.id, resp.StatusCode)
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

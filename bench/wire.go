package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// wireClient is the load generator's HTTP/1.1 client: keep-alive
// connections, each used by one request at a time, a request written with
// one write and its response parsed in place. net/http's client runs
// three goroutines per connection (the caller, a read loop and a write
// loop) and allocates per request; at 4000 connections that was 12,000
// goroutine stacks for the garbage collector to scan, and its pauses were
// most of the generator's own latency tail (docs/performance.md). Both
// Quire and the HTTP ceiling are measured through it.
type wireClient struct {
	addr    string // host:port to dial
	host    string // Host header
	prefix  string // path of the base URL, without its trailing slash
	tls     *tls.Config
	timeout time.Duration

	mu   sync.Mutex
	idle []*wireConn
}

// wireConn is one connection with its buffers.
type wireConn struct {
	c   net.Conn
	r   *bufio.Reader
	req []byte // the request being written, reused
}

// wireResponse is what the generator needs from a response.
type wireResponse struct {
	status int
	etag   string
	bytes  int    // body size
	head   []byte // the body's first bytes, for error messages
}

// maxWireHead is how much of a body is kept for error messages.
const maxWireHead = 300

func newWireClient(base string, timeout time.Duration) (*wireClient, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	w := &wireClient{host: u.Host, addr: u.Host, prefix: strings.TrimRight(u.Path, "/"), timeout: timeout}
	switch u.Scheme {
	case "http":
		if u.Port() == "" {
			w.addr = net.JoinHostPort(u.Hostname(), "80")
		}
	case "https":
		if u.Port() == "" {
			w.addr = net.JoinHostPort(u.Hostname(), "443")
		}
		w.tls = &tls.Config{ServerName: u.Hostname()}
	default:
		return nil, fmt.Errorf("url %q: the scheme must be http or https", base)
	}
	return w, nil
}

// do sends one request and reads its response. header holds extra header
// lines, each ending in "\r\n". A failed exchange closes its connection.
func (w *wireClient) do(ctx context.Context, method, path, header string, body []byte) (wireResponse, error) {
	c, err := w.take(ctx)
	if err != nil {
		return wireResponse{}, err
	}
	deadline := time.Now().Add(w.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.c.SetDeadline(deadline)
	c.req = appendRequest(c.req[:0], method, w.prefix+path, w.host, header, body)
	if _, err := c.c.Write(c.req); err != nil {
		c.c.Close()
		return wireResponse{}, err
	}
	resp, keep, err := readResponse(c.r)
	if err != nil || !keep {
		c.c.Close()
	} else {
		w.give(c)
	}
	return resp, err
}

// take returns an idle connection, or dials a new one.
func (w *wireClient) take(ctx context.Context) (*wireConn, error) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		c := w.idle[n-1]
		w.idle = w.idle[:n-1]
		w.mu.Unlock()
		return c, nil
	}
	w.mu.Unlock()
	d := net.Dialer{Timeout: w.timeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", w.addr)
	if err != nil {
		return nil, err
	}
	if w.tls != nil {
		tc := tls.Client(nc, w.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &wireConn{c: nc, r: bufio.NewReaderSize(nc, 4096)}, nil
}

func (w *wireClient) give(c *wireConn) {
	w.mu.Lock()
	w.idle = append(w.idle, c)
	w.mu.Unlock()
}

// closeIdle closes every idle connection.
func (w *wireClient) closeIdle() {
	w.mu.Lock()
	idle := w.idle
	w.idle = nil
	w.mu.Unlock()
	for _, c := range idle {
		c.c.Close()
	}
}

func appendRequest(b []byte, method, path, host, header string, body []byte) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	b = append(b, header...)
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

var errMalformedResponse = errors.New("malformed HTTP response")

// readResponse reads one response from r. keep reports whether the
// connection may carry another request.
func readResponse(r *bufio.Reader) (resp wireResponse, keep bool, err error) {
	line, err := readLine(r)
	if err != nil {
		return resp, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return resp, false, errMalformedResponse
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return resp, false, errMalformedResponse
		}
		resp.status = resp.status*10 + int(c-'0')
	}
	if resp.status < 100 {
		return resp, false, errMalformedResponse
	}
	length, chunked, keep := int64(-1), false, line[7] == '1'
	for {
		line, err := readLine(r)
		if err != nil {
			return resp, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return resp, false, errMalformedResponse
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return resp, false, errMalformedResponse
			}
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "connection"):
			if asciiEqualFold(value, "close") {
				keep = false
			} else if asciiEqualFold(value, "keep-alive") {
				keep = true
			}
		case asciiEqualFold(name, "etag"):
			resp.etag = string(value)
		}
	}
	switch {
	case resp.status == 204 || resp.status == 304 || resp.status/100 == 1:
	case chunked:
		err = readChunked(r, &resp)
	case length >= 0:
		err = readBody(r, length, &resp)
	default: // the body runs to the end of the connection
		err, keep = readBody(r, -1, &resp), false
	}
	return resp, keep && err == nil, err
}

// readBody reads n bytes of body (n < 0: until EOF). The first
// maxWireHead bytes of an error's body are kept for its message.
func readBody(r *bufio.Reader, n int64, resp *wireResponse) error {
	var src io.Reader = r
	if n >= 0 {
		src = io.LimitReader(r, n)
	}
	var read int64
	if room := maxWireHead - len(resp.head); resp.status >= 300 && room > 0 {
		var head [maxWireHead]byte
		k, err := io.ReadFull(src, head[:room])
		resp.head = append(resp.head, head[:k]...)
		read += int64(k)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return err
		}
	}
	copied, err := io.Copy(io.Discard, src)
	read += copied
	resp.bytes += int(read)
	if err == nil && n >= 0 && read < n {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readChunked reads a chunked body and its trailer.
func readChunked(r *bufio.Reader, resp *wireResponse) error {
	for {
		line, err := readLine(r)
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return errMalformedResponse
		}
		if size == 0 {
			for { // trailer
				line, err := readLine(r)
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if err := readBody(r, size, resp); err != nil {
			return err
		}
		if line, err := readLine(r); err != nil || len(line) != 0 {
			return errMalformedResponse
		}
	}
}

// readLine returns the next line without its "\r\n"; the slice is valid
// until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errMalformedResponse
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

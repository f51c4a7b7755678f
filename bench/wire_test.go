package bench

import (
	"bufio"
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wireServer is a real HTTP server whose handler echoes what the wire
// client sent, and which counts the connections it accepted.
func wireServer(t *testing.T, tlsOn bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/base/chunked":
			w.Write([]byte(strings.Repeat("x", 3000)))
			w.(http.Flusher).Flush()
			w.Write([]byte(strings.Repeat("y", 5000)))
		case "/base/fail":
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"error":{"code":"conflict","message":"` + strings.Repeat("m", 400) + `"}}`))
		case "/base/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		case "/base/slow":
			time.Sleep(300 * time.Millisecond)
		case "/base/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("ETag", `"7"`)
			w.Write([]byte(r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization") + " " + r.Header.Get("Content-Type") + " " + string(body)))
		}
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestWireClientExchanges(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		srv, conns := wireServer(t, tlsOn)
		c, err := newWireClient(srv.URL+"/base/", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if tlsOn {
			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			c.tls.RootCAs = pool
		}
		ctx := context.Background()
		for i := range 3 {
			resp, err := c.do(ctx, "POST", "/docs", "Authorization: Bearer k\r\n", []byte(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			want := `POST /base/docs Bearer k application/json {"a":1}`
			if resp.status != 200 || resp.etag != `"7"` || resp.bytes != len(want) || resp.head != nil {
				t.Fatalf("exchange %d: %+v, want 200, ETag \"7\", %d bytes", i, resp, len(want))
			}
		}
		resp, err := c.do(ctx, "GET", "/chunked", "", nil)
		if err != nil || resp.status != 200 || resp.bytes != 8000 {
			t.Fatalf("chunked: %+v, %v; want 8000 bytes", resp, err)
		}
		resp, err = c.do(ctx, "GET", "/empty", "", nil)
		if err != nil || resp.status != 204 || resp.bytes != 0 {
			t.Fatalf("204: %+v, %v", resp, err)
		}
		resp, err = c.do(ctx, "GET", "/fail", "", nil)
		if err != nil || resp.status != 409 || len(resp.head) != maxWireHead || !strings.HasPrefix(string(resp.head), `{"error":{"code":"conflict"`) {
			t.Fatalf("error response: %d %q, %v", resp.status, resp.head, err)
		}
		if got := conns.Load(); got != 1 {
			t.Fatalf("tls %v: %d connections for sequential requests, want 1 kept alive", tlsOn, got)
		}
		if resp, err := c.do(ctx, "GET", "/close", "", nil); err != nil || resp.bytes != 3 {
			t.Fatalf("Connection: close: %+v, %v", resp, err)
		}
		if _, err := c.do(ctx, "GET", "/again", "", nil); err != nil {
			t.Fatal(err)
		}
		if got := conns.Load(); got != 2 {
			t.Fatalf("tls %v: %d connections after the server closed one, want 2", tlsOn, got)
		}
	}
}

// TestWireClientTimeout: a response slower than the timeout is a timeout,
// as the report counts it, and the connection is not reused.
func TestWireClientTimeout(t *testing.T) {
	srv, conns := wireServer(t, false)
	c, err := newWireClient(srv.URL+"/base", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.do(context.Background(), "GET", "/slow", "", nil)
	if res := transportFailure(err); res.outcome != outcomeTimeout {
		t.Fatalf("slow response: %v (%v), want a timeout", res.outcome, err)
	}
	if _, err := c.do(context.Background(), "GET", "/ok", "", nil); err != nil {
		t.Fatal(err)
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2: the timed-out one must not be reused", got)
	}
}

func TestWireClientRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"ftp://x", "://", "127.0.0.1:80"} {
		if _, err := newWireClient(u, time.Second); err == nil {
			t.Errorf("newWireClient(%q) accepted", u)
		}
	}
}

// FuzzReadResponse: the response parser never panics or hangs, and what it
// accepts has a status and a size it could read.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"3\"\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\n\r\nnope",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"garbage\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		resp, _, err := readResponse(bufio.NewReaderSize(strings.NewReader(s), 64))
		if err == nil && (resp.status < 100 || resp.status > 999 || resp.bytes > len(s) || len(resp.head) > maxWireHead) {
			t.Fatalf("accepted %q as %+v", s, resp)
		}
	})
}

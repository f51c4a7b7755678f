package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// procAdminToken is the admin token of every server process the tests run.
const procAdminToken = "crash-test-admin-token"

// buildQuire builds the quire command into a temporary directory and
// returns the binary's path. The build is plain (no -race), like a release.
func buildQuire(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		//lint:ignore SA1019 fallback when go is not on PATH; the test runs under the toolchain that built it
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "quire")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/quiredb/quire/cmd/quire")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer is a bytes.Buffer safe to write from the exec copier while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running `quire serve`.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:port
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, once done is closed
	exited time.Time
}

// startQuire runs `quire serve` on dataDir with a port chosen by the
// kernel, and waits for the address line on stdout.
func startQuire(t *testing.T, bin, dataDir string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--data", dataDir, "--addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	// No QUIRE_* setting of the developer's environment may leak in.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QUIRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "QUIRE_ADMIN_TOKEN="+procAdminToken)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = pw
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatalf("start quire: %v", err)
	}
	pw.Close()
	go func() {
		p.err = cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	addr := make(chan string, 1)
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "quire listening on "); ok {
				addr <- u
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case p.url = <-addr:
	case <-p.done:
		t.Fatalf("quire exited before listening: %v\n%s", p.err, p.stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("quire did not print its address within 15s\n%s", p.stderr)
	}
	return p
}

// signal sends sig and waits up to timeout for the process to exit.
func (p *proc) signal(sig os.Signal, timeout time.Duration) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("quire did not exit within %v of %v", timeout, sig)
	}
}

// kill SIGKILLs the process and waits for it.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.signal(syscall.SIGKILL, 10*time.Second); err != nil {
		p.t.Fatal(err)
	}
}

// stop shuts the server down with SIGTERM and requires a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.signal(syscall.SIGTERM, 15*time.Second); err != nil {
		p.t.Fatal(err)
	}
	if p.err != nil {
		p.t.Fatalf("quire exited with %v after SIGTERM\n%s", p.err, p.stderr)
	}
}

// newHTTPClient returns a keep-alive client for many concurrent requests.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second},
	}
}

// result is one completed HTTP exchange: the status and the whole body.
type result struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request with the admin token. A non-nil error means no
// complete response arrived: a transport error before the headers, or a
// body cut short (errTruncated).
func do(ctx context.Context, c *http.Client, method, url string, body []byte, headers ...string) (*result, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+procAdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return &result{status: resp.StatusCode, header: resp.Header, body: b}, &truncatedError{status: resp.StatusCode, got: len(b), err: err}
	}
	return &result{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// truncatedError is a response whose headers arrived but whose body did
// not arrive whole.
type truncatedError struct {
	status, got int
	err         error
}

func (e *truncatedError) Error() string {
	return fmt.Sprintf("response %d truncated after %d body bytes: %v", e.status, e.got, e.err)
}

// mustDo sends a request that must succeed with status want.
func mustDo(t *testing.T, c *http.Client, method, url string, body string, want int, headers ...string) *result {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	r, err := do(context.Background(), c, method, url, b, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, r.status, want, r.body)
	}
	if len(r.body) > 0 && !json.Valid(r.body) {
		t.Fatalf("%s %s: body is not JSON: %q", method, url, r.body)
	}
	return r
}

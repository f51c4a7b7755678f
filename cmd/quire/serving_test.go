package main_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runQuire runs the binary to completion with no QUIRE_* variable and
// returns its combined output.
func runQuire(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QUIRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSlowLoris sends request headers one byte at a time, slower than
// --read-header-timeout allows: the server must drop the connection, and
// keep serving everyone else.
func TestSlowLoris(t *testing.T) {
	bin := buildQuire(t)
	p := startQuire(t, bin, t.TempDir(), "--read-header-timeout", "300ms")
	defer p.stop()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan error, 1)
	go func() {
		// Whatever the server sends (perhaps a 408), the read ends when it
		// closes the connection.
		_, err := io.Copy(io.Discard, conn)
		closed <- err
	}()
	start := time.Now()
	header := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
	for i := 0; i < len(header); i++ {
		select {
		case <-closed:
			// Dropped before the header was complete (sending it whole
			// takes over 50 s). Others are still served.
			mustDo(t, newHTTPClient(), "GET", p.url+"/healthz", "", 200)
			return
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := conn.Write([]byte{header[i]}); err != nil {
			return // the server closed the connection: dropped
		}
	}
	t.Fatalf("a client sending headers byte by byte for %v was not disconnected", time.Since(start))
}

// TestDrainOnSigterm checks that once SIGTERM arrives, /readyz answers 503
// while the listener still accepts (for --drain-delay), and that the
// process then exits cleanly.
func TestDrainOnSigterm(t *testing.T) {
	bin := buildQuire(t)
	p := startQuire(t, bin, t.TempDir(), "--drain-delay", "4s")
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	mustDo(t, c, "GET", p.url+"/readyz", "", 200)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	var status int
	for time.Now().Before(deadline) {
		res, err := c.Get(p.url + "/readyz")
		if err != nil {
			t.Fatalf("listener closed during the drain delay: %v", err)
		}
		res.Body.Close()
		if status = res.StatusCode; status == 503 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != 503 {
		t.Fatalf("readyz after SIGTERM = %d, want 503", status)
	}
	mustDo(t, c, "GET", p.url+"/healthz", "", 200)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("quire did not exit after the drain delay")
	}
	if p.err != nil {
		t.Fatalf("quire exited with %v after SIGTERM\n%s", p.err, p.stderr)
	}
}

// TestMetricsListener serves /metrics without a token on --metrics-addr,
// while the API listener's /metrics needs the admin token, and Go's
// profiler on --debug-addr only. The settings come from a config file,
// which the process reads.
func TestMetricsListener(t *testing.T) {
	maddr, daddr := freeAddr(t), freeAddr(t)
	cfg := t.TempDir() + "/quire.toml"
	conf := "metrics-addr = \"" + maddr + "\"\ndebug-addr = \"" + daddr + "\"\nlog-format = \"json\"\nlog-level = \"info\"\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildQuire(t)
	// startQuire passes --log-level warn, which beats the file.
	p := startQuire(t, bin, t.TempDir(), "--config", cfg)
	defer p.stop()
	c := newHTTPClient()
	mustDo(t, c, "POST", p.url+"/v1/tenants", `{"id":"acme"}`, 201)
	mustDo(t, c, "PUT", p.url+"/v1/tenants/acme/collections/notes", `{}`, 201)
	mustDo(t, c, "PUT", p.url+"/v1/tenants/acme/collections/notes/docs/a", `{"x":1}`, 201)

	res, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics listener: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics on --metrics-addr: %d", res.StatusCode)
	}
	var sawRequests, sawCommits bool
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		sawRequests = sawRequests || strings.HasPrefix(line, `quire_http_requests_total{code="201",method="PUT",route="/v1/tenants/{tenant}/collections/{coll}/docs/{id}"}`)
		sawCommits = sawCommits || strings.HasPrefix(line, "quire_writer_commits_total ")
	}
	if !sawRequests || !sawCommits {
		t.Errorf("metrics lack requests (%v) or commits (%v)", sawRequests, sawCommits)
	}
	// Without a token, the API listener refuses.
	res2, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != 401 {
		t.Errorf("GET /metrics on the API listener without a token: %d, want 401", res2.StatusCode)
	}
	// The profiler answers on --debug-addr, and not on the API listener.
	res3, err := http.Get("http://" + daddr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatalf("debug listener: %v", err)
	}
	cmdline, _ := io.ReadAll(res3.Body)
	res3.Body.Close()
	if res3.StatusCode != 200 || !strings.Contains(string(cmdline), "serve") {
		t.Errorf("GET /debug/pprof/cmdline on --debug-addr: %d %q", res3.StatusCode, cmdline)
	}
	res4, err := http.Get(p.url + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	res4.Body.Close()
	if res4.StatusCode == 200 {
		t.Error("the API listener serves the profiler")
	}
	// The stderr logs are JSON (from the file) at warn (flag): no access lines.
	if s := p.stderr.String(); strings.Contains(s, `"msg":"request"`) {
		t.Errorf("access lines logged at --log-level warn:\n%s", s)
	}
}

// freeAddr returns a loopback address no one listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

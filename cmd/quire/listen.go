package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/quiredb/quire/metrics"
)

// tlsListener wraps ln in TLS with the PEM certificate and key files.
func tlsListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	return tls.NewListener(ln, cfg), nil
}

// serveMetrics serves /metrics without a token on addr, if addr is set.
// The returned server is never nil; closing it is always safe.
func serveMetrics(addr string, m *metrics.Metrics, logger *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return servePrivate("metrics", addr, "/metrics", mux, 30*time.Second, logger)
}

// serveDebug serves Go's profiler (/debug/pprof/: CPU and heap profiles,
// execution traces) without a token on addr, if addr is set. A CPU
// profile or a trace runs for as long as asked (?seconds=), so writes have
// no deadline here.
func serveDebug(addr string, logger *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return servePrivate("debug", addr, "/debug/pprof/", mux, 0, logger)
}

// servePrivate serves h on addr (if set), a listener for operators only.
func servePrivate(name, addr, path string, h http.Handler, writeTimeout time.Duration, logger *slog.Logger) (*http.Server, error) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if addr == "" {
		return srv, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	fmt.Printf("quire %s on http://%s%s\n", name, ln.Addr(), path)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(name+" listener", "err", err.Error())
		}
	}()
	return srv, nil
}

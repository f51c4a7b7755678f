package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quiredb/quire"
	"github.com/quiredb/quire/actor"
	"github.com/quiredb/quire/cache"
	"github.com/quiredb/quire/metrics"
	"github.com/quiredb/quire/registry"
	"github.com/quiredb/quire/server"
	"github.com/quiredb/quire/sqlite"
)

// serveConfig is everything `quire serve` can be told.
type serveConfig struct {
	DataDir         string
	Addr            string
	Region          string
	Durability      string
	MaxOpenTenants  int
	IdleTimeout     time.Duration
	Readers         int
	MaxDocBytes     int
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration
	QueryTimeout    time.Duration
	ChangeRetention time.Duration
	CacheBytes      int64
	LogFormat       string
	LogLevel        string
	// Serving safely and observability.
	ConfigFile        string
	TLSCert           string
	TLSKey            string
	MetricsAddr       string
	DebugAddr         string
	ReadHeaderTimeout time.Duration
	DrainDelay        time.Duration
	// Residency and quotas.
	AllowRegions   string
	Node           string
	StorageQuota   int64
	MaxCollections int
	// Scheduled backups.
	BackupDir   string
	BackupEvery time.Duration
	BackupKeep  int
}

// serveFlags declares serve's flags on fs. Each flag's default comes from
// the QUIRE_<NAME> environment variable if set: flags beat the
// environment, which beats built-in defaults.
func serveFlags(fs *flag.FlagSet, c *serveConfig) {
	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, env(name, def), usage+" ["+envName(name)+"]")
	}
	str(&c.DataDir, "data", "./quire-data", "data directory: catalog.db, tenants/<id>/quire.db, admin.token")
	str(&c.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	str(&c.Region, "region", "local", "region of this node; the default region of new tenants")
	str(&c.AllowRegions, "allow-regions", "", "comma-separated regions whose tenants this node may hold, * for any; empty: --region only (any region while --region is local)")
	str(&c.Node, "node", "", "name of this node in the Quire-Served-By header; empty: the host name")
	fs.Int64Var(&c.StorageQuota, "storage-quota", int64(envInt("storage-quota", quire.DefaultStorageBytes)), "default storage quota of a tenant's database, in bytes ["+envName("storage-quota")+"]")
	fs.IntVar(&c.MaxCollections, "max-collections", envInt("max-collections", quire.DefaultMaxCollections), "default most collections of a tenant ["+envName("max-collections")+"]")
	str(&c.Durability, "durability", "full", "full: fsync every commit (synchronous=FULL); relaxed: synchronous=NORMAL, a power loss may lose the last commits")
	str(&c.LogFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, json otherwise)")
	str(&c.ConfigFile, "config", "", "TOML file whose keys are flag names; command-line flags and QUIRE_* variables win over it")
	str(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS (needs --tls-key)")
	str(&c.TLSKey, "tls-key", "", "PEM private key file of --tls-cert")
	str(&c.MetricsAddr, "metrics-addr", "", "serve /metrics without a token on this address too (keep it private); on the API listener /metrics needs the admin token")
	str(&c.DebugAddr, "debug-addr", "", "serve Go's profiler (/debug/pprof/) without a token on this address (keep it private); empty: off")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", envDuration("read-header-timeout", 10*time.Second), "drop a connection whose request headers take longer (slow-loris) ["+envName("read-header-timeout")+"]")
	fs.DurationVar(&c.DrainDelay, "drain-delay", envDuration("drain-delay", 0), "on SIGTERM, answer /readyz with 503 for this long before closing the listener ["+envName("drain-delay")+"]")
	str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&c.MaxOpenTenants, "max-open-tenants", envInt("max-open-tenants", 256), "most tenant databases kept open when idle ["+envName("max-open-tenants")+"]")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", envDuration("idle-timeout", 5*time.Minute), "close a tenant database unused for this long ["+envName("idle-timeout")+"]")
	fs.IntVar(&c.Readers, "readers", envInt("readers", 0), "read-only connections per open tenant; 0 means one per CPU (at least 2) ["+envName("readers")+"]")
	fs.IntVar(&c.MaxDocBytes, "max-doc-bytes", envInt("max-doc-bytes", quire.DefaultMaxDocBytes), "largest document, in bytes ["+envName("max-doc-bytes")+"]")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", int64(envInt("max-body-bytes", 16<<20)), "largest request body (batches), in bytes ["+envName("max-body-bytes")+"]")
	fs.Int64Var(&c.CacheBytes, "cache-bytes", int64(envInt("cache-bytes", 256<<20)), "memory budget of the read cache shared by all tenants, in bytes (half for documents, half for query and SQL results); 0 turns it off ["+envName("cache-bytes")+"]")
	fs.DurationVar(&c.QueryTimeout, "query-timeout", envDuration("query-timeout", 5*time.Second), "stop a document query running longer than this ["+envName("query-timeout")+"]")
	fs.DurationVar(&c.ChangeRetention, "changes-retention", envDuration("changes-retention", 720*time.Hour), "keep the change feed's changes at least this long; an older position gets 410 changes_expired ["+envName("changes-retention")+"]")
	str(&c.BackupDir, "backup-dir", "", "take scheduled backups of every tenant written since its last one into this directory (<dir>/<tenant>/*.qbak)")
	fs.DurationVar(&c.BackupEvery, "backup-every", envDuration("backup-every", time.Hour), "how often scheduled backups run, with --backup-dir ["+envName("backup-every")+"]")
	fs.IntVar(&c.BackupKeep, "backup-keep", envInt("backup-keep", 24), "scheduled backups kept per tenant, newest first ["+envName("backup-keep")+"]")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", envDuration("shutdown-timeout", 30*time.Second), "on SIGTERM, how long to wait for in-flight requests ["+envName("shutdown-timeout")+"]")
}

func envName(flagName string) string {
	return "QUIRE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(envName(name)); ok {
		return v
	}
	return def
}

// envInt and envDuration fall back to def on a malformed value; serve
// re-validates every setting, and a bad value is reported there.
func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(env(name, ""), &n); err == nil {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(env(name, "")); err == nil {
		return d
	}
	return def
}

func runServe(ctx context.Context, args []string) error {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	serveFlags(fs, &c)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: quire serve [flags]\n\nRuns the Quire server. Every flag can also be set with the QUIRE_* variable shown,\nor in the --config TOML file (keys are flag names). Precedence: command-line flag >\nQUIRE_* variable > config file > default. The admin token comes from QUIRE_ADMIN_TOKEN,\nelse from <data>/admin.token (generated at first start, mode 0600).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if err := applyConfigFile(fs, c.ConfigFile); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	logger, err := newLogger(c.LogFormat, c.LogLevel)
	if err != nil {
		return usageError{err.Error()}
	}
	return serve(ctx, c, logger)
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "auto" {
		format = "json"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text, json or auto", format)
}

// serve runs the server until ctx ends, then shuts down cleanly: it stops
// accepting, finishes in-flight requests, lets every writer commit its
// queue, and closes the databases.
func serve(ctx context.Context, c serveConfig, logger *slog.Logger) error {
	if strings.ContainsAny(c.DataDir, "?#") {
		return usageError{"data directory path may not contain ? or #"}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return usageError{"--tls-cert and --tls-key go together"}
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return err
	}
	token, tokenSource, err := adminToken(c.DataDir)
	if err != nil {
		return err
	}
	var reg *registry.Registry
	src := metrics.Sources{
		OpenTenants:    func() int { return reg.OpenTenants() },
		OpenTenantDirs: func() map[string]string { return reg.OpenTenantDirs() },
	}
	if c.CacheBytes < 0 {
		return usageError{"--cache-bytes may not be negative"}
	}
	if c.ChangeRetention <= 0 {
		return usageError{"--changes-retention must be positive"}
	}
	var readCache quire.ReadCache // nil: off
	if c.CacheBytes > 0 {
		rc := cache.New(cache.NewLocal(uint64(c.CacheBytes)))
		readCache, src.CacheStats = rc, rc.Stats
	}
	met := metrics.New(src)
	if c.StorageQuota <= 0 || c.MaxCollections <= 0 {
		return usageError{"--storage-quota and --max-collections must be positive"}
	}
	reg, err = registry.New(registry.Config{
		DataDir: c.DataDir, Region: c.Region, MaxOpenTenants: c.MaxOpenTenants, IdleTimeout: c.IdleTimeout,
		AllowRegions: splitRegions(c.AllowRegions), Quotas: quire.Quotas{StorageBytes: c.StorageQuota, MaxCollections: int64(c.MaxCollections), MaxBodyBytes: c.MaxBodyBytes},
		Store: sqlite.Options{Durability: sqlite.Durability(c.Durability), Readers: c.Readers, MaxDocBytes: c.MaxDocBytes, QueryTimeout: c.QueryTimeout, ChangeRetention: c.ChangeRetention, Observer: met},
		Cache: readCache,
	})
	if err != nil {
		return err
	}
	defer reg.Close()
	actors := actor.New(actor.Config{}) // counters, session state, rate limits: memory only
	defer actors.Close()
	api := server.New(server.Config{AdminToken: token, MaxDocBytes: c.MaxDocBytes, MaxBodyBytes: c.MaxBodyBytes, Logger: logger,
		Node: c.Node, Region: c.Region, Actors: actors,
		Observer: met, Metrics: met.Handler(), Ready: reg.Ping}, reg, reg)
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// The address line is on stdout so scripts (and tests) can find a
	// port chosen with --addr 127.0.0.1:0.
	scheme := "http"
	if c.TLSCert != "" {
		if ln, err = tlsListener(ln, c.TLSCert, c.TLSKey); err != nil {
			return err
		}
		scheme = "https"
	}
	msrv, err := serveMetrics(c.MetricsAddr, met, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer msrv.Close()
	dsrv, err := serveDebug(c.DebugAddr, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer dsrv.Close()
	stopBackups := func() {}
	if c.BackupDir != "" {
		sched, err := newBackupScheduler(reg, c.BackupDir, c.BackupEvery, c.BackupKeep, logger)
		if err != nil {
			ln.Close()
			return err
		}
		stopBackups = sched.start(ctx)
		defer stopBackups()
	}
	fmt.Printf("quire listening on %s://%s\n", scheme, ln.Addr())
	logger.Info("quire started", "addr", ln.Addr().String(), "data", c.DataDir, "durability", c.Durability, "admin_token", tokenSource, "version", version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	api.Drain()
	logger.Info("shutting down", "timeout", c.ShutdownTimeout.String(), "drain_delay", c.DrainDelay.String())
	time.Sleep(c.DrainDelay)
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("shutdown did not finish in time", "err", err.Error())
	}
	stopBackups()
	if err := reg.Close(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// adminToken returns QUIRE_ADMIN_TOKEN, or the token in <data>/admin.token,
// creating it (mode 0600) on first start. It also says where it came from.
func adminToken(dataDir string) (token, source string, err error) {
	if t := os.Getenv("QUIRE_ADMIN_TOKEN"); t != "" {
		return t, "QUIRE_ADMIN_TOKEN", nil
	}
	path := filepath.Join(dataDir, "admin.token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, path, nil
		}
	}
	var raw [32]byte
	rand.Read(raw[:])
	t := "quireadmin_" + base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("write admin token: %w", err)
	}
	return t, path, nil
}

// splitRegions parses --allow-regions: comma-separated, spaces ignored.
func splitRegions(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

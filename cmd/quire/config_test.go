package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseServe parses args the way runServe does, config file included.
func parseServe(t *testing.T, args ...string) (serveConfig, error) {
	t.Helper()
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	serveFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return c, applyConfigFile(fs, c.ConfigFile)
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "quire.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clearQuireEnv unsets every QUIRE_* variable for the test.
func clearQuireEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "QUIRE_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// TestConfigPrecedence checks flag > QUIRE_* environment > config file >
// default, each setting taken from the highest source that has it.
func TestConfigPrecedence(t *testing.T) {
	clearQuireEnv(t)
	path := writeConfig(t, `
addr = "127.0.0.1:9999"
region = "file-region"
max-open-tenants = 11
idle-timeout = "42s"
log-level = "warn"
durability = "relaxed"
max-body-bytes = 1048576
`)
	t.Setenv("QUIRE_REGION", "uk")
	t.Setenv("QUIRE_LOG_LEVEL", "debug")
	c, err := parseServe(t, "--config", path, "--max-open-tenants", "7", "--log-level", "error")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"addr (file)", c.Addr, "127.0.0.1:9999"},
		{"region (env beats file)", c.Region, "uk"},
		{"log-level (flag beats env and file)", c.LogLevel, "error"},
		{"durability (file)", c.Durability, "relaxed"},
		{"data (default)", c.DataDir, "./quire-data"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if got, want := c.MaxOpenTenants, 7; got != want {
		t.Errorf("max-open-tenants (flag beats file) = %d, want %d", got, want)
	}
	if got, want := c.IdleTimeout, 42*time.Second; got != want {
		t.Errorf("idle-timeout (file) = %v, want %v", got, want)
	}
	if got, want := c.MaxBodyBytes, int64(1<<20); got != want {
		t.Errorf("max-body-bytes (file) = %d, want %d", got, want)
	}
	if got, want := c.ShutdownTimeout, 30*time.Second; got != want {
		t.Errorf("shutdown-timeout (default) = %v, want %v", got, want)
	}
}

// TestConfigFromEnv checks that QUIRE_CONFIG names the file too.
func TestConfigFromEnv(t *testing.T) {
	clearQuireEnv(t)
	t.Setenv("QUIRE_CONFIG", writeConfig(t, `region = "eu"`))
	c, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Region, "eu"; got != want {
		t.Errorf("region = %q, want %q", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	clearQuireEnv(t)
	for _, tc := range []struct{ name, text, want string }{
		{"ErrUnknownKeys", "addr = \"x:1\"\nlisten = \"y\"\nmax_open_tenants = 3\n", "unknown keys listen, max_open_tenants"},
		{"ErrConfigKey", `config = "other.toml"`, "unknown keys config"},
		{"ErrBadValue", `max-open-tenants = "many"`, "key max-open-tenants"},
		{"ErrBadDuration", `idle-timeout = 5`, "key idle-timeout"},
		{"ErrTable", "[server]\naddr = \"x\"\n", "unknown keys server"},
		{"ErrSyntax", `addr = `, "config file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServe(t, "--config", writeConfig(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Run("ErrMissingFile", func(t *testing.T) {
		_, err := parseServe(t, "--config", filepath.Join(t.TempDir(), "nope.toml"))
		if err == nil {
			t.Error("missing config file accepted")
		}
	})
}

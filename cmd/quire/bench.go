package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/quiredb/quire/bench"
)

func runBench(ctx context.Context, args []string) error {
	c := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	workloads := fs.String("workload", "all", "comma-separated workloads: "+strings.Join(bench.AllWorkloads(), ", ")+", or all")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole process (server and load generator, when in-process) while Quire is measured; one file per workload (cpu.get.prof…) when there are several")
	fs.StringVar(&c.Trace, "trace", "", "write an execution trace (go tool trace) of the whole process while Quire is measured; named like --cpuprofile's")
	fs.StringVar(&c.URL, "url", "", "target this running server instead of starting one in-process (the engine ceiling is then not measured)")
	fs.StringVar(&c.Token, "token", os.Getenv("QUIRE_TOKEN"), "with --url: the server's admin token [QUIRE_TOKEN]")
	fs.StringVar(&c.Durability, "durability", c.Durability, "in-process server: full (fsync every commit) or relaxed")
	fs.Int64Var(&c.CacheBytes, "cache-bytes", c.CacheBytes, "in-process server: the read cache's budget in bytes, as quire serve's --cache-bytes; 0 turns it off")
	fs.IntVar(&c.Docs, "docs", c.Docs, "clients to seed (each with 1-3 finances and 0-2 notes)")
	fs.IntVar(&c.Connections, "connections", c.Connections, "concurrent keep-alive connections, one goroutine each (open loop: the most requests in flight)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long each workload is measured")
	fs.DurationVar(&c.CeilingDuration, "ceiling-duration", 0, "how long each ceiling is measured (default: --duration)")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: requests per second, latency measured from each request's scheduled time (default: closed loop)")
	fs.Float64Var(&c.ReadRatio, "read-ratio", c.ReadRatio, "mixed and multi-tenant: the share of reads")
	fs.IntVar(&c.Tenants, "tenants", c.Tenants, "multi-tenant: tenants sharing the --docs clients and the connections")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "client timeout per request")
	fs.IntVar(&c.Seeders, "seeders", c.Seeders, "concurrent seeding batches")
	fs.IntVar(&c.BatchSize, "batch", c.BatchSize, "ops per seeding batch")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the data set and of the workloads' random choices")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: quire bench [flags]

Seeds UK client records (with finances and notes) and measures workloads
against Quire, then the same workloads against two ceilings: a trivial Go
HTTP handler answering with as many bytes (the HTTP ceiling) and the store
called in-process (the engine ceiling). Without --url it starts its own
server in a temporary directory. Progress goes to stderr, the report to stdout.

Example: quire bench --docs 100000 --duration 20s --workload get,mixed
         quire bench --rate 4000 --workload mixed

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *workloads != "all" {
		c.Workloads = strings.Split(*workloads, ",")
	}
	if err := c.Validate(); err != nil {
		return usageError{err.Error()}
	}
	c.Log = os.Stderr
	rep, err := bench.Run(ctx, c)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(os.Stdout)
}

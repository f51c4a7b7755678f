package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"
)

// Config is what a bench run is told. Start from DefaultConfig.
type Config struct {
	URL        string // a running server to target; "" starts one in-process
	Token      string // with URL: the server's admin token
	Durability string // in-process: "full" (fsync every commit) or "relaxed"
	CacheBytes int64  // in-process: the read cache's budget; 0 = off

	Docs      int      // clients per tenant (each with 1-3 finances and 0-2 notes)
	Workloads []string // names, in the order given; see AllWorkloads
	ReadRatio float64  // mixed and multi-tenant: the share of reads
	Tenants   int      // multi-tenant: how many tenants (sharing Docs clients between them)

	Connections     int           // concurrent connections (workers), also the open loop's in-flight bound
	Duration        time.Duration // each workload's measurement
	CeilingDuration time.Duration // each ceiling's measurement; 0 = Duration
	Rate            float64       // open loop: requests per second; 0 = closed loop
	Timeout         time.Duration // client timeout per request

	Seeders   int    // concurrent seeding requests
	BatchSize int    // ops per seeding batch
	Seed      uint64 // of the data set and the workloads' random choices

	// CPUProfile, if set, is the file to write a CPU profile of the whole
	// process (server and load generator, when in-process) to while Quire
	// is measured. With several workloads, each gets its own file, named
	// after it: cpu.prof becomes cpu.get.prof, cpu.mixed.prof…
	CPUProfile string
	// Trace, if set, is the file to write an execution trace to while
	// Quire is measured (`go tool trace`), named like CPUProfile's.
	Trace string
	Log   io.Writer // progress; nil = none
}

// DefaultConfig returns the defaults of `quire bench`.
func DefaultConfig() Config {
	return Config{
		Durability: "full", CacheBytes: 256 << 20, Docs: 100000, Workloads: AllWorkloads(), ReadRatio: 0.9, Tenants: 8,
		Connections: 4000, Duration: 30 * time.Second, Timeout: 10 * time.Second,
		Seeders: 4, BatchSize: 500, Seed: 1,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.URL == "" && c.Durability != "full" && c.Durability != "relaxed":
		return fmt.Errorf("durability must be full or relaxed, not %q", c.Durability)
	case c.CacheBytes < 0:
		return errors.New("cache bytes may not be negative")
	case c.URL != "" && c.Token == "":
		return errors.New("with --url, give the server's admin token (--token or QUIRE_TOKEN)")
	case c.Docs < 1:
		return errors.New("docs must be at least 1")
	case len(c.Workloads) == 0:
		return errors.New("no workload given")
	case c.ReadRatio < 0 || c.ReadRatio > 1:
		return errors.New("read ratio must be between 0 and 1")
	case c.Tenants < 1:
		return errors.New("tenants must be at least 1")
	case c.Connections < 1:
		return errors.New("connections must be at least 1")
	case c.Duration <= 0 || c.CeilingDuration < 0:
		return errors.New("durations must be positive")
	case c.Rate < 0:
		return errors.New("rate must not be negative")
	case c.Timeout <= 0:
		return errors.New("timeout must be positive")
	case c.Seeders < 1:
		return errors.New("seeders must be at least 1")
	case c.BatchSize < 1 || c.BatchSize > 990:
		return errors.New("batch size must be between 1 and 990 (a batch holds at most 1000 ops)")
	}
	for _, name := range c.Workloads {
		w, err := newWorkload(name, c.ReadRatio)
		if err != nil {
			return err
		}
		if !slices.Contains(w.kinds(), opUpdate) {
			continue
		}
		// Update workers own disjoint ranges of clients: each needs one.
		if !w.multi && c.Docs < c.Connections {
			return fmt.Errorf("workload %s: each connection updates clients of its own: --docs (%d) must be at least --connections (%d)", name, c.Docs, c.Connections)
		}
		if w.multi && c.Docs/c.Tenants < (c.Connections+c.Tenants-1)/c.Tenants {
			return fmt.Errorf("workload %s: each connection updates clients of its own: --docs/--tenants (%d) must be at least --connections/--tenants (%d)",
				name, c.Docs/c.Tenants, (c.Connections+c.Tenants-1)/c.Tenants)
		}
	}
	return nil
}

// Run seeds the data set, measures each workload against Quire, then
// against the HTTP ceiling and (when it started Quire itself) the engine
// ceiling, and returns the report.
func Run(ctx context.Context, c Config) (*Report, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.CeilingDuration == 0 {
		c.CeilingDuration = c.Duration
	}
	r := &runner{cfg: c, log: c.Log}
	if r.log == nil {
		r.log = io.Discard
	}
	return r.run(ctx)
}

// runner holds what one Run works with.
type runner struct {
	cfg      Config
	log      io.Writer
	main     *tenant   // the single-tenant workloads' tenant
	multi    []*tenant // the multi-tenant workload's tenants
	quire    *httpTarget
	engine   *engineTarget // nil with --url
	workload []*workload
}

func (r *runner) logf(format string, args ...any) { fmt.Fprintf(r.log, format+"\n", args...) }

func (r *runner) run(ctx context.Context) (*Report, error) {
	c := r.cfg
	rep := &Report{Machine: machine(), Settings: c.settings()}
	for _, name := range c.Workloads {
		w, _ := newWorkload(name, c.ReadRatio)
		r.workload = append(r.workload, w)
	}

	base, token := c.URL, c.Token
	var ip *inProcess
	if base == "" {
		var err error
		if ip, err = startInProcess(c.Durability, c.CacheBytes, r.log); err != nil {
			return nil, err
		}
		defer ip.close()
		base, token = ip.url, ip.token
		r.logf("started Quire in-process at %s (durability %s, data in %s)", base, c.Durability, ip.dir)
	}
	admin := newAdminClient(base, token, c.Timeout)
	seed, err := r.setup(ctx, admin)
	if c.URL != "" {
		defer r.cleanup(admin)
	}
	if err != nil {
		return nil, err
	}
	rep.Seed = seed

	if r.quire, err = newHTTPTarget(base, c.Timeout); err != nil {
		return nil, err
	}
	defer r.quire.close()
	if ip != nil {
		if r.engine, err = newEngineTarget(ctx, ip.reg, append([]*tenant{r.main}, r.multi...)); err != nil {
			return nil, err
		}
		defer r.engine.close()
	}
	rep.Workloads = r.plan(ctx)
	if err := r.measureAll(ctx, rep.Workloads); err != nil {
		return nil, err
	}
	return rep, nil
}

func (c Config) settings() Settings {
	s := Settings{
		Target: "in-process", Durability: c.Durability, CacheBytes: c.CacheBytes, Mode: "closed", Connections: c.Connections,
		DurationS: c.Duration.Seconds(), CeilingDuration: c.CeilingDuration.Seconds(), TimeoutS: c.Timeout.Seconds(),
		Docs: c.Docs, Tenants: c.Tenants, ReadRatio: c.ReadRatio,
	}
	if c.URL != "" {
		s.Target, s.Durability = c.URL, "(the server's)"
	}
	if c.Rate > 0 {
		s.Mode, s.Rate = "open", c.Rate
	}
	return s
}

// setup creates and seeds the main tenant, and the multi-tenant workload's
// tenants if it is to run.
func (r *runner) setup(ctx context.Context, admin *adminClient) (SeedStats, error) {
	c := r.cfg
	prefix := "bench_" + randomHex(3)
	var st SeedStats
	start := time.Now()
	add := func(id string, data *Dataset) (*tenant, error) {
		t, err := admin.createTenant(ctx, id, data)
		if err != nil {
			return nil, err
		}
		r.logf("seeding %s: %d clients with their finances and notes...", id, data.Clients())
		docs, err := admin.seed(ctx, t, c.Seeders, c.BatchSize)
		st.Tenants++
		st.Clients += data.Clients()
		st.Docs += docs
		return t, err
	}
	var err error
	if r.main, err = add(prefix, NewDataset(c.Docs, c.Seed)); err != nil {
		return st, err
	}
	if slices.ContainsFunc(r.workload, func(w *workload) bool { return w.multi }) {
		for k := range c.Tenants {
			t, err := add(fmt.Sprintf("%s_t%d", prefix, k), NewDataset(max(c.Docs/c.Tenants, 1), c.Seed+uint64(k)+1))
			if t != nil {
				r.multi = append(r.multi, t)
			}
			if err != nil {
				return st, err
			}
		}
	}
	st.Seconds = time.Since(start).Seconds()
	st.DocsPerSecond = float64(st.Docs) / st.Seconds
	r.logf("seeded %d docs in %d tenant(s) in %.1fs (%.0f docs/s)", st.Docs, st.Tenants, st.Seconds, st.DocsPerSecond)
	return st, nil
}

// cleanup deletes the tenants the bench created on a server it did not
// start.
func (r *runner) cleanup(admin *adminClient) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, t := range append([]*tenant{r.main}, r.multi...) {
		if t == nil {
			continue
		}
		if err := admin.deleteTenant(ctx, t.id); err != nil {
			r.logf("cleanup: %v", err)
		}
	}
}

// plan probes which kinds of op the server (and the engine) support and
// decides what each workload will send: a workload made only of
// unsupported kinds is reported unsupported; a mixed one reads with gets
// alone.
func (r *runner) plan(ctx context.Context) []WorkloadResult {
	httpMissing, engineMissing := map[opKind]string{}, map[opKind]string{}
	for _, k := range []opKind{opQueryEq, opQueryPrefix, opJoin} {
		if !slices.ContainsFunc(r.workload, func(w *workload) bool { return slices.Contains(w.kinds(), k) }) {
			continue
		}
		g := newGenerator(&workload{mix: []share{{k, 1}}}, []*tenant{r.main}, 0, 1, r.cfg.Seed)
		o := g.next()
		if res := r.quire.do(ctx, &o); res.outcome != outcomeOK {
			httpMissing[k] = res.err
		}
		if r.engine != nil {
			if why := r.engine.probe(ctx, &o); why != "" {
				engineMissing[k] = why
			}
		}
	}
	out := make([]WorkloadResult, len(r.workload))
	for i, w := range r.workload {
		res := &out[i]
		res.Name = w.name
		drop := map[opKind]bool{}
		var why []string
		for _, k := range w.kinds() {
			if msg, ok := httpMissing[k]; ok {
				drop[k] = true
				why = append(why, msg)
			}
		}
		eff := w.without(drop)
		switch {
		case eff == nil:
			res.Unsupported = strings.Join(why, "; ")
			r.logf("%s: unsupported: %s", w.name, res.Unsupported)
		case len(drop) > 0:
			res.Note = "reads are gets only, the query endpoint is unsupported: " + strings.Join(why, "; ")
		}
		if eff != nil {
			for _, k := range eff.kinds() {
				if msg, ok := engineMissing[k]; ok {
					res.EngineUnsupported = msg
				}
			}
		}
		r.workload[i] = eff
	}
	return out
}

// tenantsOf returns the tenants w runs on.
func (r *runner) tenantsOf(w *workload) []*tenant {
	if w.multi {
		return r.multi
	}
	return []*tenant{r.main}
}

// measure runs one phase and logs its outcome.
func (r *runner) measure(ctx context.Context, what string, t target, w *workload, tenants []*tenant, d time.Duration) *Stats {
	r.logf("%s: %s for %s...", w.name, what, d)
	p := phase{target: t, workload: w, tenants: tenants, workers: r.cfg.Connections, duration: d, rate: r.cfg.Rate, seed: r.cfg.Seed}
	st := p.run(ctx)
	r.logf("%s: %s: %.0f req/s, p50 %.3f ms, p99 %.3f ms, %d errors, %d timeouts",
		w.name, what, st.Throughput, st.Latency.P50, st.Latency.P99, st.Errors, st.Timeouts)
	return st
}

// measureAll measures each workload against Quire, then the HTTP ceiling,
// then the engine ceiling, back to back so that the three see the same
// data (the write workloads grow it).
func (r *runner) measureAll(ctx context.Context, results []WorkloadResult) error {
	ceiling, err := startCeilingServer()
	if err != nil {
		return err
	}
	defer ceiling.close()
	for i, w := range r.workload {
		if w == nil {
			continue
		}
		res := &results[i]
		if res.Quire, err = r.measureQuire(ctx, w); err != nil {
			return err
		}
		res.HTTPCeiling = r.measureHTTPCeiling(ctx, ceiling, w, res.Quire.MedianBytes)
		if r.engine != nil && res.EngineUnsupported == "" {
			res.EngineCeiling = r.measure(ctx, "engine ceiling", r.engine, w, r.tenantsOf(w), r.cfg.CeilingDuration)
		}
		res.setRatios()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// measureQuire measures w against Quire, under a CPU profile and an
// execution trace if asked. Its connections are closed afterwards, so that
// the ceilings' do not add to them (4000 connections are 8000 file
// descriptors in-process).
func (r *runner) measureQuire(ctx context.Context, w *workload) (*Stats, error) {
	defer r.quire.close()
	if r.cfg.CPUProfile != "" {
		f, err := r.profileFile(r.cfg.CPUProfile, w)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if r.cfg.Trace != "" {
		f, err := r.profileFile(r.cfg.Trace, w)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return nil, fmt.Errorf("execution trace: %w", err)
		}
		defer trace.Stop()
	}
	return r.measure(ctx, "quire", r.quire, w, r.tenantsOf(w), r.cfg.Duration), nil
}

// profileFile creates path, or with several workloads path with the
// workload's name before its extension (cpu.get.prof...).
func (r *runner) profileFile(path string, w *workload) (*os.File, error) {
	if len(r.cfg.Workloads) > 1 {
		ext := filepath.Ext(path)
		path = strings.TrimSuffix(path, ext) + "." + w.name + ext
	}
	return os.Create(path)
}

// measureHTTPCeiling measures w against the trivial handler answering
// bodies of the median size of Quire's responses to w.
func (r *runner) measureHTTPCeiling(ctx context.Context, ceiling *ceilingServer, w *workload, bodySize int) *Stats {
	ceiling.setBodySize(bodySize)
	t, err := newHTTPTarget(ceiling.url, r.cfg.Timeout)
	if err != nil {
		return &Stats{Errors: 1, ErrorSamples: []string{err.Error()}}
	}
	defer t.close()
	var scratch []*tenant
	for _, tn := range r.tenantsOf(w) {
		scratch = append(scratch, tn.scratchCopy())
	}
	return r.measure(ctx, "http ceiling", t, w, scratch, r.cfg.CeilingDuration)
}

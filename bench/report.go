package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Report is the result of a bench run. Its JSON form is what --json prints.
type Report struct {
	Machine   Machine          `json:"machine"`
	Settings  Settings         `json:"settings"`
	Seed      SeedStats        `json:"seed"`
	Workloads []WorkloadResult `json:"workloads"`
}

// Machine describes where the run happened. The load generator runs on
// the same machine as the server, sharing its cores.
type Machine struct {
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUModel   string `json:"cpu_model,omitempty"`
}

// Settings are the run's parameters, as the report needs them to be read.
type Settings struct {
	Target          string  `json:"target"`      // "in-process" or the --url
	Durability      string  `json:"durability"`  // in-process only
	CacheBytes      int64   `json:"cache_bytes"` // in-process only: the read cache's budget, 0 = off
	Mode            string  `json:"mode"`        // "closed" or "open"
	Connections     int     `json:"connections"`
	Rate            float64 `json:"rate,omitempty"` // open loop: requests per second
	DurationS       float64 `json:"duration_s"`
	CeilingDuration float64 `json:"ceiling_duration_s"`
	TimeoutS        float64 `json:"timeout_s"`
	Docs            int     `json:"docs"`
	Tenants         int     `json:"tenants"` // of the multi-tenant workload
	ReadRatio       float64 `json:"read_ratio"`
}

// SeedStats describes the seeding.
type SeedStats struct {
	Tenants       int     `json:"tenants"`
	Clients       int     `json:"clients"`
	Docs          int64   `json:"docs"`
	Seconds       float64 `json:"seconds"`
	DocsPerSecond float64 `json:"docs_per_second"`
}

// WorkloadResult is one workload: Quire's figures, the two ceilings', and
// Quire's throughput as a fraction of each ceiling's. The ratios, not the
// absolute figures, are what compare across machines. The engine ceiling
// is null when the bench did not start the server itself (--url).
type WorkloadResult struct {
	Name                 string   `json:"name"`
	Unsupported          string   `json:"unsupported,omitempty"` // why it could not run
	Note                 string   `json:"note,omitempty"`
	Quire                *Stats   `json:"quire"`
	HTTPCeiling          *Stats   `json:"http_ceiling"`
	EngineCeiling        *Stats   `json:"engine_ceiling"`
	EngineUnsupported    string   `json:"engine_ceiling_unsupported,omitempty"`
	RatioToHTTPCeiling   *float64 `json:"ratio_to_http_ceiling"`
	RatioToEngineCeiling *float64 `json:"ratio_to_engine_ceiling"`
}

// setRatios computes the throughput ratios from the phases' stats.
func (w *WorkloadResult) setRatios() {
	ratio := func(c *Stats) *float64 {
		if w.Quire == nil || c == nil || c.Throughput == 0 {
			return nil
		}
		r := math.Round(w.Quire.Throughput/c.Throughput*1000) / 1000
		return &r
	}
	w.RatioToHTTPCeiling, w.RatioToEngineCeiling = ratio(w.HTTPCeiling), ratio(w.EngineCeiling)
}

// machine describes this machine.
func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// WriteTable writes the report as a table for people.
func (r *Report) WriteTable(w io.Writer) error {
	m, s := r.Machine, r.Settings
	fmt.Fprintf(w, "machine: %d cores (GOMAXPROCS %d), %s, %s/%s, %s\n", m.Cores, m.GOMAXPROCS, m.CPUModel, m.OS, m.Arch, m.GoVersion)
	mode := fmt.Sprintf("closed loop, %d connections", s.Connections)
	if s.Mode == "open" {
		mode = fmt.Sprintf("open loop at %g req/s, up to %d in flight", s.Rate, s.Connections)
	}
	target := fmt.Sprintf("%s (durability %s)", s.Target, s.Durability)
	if s.Target == "in-process" {
		target = fmt.Sprintf("in-process (durability %s, read cache %s)", s.Durability, cacheSize(s.CacheBytes))
	}
	fmt.Fprintf(w, "target: %s; %s; %gs per workload, %gs per ceiling; timeout %gs\n",
		target, mode, s.DurationS, s.CeilingDuration, s.TimeoutS)
	fmt.Fprintln(w, "cpu: the share of all cores the bench process (load generator and, in-process, server) had; in a closed loop, well under 100% means something else was using the machine")
	fmt.Fprintf(w, "data: %d clients per tenant; seeded %d docs in %d tenant(s) in %.1fs (%.0f docs/s)\n\n",
		s.Docs, r.Seed.Docs, r.Seed.Tenants, r.Seed.Seconds, r.Seed.DocsPerSecond)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, label("workload", "target")+"\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\ttimeouts\t412\tdropped\tcpu\t× http\t× engine\t")
	for _, wr := range r.Workloads {
		if wr.Unsupported != "" {
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", label(wr.Name, "unsupported"))
			continue
		}
		row := func(name, target string, st *Stats, lat *Latency, ratios bool) {
			if st == nil {
				return
			}
			if lat == nil {
				lat = &st.Latency
			}
			cpu := "-"
			if st.CPUShare != nil {
				cpu = fmt.Sprintf("%.0f%%", *st.CPUShare*100)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%s\t", label(name, target), st.Throughput,
				lat.P50, lat.P90, lat.P99, lat.P999, lat.Max, st.Errors, st.Timeouts, st.PreconditionFailed, st.Dropped, cpu)
			if ratios {
				fmt.Fprintf(tw, "%s\t%s\t\n", ratioText(wr.RatioToHTTPCeiling), ratioText(wr.RatioToEngineCeiling))
			} else {
				fmt.Fprint(tw, "\t\t\n")
			}
		}
		row(wr.Name, "quire", wr.Quire, nil, true)
		if q := wr.Quire; q != nil {
			sub := func(name string, l *Latency) {
				if l != nil {
					fmt.Fprintf(tw, "%s\t\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\t\t\t\t\t\t\t\n", label("", name), l.P50, l.P90, l.P99, l.P999, l.Max)
				}
			}
			sub("  reads", q.ReadLatency)
			sub("  writes", q.WriteLatency)
			for k := range numOpKinds {
				sub("    "+k.String(), q.OpLatency[k.String()])
			}
		}
		row("", "http ceiling", wr.HTTPCeiling, nil, false)
		row("", "engine ceiling", wr.EngineCeiling, nil, false)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, wr := range r.Workloads {
		switch {
		case wr.Unsupported != "":
			fmt.Fprintf(w, "\n%s: unsupported: %s", wr.Name, wr.Unsupported)
		case wr.EngineUnsupported != "":
			fmt.Fprintf(w, "\n%s: no engine ceiling: %s", wr.Name, wr.EngineUnsupported)
		}
		if wr.Note != "" {
			fmt.Fprintf(w, "\n%s: %s", wr.Name, wr.Note)
		}
		for _, st := range []*Stats{wr.Quire, wr.HTTPCeiling, wr.EngineCeiling} {
			if st != nil && len(st.ErrorSamples) > 0 {
				fmt.Fprintf(w, "\n%s: errors such as: %s", wr.Name, strings.Join(st.ErrorSamples, " | "))
				break
			}
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// label is the left-aligned first cell of a row of the table (the
// tabwriter aligns the figures right).
func label(workload, target string) string { return fmt.Sprintf("%-13s %-16s", workload, target) }

func ratioText(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *r)
}

// cacheSize renders a read cache budget for the report.
func cacheSize(b int64) string {
	if b <= 0 {
		return "off"
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

package bench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRun runs every workload briefly against an in-process Quire, in a
// closed and an open loop, and checks the report: no failures, work done,
// ordered percentiles, and the ratio fields in the JSON.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate float64
	}{
		{"ClosedLoop", 0},
		{"OpenLoop", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // mostly waiting on fsync and the clock
			c := DefaultConfig()
			c.Docs, c.Connections, c.Tenants = 500, 8, 2
			c.Duration, c.CeilingDuration = 300*time.Millisecond, 100*time.Millisecond
			c.Rate = tc.rate
			c.Log = testWriter{t}
			rep, err := Run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(rep.Workloads), len(AllWorkloads()); got != want {
				t.Fatalf("%d workloads reported, want %d", got, want)
			}
			for _, w := range rep.Workloads {
				checkWorkload(t, w)
			}
			checkJSON(t, rep)
			var table strings.Builder
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", table.String())
		})
	}
}

func checkWorkload(t *testing.T, w WorkloadResult) {
	t.Helper()
	if w.Unsupported != "" {
		// Only the query workloads may lack server support.
		if !strings.HasPrefix(w.Name, "query") && w.Name != WorkloadJoin {
			t.Errorf("%s: unsupported: %s", w.Name, w.Unsupported)
		}
		return
	}
	for _, p := range []struct {
		name string
		s    *Stats
	}{{"quire", w.Quire}, {"http ceiling", w.HTTPCeiling}, {"engine ceiling", w.EngineCeiling}} {
		if p.s == nil {
			t.Errorf("%s: no %s figures", w.Name, p.name)
			continue
		}
		if p.s.Errors != 0 || p.s.Timeouts != 0 || p.s.PreconditionFailed != 0 {
			t.Errorf("%s: %s: %d errors, %d timeouts, %d 412s: %q", w.Name, p.name, p.s.Errors, p.s.Timeouts, p.s.PreconditionFailed, p.s.ErrorSamples)
		}
		if p.s.OK == 0 || p.s.Throughput <= 0 {
			t.Errorf("%s: %s: %d requests, throughput %g", w.Name, p.name, p.s.OK, p.s.Throughput)
		}
		for _, l := range []*Latency{&p.s.Latency, p.s.ReadLatency, p.s.WriteLatency} {
			if l != nil && !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
				t.Errorf("%s: %s: percentiles out of order: %+v", w.Name, p.name, *l)
			}
		}
	}
	if w.Quire != nil && w.Quire.MedianBytes == 0 {
		t.Errorf("%s: Quire's responses have no median size", w.Name)
	}
	if (w.Name == WorkloadMixed || w.Name == WorkloadMultiTenant) && (w.Quire.ReadLatency == nil || w.Quire.WriteLatency == nil) {
		t.Errorf("%s: no separate read and write latencies", w.Name)
	}
}

// checkJSON checks that every workload has the ratio fields, not null for
// the ones that ran (the bench started Quire, so it has both ceilings).
func checkJSON(t *testing.T, rep *Report) {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Machine   map[string]any   `json:"machine"`
		Workloads []map[string]any `json:"workloads"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Machine["cores"] == nil || doc.Machine["go_version"] == nil {
		t.Errorf("machine = %v", doc.Machine)
	}
	for _, w := range doc.Workloads {
		for _, f := range []string{"ratio_to_http_ceiling", "ratio_to_engine_ceiling"} {
			v, ok := w[f]
			if !ok {
				t.Errorf("%s: no %s in the JSON", w["name"], f)
			}
			if r, _ := v.(float64); w["unsupported"] == nil && r <= 0 {
				t.Errorf("%s: %s = %v", w["name"], f, v)
			}
		}
	}
}

// testWriter sends the bench's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1)
	}
	thousand := make([]int64, 1000)
	for i := range thousand {
		thousand[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"Empty", nil, 50, 0},
		{"One", []int64{7}, 99.9, 7},
		{"P0", hundred, 0, 1},
		{"P50", hundred, 50, 50},
		{"P90", hundred, 90, 90},
		{"P99", hundred, 99, 99},
		{"P999Of100", hundred, 99.9, 100},
		{"P100", hundred, 100, 100},
		{"P999Of1000", thousand, 99.9, 999}, // not 1000: float rounding must not push the rank up
		{"P50Of1000", thousand, 50, 500},
		{"P50OfTwo", []int64{1, 2}, 50, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%d values, %g) = %d, want %d", len(tc.sorted), tc.p, got, tc.want)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	for i := 1; i <= 50; i++ {
		a.add(opGet, time.Duration(i)*time.Millisecond, result{outcome: outcomeOK, bytes: 100})
		b.add(opCreate, time.Duration(50+i)*time.Millisecond, result{outcome: outcomeOK, bytes: 300})
	}
	b.add(opUpdate, time.Second, result{outcome: outcomeError, err: "boom"})
	b.add(opUpdate, time.Second, result{outcome: outcomeError, err: "boom"})
	b.add(opUpdate, time.Second, result{outcome: outcomeTimeout, err: "timeout"})
	b.add(opUpdate, time.Second, result{outcome: outcomePreconditionFailed})
	s := merge([]*recorder{a, b}, 2*time.Second, 3)
	if got, want := s.OK, int64(100); got != want {
		t.Errorf("ok = %d, want %d", got, want)
	}
	if s.Errors != 2 || s.Timeouts != 1 || s.PreconditionFailed != 1 || s.Dropped != 3 || s.Requests != 104 {
		t.Errorf("counts = %+v", s)
	}
	if got, want := s.Throughput, 50.0; got != want {
		t.Errorf("throughput = %g, want %g (successes per second)", got, want)
	}
	if got, want := s.Latency.P50, 50.0; got != want {
		t.Errorf("p50 = %g ms, want %g", got, want)
	}
	if got, want := s.Latency.Max, 100.0; got != want {
		t.Errorf("max = %g ms, want %g (failed requests are not in the latencies)", got, want)
	}
	if s.ReadLatency == nil || s.WriteLatency == nil {
		t.Fatal("a phase with reads and writes has read and write latencies")
	}
	if got, want := s.ReadLatency.Max, 50.0; got != want {
		t.Errorf("read max = %g ms, want %g", got, want)
	}
	if got, want := s.WriteLatency.P50, 75.0; got != want {
		t.Errorf("write p50 = %g ms, want %g", got, want)
	}
	if got, want := s.OpLatency["get"].Max, 50.0; got != want {
		t.Errorf("get max = %g ms, want %g", got, want)
	}
	if got, want := s.OpLatency["create"].P50, 75.0; got != want {
		t.Errorf("create p50 = %g ms, want %g", got, want)
	}
	if _, ok := s.OpLatency["update"]; ok || len(s.OpLatency) != 2 {
		t.Errorf("op latencies %v: want get and create only (the updates failed)", s.OpLatency)
	}
	if one := merge([]*recorder{a}, time.Second, 0); one.OpLatency != nil || one.ReadLatency != nil {
		t.Errorf("a phase of one kind has no breakdown, got %v / %v", one.OpLatency, one.ReadLatency)
	}
	if got, want := s.MedianBytes, 100; got != want {
		t.Errorf("median bytes = %d, want %d", got, want)
	}
	if got, want := len(s.ErrorSamples), 2; got != want {
		t.Errorf("error samples %q: want %d distinct", s.ErrorSamples, want)
	}
}

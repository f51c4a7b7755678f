package bench

import (
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// outcome classifies a completed request.
type outcome int

const (
	outcomeOK                 outcome = iota // 2xx (or 304)
	outcomeError                             // any other status, or a transport error
	outcomeTimeout                           // the client timeout fired
	outcomePreconditionFailed                // 412: an If-Match that no longer held
)

// maxSizeSamples is how many response sizes each worker keeps: enough for
// the median response size, which sizes the HTTP ceiling's body.
const maxSizeSamples = 256

// maxErrorSamples is how many distinct error messages a phase reports.
const maxErrorSamples = 5

// recorder collects the measurements of one load-generator worker. Each
// worker owns one, so recording is an append to a slice it alone touches;
// recorders are merged once the phase is over.
type recorder struct {
	lat              [numOpKinds][]int64 // latencies in ns of completed requests, by kind
	ok, errs         int64
	timeouts, failed int64 // failed: 412 Precondition Failed
	sizes            []int32
	errSamples       []string
}

// add records one completed request of kind k.
func (r *recorder) add(k opKind, latency time.Duration, res result) {
	switch res.outcome {
	case outcomeOK:
		r.ok++
		r.lat[k] = append(r.lat[k], int64(latency))
		if len(r.sizes) < maxSizeSamples {
			r.sizes = append(r.sizes, int32(res.bytes))
		}
		return
	case outcomeTimeout:
		r.timeouts++
	case outcomePreconditionFailed:
		r.failed++
	default:
		r.errs++
	}
	if res.err != "" && len(r.errSamples) < maxErrorSamples && !slices.Contains(r.errSamples, res.err) {
		r.errSamples = append(r.errSamples, res.err)
	}
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Stats are the results of one phase: a workload against one target.
// Latencies are those of successful requests; in the open loop they run
// from each request's scheduled send time, so time spent waiting for a
// free connection counts.
type Stats struct {
	Requests           int64    `json:"requests"` // completed: ok + errors + timeouts + 412s
	OK                 int64    `json:"ok"`
	Errors             int64    `json:"errors"`
	Timeouts           int64    `json:"timeouts"`
	PreconditionFailed int64    `json:"precondition_failed"` // 412 on If-Match
	Dropped            int64    `json:"dropped"`             // open loop: scheduled but never sent
	Seconds            float64  `json:"seconds"`
	Throughput         float64  `json:"throughput"` // successful requests per second
	Latency            Latency  `json:"latency_ms"`
	ReadLatency        *Latency `json:"read_latency_ms,omitempty"`  // when the workload mixes reads and writes
	WriteLatency       *Latency `json:"write_latency_ms,omitempty"` // idem
	// OpLatency is the latency of each kind of request (get, query-eq,
	// create...), when the workload sends more than one.
	OpLatency   map[string]*Latency `json:"op_latency_ms,omitempty"`
	MedianBytes int                 `json:"median_response_bytes"`
	// CPUShare is the share of the machine's CPU time (all cores) the
	// bench process used during the phase, or null where it cannot be
	// read. The process holds the load generator, and in-process the
	// server: a closed loop near 1 had the machine to itself.
	CPUShare     *float64 `json:"cpu_share"`
	ErrorSamples []string `json:"error_samples,omitempty"`
}

// merge combines the workers' recorders of a phase that lasted elapsed.
func merge(recs []*recorder, elapsed time.Duration, dropped int64) *Stats {
	s := &Stats{Dropped: dropped, Seconds: elapsed.Seconds()}
	var byKind [numOpKinds][]int64
	var sizes []int32
	for _, r := range recs {
		s.OK += r.ok
		s.Errors += r.errs
		s.Timeouts += r.timeouts
		s.PreconditionFailed += r.failed
		for k := range byKind {
			byKind[k] = append(byKind[k], r.lat[k]...)
		}
		sizes = append(sizes, r.sizes...)
		for _, e := range r.errSamples {
			if len(s.ErrorSamples) < maxErrorSamples && !slices.Contains(s.ErrorSamples, e) {
				s.ErrorSamples = append(s.ErrorSamples, e)
			}
		}
	}
	s.Requests = s.OK + s.Errors + s.Timeouts + s.PreconditionFailed
	if elapsed > 0 {
		s.Throughput = float64(s.OK) / elapsed.Seconds()
	}
	var reads, writes []int64
	kinds := 0
	for k, lat := range byKind {
		if len(lat) == 0 {
			continue
		}
		kinds++
		if opKind(k).isWrite() {
			writes = append(writes, lat...)
		} else {
			reads = append(reads, lat...)
		}
	}
	if kinds > 1 {
		s.OpLatency = map[string]*Latency{}
		for k, lat := range byKind {
			if len(lat) > 0 {
				slices.Sort(lat)
				s.OpLatency[opKind(k).String()] = distribution(lat)
			}
		}
	}
	slices.Sort(reads)
	slices.Sort(writes)
	if len(reads) > 0 && len(writes) > 0 {
		s.ReadLatency, s.WriteLatency = distribution(reads), distribution(writes)
	}
	all := slices.Concat(reads, writes)
	slices.Sort(all)
	s.Latency = *distribution(all)
	slices.Sort(sizes)
	if len(sizes) > 0 {
		s.MedianBytes = int(sizes[(len(sizes)-1)/2])
	}
	return s
}

// distribution summarises sorted latencies in nanoseconds.
func distribution(sorted []int64) *Latency {
	if len(sorted) == 0 {
		return &Latency{}
	}
	var sum float64
	for _, v := range sorted {
		sum += float64(v)
	}
	return &Latency{
		P50: ms(percentile(sorted, 50)), P90: ms(percentile(sorted, 90)),
		P99: ms(percentile(sorted, 99)), P999: ms(percentile(sorted, 99.9)),
		Max: ms(sorted[len(sorted)-1]), Mean: ms(int64(sum / float64(len(sorted)))),
	}
}

// percentile returns the nearest-rank p-th percentile of sorted values: the
// smallest value that at least p% of the values do not exceed.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float rounding (99.9/100*1000 = 999.0000000000001)
	// from moving the rank up by one.
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// ms converts nanoseconds to milliseconds rounded to the microsecond.
func ms(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }

// processCPU returns the CPU time this process has used so far (user and
// system, all threads), read from /proc/self/stat; ok is false where there
// is no such file. It lets a phase report how much of the machine it had:
// a closed loop that gets much less than every core was sharing the
// machine with something else, and its figures are not to be trusted.
func processCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces: count fields after ')'.
	_, rest, ok := strings.Cut(string(b), ")")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const userHZ = 100 // the kernel's USER_HZ: fixed at 100 on Linux
	return time.Duration(utime+stime) * time.Second / userHZ, true
}

// startCPUShare starts measuring the process's share of the machine's CPU
// time; the function it returns ends the measurement (nil if unknown).
func startCPUShare() func() *float64 {
	cpu0, ok := processCPU()
	t0 := time.Now()
	return func() *float64 {
		cpu1, ok1 := processCPU()
		wall := time.Since(t0)
		if !ok || !ok1 || wall <= 0 {
			return nil
		}
		share := math.Round((cpu1-cpu0).Seconds()/(wall.Seconds()*float64(runtime.NumCPU()))*1000) / 1000
		return &share
	}
}

package bench

import (
	"context"
	"sync"
	"time"
)

// dispatchGrace is how long after the end of an open-loop phase requests
// still due may be handed to a worker: the last ones are due just before
// the end, and the timer may wake the dispatcher a millisecond late.
const dispatchGrace = 10 * time.Millisecond

// phase is one measured run of a workload against a target. Every phase,
// Quire's or a ceiling's, goes through the same load generator: the same
// number of workers (one goroutine per connection), the same ops.
type phase struct {
	target   target
	workload *workload
	tenants  []*tenant
	workers  int
	duration time.Duration
	rate     float64 // requests per second in all; 0 runs a closed loop
	seed     uint64
}

// run drives the phase and returns its statistics. Before the clock starts
// every worker sends one unmeasured request, so that connections are open
// and warm when measuring begins.
func (p *phase) run(ctx context.Context) *Stats {
	recs := make([]*recorder, p.workers)
	gens := make([]*generator, p.workers)
	for i := range recs {
		recs[i] = &recorder{}
		gens[i] = newGenerator(p.workload, p.tenants, i, p.workers, p.seed)
	}
	var ready sync.WaitGroup
	ready.Add(p.workers)
	warm := func(g *generator) {
		o := p.next(ctx, g)
		g.done(&o, p.target.do(ctx, &o))
		ready.Done()
	}
	loop := p.closedLoop
	if p.rate > 0 {
		loop = p.openLoop
	}
	return loop(ctx, gens, recs, warm, &ready)
}

// next returns g's next op, first re-reading the version an update expects
// if a 412 or a timeout left it unknown.
func (p *phase) next(ctx context.Context, g *generator) op {
	o := g.next()
	if o.kind == opUpdate && o.version == 0 {
		if v, err := p.target.version(ctx, &o); err == nil {
			o.version = v
			o.tenant.versions[o.index] = v
		} else {
			o.version = 1 // the update fails with a 412, which the report counts
		}
	}
	return o
}

// closedLoop runs every worker flat out: each sends its next request as
// soon as the previous one is answered. It measures the most the target
// can do with that many concurrent users.
func (p *phase) closedLoop(ctx context.Context, gens []*generator, recs []*recorder, warm func(*generator), ready *sync.WaitGroup) *Stats {
	start := make(chan struct{})
	var deadline time.Time // written before start is closed, read after
	var done sync.WaitGroup
	done.Add(len(gens))
	for i := range gens {
		go func(g *generator, rec *recorder) {
			defer done.Done()
			warm(g)
			<-start
			for ctx.Err() == nil && time.Now().Before(deadline) {
				o := p.next(ctx, g)
				t0 := time.Now()
				res := p.target.do(ctx, &o)
				rec.add(o.kind, time.Since(t0), res)
				g.done(&o, res)
			}
		}(gens[i], recs[i])
	}
	ready.Wait()
	cpu := startCPUShare()
	t0 := time.Now()
	deadline = t0.Add(p.duration)
	close(start)
	done.Wait()
	s := merge(recs, time.Since(t0), 0)
	s.CPUShare = cpu()
	return s
}

// openLoop sends requests at a fixed rate whatever the answers: request k
// is due at start + k/rate, and its latency is measured from that time, not
// from when a worker got round to sending it, so a slow server cannot hide
// its slowness by slowing the load down (no coordinated omission). At most
// one request per worker is in flight; requests that could not even be
// handed to a worker by the end of the phase (all workers busy) are
// counted as dropped.
func (p *phase) openLoop(ctx context.Context, gens []*generator, recs []*recorder, warm func(*generator), ready *sync.WaitGroup) *Stats {
	due := make(chan time.Time, len(gens))
	var done sync.WaitGroup
	done.Add(len(gens))
	for i := range gens {
		go func(g *generator, rec *recorder) {
			defer done.Done()
			warm(g)
			for at := range due {
				o := p.next(ctx, g)
				res := p.target.do(ctx, &o)
				rec.add(o.kind, time.Since(at), res)
				g.done(&o, res)
			}
		}(gens[i], recs[i])
	}
	ready.Wait()
	cpu := startCPUShare()
	start := time.Now()
	total := int64(p.duration.Seconds() * p.rate)
	interval := time.Duration(float64(time.Second) / p.rate)
	end := time.NewTimer(p.duration + dispatchGrace)
	defer end.Stop()
	var sent int64
dispatch:
	for sent < total {
		at := start.Add(time.Duration(sent) * interval)
		// The Go timer may wake this up to a millisecond late here; the
		// requests then due go out at once, their latency counting the
		// delay. Spinning instead would starve the network poller.
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		select {
		case due <- at:
			sent++
		case <-end.C:
			break dispatch
		case <-ctx.Done():
			break dispatch
		}
	}
	close(due)
	done.Wait()
	s := merge(recs, time.Since(start), total-sent)
	s.CPUShare = cpu()
	return s
}

package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
)

// Workload names, as given to --workload.
const (
	WorkloadGet         = "get"
	WorkloadQueryEq     = "query-eq"
	WorkloadQueryPrefix = "query-prefix"
	WorkloadJoin        = "join"
	WorkloadCreate      = "create"
	WorkloadUpdate      = "update"
	WorkloadMixed       = "mixed"
	WorkloadMultiTenant = "multi-tenant"
)

// AllWorkloads lists every workload in the order a run measures them:
// reads first, so that the writes' growth of the data set does not change
// what the reads measured.
func AllWorkloads() []string {
	return []string{WorkloadGet, WorkloadQueryEq, WorkloadQueryPrefix, WorkloadJoin,
		WorkloadCreate, WorkloadUpdate, WorkloadMixed, WorkloadMultiTenant}
}

// queryLimit is the page size of the query workloads.
const queryLimit = 20

// opKind is one kind of request a workload sends.
type opKind int

const (
	opGet         opKind = iota // GET a client by id
	opQueryEq                   // clients by last_name
	opQueryPrefix               // clients by postcode sector prefix
	opJoin                      // clients by last_name, with their finances
	opCreate                    // POST a new client
	opUpdate                    // PATCH a client with If-Match
	numOpKinds
)

// isWrite reports whether k changes data.
func (k opKind) isWrite() bool { return k == opCreate || k == opUpdate }

func (k opKind) String() string {
	return [...]string{"get", "query-eq", "query-prefix", "join", "create", "update"}[k]
}

// share is one kind of op and its weight in a workload's mix.
type share struct {
	kind   opKind
	weight float64
}

// workload is a named mix of operations.
type workload struct {
	name  string
	mix   []share
	multi bool // spread over the multi-tenant tenants instead of the main one
}

// newWorkload returns the workload called name. Mixed workloads do
// readRatio reads (3/4 gets, 1/8 query-eq, 1/8 query-prefix) and the rest
// writes (half creates, half updates).
func newWorkload(name string, readRatio float64) (*workload, error) {
	single := func(k opKind) *workload { return &workload{name: name, mix: []share{{k, 1}}} }
	mixed := func(multi bool) *workload {
		r, w := readRatio, 1-readRatio
		return &workload{name: name, multi: multi, mix: []share{
			{opGet, r * 0.75}, {opQueryEq, r * 0.125}, {opQueryPrefix, r * 0.125},
			{opCreate, w / 2}, {opUpdate, w / 2},
		}}
	}
	switch name {
	case WorkloadGet:
		return single(opGet), nil
	case WorkloadQueryEq:
		return single(opQueryEq), nil
	case WorkloadQueryPrefix:
		return single(opQueryPrefix), nil
	case WorkloadJoin:
		return single(opJoin), nil
	case WorkloadCreate:
		return single(opCreate), nil
	case WorkloadUpdate:
		return single(opUpdate), nil
	case WorkloadMixed:
		return mixed(false), nil
	case WorkloadMultiTenant:
		return mixed(true), nil
	}
	return nil, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(AllWorkloads(), ", "))
}

// kinds returns the kinds of op the workload may send.
func (w *workload) kinds() []opKind {
	var ks []opKind
	for _, s := range w.mix {
		if s.weight > 0 {
			ks = append(ks, s.kind)
		}
	}
	return ks
}

// without returns w without the kinds in drop, the other weights kept;
// a mixed workload on a server without queries reads with gets alone. It
// returns nil if nothing is left.
func (w *workload) without(drop map[opKind]bool) *workload {
	out := &workload{name: w.name, multi: w.multi}
	moved := 0.0
	for _, s := range w.mix {
		if drop[s.kind] {
			moved += s.weight
		} else if s.weight > 0 {
			out.mix = append(out.mix, s)
		}
	}
	if len(out.mix) == 0 {
		return nil
	}
	// What the dropped reads weighed goes to gets, so the read ratio holds.
	if moved > 0 {
		if i := slices.IndexFunc(out.mix, func(s share) bool { return s.kind == opGet }); i >= 0 {
			out.mix[i].weight += moved
		}
	}
	return out
}

// tenant is one tenant the bench created: its id, the secret of its write
// key, its data set, and the versions of its clients as the update workers
// last saw them.
type tenant struct {
	id       string
	auth     string // "Bearer <secret>"
	data     *Dataset
	versions []int64 // per seeded client; 0 = unknown (re-read before the next update)
	created  *atomic.Int64
}

// scratchCopy returns a copy of t whose versions are its own: phases against
// the HTTP ceiling must not disturb what the update workers know of Quire.
func (t *tenant) scratchCopy() *tenant {
	c := *t
	c.versions = slices.Clone(t.versions)
	return &c
}

// op is one operation, whatever the target: Quire over HTTP, the HTTP
// ceiling, or the store in-process.
type op struct {
	kind    opKind
	tenant  *tenant
	index   int    // client index (get, update)
	id      string // document id (get, update)
	body    []byte // query, new client, or merge patch
	version int64  // update: the version If-Match expects
}

// generator makes the ops of one load-generator worker. Only that worker's
// goroutine uses it. For updates each worker owns a disjoint range of
// clients, so the versions it tracks are exact and If-Match holds.
type generator struct {
	mix    []share // weights cumulative, the last one 1
	tenant *tenant
	rng    *rand.Rand
	lo, hi int // clients [lo, hi) are this worker's to update
	cursor int
}

// newGenerator returns the generator of worker i of n in a phase of w.
// Multi-tenant workloads give worker i tenant i mod len(tenants).
func newGenerator(w *workload, tenants []*tenant, i, n int, seed uint64) *generator {
	t, j, m := tenants[0], i, n
	if w.multi {
		t = tenants[i%len(tenants)]
		j, m = i/len(tenants), (n-i%len(tenants)+len(tenants)-1)/len(tenants)
	}
	total := 0.0
	for _, s := range w.mix {
		total += s.weight
	}
	g := &generator{tenant: t, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
	acc := 0.0
	for _, s := range w.mix {
		acc += s.weight / total
		g.mix = append(g.mix, share{s.kind, acc})
	}
	g.mix[len(g.mix)-1].weight = 1
	clients := t.data.Clients()
	g.lo, g.hi = j*clients/m, (j+1)*clients/m
	return g
}

// next returns the worker's next op.
func (g *generator) next() op {
	kind := g.mix[0].kind
	if len(g.mix) > 1 {
		x := g.rng.Float64()
		for _, s := range g.mix {
			if x < s.weight {
				kind = s.kind
				break
			}
		}
	}
	d := g.tenant.data
	o := op{kind: kind, tenant: g.tenant}
	switch kind {
	case opGet:
		o.index = g.rng.IntN(d.Clients())
		o.id = ClientID(o.index)
	case opQueryEq:
		o.body = fmt.Appendf(nil, `{"where":{"last_name":%s},"limit":%d}`, jsonString(d.LastName(g.rng)), queryLimit)
	case opQueryPrefix:
		o.body = fmt.Appendf(nil, `{"where":{"postcode":{"$prefix":%s}},"limit":%d}`, jsonString(d.SectorPrefix(g.rng)), queryLimit)
	case opJoin:
		o.body = fmt.Appendf(nil, `{"where":{"last_name":%s},"limit":%d,"join":[{"collection":"finances","on":{"client_id":"id"},"as":"finances"}]}`,
			jsonString(d.LastName(g.rng)), queryLimit)
	case opCreate:
		o.body = d.NewClient(g.rng, g.tenant.created.Add(1))
	case opUpdate:
		o.index = g.lo + g.cursor%(g.hi-g.lo)
		g.cursor++
		o.id = ClientID(o.index)
		o.body = d.ClientPatch(g.rng)
		o.version = g.tenant.versions[o.index]
	}
	return o
}

// done learns from the answer to o: the version an update produced, or
// that the version is no longer known (a 412, a timeout, an error).
func (g *generator) done(o *op, res result) {
	if o.kind != opUpdate {
		return
	}
	switch {
	case res.outcome == outcomeOK && res.version > 0:
		g.tenant.versions[o.index] = res.version
	case res.outcome != outcomeOK:
		g.tenant.versions[o.index] = 0
	}
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

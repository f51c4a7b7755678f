package bench

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/quiredb/quire"
)

// postcodeRE is the shape of a UK postcode: an outward code (area letters,
// district digits, an optional letter) and an inward code (sector digit and
// two unit letters, never C, I, K, M, O or V).
var postcodeRE = regexp.MustCompile(`^[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][ABD-HJLNP-UW-Z]{2}$`)

func TestPostcodeFormat(t *testing.T) {
	for _, pc := range []string{"SW1A 1AA", "M1 1AE", "EH1 2NG", "B33 8TH", "CR2 6XH"} {
		if !postcodeRE.MatchString(pc) {
			t.Fatalf("the test's pattern refuses the real postcode %q", pc)
		}
	}
	d := NewDataset(5000, 1)
	sectors := map[string]bool{}
	for _, s := range d.sectors {
		sectors[s.code] = true
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		if pc := postcode(rng, d.sectors[i%len(d.sectors)]); !postcodeRE.MatchString(pc) {
			t.Fatalf("postcode %q is not a UK postcode", pc)
		}
		var c client
		if err := json.Unmarshal(d.Client(i), &c); err != nil {
			t.Fatal(err)
		}
		if !postcodeRE.MatchString(c.Address.Postcode) {
			t.Fatalf("client %d: postcode %q is not a UK postcode", i, c.Address.Postcode)
		}
		if !sectors[c.Address.Postcode[:len(c.Address.Postcode)-2]] || c.Address.Town == "" {
			t.Fatalf("client %d: address %+v is not in a sector of the pool", i, c.Address)
		}
	}
}

func TestSectorPrefixesMatchPostcodes(t *testing.T) {
	d := NewDataset(2000, 1)
	counts := map[string]int{}
	for i := range d.Clients() {
		var c client
		if err := json.Unmarshal(d.Client(i), &c); err != nil {
			t.Fatal(err)
		}
		counts[c.Address.Postcode[:len(c.Address.Postcode)-2]]++
		counts["last:"+c.Name.Last]++
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		// Each sector and each last name is shared by about docsPerKey
		// clients: what query-prefix and query-eq return.
		if n := counts[d.SectorPrefix(rng)]; n < 3 || n > 60 {
			t.Errorf("a sector prefix matches %d clients, want about %d", n, docsPerKey)
		}
		if n := counts["last:"+d.LastName(rng)]; n < 3 || n > 60 {
			t.Errorf("a last name matches %d clients, want about %d", n, docsPerKey)
		}
	}
}

func TestSeedOps(t *testing.T) {
	d := NewDataset(300, 7)
	emails := map[string]bool{}
	for i := range d.Clients() {
		ops := d.SeedOps(i)
		if ops[0].Collection != collClients || ops[0].ID != ClientID(i) {
			t.Fatalf("client %d: first op %s/%s", i, ops[0].Collection, ops[0].ID)
		}
		if string(ops[0].Body) != string(d.Client(i)) {
			t.Fatalf("client %d: seeding and Client disagree", i)
		}
		var c client
		if err := json.Unmarshal(ops[0].Body, &c); err != nil {
			t.Fatal(err)
		}
		if emails[c.Email] {
			t.Fatalf("client %d: e-mail %q is not unique", i, c.Email)
		}
		emails[c.Email] = true
		finances := 0
		for _, op := range ops[1:] {
			var link struct {
				ClientID string `json:"client_id"`
			}
			if err := json.Unmarshal(op.Body, &link); err != nil || link.ClientID != ClientID(i) {
				t.Fatalf("client %d: %s/%s is linked to %q", i, op.Collection, op.ID, link.ClientID)
			}
			if op.Op != quire.OpPut {
				t.Fatalf("seed op %s, want put", op.Op)
			}
			if op.Collection == collFinances {
				finances++
			}
		}
		if finances < 1 || finances > 3 {
			t.Fatalf("client %d has %d finances, want 1 to 3", i, finances)
		}
	}
}

func TestUpdateRangesAreDisjoint(t *testing.T) {
	for _, tc := range []struct {
		name          string
		multi         bool
		tenants, docs int
		workers       int
	}{
		{"OneTenant", false, 1, 1000, 7},
		{"OneTenantTight", false, 1, 8, 8},
		{"MultiTenant", true, 3, 100, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tenants []*tenant
			for range tc.tenants {
				tenants = append(tenants, &tenant{data: NewDataset(tc.docs, 1), versions: make([]int64, tc.docs)})
			}
			w := &workload{mix: []share{{opUpdate, 1}}, multi: tc.multi}
			owner := map[*tenant][]int{}
			for _, tn := range tenants {
				owner[tn] = make([]int, tc.docs)
			}
			for i := range tc.workers {
				g := newGenerator(w, tenants, i, tc.workers, 1)
				if g.hi <= g.lo {
					t.Fatalf("worker %d has no clients to update", i)
				}
				for c := g.lo; c < g.hi; c++ {
					if owner[g.tenant][c] != 0 {
						t.Fatalf("client %d is updated by workers %d and %d", c, owner[g.tenant][c]-1, i)
					}
					owner[g.tenant][c] = i + 1
				}
				for range 3 {
					if o := g.next(); o.index < g.lo || o.index >= g.hi {
						t.Fatalf("worker %d updates client %d outside [%d, %d)", i, o.index, g.lo, g.hi)
					}
				}
			}
			for tn, own := range owner {
				for c, o := range own {
					if o == 0 {
						t.Errorf("tenant %p: client %d belongs to no worker", tn, c)
					}
				}
			}
		})
	}
}

func TestWorkloadWithout(t *testing.T) {
	w, err := newWorkload(WorkloadMixed, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	got := w.without(map[opKind]bool{opQueryEq: true, opQueryPrefix: true})
	weights := map[opKind]float64{}
	for _, s := range got.mix {
		weights[s.kind] = s.weight
	}
	if len(weights) != 3 || weights[opGet] < 0.8999 || weights[opGet] > 0.9001 {
		t.Errorf("mixed without queries = %+v, want gets weighing the whole read ratio", got.mix)
	}
	if q, _ := newWorkload(WorkloadQueryEq, 0.9); q.without(map[opKind]bool{opQueryEq: true}) != nil {
		t.Error("query-eq without queries should be nothing")
	}
}

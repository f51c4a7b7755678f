// Package bench is `quire bench`: it seeds a realistic data set (UK client
// records, their finances and notes), drives named workloads against Quire
// over HTTP in a closed or an open loop, and measures in the same run two
// ceilings to compare with: the same operations on the store in-process (no
// HTTP), and a trivial Go HTTP handler returning a body of the same size.
package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/quiredb/quire"
)

// Collections of the data set.
const (
	collClients  = "clients"
	collFinances = "finances"
	collNotes    = "notes"
)

// docsPerKey is how many clients share one last name, and one postcode
// sector, on average: the size of a query-eq or query-prefix answer.
const docsPerKey = 20

// The name lists the data set draws from. They are constants (split when a
// Dataset is made) so the package has no mutable globals.
const (
	firstNamesList = `Oliver George Harry Jack Jacob Noah Charlie Muhammad Thomas Oscar William James
Henry Leo Alfie Joshua Freddie Archie Ethan Isaac Alexander Joseph Edward Samuel Max Daniel Arthur
Lucas Mohammed Logan Theo Harrison Benjamin Mason Sebastian Finley Adam Dylan Zachary Riley Teddy
Theodore David Elijah Jake Toby Louie Olivia Amelia Isla Ava Emily Isabella Mia Poppy Ella Lily
Sophia Grace Evie Jessica Sophie Ruby Chloe Scarlett Freya Alice Florence Daisy Phoebe Matilda Ivy
Sienna Charlotte Evelyn Rosie Harper Willow Imogen Layla Millie Eva Elsie Esme Maya Lucy Holly
Priya Aisha Fatima Zara Anjali Rhys Callum Eilidh Siobhan Niamh Ciaran Aled Bethan Morag Hamish`

	lastNamesList = `Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts
Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson
Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James
Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter
Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis
Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell
Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins
Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott
Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer
Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees
Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods
Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy
Williamson Bird Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns
Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates
Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers Drummond
MacLeod Fraser Sinclair Cameron Macdonald Llewellyn Pritchard Vaughan Morgan-Jones Quinn Doyle`

	streetsList = `High Street|Station Road|Main Street|Park Road|Church Road|Church Street|London
Road|Victoria Road|Green Lane|Manor Road|Church Lane|Park Avenue|The Avenue|The Crescent|Queens
Road|New Road|Grange Road|Kings Road|Mill Lane|Alexandra Road|Albert Road|School Lane|North
Street|Springfield Road|Chester Road|George Street|Windsor Road|York Road|Broadway|Highfield
Road|Orchard Close|Marlborough Road|Stanley Road|Richmond Road|Mount Pleasant|Princes Street`

	// postcodeAreasList is "AREA:town:districts": the area code, the post
	// town and how many numbered districts the bench uses in it.
	postcodeAreasList = `SW:London:20 SE:London:28 N:London:22 NW:London:11 E:London:18 W:London:14
M:Manchester:40 EH:Edinburgh:17 B:Birmingham:40 L:Liverpool:38 G:Glasgow:40 CF:Cardiff:24
BS:Bristol:39 LS:Leeds:29 NE:Newcastle_upon_Tyne:30 S:Sheffield:36 NG:Nottingham:25 LE:Leicester:19
CB:Cambridge:11 OX:Oxford:20 BN:Brighton:27 BT:Belfast:49 AB:Aberdeen:39 DD:Dundee:11 YO:York:26
PL:Plymouth:35 EX:Exeter:24 NR:Norwich:35 CV:Coventry:37 SO:Southampton:53 RG:Reading:45
GU:Guildford:35 TN:Tonbridge:40 CM:Chelmsford:24 SA:Swansea:73 LL:Llandudno:78 IV:Inverness:56
KY:Kirkcaldy:16 PA:Paisley:49 HU:Hull:20 DH:Durham:9 CA:Carlisle:28 BA:Bath:16 GL:Gloucester:56`

	// centralLondonList are the London districts with a letter suffix
	// (SW1A is Westminster), drawn alongside the numbered ones.
	centralLondonList = `SW1A SW1E SW1H SW1P SW1V SW1W SW1X SW1Y EC1A EC1M EC1N EC1R EC1V EC1Y
EC2A EC2M EC2N EC2R EC2V EC2Y EC3A EC3M EC3N EC3R EC3V EC4A EC4M EC4N EC4R EC4V EC4Y WC1A WC1B
WC1E WC1H WC1N WC1R WC1V WC1X WC2A WC2B WC2E WC2H WC2N WC2R W1A W1B W1C W1D W1F W1G W1H W1J
W1K W1S W1T W1U W1W M1 EH1`

	// inwardLetters are the letters of the inward code's unit part: Royal
	// Mail never uses C, I, K, M, O or V there.
	inwardLetters = "ABDEFGHJLNPQRSTUWXYZ"

	titlesList      = "Mr Mrs Ms Miss Dr Mx"
	emailDomains    = "example.co.uk example.com example.org.uk example.net mail.example.co.uk"
	advisersList    = "Priya Shah|Tom Fletcher|Aileen MacLeod|Gareth Pugh|Sarah Okafor|Daniel Cohen"
	riskProfiles    = "cautious balanced adventurous defensive growth"
	financeTypes    = "pension isa mortgage protection investment_bond savings annuity"
	providersList   = "Aviva|Legal & General|Royal London|Scottish Widows|Standard Life|Nationwide|Hargreaves Lansdown|Vanguard|Zurich"
	noteKindsList   = "call meeting email review complaint"
	noteTextsList   = "Annual review booked; client wants to discuss retirement income.|Called about pension transfer; sent the forms by post.|Client moved house, new address confirmed by letter.|Risk questionnaire completed, profile unchanged.|Discussed ISA allowance for this tax year.|Mortgage renewal due in six months; follow up in spring.|Complaint about statement delay logged and acknowledged."
	clientStatuses  = "active active active active prospect dormant"
	clientTagsList  = "pension isa mortgage protection inheritance retirement vulnerable"
	financeStatuses = "active active active closed pending"
)

// Dataset generates the bench's data deterministically: client i is the
// same in every run with the same seed, so seeders and workers can make any
// part of it without coordination. Its last-name and postcode-sector pools
// are sized so that each name and sector is shared by about docsPerKey
// clients, whatever the size of the data set.
type Dataset struct {
	clients int
	seed    uint64

	firstNames, streets, titles, domains []string
	advisers, risks, finTypes, providers []string
	noteKinds, noteTexts, statuses, tags []string
	finStatuses                          []string
	lastNames                            []string // the pool: about clients/docsPerKey names
	sectors                              []sector // the pool: about clients/docsPerKey sectors
}

// sector is a postcode sector ("SW1A 1") and its post town.
type sector struct{ code, town string }

// NewDataset returns the data set of n clients generated from seed.
func NewDataset(n int, seed uint64) *Dataset {
	bar := func(s string) []string { return strings.Split(strings.Join(strings.Fields(s), " "), "|") }
	d := &Dataset{
		clients: n, seed: seed,
		firstNames: strings.Fields(firstNamesList), streets: bar(streetsList),
		titles: strings.Fields(titlesList), domains: strings.Fields(emailDomains),
		advisers: bar(advisersList), risks: strings.Fields(riskProfiles),
		finTypes: strings.Fields(financeTypes), providers: bar(providersList),
		noteKinds: strings.Fields(noteKindsList), noteTexts: bar(noteTextsList),
		statuses: strings.Fields(clientStatuses), tags: strings.Fields(clientTagsList),
		finStatuses: strings.Fields(financeStatuses),
	}
	keys := max(1, n/docsPerKey)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	d.lastNames = surnamePool(strings.Fields(lastNamesList), keys, rng)
	d.sectors = sectorPool(keys, rng)
	return d
}

// surnamePool returns k surnames: the real ones first (shuffled), then
// double-barrelled combinations of them, common enough in the UK.
func surnamePool(names []string, k int, rng *rand.Rand) []string {
	seen := map[string]bool{}
	var singles []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			singles = append(singles, n)
		}
	}
	rng.Shuffle(len(singles), func(i, j int) { singles[i], singles[j] = singles[j], singles[i] })
	pool := make([]string, 0, k)
	for i := 0; len(pool) < k && i < len(singles); i++ {
		pool = append(pool, singles[i])
	}
	for i := 0; len(pool) < k && i < len(singles); i++ {
		for j := 0; len(pool) < k && j < len(singles); j++ {
			if i != j && !strings.Contains(singles[i]+singles[j], "-") {
				pool = append(pool, singles[i]+"-"+singles[j])
			}
		}
	}
	return pool
}

// sectorPool returns up to k postcode sectors ("M1 1", "SW1A 2") drawn from
// every district of the areas listed, in a seeded order.
func sectorPool(k int, rng *rand.Rand) []sector {
	var all []sector
	for _, a := range strings.Fields(postcodeAreasList) {
		parts := strings.Split(strings.ReplaceAll(a, "_", " "), ":")
		var n int
		fmt.Sscan(parts[2], &n)
		for dist := 1; dist <= n; dist++ {
			for s := 0; s < 10; s++ {
				all = append(all, sector{fmt.Sprintf("%s%d %d", parts[0], dist, s), parts[1]})
			}
		}
	}
	for _, out := range strings.Fields(centralLondonList) {
		town := "London"
		switch out {
		case "M1":
			town = "Manchester"
		case "EH1":
			town = "Edinburgh"
		}
		for s := 0; s < 10; s++ {
			all = append(all, sector{fmt.Sprintf("%s %d", out, s), town})
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:min(k, len(all))]
}

// Clients returns the number of seeded clients.
func (d *Dataset) Clients() int { return d.clients }

// ClientID returns the id of client i.
func ClientID(i int) string { return fmt.Sprintf("c%08d", i) }

// rngFor returns the generator of everything about client i.
func (d *Dataset) rngFor(i int) *rand.Rand { return rand.New(rand.NewPCG(d.seed, uint64(i)+1)) }

func pick(rng *rand.Rand, list []string) string { return list[rng.IntN(len(list))] }

// postcode returns a postcode in sector s with a random unit: "SW1A 1AA".
func postcode(rng *rand.Rand, s sector) string {
	return s.code + string(inwardLetters[rng.IntN(len(inwardLetters))]) + string(inwardLetters[rng.IntN(len(inwardLetters))])
}

// LastName returns a random last name of the pool (for query-eq).
func (d *Dataset) LastName(rng *rand.Rand) string { return pick(rng, d.lastNames) }

// SectorPrefix returns a random postcode sector of the pool, such as
// "SW1A 1" (for query-prefix).
func (d *Dataset) SectorPrefix(rng *rand.Rand) string {
	return d.sectors[rng.IntN(len(d.sectors))].code
}

// client is the body of a client document.
type client struct {
	Name struct {
		Title string `json:"title"`
		First string `json:"first"`
		Last  string `json:"last"`
	} `json:"name"`
	Email    string `json:"email"`
	Phone    string `json:"phone"`
	DOB      string `json:"dob"`
	NINumber string `json:"ni_number"`
	Address  struct {
		Line1    string `json:"line1"`
		Town     string `json:"town"`
		Postcode string `json:"postcode"`
		Country  string `json:"country"`
	} `json:"address"`
	Status           string   `json:"status"`
	RiskProfile      string   `json:"risk_profile"`
	Adviser          string   `json:"adviser"`
	Tags             []string `json:"tags"`
	MarketingConsent bool     `json:"marketing_consent"`
	ReviewDue        string   `json:"review_due"`
}

// emailUnsafe drops the characters of a surname that an e-mail address's
// local part leaves out. Built once: building it per client was 1% of a
// create run's CPU, in the load generator.
var emailUnsafe = strings.NewReplacer("-", "", "'", "")

// makeClient returns a client drawn from rng whose e-mail address carries
// tag, which makes it unique.
func (d *Dataset) makeClient(rng *rand.Rand, tag string) []byte {
	var c client
	c.Name.Title = pick(rng, d.titles)
	c.Name.First = pick(rng, d.firstNames)
	c.Name.Last = pick(rng, d.lastNames)
	local := strings.ToLower(c.Name.First + "." + emailUnsafe.Replace(c.Name.Last))
	c.Email = local + "." + tag + "@" + pick(rng, d.domains)
	c.Phone = fmt.Sprintf("07700 9%05d", rng.IntN(100000))
	c.DOB = fmt.Sprintf("%d-%02d-%02d", 1940+rng.IntN(65), 1+rng.IntN(12), 1+rng.IntN(28))
	c.NINumber = fmt.Sprintf("%c%c%06d%c", 'A'+rng.IntN(20), 'A'+rng.IntN(20), rng.IntN(1000000), 'A'+rng.IntN(4))
	s := d.sectors[rng.IntN(len(d.sectors))]
	c.Address.Line1 = fmt.Sprintf("%d %s", 1+rng.IntN(180), pick(rng, d.streets))
	c.Address.Town = s.town
	c.Address.Postcode = postcode(rng, s)
	c.Address.Country = "GB"
	c.Status = pick(rng, d.statuses)
	c.RiskProfile = pick(rng, d.risks)
	c.Adviser = pick(rng, d.advisers)
	c.Tags = []string{pick(rng, d.tags), pick(rng, d.tags)}
	if c.Tags[0] == c.Tags[1] {
		c.Tags = c.Tags[:1]
	}
	c.MarketingConsent = rng.IntN(3) == 0
	c.ReviewDue = fmt.Sprintf("%d-%02d-01", 2025+rng.IntN(2), 1+rng.IntN(12))
	b, _ := json.Marshal(c)
	return b
}

// Client returns the body of seeded client i.
func (d *Dataset) Client(i int) []byte { return d.makeClient(d.rngFor(i), fmt.Sprint(i)) }

// NewClient returns the body of a client created by a workload; n makes its
// e-mail address unique (the clients collection has a unique index on it).
func (d *Dataset) NewClient(rng *rand.Rand, n int64) []byte {
	return d.makeClient(rng, fmt.Sprintf("n%d", n))
}

// ClientPatch returns a JSON merge patch of the fields an adviser changes
// at a review: no indexed field, so any client can take it.
func (d *Dataset) ClientPatch(rng *rand.Rand) []byte {
	return fmt.Appendf(nil, `{"risk_profile":%q,"status":%q,"review_due":"%d-%02d-01"}`,
		pick(rng, d.risks), pick(rng, d.statuses), 2025+rng.IntN(2), 1+rng.IntN(12))
}

// finance is the body of a finances document.
type finance struct {
	ClientID     string  `json:"client_id"`
	Type         string  `json:"type"`
	Provider     string  `json:"provider"`
	PolicyNumber string  `json:"policy_number"`
	ValueGBP     float64 `json:"value_gbp"`
	MonthlyGBP   int     `json:"monthly_contribution_gbp"`
	Opened       string  `json:"opened"`
	Status       string  `json:"status"`
}

// note is the body of a notes document.
type note struct {
	ClientID string `json:"client_id"`
	Author   string `json:"author"`
	Kind     string `json:"kind"`
	Text     string `json:"text"`
	At       string `json:"at"`
}

// SeedOps returns the put operations that seed client i: the client, one to
// three finances and zero to two notes, all linked by client_id.
func (d *Dataset) SeedOps(i int) []quire.WriteOp {
	rng := d.rngFor(i)
	id := ClientID(i)
	ops := []quire.WriteOp{{Op: quire.OpPut, Collection: collClients, ID: id, Body: d.makeClient(rng, fmt.Sprint(i))}}
	for k := range 1 + rng.IntN(3) {
		f := finance{
			ClientID: id, Type: pick(rng, d.finTypes), Provider: pick(rng, d.providers),
			PolicyNumber: fmt.Sprintf("PN%09d", rng.IntN(1e9)),
			ValueGBP:     float64(rng.IntN(50000000)) / 100, MonthlyGBP: 25 * rng.IntN(40),
			Opened: fmt.Sprintf("%d-%02d-%02d", 1995+rng.IntN(30), 1+rng.IntN(12), 1+rng.IntN(28)),
			Status: pick(rng, d.finStatuses),
		}
		b, _ := json.Marshal(f)
		ops = append(ops, quire.WriteOp{Op: quire.OpPut, Collection: collFinances, ID: fmt.Sprintf("f%08d-%d", i, k), Body: b})
	}
	for k := range rng.IntN(3) {
		n := note{
			ClientID: id, Author: pick(rng, d.advisers), Kind: pick(rng, d.noteKinds), Text: pick(rng, d.noteTexts),
			At: fmt.Sprintf("%d-%02d-%02dT%02d:%02d:00Z", 2020+rng.IntN(5), 1+rng.IntN(12), 1+rng.IntN(28), 8+rng.IntN(10), rng.IntN(60)),
		}
		b, _ := json.Marshal(n)
		ops = append(ops, quire.WriteOp{Op: quire.OpPut, Collection: collNotes, ID: fmt.Sprintf("n%08d-%d", i, k), Body: b})
	}
	return ops
}

// collections returns the definitions of the data set's collections.
func collections() []quire.Collection {
	return []quire.Collection{
		{Name: collClients, Indexes: []quire.IndexSpec{
			{Field: "first_name", Path: "$.name.first"},
			{Field: "last_name", Path: "$.name.last"},
			{Field: "postcode", Path: "$.address.postcode"},
			{Field: "email", Path: "$.email", Unique: true},
		}},
		{Name: collFinances, Indexes: []quire.IndexSpec{{Field: "client_id", Path: "$.client_id"}}},
		{Name: collNotes, Indexes: []quire.IndexSpec{{Field: "client_id", Path: "$.client_id"}}},
	}
}

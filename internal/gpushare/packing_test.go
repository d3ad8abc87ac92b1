package gpushare

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

// The packing benchmark replays traces of GPU requests (arrivals and, for
// churn, departures) on a simulated cluster of mixed card sizes and measures
// the GPU memory placed before the first refusal, as a share of what the
// optimum places at most (families.go explains each family's bound). The
// extender's policies run as in the cluster: every node's NodeCost, ranked by
// Rank, the scheduler takes a top-scored node (ties at random, as its
// selectHost does), Choose picks the cards; binpack measures its Mix from the
// requests seen so far, as the pod informer feeds it. First-fit (first node,
// lowest cards with room) is the classic reference.

const gib = 1024 // MiB

// simCluster: 3 nodes of 8×80 GiB, 4 of 8×40 GiB, 4 of 4×24 GiB, 4 of
// 4×16 GiB and 2 with one 80 GiB and one 16 GiB card; 16 sharing slots per
// card, as the test cluster's device plugin advertises. 4,032 GiB in all.
func simCluster() [][]Card {
	var nodes [][]Card
	add := func(n int, sizes ...int64) {
		for range n {
			var cs []Card
			for i, s := range sizes {
				cs = append(cs, Card{GPU: contract.GPU{Index: i, UUID: fmt.Sprint(len(nodes), "-", i), MemoryMiB: s * gib, Healthy: true}, Slots: 16})
			}
			nodes = append(nodes, cs)
		}
	}
	add(3, 80, 80, 80, 80, 80, 80, 80, 80)
	add(4, 40, 40, 40, 40, 40, 40, 40, 40)
	add(4, 24, 24, 24, 24)
	add(4, 16, 16, 16, 16)
	add(2, 80, 16)
	return nodes
}

// event is one arrival (Depart < 0) or the departure of arrival Depart.
type event struct {
	Request
	Depart int
}

// placed is where an arrival went.
type placed struct {
	node int
	idx  []int
}

// placer places one request on nodes, or returns false when it is refused.
type placer interface {
	place(nodes [][]Card, req Request) (placed, bool)
}

type extenderPlacer struct {
	policy Policy
	stream *Stream
	rng    *rand.Rand
	next   int
}

func newExtender(policy Policy, seed uint64) *extenderPlacer {
	return &extenderPlacer{policy: policy, stream: NewStream(DefaultStreamSize), rng: rand.New(rand.NewPCG(seed, 7))}
}

func (e *extenderPlacer) place(nodes [][]Card, req Request) (placed, bool) {
	e.next++
	e.stream.Observe(types.UID(fmt.Sprint(e.next)), req)
	h := NewHeadroom(e.stream.Mix(), nodes)
	costs, fits := make([]Cost, len(nodes)), make([]bool, len(nodes))
	for n, cs := range nodes {
		c, err := NodeCost(cs, req, e.policy, h)
		costs[n], fits[n] = c, err == nil
	}
	scores := Rank(costs, fits)
	var top []int
	for n, s := range scores {
		switch {
		case !fits[n]:
		case len(top) == 0 || s > scores[top[0]]:
			top = append(top[:0], n)
		case s == scores[top[0]]:
			top = append(top, n)
		}
	}
	if len(top) == 0 {
		return placed{}, false
	}
	n := top[e.rng.IntN(len(top))]
	idx, err := Choose(nodes[n], req, e.policy, h)
	if err != nil {
		panic(err) // the node fits
	}
	take(nodes[n], idx, req, 1)
	return placed{n, idx}, true
}

type firstFit struct{}

func (firstFit) place(nodes [][]Card, req Request) (placed, bool) {
	for n, cs := range nodes {
		var idx []int
		for i := range cs {
			if cs[i].FreeMiB() >= req.MemMiB && len(idx) < req.Cards {
				idx = append(idx, i)
			}
		}
		if len(idx) == req.Cards {
			take(cs, idx, req, 1)
			return placed{n, idx}, true
		}
	}
	return placed{}, false
}

// take charges (sign 1) or frees (-1) req on cards idx.
func take(cards []Card, idx []int, req Request, sign int) {
	for _, i := range idx {
		cards[i].UsedMiB += int64(sign) * req.MemMiB
		cards[i].Pods += sign
	}
}

// replay plays tr until the first refusal and returns the MiB of the
// arrivals placed before it; it fails t if any card is ever overfilled.
func replay(tb testing.TB, tr []event, p placer) int64 {
	nodes := simCluster()
	where := map[int]placed{}
	var done int64
	for i, ev := range tr {
		if ev.Depart >= 0 {
			w := where[ev.Depart]
			take(nodes[w.node], w.idx, tr[ev.Depart].Request, -1)
			delete(where, ev.Depart)
			continue
		}
		w, ok := p.place(nodes, ev.Request)
		if !ok {
			break
		}
		for _, c := range w.idx {
			if card := nodes[w.node][c]; card.UsedMiB > card.MemoryMiB || card.Pods > card.Slots {
				tb.Fatalf("card %s holds %d MiB of %d, %d pods of %d slots", card.UUID, card.UsedMiB, card.MemoryMiB, card.Pods, card.Slots)
			}
		}
		if len(w.idx) != ev.Cards || len(slices.Compact(slices.Clone(w.idx))) != ev.Cards {
			tb.Fatalf("request %s got cards %v", ev.Request, w.idx)
		}
		where[i] = w
		done += ev.MemMiB * int64(ev.Cards)
	}
	return done
}

// policies are the placements compared, zz's default first.
var policies = []struct {
	name string
	new  func(seed uint64) placer
}{
	{"zz binpack", func(s uint64) placer { return newExtender(Binpack, s) }},
	{"previous binpack (FGD in a 6% band)", func(s uint64) placer { return newExtender(fgdBand, s) }},
	{"FGD alone (ATC '23)", func(s uint64) placer { return newExtender(fgd, s) }},
	{"best-fit", func(s uint64) placer { return newExtender(BestFit, s) }},
	{"first-fit", func(uint64) placer { return firstFit{} }},
	{"spread", func(s uint64) placer { return newExtender(Spread, s) }},
}

// bestFitAt is best-fit's place in policies.
const bestFitAt = 3

// packingSeeds is how many traces each family replays (seeds 0–9, on which
// binpack's constants were chosen).
const packingSeeds = 10

// shares[f][p][r] is family f, policy p, run r's share of the bound, a run
// being one seed's trace replayed with one draw of the scheduler's random
// choice among equally scored nodes (draw 0 is the seed itself); the last
// "policy" is the family's offline packing, where it has one.
func packingShares(tb testing.TB, first uint64, seeds, draws int) [][][]float64 {
	out := make([][][]float64, len(families))
	for f, fam := range families {
		out[f] = make([][]float64, len(policies)+1)
		for s := first; s < first+uint64(seeds); s++ {
			tr := fam.gen(s)
			bound := float64(fam.bound(tr))
			for d := range uint64(draws) {
				for p, pol := range policies {
					out[f][p] = append(out[f][p], float64(replay(tb, tr, pol.new(s+d<<32)))/bound)
				}
				if fam.offline != nil {
					out[f][len(policies)] = append(out[f][len(policies)], float64(fam.offline(tr))/bound)
				}
			}
		}
	}
	return out
}

// BenchmarkPacking reports, per family and policy, the mean share of the
// optimum's bound placed before the first refusal over the family's seeds.
func BenchmarkPacking(b *testing.B) {
	for f, fam := range families {
		for p, pol := range policies {
			b.Run(fam.name+"/"+strings.ReplaceAll(pol.name, " ", "-"), func(b *testing.B) {
				var mean float64
				for b.Loop() {
					mean = 0
					for s := range uint64(packingSeeds) {
						tr := families[f].gen(s)
						mean += float64(replay(b, tr, policies[p].new(s))) / float64(families[f].bound(tr))
					}
					mean /= packingSeeds
				}
				b.ReportMetric(mean, "share")
			})
		}
	}
}

// TestPackingFamilies replays every family, checks no card is overfilled
// (replay fails otherwise) and that binpack places at least as much as
// best-fit on average in every family, and logs the table README shows (go
// test -v -run TestPackingFamilies, or make bench-packing), with how many
// traces binpack places less than best-fit on. ZZ_PACKING_SEED0 and
// ZZ_PACKING_SEEDS choose the seeds (default 0 and 10): binpack's constants
// were chosen on seeds 0–9 and 20–29, so 10–19 are traces it was not tuned
// on. ZZ_PACKING_DRAWS (default 1) replays each trace with that many draws
// of the scheduler's tie-break: at one draw, family means differ by up to
// 0.02 from one draw to another.
func TestPackingFamilies(t *testing.T) {
	first, seeds := envInt(t, "ZZ_PACKING_SEED0", 0), envInt(t, "ZZ_PACKING_SEEDS", packingSeeds)
	draws := envInt(t, "ZZ_PACKING_DRAWS", 1)
	if raceOn {
		seeds, draws = 1, 1
	}
	shares := packingShares(t, uint64(first), seeds, draws)
	var tab strings.Builder
	tab.WriteString("| family | " + strings.Join(names(), " | ") + " | zz − best-fit, worst trace (traces below) | optimum at least |\n|---|")
	tab.WriteString(strings.Repeat("---|", len(policies)+2) + "\n")
	for f, fam := range families {
		fmt.Fprintf(&tab, "| %s |", fam.name)
		for p := range policies {
			fmt.Fprintf(&tab, " %.3f (min %.3f) |", mean(shares[f][p]), slices.Min(shares[f][p]))
		}
		worst, below := 1.0, 0
		for s := range shares[f][0] {
			d := shares[f][0][s] - shares[f][bestFitAt][s]
			worst = min(worst, d)
			if d < -1e-9 {
				below++
				t.Logf("%s seed %d draw %d: binpack placed %.4f of the bound, best-fit %.4f", fam.name, first+s/draws, s%draws, shares[f][0][s], shares[f][bestFitAt][s])
			}
		}
		if z, b := mean(shares[f][0]), mean(shares[f][bestFitAt]); z < b-1e-9 {
			t.Errorf("%s: binpack placed %.4f of the bound on average, best-fit %.4f", fam.name, z, b)
		}
		fmt.Fprintf(&tab, " %+.3f (%d) |", worst, below)
		// Every placement found is a packing of its prefix: the optimum
		// places at least the most of them and of the offline packing.
		var found []float64
		for s := range shares[f][0] {
			best := 0.0
			for p := range shares[f] {
				if s < len(shares[f][p]) {
					best = max(best, shares[f][p][s])
				}
			}
			found = append(found, best)
		}
		fmt.Fprintf(&tab, " %.3f (min %.3f) |\n", mean(found), slices.Min(found))
	}
	t.Logf("share of the optimum's bound placed before the first refusal, mean (min) over seeds %d–%d, %d draw(s) each:\n%s", first, first+seeds-1, draws, tab.String())
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", name, v)
	}
	return n
}

func names() []string {
	var out []string
	for _, p := range policies {
		out = append(out, p.name)
	}
	return out
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

package gpushare

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/zzcloud/zz/internal/contract"
)

// The packing benchmark replays a mixed trace of GPU requests on a simulated
// cluster and reports the share of all GPU memory allocated when the first
// request is refused: the extender's binpack and spread (node by best Score,
// cards by Choose, as filter+prioritize+bind do), first-fit (first node and
// lowest cards with room), and two offline references that see the whole
// trace and place it largest first.

// traceMix is (MiB per card, cards, weight).
var traceMix = []struct {
	mib    int64
	cards  int
	weight int
}{
	{1024, 1, 20}, {2048, 1, 20}, {4096, 1, 20}, {8192, 1, 15}, {12288, 1, 10},
	{20480, 1, 8}, {40960, 1, 5}, {16384, 2, 2},
}

func trace(seed uint64, n int) []Request {
	r := rand.New(rand.NewPCG(seed, 42))
	total := 0
	for _, m := range traceMix {
		total += m.weight
	}
	out := make([]Request, n)
	for i := range out {
		w := r.IntN(total)
		for _, m := range traceMix {
			if w -= m.weight; w < 0 {
				out[i] = Request{MemMiB: m.mib, Cards: m.cards}
				break
			}
		}
	}
	return out
}

// simCluster: 4 nodes of 8 A100-40GB, 4 of 4 T4, 2 with an A100-80GB and a T4;
// 16 slots per card as the test cluster's device plugin advertises.
func simCluster() [][]Card {
	var nodes [][]Card
	add := func(sizes ...int64) {
		var cs []Card
		for i, s := range sizes {
			cs = append(cs, Card{GPU: contract.GPU{Index: i, UUID: fmt.Sprint(len(nodes), "-", i), MemoryMiB: s, Healthy: true}, Slots: 16})
		}
		nodes = append(nodes, cs)
	}
	for range 4 {
		add(40960, 40960, 40960, 40960, 40960, 40960, 40960, 40960)
	}
	for range 4 {
		add(15360, 15360, 15360, 15360)
	}
	for range 2 {
		add(81920, 15360)
	}
	return nodes
}

func totalMiB(nodes [][]Card) (t int64) {
	for _, cs := range nodes {
		for _, c := range cs {
			t += c.MemoryMiB
		}
	}
	return t
}

func usedMiB(nodes [][]Card) (u int64) {
	for _, cs := range nodes {
		for _, c := range cs {
			u += c.UsedMiB
		}
	}
	return u
}

func place(cards []Card, idx []int, req Request) {
	for _, i := range idx {
		cards[i].UsedMiB += req.MemMiB
		cards[i].Pods++
	}
}

// placer places one request, or returns false when it is refused.
type placer func(nodes [][]Card, req Request) bool

func extenderPlacer(policy Policy) placer {
	return func(nodes [][]Card, req Request) bool {
		best, bestScore := -1, -1.0
		for n, cs := range nodes {
			if Fit(cs, req) != nil {
				continue
			}
			if s := Score(cs, req, policy); s > bestScore {
				best, bestScore = n, s
			}
		}
		if best < 0 {
			return false
		}
		idx, _ := Choose(nodes[best], req, policy)
		place(nodes[best], idx, req)
		return true
	}
}

func firstFit(nodes [][]Card, req Request) bool {
	for _, cs := range nodes {
		var idx []int
		for i := range cs {
			if cs[i].FreeMiB() >= req.MemMiB && len(idx) < req.Cards {
				idx = append(idx, i)
			}
		}
		if len(idx) == req.Cards {
			place(cs, idx, req)
			return true
		}
	}
	return false
}

// shareAtFirstRefusal replays tr until a request is refused.
func shareAtFirstRefusal(tr []Request, p placer) float64 {
	nodes := simCluster()
	for _, req := range tr {
		if !p(nodes, req) {
			break
		}
	}
	return float64(usedMiB(nodes)) / float64(totalMiB(nodes))
}

// offlineDecreasing is the share of the longest trace prefix that placer p
// packs whole when it sees the requests largest first (first-fit decreasing,
// best-fit decreasing): an offline reference that knows the future.
func offlineDecreasing(tr []Request, p placer) float64 {
	packs := func(k int) (bool, float64) {
		reqs := slices.Clone(tr[:k])
		slices.SortFunc(reqs, func(a, b Request) int { return int(b.MemMiB*int64(b.Cards) - a.MemMiB*int64(a.Cards)) })
		nodes := simCluster()
		for _, r := range reqs {
			if !p(nodes, r) {
				return false, 0
			}
		}
		return true, float64(usedMiB(nodes)) / float64(totalMiB(nodes))
	}
	lo, hi := 0, len(tr) // binary search the longest packable prefix
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if ok, _ := packs(mid); ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	_, share := packs(lo)
	return share
}

// BenchmarkPacking reports the mean share over 20 seeded traces per policy as
// the custom metric "share" (1 = every MiB allocated).
func BenchmarkPacking(b *testing.B) {
	policies := []struct {
		name string
		p    func([]Request) float64
	}{
		{"binpack", func(tr []Request) float64 { return shareAtFirstRefusal(tr, extenderPlacer(Binpack)) }},
		{"spread", func(tr []Request) float64 { return shareAtFirstRefusal(tr, extenderPlacer(Spread)) }},
		{"first-fit", func(tr []Request) float64 { return shareAtFirstRefusal(tr, firstFit) }},
		{"offline-ffd", func(tr []Request) float64 { return offlineDecreasing(tr, firstFit) }},
		{"offline-bfd", func(tr []Request) float64 { return offlineDecreasing(tr, extenderPlacer(Binpack)) }},
	}
	for _, pol := range policies {
		b.Run(pol.name, func(b *testing.B) {
			var share float64
			for b.Loop() {
				share = 0
				for seed := range uint64(20) {
					share += pol.p(trace(seed, 2000))
				}
				share /= 20
			}
			b.ReportMetric(share, "share")
		})
	}
}

// TestPackingNeverOverfills replays traces with every policy and checks that
// no card ever holds more than its memory or its slots.
func TestPackingNeverOverfills(t *testing.T) {
	for seed := range uint64(5) {
		for _, p := range []placer{extenderPlacer(Binpack), extenderPlacer(Spread), firstFit} {
			nodes := simCluster()
			for _, req := range trace(seed, 2000) {
				p(nodes, req)
			}
			for _, cs := range nodes {
				for _, c := range cs {
					if c.UsedMiB > c.MemoryMiB || c.Pods > c.Slots {
						t.Fatalf("seed %d: card %s holds %d MiB / %d pods", seed, c.UUID, c.UsedMiB, c.Pods)
					}
				}
			}
		}
	}
	if b, s := shareAtFirstRefusal(trace(1, 2000), extenderPlacer(Binpack)), shareAtFirstRefusal(trace(1, 2000), extenderPlacer(Spread)); b <= s {
		t.Errorf("binpack filled %.2f before its first refusal, spread %.2f: binpack must pack tighter", b, s)
	}
}

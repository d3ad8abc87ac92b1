package gpushare

import (
	"math"
	"slices"
)

// Binpack: fragmentation-aware best-fit. Free memory is fragmented for a
// request shape when that shape cannot use it: a card with less free than the
// shape asks, or every card of a node that lacks enough such cards. Alibaba's
// "Fragmentation Gradient Descent" (FGD, Weng et al., USENIX ATC '23) weighs
// each shape by its share of the requests the cluster has been seeing (a Mix)
// and places a pod where the expected fragmentation grows least. Alone it
// loses to plain best-fit on mixes of big and multi-card requests (it will
// open an empty card to spare a hole, see BenchmarkPacking), so binpack keeps
// best-fit's order and lets FGD choose only among placements whose share of
// the chosen cards left free is within fitBand of each other: among
// near-equally tight fits, the one whose holes the coming requests can still
// fill. With no Mix (nothing seen yet) every placement fragments the same and
// binpack is best-fit.

// Shape is one kind of request and its share of the recent stream.
type Shape struct {
	Request
	Weight float64
}

// Mix is the distribution of request shapes the cluster has been seeing; its
// weights sum to 1. A nil or empty Mix knows nothing.
type Mix struct {
	Shapes []Shape
}

// NewMix weighs shapes by their counts (shapes with no count are dropped).
func NewMix(counts map[Request]int) *Mix {
	var total int
	m := &Mix{}
	for r, n := range counts {
		if n > 0 {
			m.Shapes = append(m.Shapes, Shape{Request: r})
			total += n
		}
	}
	for i := range m.Shapes {
		m.Shapes[i].Weight = float64(counts[m.Shapes[i].Request]) / float64(total)
	}
	slices.SortFunc(m.Shapes, func(a, b Shape) int { return compareRequest(a.Request, b.Request) })
	return m
}

func compareRequest(a, b Request) int {
	if a.MemMiB != b.MemMiB {
		return int(sign(a.MemMiB - b.MemMiB))
	}
	return a.Cards - b.Cards
}

// Frag is the expected fragmentation of one node, in MiB, for a request drawn
// from mix, given the free MiB of each of its cards:
//
//	Frag = Σ_m w_m · F_m
//	F_m  = Σ_c free_c                   if fewer than m.Cards cards have m.MemMiB free
//	     = Σ_{c: free_c < m.MemMiB} free_c   otherwise
func Frag(free []int64, mix *Mix) float64 {
	if mix == nil || len(mix.Shapes) == 0 {
		return 0
	}
	var total int64
	for _, f := range free {
		total += f
	}
	var sum float64
	for _, m := range mix.Shapes {
		fit := 0
		var stranded int64
		for _, f := range free {
			if f >= m.MemMiB {
				fit++
			} else {
				stranded += f
			}
		}
		if fit < m.Cards {
			stranded = total
		}
		sum += m.Weight * float64(stranded)
	}
	return sum
}

// Cost is how much a policy dislikes one placement; lower is better.
type Cost struct {
	// Left is the mean share of the chosen cards left free after placement
	// (binpack, bestfit: tighter is better), or what is taken (spread).
	Left float64
	// Frag is binpack's increase of the node's expected fragmentation, MiB
	// (negative when the pod takes memory no shape could use); 0 for the
	// other policies.
	Frag float64
	// band is how far apart two Lefts may be for Frag to decide between
	// them: fitBand for binpack, 0 for best-fit and spread, +Inf for FGD.
	band float64
}

// fitBand is binpack's tolerance on Left: 6% of a card. Chosen on the
// packing families (go test -run TestPackingFamilies -v, 5 seeds each):
// 0.03–0.05 let FGD decide too rarely and 0.07 too often, each losing to
// best-fit on one trace; 0.06 loses on none.
const fitBand = 0.06

// fragEps absorbs float rounding between placements of equal fragmentation.
const fragEps = 1e-6

func (c Cost) less(d Cost) bool {
	if math.Abs(c.Left-d.Left) > c.band {
		return c.Left < d.Left
	}
	if math.Abs(c.Frag-d.Frag) > fragEps {
		return c.Frag < d.Frag
	}
	return c.Left < d.Left
}

// maxCombos bounds the card sets binpack tries exactly on one node (8 cards
// choose 4 is 70); beyond it, cards are added one at a time, each the
// cheapest given those already chosen.
const maxCombos = 256

// chooseFGD returns the set of req.Cards cards among cand (ascending
// positions with room) that Cost.less puts first: the tightest fit unless a
// set within band of it adds less fragmentation; ties to the lowest positions.
func chooseFGD(cards []Card, cand []int, req Request, mix *Mix, band float64) ([]int, Cost) {
	free := make([]int64, len(cards))
	for i := range cards {
		if cards[i].Healthy {
			free[i] = cards[i].FreeMiB()
		}
	}
	before := Frag(free, mix)
	after := make([]int64, len(cards))
	cost := func(set []int) Cost {
		copy(after, free)
		for _, i := range set {
			after[i] = freeAfter(&cards[i], req.MemMiB)
		}
		return Cost{Frag: Frag(after, mix) - before, Left: leftShare(cards, set, req.MemMiB), band: band}
	}
	return cheapest(cand, req.Cards, cost)
}

// cheapest returns the k-set of cand with the least cost: every set when
// there are at most maxCombos, else cards added one at a time.
func cheapest(cand []int, k int, cost func([]int) Cost) ([]int, Cost) {
	if binomial(len(cand), k) > maxCombos {
		return greedyFGD(cand, k, cost)
	}
	var best []int
	var bestCost Cost
	set := make([]int, k)
	pick := make([]int, k) // positions in cand, ascending
	for i := range pick {
		pick[i] = i
	}
	for {
		for i, p := range pick {
			set[i] = cand[p]
		}
		if c := cost(set); best == nil || c.less(bestCost) {
			best, bestCost = slices.Clone(set), c
		}
		if !nextCombo(pick, len(cand)) {
			return best, bestCost
		}
	}
}

func greedyFGD(cand []int, k int, cost func([]int) Cost) ([]int, Cost) {
	var set []int
	var c Cost
	for len(set) < k {
		bestAt, bestCost := -1, Cost{}
		for j, i := range cand {
			if i < 0 {
				continue
			}
			if t := cost(append(set, i)); bestAt < 0 || t.less(bestCost) {
				bestAt, bestCost = j, t
			}
		}
		set = append(set, cand[bestAt])
		c = bestCost
		cand = slices.Clone(cand)
		cand[bestAt] = -1
	}
	slices.Sort(set)
	return set, c
}

// nextCombo advances pick to the next k-combination of 0..n-1 in
// lexicographic order, or reports false after the last.
func nextCombo(pick []int, n int) bool {
	k := len(pick)
	i := k - 1
	for i >= 0 && pick[i] == n-k+i {
		i--
	}
	if i < 0 {
		return false
	}
	pick[i]++
	for j := i + 1; j < k; j++ {
		pick[j] = pick[j-1] + 1
	}
	return true
}

func binomial(n, k int) int {
	if k < 0 || k > n {
		return 0
	}
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
		if r > maxCombos {
			return r
		}
	}
	return r
}

// freeAfter is a card's free MiB once a pod takes mib of it (0 when that
// takes its last sharing slot).
func freeAfter(c *Card, mib int64) int64 {
	if c.Slots > 0 && c.Pods+1 >= c.Slots {
		return 0
	}
	return c.FreeMiB() - mib
}

// leftShare is the mean share of the chosen cards left free once a pod takes
// mib of each.
func leftShare(cards []Card, set []int, mib int64) float64 {
	var sum float64
	for _, i := range set {
		c := &cards[i]
		sum += float64(c.FreeMiB()-mib) / float64(c.MemoryMiB)
	}
	return sum / float64(len(set))
}

// Rank turns the costs of the nodes that fit (fits[i]) into scores from 0 to
// 1 for the scheduler: the nodes Cost.less puts first get 1 and every other
// node at most 0.9, falling linearly with its Left (or, where all Lefts are
// equal, its Frag) to 0 for the worst. The scheduler's 0–10 scale thus keeps
// the policy's best nodes alone on top; nodes that do not fit get 0.
func Rank(costs []Cost, fits []bool) []float64 {
	out := make([]float64, len(costs))
	best := -1
	minF, maxF := math.Inf(1), math.Inf(-1)
	minL, maxL := math.Inf(1), math.Inf(-1)
	for i, c := range costs {
		if !fits[i] {
			continue
		}
		if best < 0 || c.less(costs[best]) {
			best = i
		}
		minF, maxF = min(minF, c.Frag), max(maxF, c.Frag)
		minL, maxL = min(minL, c.Left), max(maxL, c.Left)
	}
	for i, c := range costs {
		switch {
		case !fits[i]:
		case !costs[best].less(c):
			out[i] = 1
		case maxL > minL:
			out[i] = 0.9 * (maxL - c.Left) / (maxL - minL)
		case maxF-minF > fragEps:
			out[i] = 0.9 * (maxF - c.Frag) / (maxF - minF)
		default:
			out[i] = 0.9
		}
	}
	return out
}

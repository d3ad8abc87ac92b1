package gpushare

import (
	"cmp"
	"math"
	"slices"
)

// Fragmentation. Free memory is fragmented for a request shape when that
// shape cannot use it: a card with less free than the shape asks, or every
// card of a node that lacks enough such cards. Alibaba's "Fragmentation
// Gradient Descent" (FGD, Weng et al., USENIX ATC '23) weighs each shape by
// its share of the requests the cluster has been seeing (a Mix) and places a
// pod where the expected fragmentation grows least. Alone it loses to plain
// best-fit on mixes of big and multi-card requests (it will open an empty
// card to spare a hole, see BenchmarkPacking); FGD among the placements
// within fitBand of the tightest fit was binpack until headroom-aware
// best-fit (fgd_headroom.go) replaced it. Both stay for the benchmark (the
// policies fgd and fgd-band), as do Shape, Mix (which binpack uses too) and
// Frag.

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
	switch {
	case a.MemMiB != b.MemMiB:
		return int(sign(a.MemMiB - b.MemMiB))
	case a.Cards != b.Cards:
		return a.Cards - b.Cards
	case a.Whole != b.Whole:
		if a.Whole {
			return 1
		}
		return -1
	}
	return 0
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
	var sum float64
	for _, m := range mix.Shapes {
		sum += m.Weight * float64(stranded(free, m.Request))
	}
	return sum
}

// stranded is F_m: the free MiB of one node's cards that no pod of req can
// use (all of it when fewer than req.Cards cards have req.MemMiB free).
func stranded(free []int64, req Request) int64 {
	fit := 0
	var total, small int64
	for _, f := range free {
		total += f
		if f >= req.MemMiB {
			fit++
		} else {
			small += f
		}
	}
	if fit < req.Cards {
		return total
	}
	return small
}

// Cost is how much a policy dislikes one placement; lower is better.
type Cost struct {
	// Left is the mean share of the chosen cards left free after placement
	// (binpack, bestfit: tighter is better), or what is taken (spread).
	Left float64
	// Frag is binpack's growth of the headroom potential Φ
	// (fgd_headroom.go), or FGD's increase of the node's expected
	// fragmentation, MiB (negative when the pod takes memory no shape
	// could use); 0 for the other policies.
	Frag float64
	// band is how far apart two Lefts may be for Frag to decide between
	// them: headBand for binpack, fitBand for fgd-band, 0 for best-fit and
	// spread, +Inf for FGD.
	band float64
	// tight is the tightest Left the node offers the request (what best-fit
	// would take there).
	tight float64
	// windowed marks binpack's costs once it knows a mix. Rank then lets
	// Frag decide only among the nodes whose Left is within band of the
	// tightest over all nodes (as choosePriced does among one node's
	// cards), and among placements equal in Left and Frag the node left
	// fuller wins: nodeLeft is the node's share of memory left free after
	// the placement.
	windowed bool
	nodeLeft float64
}

// fitBand is fgd-band's tolerance on Left: 6% of a card. Chosen on the
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
	if c.windowed && d.windowed && math.Abs(c.Left-d.Left) <= 1e-12 && math.Abs(c.nodeLeft-d.nodeLeft) > 1e-12 {
		return c.nodeLeft < d.nodeLeft
	}
	return c.Left < d.Left
}

// maxCombos bounds the card sets binpack and FGD try exactly on one node (8 cards
// choose 4 is 70; cards alike count once); beyond it, cards are added one at
// a time, each the cheapest given those already chosen.
const maxCombos = 256

// pricer prices a placement on one node: the cards at set left with after[j]
// free MiB (and one slot fewer each) cost delta, lower is better.
type pricer interface {
	delta(set []int, after []int64) float64
}

// chooseFGD is choosePriced with FGD's fragmentation as the price.
func chooseFGD(cards []Card, cand []int, req Request, mix *Mix, band float64) ([]int, Cost) {
	if mix == nil || len(mix.Shapes) == 0 {
		return choosePriced(cards, cand, req, nil, band)
	}
	free := make([]int64, len(cards))
	for i := range cards {
		if cards[i].Healthy {
			free[i] = cards[i].FreeMiB()
		}
	}
	return choosePriced(cards, cand, req, newFragBase(free, mix), band)
}

// choosePriced returns the set of req.Cards cards among cand (ascending
// positions with room) that Cost.less puts first: among the sets whose Left
// is within band of the tightest, the one base prices lowest, then the
// tightest, then the lowest positions (with no base, the tightest). Cards
// alike (same free memory, size and slot outcome) are interchangeable, so it
// tries how many of each kind to take rather than every set.
func choosePriced(cards []Card, cand []int, req Request, base pricer, band float64) ([]int, Cost) {
	k := req.Cards
	share := func(i int) float64 {
		return float64(cards[i].FreeMiB()-req.MemMiB) / float64(cards[i].MemoryMiB)
	}
	order := slices.Clone(cand)
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(share(a), share(b)) })
	tight := slices.Sorted(slices.Values(order[:k]))
	minLeft := leftShare(cards, tight, req.MemMiB)
	if base == nil {
		return tight, Cost{Left: minLeft, band: band, tight: minLeft}
	}
	if k == 1 {
		best := -1
		var bestCost Cost
		one, after := make([]int, 1), make([]int64, 1)
		for j, i := range cand {
			left := share(i)
			if left > minLeft+band+1e-12 {
				continue
			}
			// A card alike an earlier one (same size, free memory and
			// outcome) costs the same, and the earlier one wins ties.
			a := freeAfter(&cards[i], req.MemMiB)
			if slices.ContainsFunc(cand[:j], func(p int) bool {
				return cards[p].MemoryMiB == cards[i].MemoryMiB && cards[p].FreeMiB() == cards[i].FreeMiB() && freeAfter(&cards[p], req.MemMiB) == a
			}) {
				continue
			}
			one[0], after[0] = i, a
			if cost := (Cost{Frag: base.delta(one, after), Left: left, band: band, tight: minLeft}); best < 0 || cost.less(bestCost) {
				best, bestCost = i, cost
			}
		}
		return []int{best}, bestCost
	}
	type kind struct {
		pos   []int // ascending
		share float64
		after int64
	}
	var kinds []kind
	for _, i := range order {
		after := freeAfter(&cards[i], req.MemMiB)
		j := slices.IndexFunc(kinds, func(c kind) bool {
			p := &cards[c.pos[0]]
			return p.FreeMiB() == cards[i].FreeMiB() && p.MemoryMiB == cards[i].MemoryMiB && c.after == after
		})
		if j < 0 {
			kinds = append(kinds, kind{share: share(i), after: after})
			j = len(kinds) - 1
		}
		kinds[j].pos = append(kinds[j].pos, i)
	}
	combos := 1
	for _, c := range kinds {
		combos *= min(len(c.pos), k) + 1
	}
	if combos > maxCombos {
		return greedyFGD(cand, k, func(set []int) Cost {
			after := make([]int64, len(set))
			for j, i := range set {
				after[j] = freeAfter(&cards[i], req.MemMiB)
			}
			return Cost{Frag: base.delta(set, after), Left: leftShare(cards, set, req.MemMiB), band: band, tight: minLeft}
		})
	}
	var best []int
	var bestCost Cost
	take := make([]int, len(kinds))
	set, after := make([]int, 0, k), make([]int64, 0, k)
	var walk func(c, left int, sum float64)
	walk = func(c, left int, sum float64) {
		if left == 0 {
			if sum/float64(k) > minLeft+band+1e-12 {
				return
			}
			set, after = set[:0], after[:0]
			for j, n := range take {
				set = append(set, kinds[j].pos[:n]...)
				for range n {
					after = append(after, kinds[j].after)
				}
			}
			cost := Cost{Frag: base.delta(set, after), Left: sum / float64(k), band: band, tight: minLeft}
			if best == nil || cost.less(bestCost) || (!bestCost.less(cost) && slices.Compare(slices.Sorted(slices.Values(set)), best) < 0) {
				best, bestCost = slices.Sorted(slices.Values(set)), cost
			}
			return
		}
		if c == len(kinds) {
			return
		}
		for n := min(len(kinds[c].pos), left); n >= 0; n-- {
			take[c] = n
			walk(c+1, left-n, sum+float64(n)*kinds[c].share)
		}
		take[c] = 0
	}
	walk(0, k, 0)
	return best, bestCost
}

// fragBase is one node's fragmentation per shape, to price a change to a few
// of its cards without recounting the others.
type fragBase struct {
	mix      *Mix
	free     []int64
	total    int64
	fit      []int   // per shape: cards with enough free
	stranded []int64 // per shape: free MiB on the other cards
	frag     float64
}

func newFragBase(free []int64, mix *Mix) *fragBase {
	b := &fragBase{mix: mix, free: free, fit: make([]int, len(mix.Shapes)), stranded: make([]int64, len(mix.Shapes))}
	for _, f := range free {
		b.total += f
	}
	for m, sh := range mix.Shapes {
		for _, f := range free {
			if f >= sh.MemMiB {
				b.fit[m]++
			} else {
				b.stranded[m] += f
			}
		}
	}
	b.frag = b.delta(nil, nil)
	return b
}

// delta is Frag with cards set left with after[j] free, minus b.frag (Frag
// as the cards are, once newFragBase has set it).
func (b *fragBase) delta(set []int, after []int64) float64 {
	total := b.total
	for j, i := range set {
		total -= b.free[i] - after[j]
	}
	var sum float64
	for m, sh := range b.mix.Shapes {
		fit, str := b.fit[m], b.stranded[m]
		for j, i := range set {
			if f := b.free[i]; f >= sh.MemMiB {
				fit--
			} else {
				str -= f
			}
			if g := after[j]; g >= sh.MemMiB {
				fit++
			} else {
				str += g
			}
		}
		if fit < sh.Cards {
			sum += sh.Weight * float64(total)
		} else {
			sum += sh.Weight * float64(str)
		}
	}
	return sum - b.frag
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
// the policy's best nodes alone on top; nodes that do not fit get 0. For
// binpack (windowed costs) only the nodes whose Left is within band of the
// tightest fit over all nodes can be first: Cost.less compares Frag between
// any two Lefts within band of each other, so a scan over nodes alone could
// drift, step by step, ever further from the tightest fit.
func Rank(costs []Cost, fits []bool) []float64 {
	out := make([]float64, len(costs))
	best := -1
	minF, maxF := math.Inf(1), math.Inf(-1)
	minL, maxL := math.Inf(1), math.Inf(-1)
	tightest := math.Inf(1)
	for i, c := range costs {
		if fits[i] && c.windowed {
			tightest = min(tightest, c.tight)
		}
	}
	inWindow := func(c Cost) bool { return !c.windowed || c.Left <= tightest+c.band+1e-12 }
	for i, c := range costs {
		if !fits[i] {
			continue
		}
		if inWindow(c) && (best < 0 || c.less(costs[best])) {
			best = i
		}
		minF, maxF = min(minF, c.Frag), max(maxF, c.Frag)
		minL, maxL = min(minL, c.Left), max(maxL, c.Left)
	}
	for i, c := range costs {
		switch {
		case !fits[i]:
		case inWindow(c) && !costs[best].less(c):
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

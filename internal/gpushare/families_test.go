package gpushare

import (
	"math/rand/v2"
	"slices"
)

// A packing family generates traces and bounds what any placement (even one
// that knows the whole trace) places before its first refusal, in MiB:
//
//   - steady and multi-card traces only arrive. The bound is the memory of the
//     longest prefix that passes relaxed (a necessary condition to pack it):
//     no packing of a longer prefix exists.
//   - churn traces also depart; which pod departs is fixed by the trace, so
//     the live pods are the same for every placement until it refuses. The
//     bound is the memory of the arrivals before the first one at which the
//     live pods plus it fail relaxed: even a placement free to move pods
//     refuses there.
//   - adversarial traces are a perfect packing of the whole cluster (every
//     card cut into 2 or 3 pieces, some shared by 2 or 4 cards of a node),
//     shuffled; the bound is all of it, which that packing places.
//
// offline, where set, is a packing found knowing the whole trace (a lower
// bound of the optimum), so the optimum lies between it and bound.
type family struct {
	name    string
	gen     func(seed uint64) []event
	bound   func(tr []event) int64
	offline func(tr []event) int64
}

// shape is (GiB per card, cards, weight) in a random mix.
type shape struct {
	gib    int64
	cards  int
	weight int
}

var (
	// mostlySmall: many small pods, some whole 80 GiB cards, a few 2–4-card pods.
	mostlySmall = []shape{{1, 1, 25}, {2, 1, 20}, {4, 1, 15}, {8, 1, 10}, {12, 1, 6}, {20, 1, 5},
		{80, 1, 4}, {20, 2, 3}, {40, 2, 2}, {16, 4, 1}, {40, 4, 1}}
	// mixed: fewer small pods, more whole and half cards.
	mixed = []shape{{4, 1, 20}, {10, 1, 15}, {20, 1, 15}, {40, 1, 10}, {80, 1, 8},
		{20, 2, 10}, {40, 2, 8}, {24, 4, 6}, {40, 4, 6}}
	// multiCard: mostly pods on 2, 4 or 8 cards.
	multiCard = []shape{{4, 1, 10}, {12, 1, 10}, {8, 2, 10}, {20, 2, 10}, {40, 2, 10}, {80, 2, 4},
		{10, 4, 10}, {24, 4, 10}, {40, 4, 8}, {80, 4, 3}, {16, 8, 5}, {40, 8, 5}}
)

var relaxCluster = simCluster()

var families = []family{
	{"steady, mostly small", randomTrace(mostlySmall, 0), prefixBound, offlineDecreasing},
	{"steady, mixed", randomTrace(mixed, 0), prefixBound, offlineDecreasing},
	{"churn, mostly small", randomTrace(mostlySmall, 0.3), churnBound, nil},
	{"churn, mixed", randomTrace(mixed, 0.3), churnBound, nil},
	{"adversarial (perfect packing, shuffled)", perfectTrace, totalBound, totalBound},
	{"multi-card heavy", randomTrace(multiCard, 0), prefixBound, offlineDecreasing},
}

// randomTrace draws 3,000 events from mix; each is, with probability depart
// (when a pod is live), the departure of a live pod picked at random.
func randomTrace(mix []shape, depart float64) func(seed uint64) []event {
	return randomTraceN(mix, depart, 3000)
}

// randomTraceN is randomTrace with n events.
func randomTraceN(mix []shape, depart float64, n int) func(seed uint64) []event {
	return func(seed uint64) []event {
		r := rand.New(rand.NewPCG(seed, 42))
		total := 0
		for _, m := range mix {
			total += m.weight
		}
		var tr []event
		var live []int
		for len(tr) < n {
			if len(live) > 0 && r.Float64() < depart {
				i := r.IntN(len(live))
				tr = append(tr, event{Depart: live[i]})
				live = slices.Delete(live, i, i+1)
				continue
			}
			w := r.IntN(total)
			for _, m := range mix {
				if w -= m.weight; w < 0 {
					live = append(live, len(tr))
					tr = append(tr, event{Request: Request{MemMiB: m.gib * gib, Cards: m.cards}, Depart: -1})
					break
				}
			}
		}
		return tr
	}
}

// perfectTrace cuts every card of simCluster into 2 or 3 pieces of at least
// a fifth of the card each, in steps of a twentieth, so a wrong pairing
// leaves a hole no piece fits; cards of a node are cut alike in groups of 1,
// 2 or 4, each piece of a group one request on that many cards. Shuffled.
func perfectTrace(seed uint64) []event {
	r := rand.New(rand.NewPCG(seed, 43))
	var tr []event
	for _, cs := range simCluster() {
		for i := 0; i < len(cs); {
			g := []int{1, 2, 4}[r.IntN(3)]
			for g > 1 && (i+g > len(cs) || cs[i+g-1].MemoryMiB != cs[i].MemoryMiB) {
				g /= 2
			}
			step := cs[i].MemoryMiB / 20
			for _, parts := range cut(r, 20, 4) {
				tr = append(tr, event{Request: Request{MemMiB: parts * step, Cards: g}, Depart: -1})
			}
			i += g
		}
	}
	r.Shuffle(len(tr), func(i, j int) { tr[i], tr[j] = tr[j], tr[i] })
	return tr
}

// cut splits n units into 2 or 3 parts of at least least units each.
func cut(r *rand.Rand, n, least int64) []int64 {
	if r.IntN(2) == 0 || n < 3*least {
		a := least + r.Int64N(n-2*least+1)
		return []int64{a, n - a}
	}
	a := least + r.Int64N(n-3*least+1)
	b := least + r.Int64N(n-a-2*least+1)
	return []int64{a, b, n - a - b}
}

func totalBound(tr []event) int64 {
	var t int64
	for _, ev := range tr {
		t += ev.MemMiB * int64(ev.Cards)
	}
	return t
}

// prefixBound is the memory of the longest prefix of an arrivals-only trace
// that relaxed does not rule out.
func prefixBound(tr []event) int64 {
	live := map[Request]int{}
	var mem int64
	for _, ev := range tr {
		live[ev.Request]++
		if !relaxed(live) {
			break
		}
		mem += ev.MemMiB * int64(ev.Cards)
	}
	return mem
}

// churnBound is the memory of the arrivals before the first one at which the
// live requests fail relaxed.
func churnBound(tr []event) int64 {
	live := map[Request]int{}
	var mem int64
	for _, ev := range tr {
		if ev.Depart >= 0 {
			live[tr[ev.Depart].Request]--
			continue
		}
		live[ev.Request]++
		if !relaxed(live) {
			break
		}
		mem += ev.MemMiB * int64(ev.Cards)
	}
	return mem
}

// relaxed is a necessary condition for packing requests (counts per shape)
// on simCluster: for every size t and card count k, the requests of at least
// t MiB on at least k cards go on nodes with k cards of t MiB or more, so
// their pieces fit within those cards' memory, and within their count of
// t-sized places (memory / t, at most the card's slots).
func relaxed(counts map[Request]int) bool {
	nodes := relaxCluster
	for t := range counts {
		for k := range counts {
			var pieces, mem, places, capMem int64
			for r, n := range counts {
				if r.MemMiB >= t.MemMiB && r.Cards >= k.Cards {
					pieces += int64(n * r.Cards)
					mem += int64(n*r.Cards) * r.MemMiB
				}
			}
			for _, cs := range nodes {
				var big []Card
				for _, c := range cs {
					if c.MemoryMiB >= t.MemMiB {
						big = append(big, c)
					}
				}
				if len(big) < k.Cards {
					continue
				}
				for _, c := range big {
					places += min(int64(c.Slots), c.MemoryMiB/t.MemMiB)
					capMem += c.MemoryMiB
				}
			}
			if pieces > places || mem > capMem {
				return false
			}
		}
	}
	return true
}

// offlineDecreasing is the memory of the longest prefix of an arrivals-only
// trace that best-fit packs whole when it sees the requests largest first.
func offlineDecreasing(tr []event) int64 {
	packs := func(k int) (int64, bool) {
		reqs := make([]Request, k)
		for i := range reqs {
			reqs[i] = tr[i].Request
		}
		slices.SortFunc(reqs, func(a, b Request) int {
			return int(sign(b.MemMiB*int64(b.Cards)-a.MemMiB*int64(a.Cards))*2 + sign(b.MemMiB-a.MemMiB))
		})
		nodes, p := simCluster(), newExtender(BestFit, 0)
		var mem int64
		for _, r := range reqs {
			if _, ok := p.place(nodes, r); !ok {
				return 0, false
			}
			mem += r.MemMiB * int64(r.Cards)
		}
		return mem, true
	}
	lo, hi := 0, len(tr)
	for lo < hi {
		if mid := (lo + hi + 1) / 2; func() bool { _, ok := packs(mid); return ok }() {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	mem, _ := packs(lo)
	return mem
}

package gpushare

import (
	"math/bits"
	"slices"
)

// A pod on several cards runs fastest with its cards on one NUMA node (its
// peer-to-peer traffic then stays under one CPU's PCIe root, and its CPUs can
// be local to all of them), which is what NVIDIA's device plugin and HAMi
// steer multi-card pods to. zz's first duty is packing, so the NUMA node only
// decides among cards the packing cannot tell apart: cards of one size with
// the same free memory and free slots cost every policy the same (Cost and
// the headroom depend on nothing else), so swapping a chosen card for an
// alike one never changes a score, a later placement's room or the ledger's
// books. numaCompact makes that swap when it puts the pod on fewer NUMA
// nodes.

// maxNUMADomains bounds the subsets numaCompact tries (2^n); real nodes have
// 1–8 NUMA nodes, and a node claiming more is left in index order.
const maxNUMADomains = 8

// alike is what makes two cards interchangeable for every policy.
type alike struct {
	mem, free int64
	slots     int
}

func alikeOf(c *Card) alike {
	slots := -1 // no limit known
	if c.Slots > 0 {
		slots = c.Slots - c.Pods
	}
	return alike{c.MemoryMiB, c.FreeMiB(), slots}
}

// numaCompact returns set (positions in cards, as a policy chose them) with
// cards swapped for alike ones so that the set spans as few NUMA nodes as
// such swaps allow; among the subsets of NUMA nodes that few, the one with
// the fewest alike cards to spare (the tightest, leaving roomier NUMA nodes
// whole for later pods), then the lowest NUMA nodes. When no swap lowers the
// count, or the cards' NUMA nodes are not all known, set is returned as it
// is. The result is sorted. Pure: cards are not changed.
func numaCompact(cards []Card, set []int) []int {
	if len(set) < 2 {
		return set
	}
	var domains []int64 // distinct NUMA nodes, ascending
	for i := range cards {
		n := cards[i].NUMANode
		if n == nil {
			return set
		}
		if j, found := slices.BinarySearch(domains, *n); !found {
			domains = slices.Insert(domains, j, *n)
		}
	}
	if len(domains) < 2 || len(domains) > maxNUMADomains {
		return set
	}
	dom := func(i int) int { j, _ := slices.BinarySearch(domains, *cards[i].NUMANode); return j }

	// The chosen cards' classes, how many of each, and every healthy card
	// of each class (chosen or not) by NUMA node.
	type class struct {
		key   alike
		need  int
		inDom []int // per NUMA node: cards of the class there
	}
	var classes []class
	var spanned uint
	for _, i := range set {
		spanned |= 1 << dom(i)
		k := alikeOf(&cards[i])
		if j := slices.IndexFunc(classes, func(c class) bool { return c.key == k }); j >= 0 {
			classes[j].need++
			continue
		}
		classes = append(classes, class{key: k, need: 1, inDom: make([]int, len(domains))})
	}
	for i := range cards {
		if !cards[i].Healthy {
			continue
		}
		k := alikeOf(&cards[i])
		if j := slices.IndexFunc(classes, func(c class) bool { return c.key == k }); j >= 0 {
			classes[j].inDom[dom(i)]++
		}
	}

	best, bestSpare := uint(0), 0
	for mask := uint(1); mask < 1<<len(domains); mask++ {
		if bits.OnesCount(mask) >= bits.OnesCount(spanned) {
			continue
		}
		spare, ok := 0, true
		for _, c := range classes {
			have := 0
			for d, n := range c.inDom {
				if mask&(1<<d) != 0 {
					have += n
				}
			}
			if have < c.need {
				ok = false
				break
			}
			spare += have - c.need
		}
		if !ok {
			continue
		}
		if best == 0 || bits.OnesCount(mask) < bits.OnesCount(best) ||
			bits.OnesCount(mask) == bits.OnesCount(best) && spare < bestSpare {
			best, bestSpare = mask, spare
		}
	}
	if best == 0 {
		return set
	}
	out := make([]int, 0, len(set))
	for _, c := range classes {
		n := c.need
		for i := range cards {
			if n == 0 {
				break
			}
			if cards[i].Healthy && best&(1<<dom(i)) != 0 && alikeOf(&cards[i]) == c.key {
				out = append(out, i)
				n--
			}
		}
	}
	slices.Sort(out)
	return out
}

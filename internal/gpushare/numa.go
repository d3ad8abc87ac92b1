package gpushare

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
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

// numaCompact returns set (positions in cards, as a policy chose them for
// req) with cards swapped for alike ones that req may also have so that the set spans as few NUMA nodes as
// such swaps allow; among the subsets of NUMA nodes that few, the one with
// the fewest alike cards to spare (the tightest, leaving roomier NUMA nodes
// whole for later pods), then the lowest NUMA nodes. When no swap lowers the
// count, or the cards' NUMA nodes are not all known, set is returned as it
// is. The result is sorted. Pure: cards are not changed.
func numaCompact(cards []Card, req Request, set []int) []int {
	if len(set) < 2 {
		return set
	}
	if slices.ContainsFunc(cards, func(c Card) bool { return c.NUMANode == nil }) {
		return set
	}
	domains := knownNUMANodes(cards)
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
		if !req.takes(&cards[i]) {
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
			if req.takes(&cards[i]) && best&(1<<dom(i)) != 0 && alikeOf(&cards[i]) == c.key {
				out = append(out, i)
				n--
			}
		}
	}
	slices.Sort(out)
	return out
}

// A pod that asks for it (contract.AnnotationGPUNUMABind, Request.SameNUMA)
// gets all its cards on one NUMA node or waits: Fit refuses a node none of
// whose NUMA nodes holds enough fitting cards, and choose takes the policy's
// choice on each NUMA node that can hold the pod and the cheapest of those.
// A card whose NUMA node is unknown is close to every node, as the kubelet
// treats a device without topology; a node none of whose cards' NUMA nodes
// is known counts as one NUMA node.

// knownNUMANodes lists the distinct known NUMA nodes of cards, ascending.
func knownNUMANodes(cards []Card) []int64 {
	var out []int64
	for i := range cards {
		if n := cards[i].NUMANode; n != nil {
			if j, found := slices.BinarySearch(out, *n); !found {
				out = slices.Insert(out, j, *n)
			}
		}
	}
	return out
}

// onNUMANode reports whether c may serve a pod bound to NUMA node d.
func onNUMANode(c *Card, d int64) bool { return c.NUMANode == nil || *c.NUMANode == d }

// fittingOn counts the cards req may have in (nil: all) with its memory free.
func fittingOn(cards []Card, req Request, in func(int) bool) int {
	n := 0
	for i := range cards {
		if req.takes(&cards[i]) && cards[i].FreeMiB() >= req.MemMiB && (in == nil || in(i)) {
			n++
		}
	}
	return n
}

// fitOneNUMA is Fit's answer for a pod bound to one NUMA node on a node with
// enough fitting cards in all.
func fitOneNUMA(cards []Card, req Request) error {
	doms := knownNUMANodes(cards)
	if len(doms) < 2 {
		return nil
	}
	parts := make([]string, len(doms))
	for j, d := range doms {
		n := fittingOn(cards, req, func(i int) bool { return onNUMANode(&cards[i], d) })
		if n >= req.Cards {
			return nil
		}
		parts[j] = fmt.Sprintf("%d on NUMA node %d", n, d)
	}
	return fmt.Errorf("no NUMA node has %d cards with %d MiB free, and %s asks for one (%s)",
		req.Cards, req.MemMiB, contract.AnnotationGPUNUMABind, strings.Join(parts, ", "))
}

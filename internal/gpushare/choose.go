package gpushare

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
)

// Policy decides which cards a request takes and which nodes score best.
type Policy string

// Placement policies. Binpack (the default) is headroom-aware best-fit
// (fgd_headroom.go): among the near-tightest fits, the one that leaves the
// cluster the most room for the request shapes it has been seeing, scarce
// shapes first; bestfit is the tightest fit alone; spread takes the emptiest
// cards, so pods contend less. fgd, pure Fragmentation Gradient Descent, and
// fgd-band, FGD among the fits within 6% of the tightest (binpack until
// headroom replaced it), are kept for the benchmark.
const (
	Binpack Policy = contract.PolicyBinpack
	BestFit Policy = contract.PolicyBestFit
	Spread  Policy = contract.PolicySpread
	fgd     Policy = "fgd"
	fgdBand Policy = "fgd-band"
)

// ParsePolicy accepts the contract's policy names ("" means def).
func ParsePolicy(s string, def Policy) (Policy, error) {
	switch Policy(s) {
	case "":
		return def, nil
	case Binpack, BestFit, Spread:
		return Policy(s), nil
	}
	return "", fmt.Errorf("GPU policy %q is unknown; use %q, %q or %q", s, Binpack, BestFit, Spread)
}

// Card is one card's capacity and use. UsedMiB is the memory the pods on
// it were allocated (kubectl zz gpu's ALLOCATED), not what they use.
type Card struct {
	contract.GPU
	UsedMiB int64 `json:"allocatedMiB"`
	// Pods on the card, and how many may share it: the device plugin's slots
	// per card (0: no limit known). A card with no slot left is full.
	Pods  int `json:"podCount"`
	Slots int `json:"slots,omitempty"`
}

// FreeMiB is what is left on the card for one more pod: never negative, even
// when a restart finds it overfilled, and 0 when its slots are all taken.
func (c *Card) FreeMiB() int64 {
	if c.Slots > 0 && c.Pods >= c.Slots {
		return 0
	}
	return max(0, c.MemoryMiB-c.UsedMiB)
}

// fits is Fit without the reason, so it allocates nothing on the way
// (preemption asks it once per candidate victim).
func fits(cards []Card, req Request) bool {
	if req.Whole {
		return fitsWhole(cards, req)
	}
	if len(cards) < req.Cards {
		return false
	}
	fitting := 0
	for i := range cards {
		if c := &cards[i]; c.Healthy && req.admits(c) && c.FreeMiB() >= req.MemMiB {
			fitting++
		}
	}
	if fitting < req.Cards {
		return false
	}
	return !req.SameNUMA || req.Cards == 1 || fitOneNUMA(cards, req) == nil
}

// Fit reports why cards cannot hold req, or nil when they can.
func Fit(cards []Card, req Request) error {
	if fits(cards, req) {
		return nil
	}
	if len(cards) < req.Cards {
		return fmt.Errorf("node has %d GPU cards < %d asked", len(cards), req.Cards)
	}
	if req.Whole {
		return wholeMisfit(cards, req)
	}
	var fitting int
	var largest, largestCard int64
	healthy, usable, bigEnough := 0, 0, 0
	for i := range cards {
		c := &cards[i]
		// Never is judged on every card the request may take, up or down
		// (cordoned): a card out now is back later (a review).
		if req.mayEverHave(c) {
			largestCard = max(largestCard, c.MemoryMiB)
			if c.MemoryMiB >= req.MemMiB {
				bigEnough++
			}
		}
		if !c.Healthy {
			continue
		}
		healthy++
		if !req.admits(c) {
			continue
		}
		usable++
		largest = max(largest, c.FreeMiB())
		if c.FreeMiB() >= req.MemMiB {
			fitting++
		}
	}
	switch {
	case fitting >= req.Cards && req.SameNUMA && req.Cards > 1:
		return fitOneNUMA(cards, req)
	case fitting >= req.Cards:
		return nil
	case healthy < req.Cards:
		return fmt.Errorf("node has %d healthy GPU cards < %d asked%s", healthy, req.Cards, unhealthyList(cards))
	case usable < req.Cards:
		return fmt.Errorf("node has %d healthy GPU cards of %s < %d asked (%s)", usable, req.cardsPhrase(), req.Cards, cardList(cards, req))
	case bigEnough < req.Cards && req.Cards == 1:
		// No room freeing ever makes it fit here: said apart from a
		// full node, where "no free memory now" kept its owner waiting
		// (an ML-engineer audit).
		return fmt.Errorf("node's largest card has %d MiB < %d MiB asked: never fits here, even empty", largestCard, req.MemMiB)
	case bigEnough < req.Cards:
		return fmt.Errorf("node has %d cards of at least %d MiB < %d asked: never fits here, even empty", bigEnough, req.MemMiB, req.Cards)
	case req.Cards == 1:
		// Cards that are down (or cordoned) are why there is less room.
		return fmt.Errorf("largest free card %d MiB < %d MiB asked%s", largest, req.MemMiB, unhealthyList(cards))
	}
	// Words first: kube-scheduler puts a node count before each reason,
	// and "1 0 cards with..." read as a typo (an ML-engineer audit).
	return fmt.Errorf("node has %d cards with %d MiB free < %d asked (free MiB per card: %s)%s",
		fitting, req.MemMiB, req.Cards, freeList(cards, req), unhealthyList(cards))
}

// cardList says what a node's healthy cards are, for Fit's reasons: by
// model ("its models: 2 NVIDIA A100-SXM4-80GB, 1 Tesla T4"), and by UUID
// when req chooses cards by UUID.
func cardList(cards []Card, req Request) string {
	s := ""
	if req.Models != "" || req.AvoidModels != "" || !req.choosesCards() {
		s = "its models: " + modelList(cards)
	}
	if req.choosesCards() {
		var uuids []string
		for i := range cards {
			if cards[i].Healthy {
				uuids = append(uuids, cards[i].UUID)
			}
		}
		if s != "" {
			s += "; "
		}
		s += "its cards: " + strings.Join(uuids, ", ")
		// A card the pod names that is down says why (a duplicate UUID, a
		// fault, a cordon).
		for i := range cards {
			if c := &cards[i]; !c.Healthy && req.UUIDs != "" && ListsUUID(req.UUIDs, c.UUID) {
				s += fmt.Sprintf("; card %d (%s) unhealthy: %s", c.Index, c.UUID, c.Reason)
			}
		}
	}
	return s
}

// modelList counts a node's healthy cards by model: "2 NVIDIA
// A100-SXM4-80GB, 1 Tesla T4".
func modelList(cards []Card) string {
	var models []string
	count := map[string]int{}
	for i := range cards {
		if m := cards[i].Model; cards[i].Healthy {
			if count[m] == 0 {
				models = append(models, m)
			}
			count[m]++
		}
	}
	parts := make([]string, len(models))
	for i, m := range models {
		if m == "" {
			m = "unnamed"
		}
		parts[i] = fmt.Sprintf("%d %s", count[models[i]], m)
	}
	return strings.Join(parts, ", ")
}

// unhealthyList names the cards that are down and why, for Fit's reasons.
func unhealthyList(cards []Card) string {
	var parts []string
	for i := range cards {
		if !cards[i].Healthy {
			parts = append(parts, fmt.Sprintf("card %d (%s) unhealthy: %s", cards[i].Index, cards[i].UUID, cards[i].Reason))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// freeList is the free memory of the cards req may have: "0:4096 3:0".
func freeList(cards []Card, req Request) string {
	parts := make([]string, 0, len(cards))
	for i := range cards {
		if req.admits(&cards[i]) {
			parts = append(parts, strconv.Itoa(cards[i].Index)+":"+strconv.FormatInt(cards[i].FreeMiB(), 10))
		}
	}
	return strings.Join(parts, " ")
}

// Choose picks req.Cards distinct cards by policy and returns their positions
// in cards: binpack the near-tightest set that costs the cluster's headroom
// h least, bestfit the tightest fits, spread the emptiest; ties go to the
// lower index so the choice is deterministic. Cards the policy cannot tell
// apart are then swapped to put a multi-card pod on as few NUMA nodes as they
// allow (numaCompact). It is a pure function of its arguments; h matters to
// binpack only (nil: best-fit).
func Choose(cards []Card, req Request, policy Policy, h *Headroom) ([]int, error) {
	idx, _, sized, err := choose(cards, req, policy, h)
	if err != nil {
		return nil, err
	}
	return numaCompact(cards, sized, idx), nil
}

// NodeCost is what placing req on a node's cards costs by policy (the cost of
// the cards Choose picks), or why the node does not fit.
func NodeCost(cards []Card, req Request, policy Policy, h *Headroom) (Cost, error) {
	_, c, _, err := choose(cards, req, policy, h)
	return c, err
}

// choose is Choose without the NUMA swaps, with the choice's cost and the
// request it chose for (a whole-card request sized for the cards chosen).
func choose(cards []Card, req Request, policy Policy, h *Headroom) ([]int, Cost, Request, error) {
	if req.Whole {
		return chooseWhole(cards, req, policy, h)
	}
	if err := Fit(cards, req); err != nil {
		return nil, Cost{}, req, err
	}
	if !req.SameNUMA || req.Cards < 2 {
		idx, c := chooseAmong(cards, req, policy, h, nil)
		return idx, c, req, nil
	}
	if doms := knownNUMANodes(cards); len(doms) > 1 {
		// The policy's choice on each NUMA node that can hold the pod (Fit
		// made sure there is one), and the cheapest of those within the
		// policy's band of the tightest fit any of them offers, as Rank
		// keeps to it over nodes.
		var idxs [][]int
		var costs []Cost
		tight := math.Inf(1)
		for _, d := range doms {
			in := func(i int) bool { return onNUMANode(&cards[i], d) }
			if fittingOn(cards, req, in) < req.Cards {
				continue
			}
			idx, c := chooseAmong(cards, req, policy, h, in)
			idxs, costs = append(idxs, idx), append(costs, c)
			tight = min(tight, c.tight)
		}
		best := -1
		for j, c := range costs {
			if c.band > 0 && c.Left > tight+c.band+1e-12 {
				continue
			}
			if best < 0 || c.less(costs[best]) {
				best = j
			}
		}
		c := costs[best]
		if c.band > 0 {
			c.tight = tight
		}
		return idxs[best], c, req, nil
	}
	idx, c := chooseAmong(cards, req, policy, h, nil)
	return idx, c, req, nil
}

// chooseAmong is choose among the cards allow admits (nil: all), of which at
// least req.Cards fit.
func chooseAmong(cards []Card, req Request, policy Policy, h *Headroom, allow func(int) bool) ([]int, Cost) {
	cand := make([]int, 0, len(cards))
	for i := range cards {
		if req.takes(&cards[i]) && cards[i].FreeMiB() >= req.MemMiB && (allow == nil || allow(i)) {
			cand = append(cand, i)
		}
	}
	switch policy {
	case Binpack:
		if !h.knows() {
			return choosePriced(cards, cand, req, nil, headBand)
		}
		base := newHeadBase(cards, h)
		defer base.release()
		idx, c := choosePriced(cards, cand, req, base, headBand)
		var free, mem int64
		for i := range cards {
			if cards[i].Healthy {
				free += cards[i].FreeMiB()
				mem += cards[i].MemoryMiB
			}
		}
		c.windowed = true
		c.nodeLeft = float64(free-req.MemMiB*int64(req.Cards)) / float64(max(mem, 1))
		return idx, c
	case fgdBand:
		return chooseFGD(cards, cand, req, h.mix(), fitBand)
	case fgd:
		return chooseFGD(cards, cand, req, h.mix(), math.Inf(1))
	}
	slices.SortFunc(cand, func(a, b int) int {
		fa, fb := cards[a].FreeMiB(), cards[b].FreeMiB()
		if fa != fb {
			if policy == Spread {
				return int(sign(fb - fa))
			}
			return int(sign(fa - fb))
		}
		return cards[a].Index - cards[b].Index
	})
	idx := cand[:req.Cards]
	c := Cost{Left: leftShare(cards, idx, req.MemMiB)}
	if policy == Spread {
		c.Left = 1 - c.Left
	}
	return idx, c
}

func sign(v int64) int64 {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

package gpushare

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
)

// Policy orders the cards a request may take.
type Policy string

// Placement policies. Binpack fills used cards first, so whole cards stay free
// for big requests; spread takes the emptiest cards, so pods contend less.
const (
	Binpack Policy = contract.PolicyBinpack
	Spread  Policy = contract.PolicySpread
)

// ParsePolicy accepts the contract's policy names ("" means def).
func ParsePolicy(s string, def Policy) (Policy, error) {
	switch Policy(s) {
	case "":
		return def, nil
	case Binpack, Spread:
		return Policy(s), nil
	}
	return "", fmt.Errorf("GPU policy %q is unknown; use %q or %q", s, Binpack, Spread)
}

// Card is one card's capacity and use.
type Card struct {
	contract.GPU
	UsedMiB int64 `json:"usedMiB"`
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

// Fit reports why cards cannot hold req, or nil when they can.
func Fit(cards []Card, req Request) error {
	if len(cards) < req.Cards {
		return fmt.Errorf("node has %d GPU cards < %d asked", len(cards), req.Cards)
	}
	var fitting int
	var largest int64
	healthy := 0
	for i := range cards {
		c := &cards[i]
		if !c.Healthy {
			continue
		}
		healthy++
		largest = max(largest, c.FreeMiB())
		if c.FreeMiB() >= req.MemMiB {
			fitting++
		}
	}
	switch {
	case fitting >= req.Cards:
		return nil
	case healthy < req.Cards:
		return fmt.Errorf("node has %d healthy GPU cards < %d asked", healthy, req.Cards)
	case req.Cards == 1:
		return fmt.Errorf("largest free card %d MiB < %d MiB asked", largest, req.MemMiB)
	}
	return fmt.Errorf("%d cards with %d MiB free < %d cards asked (free MiB per card: %s)",
		fitting, req.MemMiB, req.Cards, freeList(cards))
}

func freeList(cards []Card) string {
	parts := make([]string, len(cards))
	for i := range cards {
		parts[i] = strconv.Itoa(cards[i].Index) + ":" + strconv.FormatInt(cards[i].FreeMiB(), 10)
	}
	return strings.Join(parts, " ")
}

// Choose picks req.Cards distinct cards by policy and returns their positions
// in cards. Binpack takes the tightest fits, spread the emptiest; ties go to
// the lower index so the choice is deterministic.
func Choose(cards []Card, req Request, policy Policy) ([]int, error) {
	if err := Fit(cards, req); err != nil {
		return nil, err
	}
	cand := make([]int, 0, len(cards))
	for i := range cards {
		if cards[i].Healthy && cards[i].FreeMiB() >= req.MemMiB {
			cand = append(cand, i)
		}
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
	return cand[:req.Cards], nil
}

// Score rates placing req on cards, from 0 (worst) to 1 (best), for a node
// that fits it. With f = free MiB left on a chosen card after placement over
// its size, averaged over the chosen cards:
//
//	binpack = 1 - mean(f)   (fill cards up; a used card beats an empty one)
//	spread  = mean(f)       (keep the most memory free around each pod)
func Score(cards []Card, req Request, policy Policy) float64 {
	chosen, err := Choose(cards, req, policy)
	if err != nil {
		return 0
	}
	var sum float64
	for _, i := range chosen {
		c := &cards[i]
		sum += float64(c.FreeMiB()-req.MemMiB) / float64(c.MemoryMiB)
	}
	left := sum / float64(len(chosen))
	if policy == Spread {
		return left
	}
	return 1 - left
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

package gpushare

import (
	"fmt"
	"strings"
)

// Whole cards (Request.Whole, contract.AnnotationGPUWhole): a pod asks for
// cards of its own of any size up to its memory, as nvidia.com/gpu gives
// on a cluster of mixed cards. On a node such a request is one of the plain
// requests sized for each card size it admits (all of a card of that size,
// on cards of that size only), so every choice below is the plain one:
// fits, Choose, the node's cost, the room, preemption. The pod holds the
// chosen cards' own memory, never more than it asks for, so a quota charged
// what it asks for is never short.

// sized is r for whole cards of mib: all of their memory, on cards of
// exactly that memory that hold no pod.
func (r Request) sized(mib int64) Request {
	r.Whole, r.MemMiB, r.cardMiB = false, mib, mib
	return r
}

// eachSize calls f with r sized for each memory size of the healthy cards
// r admits, in card order, until f returns false. It allocates nothing:
// preemption asks fits once per candidate victim.
func eachSize(cards []Card, r Request, f func(Request) bool) {
	for i := range cards {
		c := &cards[i]
		if !c.Healthy || !r.admits(c) || sizeSeen(cards[:i], r, c.MemoryMiB) {
			continue
		}
		if !f(r.sized(c.MemoryMiB)) {
			return
		}
	}
}

// sizeSeen reports whether a healthy card of cards that r admits has mib.
func sizeSeen(cards []Card, r Request, mib int64) bool {
	for i := range cards {
		if c := &cards[i]; c.Healthy && c.MemoryMiB == mib && r.admits(c) {
			return true
		}
	}
	return false
}

// fitsWhole is fits for a whole-card request: some card size takes it.
func fitsWhole(cards []Card, r Request) bool {
	ok := false
	eachSize(cards, r, func(s Request) bool {
		ok = fits(cards, s)
		return !ok
	})
	return ok
}

// chooseWhole is choose for a whole-card request: the policy's choice for
// each card size that fits, the cheapest of those, the smaller cards on a
// tie (the larger stay for the requests only they can hold). It returns the
// sized request the cards were chosen for.
func chooseWhole(cards []Card, r Request, policy Policy, h *Headroom) ([]int, Cost, Request, error) {
	var best []int
	var cost Cost
	var chosen Request
	eachSize(cards, r, func(s Request) bool {
		if !fits(cards, s) {
			return true
		}
		idx, c, _, _ := choose(cards, s, policy, h)
		if best == nil || c.less(cost) || !cost.less(c) && s.MemMiB < chosen.MemMiB {
			best, cost, chosen = idx, c, s
		}
		return true
	})
	if best == nil {
		return nil, Cost{}, r, wholeMisfit(cards, r)
	}
	return best, cost, chosen, nil
}

// roomWhole is Room for a whole-card request: the sizes' rooms, which
// share no card.
func roomWhole(cards []Card, r Request) int {
	n := 0
	eachSize(cards, r, func(s Request) bool {
		n += Room(cards, s)
		return true
	})
	return n
}

// wholeMisfit says why no card size takes r: per size, how many cards of
// it are free of any pod.
func wholeMisfit(cards []Card, r Request) error {
	var sizes []string
	eachSize(cards, r, func(s Request) bool {
		free, all := 0, 0
		for i := range cards {
			if c := &cards[i]; c.Healthy && c.MemoryMiB == s.MemMiB && r.admits(c) {
				all++
				if s.admits(c) && c.FreeMiB() >= s.MemMiB {
					free++
				}
			}
		}
		sizes = append(sizes, fmt.Sprintf("%d of %d of %d MiB", free, all, s.MemMiB))
		return true
	})
	if len(sizes) == 0 {
		return fmt.Errorf("no healthy card of at most %d MiB%s for whole cards%s", r.MemMiB, cardsOf(r), unhealthyList(cards))
	}
	what := fmt.Sprintf("whole card of at most %d MiB", r.MemMiB)
	if r.Cards > 1 {
		what = fmt.Sprintf("%d whole cards of one size, at most %d MiB each,", r.Cards, r.MemMiB)
		if r.SameNUMA {
			what = fmt.Sprintf("%d whole cards of one size on one NUMA node, at most %d MiB each,", r.Cards, r.MemMiB)
		}
	}
	return fmt.Errorf("no %s free (cards no pod holds: %s)%s", what, strings.Join(sizes, ", "), unhealthyList(cards))
}

// cardsOf is ", of <models/cards>" when r admits only some cards.
func cardsOf(r Request) string {
	if m := r.cardsPhrase(); m != "" {
		return " (" + m + ")"
	}
	return ""
}

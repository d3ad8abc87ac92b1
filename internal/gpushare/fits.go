package gpushare

import (
	"errors"
	"slices"
	"sort"

	"github.com/zzcloud/zz/internal/contract"
)

// NodeFit is what one node offers a request now, as the extender would
// judge it: whether it fits (else why not), the cards the policy would give
// it, and how many such pods the node could take in all.
type NodeFit struct {
	Node string `json:"node"`
	Fits bool   `json:"fits"`
	// Reason is why the request does not fit: the extender's own filter
	// reason, which a Pending pod's FailedScheduling event carries too.
	Reason string `json:"reason,omitempty"`
	// Cards are the indexes of the cards the policy would choose for one
	// pod of the request.
	Cards []int `json:"cards,omitempty"`
	// More is how many pods of the request the node could take, counted
	// alone (Room).
	More int `json:"more"`
	// Preempt, where it does not fit, is how many pods of lower priority
	// the extender's preemption would evict there to make room
	// (PlanPreemption; 0: none would).
	Preempt int `json:"preempt,omitempty"`
	// Excluded says the pod cannot go to the node whatever its GPU room:
	// its node selector, affinity or taints keep it off (kubectl zz gpu
	// --fit pod/NAME; the scheduler's filters run before the extender's).
	Excluded bool `json:"excluded,omitempty"`
}

// Fits judges req by policy on every GPU node the ledger knows (those named
// in only, when given), sorted by name: what the extender's filter and bind
// would do with one pod of req now. Binpack chooses with the headroom of the
// recent stream, as the extender does.
func (l *Ledger) Fits(req Request, policy Policy, only []string) []NodeFit {
	mix := l.stream.Mix()
	l.mu.RLock()
	defer l.mu.RUnlock()
	var h *Headroom
	if policy == Binpack {
		h = l.room.headroom(mix, l.nodes)
	}
	out := []NodeFit{}
	for name, n := range l.nodes {
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		if !n.known || len(n.cards) == 0 && errors.Is(n.err, contract.ErrNoInventory) {
			continue // not a GPU node
		}
		f := NodeFit{Node: name}
		if n.err != nil {
			f.Reason = n.err.Error()
			out = append(out, f)
			continue
		}
		if idx, err := Choose(n.cards, req, policy, h); err != nil {
			f.Reason = err.Error()
		} else {
			f.Fits = true
			for _, i := range idx {
				f.Cards = append(f.Cards, n.cards[i].Index)
			}
			slices.Sort(f.Cards)
		}
		f.More = Room(n.cards, req)
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// Room is how many pods of req cards could take now, each on cards req may
// have (healthy, of its models) with its memory and a sharing slot free;
// for a pod bound to one NUMA node (SameNUMA), the sum of what each NUMA
// node takes. Where some cards' NUMA node is unknown and others' known, a
// bound pod's room is an upper bound: the unknown cards count on every NUMA
// node, as Fit treats them, but not more than all the cards hold together.
func Room(cards []Card, req Request) int {
	if req.MemMiB <= 0 || req.Cards <= 0 {
		return 0
	}
	if req.Whole {
		return roomWhole(cards, req)
	}
	all := roomOn(cards, req, nil)
	doms := knownNUMANodes(cards)
	if !req.SameNUMA || req.Cards < 2 || len(doms) < 2 {
		return all
	}
	sum := 0
	for _, d := range doms {
		sum += roomOn(cards, req, func(c *Card) bool { return onNUMANode(c, d) })
	}
	return min(sum, all)
}

// roomOn is nodeRoom.pods over the cards req may have among in (nil: all).
func roomOn(cards []Card, req Request, in func(*Card) bool) int {
	usable := make([]Card, 0, len(cards))
	for i := range cards {
		if c := &cards[i]; req.takes(c) && (in == nil || in(c)) {
			usable = append(usable, *c)
		}
	}
	var r nodeRoom
	r.set(usable)
	return r.pods(req)
}

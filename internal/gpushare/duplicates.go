package gpushare

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A GPU's UUID is unique by construction (NVML), so a card listed by two
// nodes' inventories is a forged inventory (root on one node publishing
// another node's card, to attract the pods pinned to it with
// zz.io/gpu-card) or a cloned node. Which of the two lies cannot be told
// from the cluster: the order the nodes were created in says nothing of who
// is honest (an older forger would win), and the order the ledger read the
// inventories in changes across restarts. So such a card takes no new pod
// on any node that lists it until an admin removes the wrong inventory: it
// counts unhealthy for new pods, with DuplicateReason naming the other
// nodes, on each of them (kubectl zz gpu shows it; kubectl zz check fails
// on it). Pods already charged to it stay charged, so no memory is freed
// by a forgery. The nodes' other cards are unaffected.
//
// One thing does tell them apart: a pod bound to a node, charged to the
// card, that the node's device plugin marked served (zz.io/gpu-assigned=true:
// only that node's plugin may write it, and only on pods bound to its node,
// by policy zz-gpu-pod-annotations). No node can make that evidence for a
// card another node lists, since no pod is given such a card. When exactly
// one lister serves a pod on the card, that node keeps it and only the
// others' copies are out: root on one node learns UUIDs from pods'
// zz.io/gpu-uuids (its plugin's token lists every pod), and had frozen every
// busy card of the cluster so (a root-on-one-node audit). A card no pod is
// served on is still out on every lister.

// DuplicateReason starts the reason of a card whose UUID another node's
// inventory lists too; the other nodes follow.
const DuplicateReason = "its UUID is listed by another node too (a forged or cloned inventory): "

// ErrAmbiguousCard marks a pod whose chosen cards are listed by several
// nodes and which names no node: its memory is charged to none rather than
// to a guess (the cards take no new pod meanwhile: DuplicateReason).
var ErrAmbiguousCard = errors.New("its cards are listed by several nodes and the pod names none")

// cardState is a card's health as its inventory and the cordon say, before
// duplicates are marked.
type cardState struct {
	healthy bool
	reason  string
}

// uuidKey is how UUIDs compare across nodes: in any case, as zz.io/gpu-card
// and the cordon list match them.
func uuidKey(uuid string) string { return strings.ToLower(uuid) }

// listCards records in l.holders which UUIDs node name's cards are, and marks
// again every node that shares one of the UUIDs it lists now or listed
// before. The caller holds the write lock and has set n.cards.
func (l *Ledger) listCards(name string, n *node) {
	touched := map[string]struct{}{name: {}}
	for _, u := range n.uuids {
		l.unhold(u, name)
		for _, other := range l.holders[u] {
			touched[other] = struct{}{}
		}
	}
	n.uuids, n.base = n.uuids[:0], n.base[:0]
	for _, c := range n.cards {
		u := uuidKey(c.UUID)
		n.uuids = append(n.uuids, u)
		n.base = append(n.base, cardState{healthy: c.Healthy, reason: c.Reason})
		for _, other := range l.holders[u] {
			touched[other] = struct{}{}
		}
		if i, found := slices.BinarySearch(l.holders[u], name); !found {
			l.holders[u] = slices.Insert(l.holders[u], i, name)
		}
	}
	for t := range touched {
		if tn := l.nodes[t]; tn != nil {
			l.markDuplicates(t, tn)
		}
	}
}

// forgetCards takes node name's cards out of l.holders (the node is gone)
// and marks again the nodes that shared them.
func (l *Ledger) forgetCards(name string, n *node) {
	for _, u := range n.uuids {
		l.unhold(u, name)
		for _, other := range l.holders[u] {
			if on := l.nodes[other]; on != nil {
				l.markDuplicates(other, on)
			}
		}
	}
	n.uuids, n.base = nil, nil
}

func (l *Ledger) unhold(u, name string) {
	h := slices.DeleteFunc(l.holders[u], func(s string) bool { return s == name })
	if len(h) == 0 {
		delete(l.holders, u)
		return
	}
	l.holders[u] = h
}

// markDuplicates sets each card of n unhealthy for new pods while another
// node lists its UUID, and back to what its inventory and cordon say once
// none does (noting the node freed).
func (l *Ledger) markDuplicates(name string, n *node) {
	if len(n.base) != len(n.cards) {
		return
	}
	freed := false
	for i := range n.cards {
		c, base := &n.cards[i], n.base[i]
		wasUsable := c.Healthy
		c.Healthy, c.Reason = base.healthy, base.reason
		if others := l.otherHolders(n.uuids[i], name); len(others) > 0 && !l.keeps(name, n, n.uuids[i], others) {
			reason := DuplicateReason + "node " + strings.Join(others, ", node ")
			if base.reason != "" {
				reason += "; " + base.reason
			}
			c.Healthy, c.Reason = false, reason
		}
		freed = freed || (!wasUsable && c.Healthy)
	}
	l.room.markDirty(n)
	if freed {
		l.markFreed(name)
	}
}

// keeps reports whether node name keeps its card of UUID key u though the
// other nodes list it too: it serves a pod on the card and none of them
// does.
func (l *Ledger) keeps(name string, n *node, u string, others []string) bool {
	if !l.serves(name, n, u) {
		return false
	}
	for _, o := range others {
		if on := l.nodes[o]; on != nil && l.serves(o, on, u) {
			return false
		}
	}
	return true
}

// serves reports whether a pod bound to node name, charged to the card of
// UUID key u, was marked served by that node's device plugin.
func (l *Ledger) serves(name string, n *node, u string) bool {
	for uid := range n.pods {
		if h := l.pods[uid]; h != nil && h.servedOn(name, u) {
			return true
		}
	}
	return false
}

func (h *holding) servedOn(name, u string) bool {
	return h.bound && h.Assigned && h.Node == name && slices.ContainsFunc(h.UUIDs, func(v string) bool { return uuidKey(v) == u })
}

// remarkShared marks again every node listing a card of h that other nodes
// list too, when h is evidence for one of them (serves): its arrival or
// departure may give the card back, or take it away.
func (l *Ledger) remarkShared(h *holding) {
	if !h.bound || !h.Assigned {
		return
	}
	for _, v := range h.UUIDs {
		if names := l.holders[uuidKey(v)]; len(names) > 1 {
			for _, name := range names {
				if n := l.nodes[name]; n != nil {
					l.markDuplicates(name, n)
				}
			}
		}
	}
}

func (l *Ledger) otherHolders(u, name string) []string {
	var out []string
	for _, h := range l.holders[u] {
		if h != name {
			out = append(out, h)
		}
	}
	return out
}

// nodeOfCards is the one known node whose inventory lists every card of
// uuids: where an unbound pod whose choice names no node holds them (a
// choice written by an extender before it recorded the node). It never
// guesses: when several nodes list them all it returns ErrAmbiguousCard.
func (l *Ledger) nodeOfCards(uuids []string) (string, error) {
	if len(uuids) == 0 {
		return "", fmt.Errorf("its choice names no card")
	}
	var found []string
	for _, name := range l.holders[uuidKey(uuids[0])] {
		n := l.nodes[name]
		if n == nil || !n.known {
			continue
		}
		if !slices.ContainsFunc(uuids, func(u string) bool { _, ok := n.pos[u]; return !ok }) {
			found = append(found, name)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no node has card %v", uuids)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%w (card %s: nodes %s)", ErrAmbiguousCard, uuids[0], strings.Join(found, ", "))
}

// Duplicates lists the card UUIDs several nodes' inventories list, each
// with the nodes ("GPU-… on nodes a, b"), sorted: what kubectl zz check
// fails on.
func (l *Ledger) Duplicates() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for u, names := range l.holders {
		if len(names) > 1 {
			out = append(out, fmt.Sprintf("card %s on nodes %s", l.spelling(u, names[0]), strings.Join(names, ", ")))
		}
	}
	slices.Sort(out)
	return out
}

// spelling is UUID key u as node name's inventory spells it.
func (l *Ledger) spelling(u, name string) string {
	if n := l.nodes[name]; n != nil {
		if i := slices.Index(n.uuids, u); i >= 0 && i < len(n.cards) {
			return n.cards[i].UUID
		}
	}
	return u
}

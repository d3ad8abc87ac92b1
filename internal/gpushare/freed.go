package gpushare

import (
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/types"
)

// The ledger notes each node where memory may have become free for another
// pod: a pod gone, finished or released, a preemption given up, a changed
// inventory. kube-scheduler retries a pod the extender refused on the
// cluster event that freed the memory, but its informer may deliver that
// event before the extender's does: the retry is then refused on the old
// state and nothing retries it again before kube-scheduler's periodic
// flush (5 minutes). The extender reads these nodes (TakeFreed) to ask
// kube-scheduler to retry such pods (extender.Requeuer).

// markFreed notes node; the caller holds the write lock.
func (l *Ledger) markFreed(node string) {
	if node == "" {
		return
	}
	l.freed[node] = struct{}{}
	l.freedSeq++
	select {
	case l.freedSignal <- struct{}{}:
	default: // a signal is already pending; TakeFreed takes every node
	}
}

// Freed is signalled after memory may have been freed on some node.
func (l *Ledger) Freed() <-chan struct{} { return l.freedSignal }

// TakeFreed returns, sorted, the nodes noted since the last call, and
// forgets them; seq is FreedSeq then: every note up to it is in these nodes
// or an earlier call's.
func (l *Ledger) TakeFreed() (nodes []string, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	nodes = slices.Sorted(maps.Keys(l.freed))
	clear(l.freed)
	return nodes, l.freedSeq
}

// FreedSeq counts the notes so far. Read before a decision, it tells
// whether memory may have been freed since: a refusal recorded after the
// extender handled that note would otherwise never be asked about.
func (l *Ledger) FreedSeq() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.freedSeq
}

// MarkFreed notes nodes again, so that the next TakeFreed returns them.
func (l *Ledger) MarkFreed(nodes ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range nodes {
		l.markFreed(n)
	}
}

// FitsOn reports whether the pod with uid would pass the extender's filter
// on node now: it holds cards there (held: what a preemption freed for
// it), or req fits the node's cards. free is the memory left on the node's
// cards.
func (l *Ledger) FitsOn(uid types.UID, node string, req Request) (ok, held bool, free int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := l.nodes[node]
	if n == nil || !n.known || n.err != nil {
		return false, false, 0
	}
	for i := range n.cards {
		free += n.cards[i].FreeMiB()
	}
	if on, ok := l.heldOn(uid); ok {
		return on == node, on == node, free
	}
	return fits(n.cards, req), false, free
}

package gpushare

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/zzcloud/zz/internal/contract"
)

// Ledger is the cluster's GPU memory book: every node's cards and every pod
// holding memory on them, fed from informers and from the extender's own
// reservations. Reserve chooses and records cards under one lock, so no card
// is ever given more than it holds, however many binds run at once. It is
// rebuilt from node and pod annotations alone after a restart.
type Ledger struct {
	mu    sync.RWMutex
	nodes map[string]*node
	pods  map[types.UID]*holding
	// holders are the known nodes whose inventory lists each card UUID
	// (uuidKey), sorted: a UUID with two is a forgery or a clone, and its
	// card takes no new pod on either (duplicates.go).
	holders map[string][]string
	// stream is the recent requests binpack fragments least for.
	stream *Stream
	// room is binpack's headroom over every node, kept as nodes change.
	room *roomCache
	// released are assignments the ledger gave back (see release.go): the
	// pod may still carry them, and they must not come back as phantoms.
	released map[types.UID]*release
	// refused are pods whose assignment does not agree with the pod (see
	// CheckAssignment), with why: counted nowhere.
	refused map[types.UID]string
	// nominations are the pods the extender preempts for, by UID (preempt.go).
	nominations map[types.UID]*nomination
	nominating  atomic.Int32 // len(nominations), read without the lock
	// priorities counts the holdings a preemption may evict, by priority,
	// so a pod that outranks none of them plans nothing.
	priorities map[int32]int
	// freed are the nodes where memory may have become free since the
	// extender last looked (freed.go), with a signal of one pending wake-up.
	freed       map[string]struct{}
	freedSignal chan struct{}
	freedSeq    uint64 // notes made (FreedSeq)
	// Now is the ledger's clock; an assume time ahead of it by more than
	// MaxClockSkew is refused.
	Now func() time.Time
}

// DefaultAssumeTTL is how long the extender keeps cards reserved for a pod
// that is not bound (its --assume-ttl), and so how long a recorded
// preemption may wait.
const DefaultAssumeTTL = 2 * time.Minute

// MaxClockSkew is how far ahead of the ledger's clock an assume time may be:
// the extender's clock wrote it, but kubectl zz gpu reads it on a laptop.
const MaxClockSkew = time.Minute

type node struct {
	cards []Card         // in inventory order
	pos   map[string]int // card UUID -> position in cards
	err   error          // inventory annotation problem, shown by Fit
	pods  map[types.UID]struct{}
	known bool      // the node object exists (pods may arrive first)
	rooms nodeRooms // what the node adds to the ledger's roomCache
	// inventory is the annotation and slots last read: a change may free
	// memory (markFreed).
	inventory string
	// uuids are its cards' UUIDs as Ledger.holders keys them, and base
	// their health before a UUID another node lists too marked them
	// (duplicates.go); both in the order of cards.
	uuids []string
	base  []cardState
}

// holding is one pod's memory on one node.
type holding struct {
	Pod  types.NamespacedName
	Node string
	Assignment
	bound bool // seen with spec.nodeName; unbound holdings expire
	// started: Running, or served by the device plugin's Allocate; a bound
	// pod that never starts is released by ExpireUnstarted.
	started bool
	// What preemption weighs, from the pod as the informer last saw it
	// (seen): a holding only Reserve made is nobody's victim yet.
	seen        bool
	priority    int32
	terminating bool
	created     time.Time
	// reservedFor: memory a departed victim freed, kept for the preemptor
	// with this UID until all its victims are gone (preempt.go).
	reservedFor types.UID
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{nodes: map[string]*node{}, pods: map[types.UID]*holding{}, holders: map[string][]string{}, released: map[types.UID]*release{},
		refused: map[types.UID]string{}, nominations: map[types.UID]*nomination{}, priorities: map[int32]int{},
		freed: map[string]struct{}{}, freedSignal: make(chan struct{}, 1), Now: time.Now, stream: NewStream(DefaultStreamSize), room: newRoomCache()}
}

func (l *Ledger) node(name string) *node {
	n := l.nodes[name]
	if n == nil {
		n = &node{pos: map[string]int{}, pods: map[types.UID]struct{}{}}
		l.nodes[name] = n
	}
	return n
}

// SetNode records a node's inventory (from its annotation), with the cards
// an admin cordoned counted unhealthy for new pods, and recounts the memory
// its pods hold. A node without the annotation has no cards.
func (l *Ledger) SetNode(obj *corev1.Node) {
	inv, err := contract.ParseInventory(obj.Annotations[contract.AnnotationNodeGPUInventory])
	cordoned, cerr := ParseCordon(obj.Annotations[contract.AnnotationNodeGPUCordon])
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.node(obj.Name)
	n.known = true
	l.room.markDirty(n)
	capacity := obj.Status.Capacity[contract.ResourceGPU]
	if inventory := obj.Annotations[contract.AnnotationNodeGPUInventory] + "/" + capacity.String() + "/" + obj.Annotations[contract.AnnotationNodeGPUCordon]; inventory != n.inventory {
		n.inventory = inventory
		l.markFreed(obj.Name)
	}
	for uid := range n.pods {
		l.charge(n, l.pods[uid], -1)
	}
	n.err, n.cards, n.pos = nil, nil, map[string]int{}
	switch {
	case err != nil:
		n.err = err
	case cerr != nil:
		// The admin meant to take cards out: none is given until it reads.
		n.err = cerr
	default:
		// The device plugin advertises the same number of slots per card.
		slots := 0
		if q, ok := obj.Status.Capacity[contract.ResourceGPU]; ok && len(inv.Cards) > 0 {
			slots = int(q.Value()) / len(inv.Cards)
		}
		for _, g := range inv.Cards {
			n.pos[g.UUID] = len(n.cards)
			n.cards = append(n.cards, Card{GPU: g, Slots: slots})
		}
		cordon(n.cards, cordoned)
	}
	l.listCards(obj.Name, n)
	for uid := range n.pods {
		l.charge(n, l.pods[uid], 1)
	}
}

// DeleteNode forgets a node; its pods' holdings stay until the pods go.
func (l *Ledger) DeleteNode(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.nodes[name]; n != nil {
		l.room.markDirty(n)
		l.forgetCards(name, n)
		if len(n.pods) == 0 {
			n.known = false // no longer counted in the room cache
			delete(l.nodes, name)
			l.room.forget(n)
			return
		}
		n.known, n.cards, n.pos, n.err = false, nil, map[string]int{}, nil
	}
}

// charge adds (sign 1) or removes (-1) a holding's memory on its cards, by
// UUID (indexes change when a card falls off the bus). Cards the inventory no
// longer lists are skipped; they come back with it. The sums saturate: no
// annotation can make them wrap.
func (l *Ledger) charge(n *node, h *holding, sign int64) {
	l.room.markDirty(n)
	chargeCards(n.cards, n.pos, h, sign)
}

// chargeCards is charge on any copy of a node's cards.
func chargeCards(cards []Card, pos map[string]int, h *holding, sign int64) {
	for _, uuid := range h.UUIDs {
		if p, ok := pos[uuid]; ok {
			c := &cards[p]
			if sign > 0 {
				c.UsedMiB = addSat(c.UsedMiB, h.MemMiB)
			} else {
				c.UsedMiB = max(0, c.UsedMiB-h.MemMiB)
			}
			c.Pods = max(0, c.Pods+int(sign))
		}
	}
}

// addSat is a+b for non-negative a and b, capped at math.MaxInt64.
func addSat(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

func (l *Ledger) add(uid types.UID, h *holding) {
	l.remove(uid)
	n := l.node(h.Node)
	n.pods[uid] = struct{}{}
	l.pods[uid] = h
	l.charge(n, h, 1)
	if h.victimable() {
		l.priorities[h.priority]++
	}
	l.remarkShared(h)
}

func (l *Ledger) remove(uid types.UID) {
	h := l.pods[uid]
	if h == nil {
		return
	}
	if h.victimable() {
		if l.priorities[h.priority]--; l.priorities[h.priority] == 0 {
			delete(l.priorities, h.priority)
		}
	}
	delete(l.pods, uid)
	if n := l.nodes[h.Node]; n != nil {
		l.charge(n, h, -1)
		delete(n.pods, uid)
		if !n.known && len(n.pods) == 0 {
			delete(l.nodes, h.Node)
			l.room.forget(n)
		}
	}
	l.remarkShared(h)
}

// SetPod records what a pod holds, from its annotations. Finished pods hold
// nothing; terminating ones hold their cards until they are gone. A pod whose
// annotations are not visible yet keeps the reservation the extender made for
// it. An assignment that does not agree with its pod (CheckAssignment, an
// assume time in the future) is refused: counted nowhere, and reported in
// the returned error (wrapping ErrInconsistent). A pod whose cards its
// node's inventory lacks now keeps holding them (ErrCardMissing, returned
// after it is recorded): they count again when the node lists them.
func (l *Ledger) SetPod(pod *corev1.Pod) error {
	if !HoldsResources(pod) {
		l.DeletePod(pod.UID)
		return nil
	}
	l.stream.ObservePod(pod)
	a, err := PodAssignment(pod)
	l.mu.Lock()
	defer l.mu.Unlock()
	if errors.Is(err, ErrNoAssignment) {
		l.cleared(pod.UID)
		return nil
	}
	if err != nil {
		// A broken annotation must not free memory the pod may be using.
		return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if l.isReleased(pod, a) {
		return nil // released; it must not come back
	}
	if err := l.check(pod, a); err != nil {
		if h := l.pods[pod.UID]; h == nil || !h.AssumeTime.Equal(a.AssumeTime) {
			// Not this ledger's own reservation: forget whatever it held.
			if h != nil {
				l.markFreed(h.Node)
			}
			l.remove(pod.UID)
		}
		l.refused[pod.UID] = err.Error()
		return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	delete(l.refused, pod.UID)
	// Where the pod holds its cards: the node it is bound to, else the
	// node the extender's choice names, else this ledger's own
	// reservation; a choice that names no node (an older extender's) is
	// placed by its cards only where exactly one node lists them all:
	// never a guess between nodes (a forged inventory lists another's
	// card, and the guess charged the real card's pod to the forger).
	nodeName := pod.Spec.NodeName
	if nodeName == "" {
		nodeName = a.NodeName
	}
	if nodeName == "" {
		if h := l.pods[pod.UID]; h != nil {
			nodeName = h.Node
		} else if nodeName, err = l.nodeOfCards(a.UUIDs); err != nil {
			return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	l.add(pod.UID, &holding{Pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name},
		Node: nodeName, Assignment: *a, bound: pod.Spec.NodeName != "",
		started: a.Assigned || pod.Status.Phase == corev1.PodRunning,
		seen:    true, priority: corev1helpers.PodPriority(pod),
		terminating: pod.DeletionTimestamp != nil, created: pod.CreationTimestamp.Time})
	// A preemptor that holds cards (bound elsewhere) waits for nothing.
	l.dropNomination(pod.UID)
	if u := l.missingCard(nodeName, a); u != "" {
		return fmt.Errorf("pod %s/%s: card %s is not on node %s: %w", pod.Namespace, pod.Name, u, nodeName, ErrCardMissing)
	}
	return nil
}

// missingCard is a card of a that node's inventory lacks ("" when it lists
// them all, or is not known or readable: charge counts a pod's cards only
// where the node lists them).
func (l *Ledger) missingCard(node string, a *Assignment) string {
	n := l.nodes[node]
	if n == nil || !n.known || n.err != nil {
		return ""
	}
	for _, u := range a.UUIDs {
		if _, ok := n.pos[u]; !ok {
			return u
		}
	}
	return ""
}

// check is CheckAssignment plus what only the ledger knows: the assume time
// is not in the future. (Cards its node does not list now are no reason to
// refuse: missingCard.)
func (l *Ledger) check(pod *corev1.Pod, a *Assignment) error {
	if err := CheckAssignment(pod, a); err != nil {
		return err
	}
	if ahead := a.AssumeTime.Sub(l.Now()); ahead > MaxClockSkew {
		return fmt.Errorf("%w: its assume time is %v in the future", ErrInconsistent, ahead.Round(time.Second))
	}
	return nil
}

// DeletePod frees what a pod held.
func (l *Ledger) DeletePod(uid types.UID) {
	l.stream.Forget(uid)
	mix := l.nominationMix()
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.pods[uid]
	l.remove(uid)
	delete(l.released, uid)
	delete(l.refused, uid)
	l.departed(uid, h, mix)
	if h != nil {
		l.markFreed(h.Node)
	}
}

// Reserve chooses cards on nodeName for pod and records them at once, so a
// concurrent Reserve sees them taken. Reserving again for the same pod on the
// same node returns the first choice (a retried bind).
func (l *Ledger) Reserve(nodeName string, pod types.NamespacedName, uid types.UID, req Request, policy Policy, now time.Time) (*Assignment, error) {
	mix := l.stream.Mix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.pods[uid]; h != nil && h.Node == nodeName {
		a := h.Assignment
		return &a, nil
	}
	// Placed by the scheduler: a preemption for it elsewhere is moot.
	l.dropNomination(uid)
	n := l.nodes[nodeName]
	if n == nil || !n.known {
		return nil, fmt.Errorf("node %s is not in the extender's cache", nodeName)
	}
	if n.err != nil {
		return nil, n.err
	}
	return l.reserveOn(n, nodeName, pod, uid, req, policy, now, mix)
}

// reserveOn is Reserve's choice and record, under the write lock.
func (l *Ledger) reserveOn(n *node, nodeName string, pod types.NamespacedName, uid types.UID, req Request, policy Policy, now time.Time, mix *Mix) (*Assignment, error) {
	var h *Headroom
	if policy == Binpack {
		h = l.room.headroom(mix, l.nodes)
	}
	chosen, err := Choose(n.cards, req, policy, h)
	if err != nil {
		return nil, err
	}
	a := Assignment{MemMiB: req.MemMiB, AssumeTime: now, NodeName: nodeName}
	if req.Whole {
		a.MemMiB = n.cards[chosen[0]].MemoryMiB // all of each card, of one size
	}
	for _, p := range chosen {
		a.Indexes = append(a.Indexes, n.cards[p].Index)
		a.UUIDs = append(a.UUIDs, n.cards[p].UUID)
	}
	l.add(uid, &holding{Pod: pod, Node: nodeName, Assignment: a})
	delete(l.released, uid) // a new choice supersedes a released one
	out := a
	return &out, nil
}

// Expire frees holdings of pods never seen bound whose assume time is older
// than ttl (a bind that failed or a pod deleted before its watch event), and
// returns them.
func (l *Ledger) Expire(now time.Time, ttl time.Duration) []types.NamespacedName {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gone []types.NamespacedName
	for uid, h := range l.pods {
		if !h.bound && now.Sub(h.AssumeTime) > ttl {
			gone = append(gone, h.Pod)
			l.released[uid] = &release{Released: Released{UID: uid, Pod: h.Pod}, assumeTime: h.AssumeTime, unboundOnly: true}
			l.remove(uid)
			l.markFreed(h.Node)
		}
	}
	return gone
}

// Released is an assignment ExpireUnstarted gave back.
type Released struct {
	UID types.UID
	Pod types.NamespacedName
}

// ExpireUnstarted frees the cards of pods bound longer than ttl ago that
// neither run nor were served by the device plugin (a node that lost its
// device plugin, a pod stuck in admission), and returns them. The caller
// must clear their assignment annotations: the device plugin then refuses
// them instead of handing out cards that are no longer theirs.
func (l *Ledger) ExpireUnstarted(now time.Time, ttl time.Duration) []Released {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gone []Released
	for uid, h := range l.pods {
		if h.bound && !h.started && now.Sub(h.AssumeTime) > ttl {
			r := Released{UID: uid, Pod: h.Pod}
			gone = append(gone, r)
			l.released[uid] = &release{Released: r, assumeTime: h.AssumeTime, clear: true}
			l.remove(uid)
			l.markFreed(h.Node)
		}
	}
	return gone
}

// Cards returns a copy of a node's cards, or why the node cannot take GPU pods.
func (l *Ledger) Cards(nodeName string) ([]Card, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := l.nodes[nodeName]
	switch {
	case n == nil || !n.known:
		return nil, fmt.Errorf("node %s is not in the extender's cache", nodeName)
	case n.err != nil:
		return nil, n.err
	}
	return slices.Clone(n.cards), nil
}

// Filter splits names into the nodes whose cards can hold req and the others,
// with the reason for each, under one read lock and without copying cards:
// this is the extender's hot path, called with thousands of names per pod.
func (l *Ledger) Filter(names []string, req Request) (fit []string, failed map[string]string) {
	fit = make([]string, 0, len(names))
	failed = make(map[string]string)
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, name := range names {
		n := l.nodes[name]
		var err error
		switch {
		case n == nil || !n.known:
			err = fmt.Errorf("node %s is not in the extender's cache", name)
		case n.err != nil:
			err = n.err
		default:
			err = Fit(n.cards, req)
		}
		if err != nil {
			failed[name] = err.Error()
			continue
		}
		fit = append(fit, name)
	}
	return fit, failed
}

// Scores rates every named node from 0 to 1 for req by policy: the NodeCost
// of each, ranked by Rank (0 where the request does not fit). Binpack's
// headroom is measured over every node the ledger knows.
func (l *Ledger) Scores(names []string, req Request, policy Policy) []float64 {
	costs, fits := make([]Cost, len(names)), make([]bool, len(names))
	mix := l.stream.Mix()
	l.mu.RLock()
	var h *Headroom
	if policy == Binpack {
		h = l.room.headroom(mix, l.nodes)
	}
	for i, name := range names {
		if n := l.nodes[name]; n != nil && n.known && n.err == nil {
			c, err := NodeCost(n.cards, req, policy, h)
			costs[i], fits[i] = c, err == nil
		}
	}
	l.mu.RUnlock()
	return Rank(costs, fits)
}

// Responsive returns once it has taken the ledger's read lock: a
// watchdog's probe that no call holds the ledger for good.
func (l *Ledger) Responsive() {
	l.mu.RLock()
	_ = len(l.nodes)
	l.mu.RUnlock()
}

// MaxCards is the most cards any known node has.
func (l *Ledger) MaxCards() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	most := 0
	for _, n := range l.nodes {
		most = max(most, len(n.cards))
	}
	return most
}

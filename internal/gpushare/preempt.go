package gpushare

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Preemption for GPU memory. kube-scheduler's own preemption cannot free GPU
// memory: its dry run removes lower-priority pods and asks its filter
// plugins, which do not see zz.io/gpu-mem (scheduler-only), so every node
// "fits" with no victim and it gives up ("expected at least one victim"); an
// extender's preempt verb is only asked about the candidates that dry run
// found. So the extender plans preemption itself, by kube-scheduler's rules on
// the ledger's cards (PlanPreemption), evicts the victims, and keeps what
// they free for the preemptor (Nominate), as kube-scheduler's nominated node
// keeps a node's resources from lower-priority pods. Where that dry run does
// find victims (for CPU or memory, on nodes its plugins refused before the
// extender was asked), the preempt verb checks them against the cards and
// adds the GPU pods that must go too (ExtendVictims).

// Victim is a pod to evict so that a preemptor fits.
type Victim struct {
	UID      types.UID
	Pod      types.NamespacedName
	Priority int32
	MemMiB   int64 // on each of its cards
	Cards    int
}

// Plan makes room for a pod on one node: evict Victims (lower priority than
// the pod), and wait for Awaited pods already terminating.
type Plan struct {
	Node    string
	Victims []Victim
	Awaited []types.UID
}

// String names the victims, for logs and events.
func (p Plan) String() string {
	names := make([]string, len(p.Victims))
	for i, v := range p.Victims {
		names[i] = fmt.Sprintf("%s (priority %d, %d MiB on %d cards)", v.Pod, v.Priority, v.MemMiB, v.Cards)
	}
	s := fmt.Sprintf("node %s: evict %s", p.Node, strings.Join(names, ", "))
	if len(p.Victims) == 0 {
		s = fmt.Sprintf("node %s: evict nothing", p.Node)
	}
	if len(p.Awaited) > 0 {
		s += fmt.Sprintf(", and wait for %d terminating pods", len(p.Awaited))
	}
	return s
}

// compare orders plans as kube-scheduler's pickOneNodeForPreemption does: the
// lowest highest victim priority, then the lowest sum of priorities, then
// the fewest victims; then the least GPU memory evicted and the node's name,
// so the choice is the same on every call.
func (p Plan) compare(q Plan) int {
	pm, ps, pmem := p.weigh()
	qm, qs, qmem := q.weigh()
	return cmp.Or(cmp.Compare(pm, qm), cmp.Compare(ps, qs), cmp.Compare(len(p.Victims), len(q.Victims)),
		cmp.Compare(pmem, qmem), strings.Compare(p.Node, q.Node))
}

func (p Plan) weigh() (highest int64, sum int64, mem int64) {
	highest = math.MinInt64
	for _, v := range p.Victims {
		highest = max(highest, int64(v.Priority))
		// kube-scheduler adds MaxInt32+1 to each so that negative priorities
		// still count as more victims, not fewer.
		sum += int64(v.Priority) + math.MaxInt32 + 1
		mem += v.MemMiB * int64(v.Cards)
	}
	return highest, sum, mem
}

// nomination is a pod the extender preempts for: what it waits for on its
// node, and the memory already freed for it (synthetic holdings).
type nomination struct {
	pod     types.NamespacedName
	node    string
	req     Request
	policy  Policy
	pending map[types.UID]struct{}
	held    []types.UID
	since   time.Time
}

// Awaited lists the pods a nomination still waits for: its victims and the
// terminating pods, as the ledger last saw them.
func (l *Ledger) Awaited(uid types.UID) []Victim {
	l.mu.RLock()
	defer l.mu.RUnlock()
	nom := l.nominations[uid]
	if nom == nil {
		return nil
	}
	out := make([]Victim, 0, len(nom.pending))
	for u := range nom.pending {
		if h := l.pods[u]; h != nil {
			out = append(out, h.victim(u))
		}
	}
	return out
}

// Nominations is how many preemptors wait for their victims to go.
func (l *Ledger) Nominations() int { return int(l.nominating.Load()) }

// Nominated reports whether the extender is preempting for the pod already.
func (l *Ledger) Nominated(uid types.UID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.nominations[uid] != nil
}

// HeldOn returns the node where the pod holds cards it was never seen bound
// to: a preemption's result waiting for the pod, or a bind in flight.
func (l *Ledger) HeldOn(uid types.UID) (string, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.heldOn(uid)
}

// heldOn is HeldOn under the caller's lock.
func (l *Ledger) heldOn(uid types.UID) (string, bool) {
	if h := l.pods[uid]; h != nil && !h.bound && h.reservedFor == "" {
		return h.Node, true
	}
	return "", false
}

// Reserved reports whether the extender keeps something for the pod: a
// nomination waiting for its victims, or cards it holds unbound.
func (l *Ledger) Reserved(uid types.UID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, held := l.heldOn(uid)
	return held || l.nominations[uid] != nil
}

// PlanPreemption finds, among names, the node where evicting pods of lower
// priority than the preemptor's makes room for req, and which pods: on each
// node it removes every bound lower-priority pod and every terminating one,
// checks the request fits, then gives back the most important pods first
// (higher priority, then older) while it still fits, as kube-scheduler's
// SelectVictimsOnNode does. A node where the terminating pods alone make
// room is no candidate: the pod fits there once they are gone. A pod for
// which guarded is true (a PodDisruptionBudget allows no disruption now) is
// never a victim: the Eviction API would refuse it. What another preemptor
// waits for (its victims, the terminating pods it awaits, the memory already
// kept for it) is never counted. It returns false when no node can be made
// to fit.
func (l *Ledger) PlanPreemption(names []string, req Request, priority int32, guarded func(types.NamespacedName) bool) (Plan, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.outranksAny(priority) {
		return Plan{}, false // the common case: nobody to evict, at no cost
	}
	var best Plan
	found := false
	var s planScratch
	for _, name := range names {
		plan, ok := l.planOn(name, req, priority, guarded, nil, &s)
		if ok && (!found || plan.compare(best) < 0) {
			best, found = plan, true
		}
	}
	return best, found
}

// planScratch is what planOn reuses from one node to the next.
type planScratch struct {
	cards              []Card
	cands, gone, freed []holdingRef
}

// planOn is PlanPreemption on one node, under the caller's read lock. The
// pods in forced are evicted anyway (kube-scheduler's victims, for what its
// own plugins see): their memory counts as free, they are no victims of the
// plan, and the plan may have none when the pod fits once they and the
// terminating pods are gone. Without forced, a plan has at least one victim.
// The plan's slices are its own: only cards and the candidate lists are s's.
func (l *Ledger) planOn(name string, req Request, priority int32, guarded func(types.NamespacedName) bool, forced map[types.UID]bool, s *planScratch) (Plan, bool) {
	n := l.nodes[name]
	if n == nil || !n.known || n.err != nil {
		return Plan{}, false
	}
	s.cands, s.gone, s.freed = s.cands[:0], s.gone[:0], s.freed[:0]
	for uid := range n.pods {
		h := l.pods[uid]
		switch {
		case h.reservedFor != "" || !h.seen || !h.bound || l.promised(uid):
		case forced[uid]:
			s.freed = append(s.freed, holdingRef{uid, h})
		case h.terminating:
			s.gone = append(s.gone, holdingRef{uid, h})
		case h.priority < priority:
			s.cands = append(s.cands, holdingRef{uid, h})
		}
	}
	if forced == nil && len(s.cands) == 0 {
		return Plan{}, false
	}
	cards := append(s.cards[:0], n.cards...)
	s.cards = cards
	for _, r := range s.freed {
		chargeCards(cards, n.pos, r.h, -1)
	}
	for _, r := range s.gone {
		chargeCards(cards, n.pos, r.h, -1)
	}
	plan := Plan{Node: name}
	if forced != nil && fits(cards, req) {
		// What kube-scheduler evicts (and what terminates) is enough.
		for _, r := range s.gone {
			plan.Awaited = append(plan.Awaited, r.uid)
		}
		return plan, true
	}
	for _, r := range s.cands {
		chargeCards(cards, n.pos, r.h, -1)
	}
	if !fits(cards, req) {
		return Plan{}, false
	}
	if guarded != nil {
		// Asked only where evicting could help: it reads the budgets.
		kept := s.cands[:0]
		for _, r := range s.cands {
			if guarded(r.h.Pod) {
				chargeCards(cards, n.pos, r.h, 1)
			} else {
				kept = append(kept, r)
			}
		}
		if s.cands = kept; !fits(cards, req) {
			return Plan{}, false
		}
	}
	slices.SortFunc(s.cands, moreImportant)
	for _, r := range s.cands {
		chargeCards(cards, n.pos, r.h, 1)
		if !fits(cards, req) {
			chargeCards(cards, n.pos, r.h, -1)
			plan.Victims = append(plan.Victims, r.h.victim(r.uid))
		}
	}
	if len(plan.Victims) == 0 {
		// It fits once the terminating pods are gone: nothing to
		// evict, and, as for kube-scheduler, no preemption.
		return Plan{}, false
	}
	for _, r := range s.gone {
		plan.Awaited = append(plan.Awaited, r.uid)
	}
	return plan, true
}

// ExtendVictims answers kube-scheduler's own preemption (the extender's
// preempt verb) for a GPU pod on one of its candidate nodes. Its dry run
// chose victims there for what its plugins see (CPU, memory, pods), blind
// to GPU memory: evicting them may leave the pod without cards (a node of
// small cards, or cards that its victims do not hold), and kube-scheduler
// would evict for nothing. Once those victims and the terminating pods are
// gone, does the pod fit the node's cards? If so, nothing is added. If not,
// and more may be added (the extender's own preemption is on), the bound
// GPU pods of lower priority there that no budget guards are added as
// PlanPreemption picks them. ok is false when no such set makes room: the
// node is no candidate.
// The plan's Victims are the added pods, its Awaited the terminating ones.
func (l *Ledger) ExtendVictims(node string, req Request, priority int32, victims []types.UID, guarded func(types.NamespacedName) bool, addMore bool) (Plan, bool) {
	forced := make(map[types.UID]bool, len(victims))
	for _, uid := range victims {
		forced[uid] = true
	}
	if !addMore {
		priority = math.MinInt32 // no pod is of lower priority: none added
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.planOn(node, req, priority, guarded, forced, &planScratch{})
}

// ReservedOn returns the node where the extender keeps something for the
// pod: a preemption of its own waiting for victims, or cards held unbound.
func (l *Ledger) ReservedOn(uid types.UID) (string, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if nom := l.nominations[uid]; nom != nil {
		return nom.node, true
	}
	return l.heldOn(uid)
}

// promised reports whether a nomination waits for the pod to go.
func (l *Ledger) promised(uid types.UID) bool {
	for _, nom := range l.nominations {
		if _, ok := nom.pending[uid]; ok {
			return true
		}
	}
	return false
}

// FitsElsewhere reports whether req fits a node the ledger knows that is
// not among names: kube-scheduler asks the extender about the first
// feasible nodes it finds (at least 100, percentageOfNodesToScore), so a
// pod that fits none of them may fit the next ones it will try.
func (l *Ledger) FitsElsewhere(names []string, req Request) bool {
	asked := make(map[string]struct{}, len(names))
	for _, name := range names {
		asked[name] = struct{}{}
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for name, n := range l.nodes {
		if _, ok := asked[name]; ok || !n.known || n.err != nil {
			continue
		}
		if fits(n.cards, req) {
			return true
		}
	}
	return false
}

// victim describes the holding of pod uid as a Victim.
func (h *holding) victim(uid types.UID) Victim {
	return Victim{UID: uid, Pod: h.Pod, Priority: h.priority, MemMiB: h.MemMiB, Cards: len(h.UUIDs)}
}

// victimable: a pod preemption may evict, priority allowing.
func (h *holding) victimable() bool {
	return h.seen && h.bound && !h.terminating && h.reservedFor == ""
}

// outranksAny reports whether some pod a preemption may evict has a lower
// priority than priority.
func (l *Ledger) outranksAny(priority int32) bool {
	for p := range l.priorities {
		if p < priority {
			return true
		}
	}
	return false
}

type holdingRef struct {
	uid types.UID
	h   *holding
}

// moreImportant orders pods as kube-scheduler's MoreImportantPod: higher
// priority, then the older one (then the UID, for one order every time).
func moreImportant(a, b holdingRef) int {
	if a.h.priority != b.h.priority {
		return cmp.Compare(b.h.priority, a.h.priority)
	}
	if c := a.h.created.Compare(b.h.created); c != 0 {
		return c
	}
	return strings.Compare(string(a.uid), string(b.uid))
}

// Nominate records that the pod uid waits on plan.Node for its victims and
// the terminating pods to go: from then on, the memory each of them frees
// is kept for it, and when the last is gone its cards are chosen and held
// for it (an assumption, like Reserve's, that Expire drops if it is never
// bound). It returns false when the pod is nominated already, or another
// nomination took one of the plan's pods since it was made.
func (l *Ledger) Nominate(uid types.UID, pod types.NamespacedName, plan Plan, req Request, policy Policy, now time.Time) bool {
	mix := l.stream.Mix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nominations[uid] != nil {
		return false
	}
	// Planned under the read lock: another preemptor may have taken one of
	// these pods since. Its next attempt plans again.
	for _, v := range plan.Victims {
		if l.promised(v.UID) {
			return false
		}
	}
	for _, u := range plan.Awaited {
		if l.promised(u) {
			return false
		}
	}
	nom := &nomination{pod: pod, node: plan.Node, req: req, policy: policy, pending: map[types.UID]struct{}{}, since: now}
	for _, v := range plan.Victims {
		if l.pods[v.UID] != nil {
			nom.pending[v.UID] = struct{}{}
		}
	}
	for _, u := range plan.Awaited {
		if l.pods[u] != nil {
			nom.pending[u] = struct{}{}
		}
	}
	l.nominations[uid] = nom
	l.nominating.Add(1)
	if len(nom.pending) == 0 {
		l.settle(uid, nom, mix)
	}
	return true
}

// CancelNomination gives up preempting for the pod (an eviction refused):
// the memory kept for it is free again.
func (l *Ledger) CancelNomination(uid types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropNomination(uid)
}

// ExpireNominations gives up nominations older than ttl whose victims are
// still there (an eviction that never completes).
func (l *Ledger) ExpireNominations(now time.Time, ttl time.Duration) []types.NamespacedName {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gone []types.NamespacedName
	for uid, nom := range l.nominations {
		if now.Sub(nom.since) > ttl {
			gone = append(gone, nom.pod)
			l.dropNomination(uid)
		}
	}
	return gone
}

func (l *Ledger) dropNomination(uid types.UID) {
	nom := l.nominations[uid]
	if nom == nil {
		return
	}
	for _, k := range nom.held {
		l.remove(k)
	}
	if len(nom.held) > 0 {
		l.markFreed(nom.node)
	}
	delete(l.nominations, uid)
	l.nominating.Add(-1)
}

// nominationMix is the stream's mix when a nomination may settle on this
// call (read before the ledger's lock, as Reserve does), nil otherwise.
func (l *Ledger) nominationMix() *Mix {
	if l.nominating.Load() == 0 {
		return nil
	}
	return l.stream.Mix()
}

// departed: pod uid, which held h (nil: nothing), is gone. A preemptor
// that waited for it keeps what it freed; one that waited for nothing more
// gets its cards; one that was itself deleted is forgotten.
func (l *Ledger) departed(uid types.UID, h *holding, mix *Mix) {
	if len(l.nominations) == 0 {
		return
	}
	l.dropNomination(uid)
	for pre, nom := range l.nominations {
		if _, ok := nom.pending[uid]; !ok {
			continue
		}
		delete(nom.pending, uid)
		if h != nil && h.Node == nom.node {
			key := types.UID(string(pre) + "/" + string(uid))
			l.add(key, &holding{Pod: nom.pod, Node: nom.node, Assignment: h.Assignment, bound: true, started: true, reservedFor: pre})
			nom.held = append(nom.held, key)
		}
		if len(nom.pending) == 0 {
			l.settle(pre, nom, mix)
		}
	}
}

// settle ends a nomination whose victims are all gone: the memory kept is
// let go and, under the same lock, the preemptor's cards are chosen from
// it, so no other pod can take it in between.
func (l *Ledger) settle(uid types.UID, nom *nomination, mix *Mix) {
	l.dropNomination(uid)
	n := l.nodes[nom.node]
	if n == nil || !n.known || n.err != nil || l.pods[uid] != nil {
		// The node went, or the preemptor holds cards already (bound
		// elsewhere meanwhile): nothing to choose.
		return
	}
	if mix == nil {
		mix = NewMix(nil)
	}
	// A pod placed meanwhile on memory the plan counted on can leave no
	// room: the preemptor then goes back to the queue and plans again.
	_, _ = l.reserveOn(n, nom.node, nom.pod, uid, nom.req, nom.policy, l.Now(), mix)
}

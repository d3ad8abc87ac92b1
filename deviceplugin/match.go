package deviceplugin

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// slotSep joins a card UUID and a slot number in a device ID.
const slotSep = "::"

// SlotID names slot n of a card, as advertised to the kubelet.
func SlotID(uuid string, n int) string { return uuid + slotSep + strconv.Itoa(n) }

// CardOf returns the card UUID of a slot ID.
func CardOf(slotID string) (string, error) {
	uuid, _, ok := strings.Cut(slotID, slotSep)
	if !ok || uuid == "" {
		return "", fmt.Errorf("device ID %q is not a zz slot (<card uuid>%s<n>)", slotID, slotSep)
	}
	return uuid, nil
}

// ErrNoWaitingPod means no pod on the node waits for the cards asked.
var ErrNoWaitingPod = errors.New("no pod on this node waits for these cards")

// Match finds the pod a kubelet Allocate request is for. The API does not
// say, so the contract decides: among the pods the extender bound to this
// node whose cards were not allocated yet and that ask for as many cards as
// the request has slots, the first to arrive on the node (arrival, see
// Arrivals: the kubelet admits pods in that order); among pods that arrived
// together (those already there when the plugin started), the one assigned
// exactly the cards of the requested slots (the kubelet follows
// GetPreferredAllocation), then the oldest assume time. Two candidates alike
// in all three are ambiguous: an error, never a guess.
func Match(pods []*corev1.Pod, node string, slotIDs []string, arrival func(types.UID) uint64) (*corev1.Pod, *gpushare.Assignment, error) {
	arrival = orZero(arrival)
	cards := map[string]bool{}
	for _, id := range slotIDs {
		uuid, err := CardOf(id)
		if err != nil {
			return nil, nil, err
		}
		cards[uuid] = true
	}
	type candidate struct {
		pod   *corev1.Pod
		a     *gpushare.Assignment
		exact bool
	}
	var cands []candidate
	for _, p := range pods {
		if p.Spec.NodeName != node || p.DeletionTimestamp != nil ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		a, err := gpushare.PodAssignment(p)
		if err != nil || a.Assigned || len(a.UUIDs) != len(slotIDs) {
			continue
		}
		exact := len(a.UUIDs) == len(cards)
		for _, u := range a.UUIDs {
			exact = exact && cards[u]
		}
		cands = append(cands, candidate{pod: p, a: a, exact: exact})
	}
	if len(cands) == 0 {
		return nil, nil, fmt.Errorf("%w: none is bound to %s by the zz extender with %d card(s) and not yet allocated (is it scheduled by %s, and is the extender running?)",
			ErrNoWaitingPod, node, len(slotIDs), contract.SchedulerName)
	}
	// Arrival first: the slots' cards only tell pods apart that reached the
	// node together (the kubelet picks any slots when the preference came too
	// early to name a pod, so a card match alone proves nothing).
	before := func(x, y candidate) int {
		if ax, ay := arrival(x.pod.UID), arrival(y.pod.UID); ax != ay {
			return cmp.Compare(ax, ay)
		}
		if x.exact != y.exact {
			if x.exact {
				return -1
			}
			return 1
		}
		return x.a.AssumeTime.Compare(y.a.AssumeTime)
	}
	slices.SortStableFunc(cands, before)
	if len(cands) > 1 && before(cands[0], cands[1]) == 0 {
		return nil, nil, fmt.Errorf("pods %s/%s and %s/%s both wait for %d card(s), reached the node together and have the same assume time; refusing to guess which this is",
			cands[0].pod.Namespace, cands[0].pod.Name, cands[1].pod.Namespace, cands[1].pod.Name, len(slotIDs))
	}
	return cands[0].pod, cands[0].a, nil
}

// Env is what a container gets for its assignment: the cards to expose and
// the memory it must stay within; with MPS, the limits the MPS server
// enforces: memory per device ordinal inside the container, and one thread
// share for all its cards, the smallest of its memory shares (so it never
// gets more compute than memory on any card).
func Env(a *gpushare.Assignment, cardMiB map[string]int64, mps bool) map[string]string {
	env := map[string]string{
		contract.EnvVisibleDevices: strings.Join(a.UUIDs, ","),
		contract.EnvGPUMemLimitMiB: strconv.FormatInt(a.MemMiB, 10),
	}
	if !mps {
		return env
	}
	limits := make([]string, len(a.UUIDs))
	pct := 100
	for i, u := range a.UUIDs {
		limits[i] = fmt.Sprintf("%d=%dM", i, a.MemMiB)
		if total := cardMiB[u]; total > 0 {
			pct = min(pct, int((a.MemMiB*100+total-1)/total))
		}
	}
	env[contract.EnvMPSPinnedMemLimit] = strings.Join(limits, ",")
	env[contract.EnvMPSThreadPercentage] = strconv.Itoa(max(pct, 1))
	return env
}

// Preferred picks size slots from available for the pod that will most
// likely be allocated next (the oldest waiting pod with size cards): one slot
// on each of its cards, so the kubelet's slot accounting follows the
// extender's choice. It returns nil when it has no opinion; the kubelet then
// picks any slots, and Allocate still hands out the extender's cards.
func Preferred(pods []*corev1.Pod, node string, available, mustInclude []string, size int, arrival func(types.UID) uint64) []string {
	if len(mustInclude) > 0 || size <= 0 {
		return nil
	}
	best := firstWaiting(pods, node, size, arrival)
	if best == nil {
		return nil
	}
	out := make([]string, 0, size)
	for _, uuid := range best.UUIDs {
		i := slices.IndexFunc(available, func(id string) bool { c, err := CardOf(id); return err == nil && c == uuid })
		if i < 0 {
			return nil // no free slot on that card: the kubelet decides
		}
		out = append(out, available[i])
	}
	return out
}

// firstWaiting is the assignment of the first pod on node (see first) that
// waits for size cards, or nil.
func firstWaiting(pods []*corev1.Pod, node string, size int, arrival func(types.UID) uint64) *gpushare.Assignment {
	arrival = orZero(arrival)
	var best *gpushare.Assignment
	var bestPod *corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName != node || p.DeletionTimestamp != nil {
			continue
		}
		a, err := gpushare.PodAssignment(p)
		if err != nil || a.Assigned || len(a.UUIDs) != size {
			continue
		}
		if best == nil || first(arrival, p, a, bestPod, best) {
			best, bestPod = a, p
		}
	}
	return best
}

// first orders waiting pods as the kubelet admits them: by arrival on the
// node, then by assume time.
func first(arrival func(types.UID) uint64, p *corev1.Pod, a *gpushare.Assignment, q *corev1.Pod, b *gpushare.Assignment) bool {
	if x, y := arrival(p.UID), arrival(q.UID); x != y {
		return x < y
	}
	return a.AssumeTime.Before(b.AssumeTime)
}

func orZero(arrival func(types.UID) uint64) func(types.UID) uint64 {
	if arrival == nil {
		return func(types.UID) uint64 { return 0 }
	}
	return arrival
}

// Unidentifiable returns the pod the kubelet is most likely admitting when
// that pod cannot be matched, else nil. The kubelet admits a node's pods in
// the order they reach it, which is the order they were bound to the node:
// arrival numbers them in that order as the plugin's informer first saw them
// (0 for pods already there when it started; then creation time decides).
// If the first pod still waiting for contract.ResourceGPU has no valid
// assignment (not scheduled by zz-scheduler, or broken annotations), the
// request is most likely its own, and matching it to another waiting pod
// would hand it that pod's card. skip holds pods already refused, whose
// Failed status the informer may not show yet.
func Unidentifiable(pods []*corev1.Pod, node string, skip map[types.UID]bool, arrival func(types.UID) uint64) (*corev1.Pod, error) {
	arrival = orZero(arrival)
	var head *corev1.Pod
	var headErr error
	before := func(a, b *corev1.Pod) bool {
		if sa, sb := arrival(a.UID), arrival(b.UID); sa != sb {
			return sa < sb
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	}
	for _, p := range pods {
		if p.Spec.NodeName != node || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodPending || skip[p.UID] || !requestsGPU(p) {
			continue
		}
		a, err := gpushare.PodAssignment(p)
		if err == nil && a.Assigned {
			continue
		}
		if head == nil || before(p, head) {
			head, headErr = p, err
		}
	}
	if head == nil || headErr == nil {
		return nil, nil
	}
	return head, headErr
}

// Arrivals numbers pods in the order the node's informer first sees them
// (the order they are bound to the node), for Unidentifiable and Match. Use
// Transform as the informer's transform: it runs before the informer's cache
// shows the pod, so no pod is matched before it is numbered.
type Arrivals struct {
	mu     sync.Mutex
	next   uint64
	seq    map[types.UID]uint64
	synced bool
}

// Transform numbers pods as the informer receives them.
func (a *Arrivals) Transform(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		a.Saw(p.UID)
	}
	return obj, nil
}

// Synced marks the end of the informer's first list: pods seen before it
// were already on the node and get 0 (then assume time orders them).
func (a *Arrivals) Synced() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.synced = true
}

// Saw records a pod.
func (a *Arrivals) Saw(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seq == nil {
		a.seq = map[types.UID]uint64{}
	}
	if _, ok := a.seq[uid]; ok {
		return
	}
	if !a.synced {
		a.seq[uid] = 0
		return
	}
	a.next++
	a.seq[uid] = a.next
}

// Forget drops a pod that is gone.
func (a *Arrivals) Forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.seq, uid)
}

// Of is a pod's number; a pod never seen comes last.
func (a *Arrivals) Of(uid types.UID) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n, ok := a.seq[uid]; ok {
		return n
	}
	return math.MaxUint64
}

func requestsGPU(p *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if _, ok := c.Resources.Limits[contract.ResourceGPU]; ok {
			return true
		}
		if _, ok := c.Resources.Requests[contract.ResourceGPU]; ok {
			return true
		}
	}
	return false
}

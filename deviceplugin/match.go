package deviceplugin

import (
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// This file decides which pod a kubelet request is for. Every function here
// selects pods with gpushare.WaitingForAllocate and orders them with
// gpushare.KubeletOrder, so Allocate, GetPreferredAllocation and the refusal
// of unidentifiable pods never disagree on which pod comes next.

// ErrNoWaitingPod means no pod on the node waits for the cards asked.
var ErrNoWaitingPod = errors.New("no pod on this node waits for these cards")

// Match finds the pod a kubelet Allocate request is for. The API does not
// say, so the contract decides: among the pods waiting for Allocate on this
// node (gpushare.WaitingForAllocate) that the extender assigned as many cards
// as the request has slots, the first in the kubelet's order
// (gpushare.KubeletOrder: arrival on the node, creation time, then, among
// pods that came together, the one assigned exactly the requested slots'
// cards, then the oldest assume time). Two candidates it cannot tell apart
// are ambiguous: an error, never a guess.
func Match(pods []*corev1.Pod, node string, slotIDs []string, arrival func(types.UID) uint64) (*corev1.Pod, *gpushare.Assignment, error) {
	cards := map[string]bool{}
	for _, id := range slotIDs {
		uuid, err := CardOf(id)
		if err != nil {
			return nil, nil, err
		}
		cards[uuid] = true
	}
	waiting, _ := gpushare.WaitingPods(pods, node, arrival)
	var cands []gpushare.Waiting
	for _, w := range waiting {
		if w.Assignment == nil || len(w.Assignment.UUIDs) != len(slotIDs) {
			continue
		}
		w.Exact = len(w.Assignment.UUIDs) == len(cards)
		for _, u := range w.Assignment.UUIDs {
			w.Exact = w.Exact && cards[u]
		}
		cands = append(cands, w)
	}
	if len(cands) == 0 {
		return nil, nil, fmt.Errorf("%w: none is bound to %s by the zz extender with %d card(s) and not yet allocated (is it scheduled by %s, and is the extender running?)",
			ErrNoWaitingPod, node, len(slotIDs), contract.SchedulerName)
	}
	slices.SortStableFunc(cands, gpushare.KubeletOrder)
	if len(cands) > 1 && gpushare.KubeletOrder(cands[0], cands[1]) == 0 {
		return nil, nil, fmt.Errorf("pods %s/%s and %s/%s both wait for %d card(s), reached the node together, were created together and have the same assume time; refusing to guess which this is",
			cands[0].Pod.Namespace, cands[0].Pod.Name, cands[1].Pod.Namespace, cands[1].Pod.Name, len(slotIDs))
	}
	return cands[0].Pod, cands[0].Assignment, nil
}

// Preferred picks size slots from available for the pod that will most
// likely be allocated next (the first waiting pod with size cards): one slot
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

// firstWaiting is the assignment of the first pod on node in the kubelet's
// order that waits for size cards, or nil.
func firstWaiting(pods []*corev1.Pod, node string, size int, arrival func(types.UID) uint64) *gpushare.Assignment {
	waiting, _ := gpushare.WaitingPods(pods, node, arrival)
	var best *gpushare.Waiting
	for i := range waiting {
		w := &waiting[i]
		if w.Assignment == nil || len(w.Assignment.UUIDs) != size {
			continue
		}
		if best == nil || gpushare.KubeletOrder(*w, *best) < 0 {
			best = w
		}
	}
	if best == nil {
		return nil
	}
	return best.Assignment
}

// Unidentifiable returns the pod the kubelet is most likely admitting when
// that pod cannot be matched, else nil. The kubelet admits a node's pods in
// the order they reach it (gpushare.KubeletOrder). If the first pod waiting
// for contract.ResourceGPU has no valid assignment (not scheduled by
// zz-scheduler, or broken annotations), the request is most likely its own,
// and matching it to another waiting pod would hand it that pod's card. skip
// holds pods already refused, whose Failed status the informer may not show
// yet.
func Unidentifiable(pods []*corev1.Pod, node string, skip map[types.UID]bool, arrival func(types.UID) uint64) (*corev1.Pod, error) {
	waiting, errs := gpushare.WaitingPods(pods, node, arrival)
	var head *gpushare.Waiting
	for i := range waiting {
		w := &waiting[i]
		if skip[w.Pod.UID] {
			continue
		}
		if head == nil || gpushare.KubeletOrder(*w, *head) < 0 ||
			(gpushare.KubeletOrder(*w, *head) == 0 && w.Pod.Namespace+"/"+w.Pod.Name < head.Pod.Namespace+"/"+head.Pod.Name) {
			head = w
		}
	}
	if head == nil || head.Assignment != nil {
		return nil, nil
	}
	return head.Pod, errs[head.Pod.UID]
}

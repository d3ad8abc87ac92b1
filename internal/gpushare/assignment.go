package gpushare

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// ErrInconsistent marks an assignment that does not agree with its pod: it
// is not counted, not served, and shifts nobody else's allocation.
var ErrInconsistent = errors.New("GPU assignment does not agree with the pod")

// ErrCardMissing marks a pod whose cards are not in its node's inventory
// now (a device plugin restarted while a card was down, a GPU reset): the
// pod keeps holding them, counted again as soon as they are back. Refusing
// it instead lost its memory in a ledger rebuilt meanwhile (an extender
// restart or failover), and the card came back empty to be given again.
var ErrCardMissing = errors.New("its card is not in its node's inventory now; its memory stays held for when the card is back")

// maxNodeName is the longest node name (a DNS subdomain).
const maxNodeName = 253

// ErrNoAssignment means the extender has not assigned cards to the pod.
var ErrNoAssignment = errors.New("pod has no " + contract.AnnotationGPUIndexes + " annotation")

// Assignment is the extender's card choice for one pod, as the contract's
// pod annotations carry it.
type Assignment struct {
	Indexes    []int
	UUIDs      []string
	MemMiB     int64 // on each card
	AssumeTime time.Time
	// NodeName is the node the cards are on ("" in a choice an older
	// extender wrote): a pod not bound yet holds them there.
	NodeName string
	Assigned bool // served by the device plugin's Allocate
}

// Annotations returns the pod annotations that record a.
func (a *Assignment) Annotations() map[string]string {
	idx := make([]string, len(a.Indexes))
	for i, v := range a.Indexes {
		idx[i] = strconv.Itoa(v)
	}
	out := map[string]string{
		contract.AnnotationGPUIndexes:    strings.Join(idx, ","),
		contract.AnnotationGPUUUIDs:      strings.Join(a.UUIDs, ","),
		contract.AnnotationGPUMemMiB:     strconv.FormatInt(a.MemMiB, 10),
		contract.AnnotationGPUAssumeTime: strconv.FormatInt(a.AssumeTime.UnixNano(), 10),
		contract.AnnotationGPUAssigned:   strconv.FormatBool(a.Assigned),
	}
	if a.NodeName != "" {
		out[contract.AnnotationGPUAssumeNode] = a.NodeName
	}
	return out
}

// PodAssignment reads the assignment annotations of a pod. A pod without them
// gets ErrNoAssignment; inconsistent ones get an error naming the annotation.
func PodAssignment(pod *corev1.Pod) (*Assignment, error) {
	ann := pod.Annotations
	rawIdx, ok := ann[contract.AnnotationGPUIndexes]
	if !ok {
		return nil, ErrNoAssignment
	}
	a := &Assignment{}
	for _, s := range strings.Split(rawIdx, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || i < 0 {
			return nil, fmt.Errorf("%s=%q: %q is not a card index", contract.AnnotationGPUIndexes, rawIdx, s)
		}
		a.Indexes = append(a.Indexes, i)
	}
	if raw := ann[contract.AnnotationGPUUUIDs]; raw != "" {
		a.UUIDs = strings.Split(raw, ",")
	}
	if len(a.UUIDs) != len(a.Indexes) {
		return nil, fmt.Errorf("%s lists %d cards but %s lists %d", contract.AnnotationGPUIndexes, len(a.Indexes),
			contract.AnnotationGPUUUIDs, len(a.UUIDs))
	}
	if len(a.Indexes) > MaxCards {
		return nil, fmt.Errorf("%s lists %d cards, more than %d", contract.AnnotationGPUIndexes, len(a.Indexes), MaxCards)
	}
	seen := make(map[string]bool, len(a.UUIDs))
	for _, u := range a.UUIDs {
		if u == "" || seen[u] {
			return nil, fmt.Errorf("%s=%q: empty or repeated card UUID", contract.AnnotationGPUUUIDs, ann[contract.AnnotationGPUUUIDs])
		}
		seen[u] = true
	}
	mem, err := strconv.ParseInt(ann[contract.AnnotationGPUMemMiB], 10, 64)
	if err != nil || mem <= 0 || mem > MaxMemMiB {
		return nil, fmt.Errorf("%s=%q is not a number of MiB from 1 to %d", contract.AnnotationGPUMemMiB, ann[contract.AnnotationGPUMemMiB], MaxMemMiB)
	}
	a.MemMiB = mem
	if raw := ann[contract.AnnotationGPUAssumeTime]; raw != "" {
		ns, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s=%q is not Unix nanoseconds", contract.AnnotationGPUAssumeTime, raw)
		}
		a.AssumeTime = time.Unix(0, ns)
	}
	a.NodeName = ann[contract.AnnotationGPUAssumeNode]
	if len(a.NodeName) > maxNodeName {
		return nil, fmt.Errorf("%s is %d bytes, longer than a node's name may be (%d)", contract.AnnotationGPUAssumeNode, len(a.NodeName), maxNodeName)
	}
	a.Assigned = allocated(pod)
	return a, nil
}

// ClearAssignment is the patch that removes an assignment from a pod (every
// key Annotations writes; nil deletes), for podannotate.Patch: after a failed
// bind, or when the extender gives back the cards of a pod that never started.
func ClearAssignment() map[string]*string {
	return map[string]*string{
		contract.AnnotationGPUIndexes: nil, contract.AnnotationGPUUUIDs: nil, contract.AnnotationGPUMemMiB: nil,
		contract.AnnotationGPUAssumeTime: nil, contract.AnnotationGPUAssigned: nil, contract.AnnotationGPUAssumeNode: nil,
	}
}

// MarkAllocated is the patch the device plugin's Allocate writes on the pod it
// served: contract.AnnotationGPUAssigned="true", for podannotate.Set.
func MarkAllocated() map[string]string {
	return map[string]string{contract.AnnotationGPUAssigned: strconv.FormatBool(true)}
}

// allocated reads contract.AnnotationGPUAssigned alone: a pod whose other
// assignment annotations are broken is still known to have been served.
func allocated(pod *corev1.Pod) bool {
	return pod.Annotations[contract.AnnotationGPUAssigned] == strconv.FormatBool(true)
}

// CheckAssignment reports why a does not agree with what pod asks for (an
// error wrapping ErrInconsistent), or nil: the pod must ask for GPU memory,
// be assigned as many cards as its contract.ResourceGPU and, on each, at
// most its contract.ResourceGPUMem (exactly, unless its cards are whole). Annotations anyone could have written are
// trusted only that far; which node the cards are on is the caller's check.
func CheckAssignment(pod *corev1.Pod, a *Assignment) error {
	req, err := podResources(pod) // the spec alone: what the pod's annotations say may change after its bind
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrInconsistent, err)
	case len(a.UUIDs) != req.Cards:
		return fmt.Errorf("%w: it names %d card(s), the pod asks for %d", ErrInconsistent, len(a.UUIDs), req.Cards)
	case a.NodeName != "" && pod.Spec.NodeName != "" && a.NodeName != pod.Spec.NodeName:
		return fmt.Errorf("%w: its cards were chosen on node %s, the pod is bound to node %s", ErrInconsistent, a.NodeName, pod.Spec.NodeName)
	case a.MemMiB > req.MemMiB:
		// Less is a whole card smaller than asked for, not judged by the
		// pod's annotation: the card it holds must stay held whatever the
		// annotation says later.
		return fmt.Errorf("%w: it holds %d MiB per card, more than the %d MiB the pod asks for", ErrInconsistent, a.MemMiB, req.MemMiB)
	}
	return nil
}

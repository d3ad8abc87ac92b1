package gpushare

import (
	"cmp"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Terminal reports whether a pod has finished for good (Succeeded or
// Failed): its containers are gone and hold nothing.
func Terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// HoldsResources reports whether what a pod asked of its node still counts
// against it: the GPU ledger charges its cards and the balance book its CPU
// and memory. A terminating pod still holds them: its processes run through
// the grace period, so only a terminal phase or the pod's deletion frees them
// (a rolling update with a long grace period must not pack new pods on
// memory still in use).
func HoldsResources(pod *corev1.Pod) bool {
	return !Terminal(pod)
}

// WaitingForAllocate reports whether the kubelet of node may still call the
// device plugin's Allocate for pod: bound there, Pending, not being deleted,
// asking for contract.ResourceGPU, and not yet marked allocated. This is the
// one "waiting" predicate of the device plugin: Match, GetPreferredAllocation
// and the refusal of unidentifiable pods all select with it.
func WaitingForAllocate(pod *corev1.Pod, node string) bool {
	return pod.Spec.NodeName == node && pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodPending &&
		!allocated(pod) && AsksGPU(pod)
}

// Waiting is a pod waiting for Allocate, with what orders it.
type Waiting struct {
	Pod *corev1.Pod
	// Assignment is the pod's assignment; nil when it has none or a broken one.
	Assignment *Assignment
	// Arrival numbers pods in the order they reached the node (0 for those
	// already there when the device plugin started).
	Arrival uint64
	// Exact: the pod's cards are those of the slots the kubelet asks for
	// (it followed GetPreferredAllocation). Only Match sets it.
	Exact bool
}

// KubeletOrder is the order in which the kubelet admits, and so allocates,
// the pods waiting on its node: the order they reached it (arrival), then
// creation time (the kubelet sorts a batch of pods it receives together by
// creation time), then, for pods that came together, one assigned exactly
// the requested slots' cards, then the older assume time. It returns 0 for
// pods it cannot tell apart; the caller must then refuse to guess. It is the
// one comparator of the device plugin (Match, GetPreferredAllocation and the
// refusal of unidentifiable pods).
func KubeletOrder(x, y Waiting) int {
	if c := cmp.Compare(x.Arrival, y.Arrival); c != 0 {
		return c
	}
	if c := x.Pod.CreationTimestamp.Time.Compare(y.Pod.CreationTimestamp.Time); c != 0 {
		return c
	}
	if x.Exact != y.Exact {
		if x.Exact {
			return -1
		}
		return 1
	}
	return assumeTime(x).Compare(assumeTime(y))
}

func assumeTime(w Waiting) time.Time {
	if w.Assignment == nil {
		return time.Time{}
	}
	return w.Assignment.AssumeTime
}

// CheckAssumeTime reports (an error wrapping ErrInconsistent) an assume time
// later than anything the control plane recorded for the pod before its
// Allocate: the extender assumes a pod after it was created and before it is
// bound, and the apiserver stamps both (creationTimestamp, the PodScheduled
// transition). Judging against these, not the node's clock, keeps the device
// plugin tolerant of a skewed node clock while a forged future assume time
// is refused, as the ledger refuses it: served, the pod would run on memory
// the ledger counts nowhere. MaxClockSkew covers the extender's clock against the
// apiserver's. A pod with neither time (tests' bare objects) is not judged.
func CheckAssumeTime(pod *corev1.Pod, a *Assignment) error {
	ref := pod.CreationTimestamp.Time
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue && c.LastTransitionTime.After(ref) {
			ref = c.LastTransitionTime.Time
		}
	}
	if ref.IsZero() {
		return nil
	}
	if after := a.AssumeTime.Sub(ref); after > MaxClockSkew {
		return fmt.Errorf("%w: its assume time is %v after the pod was created and scheduled", ErrInconsistent, after.Round(time.Second))
	}
	return nil
}

// WaitingPods returns the pods of node waiting for Allocate, their
// assignments read (nil where missing, broken or inconsistent with the pod,
// see CheckAssignment and CheckAssumeTime, with the error in errs),
// each numbered by arrival (nil: all 0).
func WaitingPods(pods []*corev1.Pod, node string, arrival func(types.UID) uint64) (out []Waiting, errs map[types.UID]error) {
	errs = map[types.UID]error{}
	for _, p := range pods {
		if !WaitingForAllocate(p, node) {
			continue
		}
		w := Waiting{Pod: p}
		if arrival != nil {
			w.Arrival = arrival(p.UID)
		}
		a, err := PodAssignment(p)
		if err == nil {
			err = CheckAssignment(p, a)
		}
		if err == nil {
			err = CheckAssumeTime(p, a)
		}
		if err != nil {
			errs[p.UID] = err
		} else {
			w.Assignment = a
		}
		out = append(out, w)
	}
	return out, errs
}

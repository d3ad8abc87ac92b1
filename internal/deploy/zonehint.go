package deploy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// What kube-scheduler's PodTopologySpread filter says of the nodes it
// turns away (its ErrReasonConstraintsNotMatch and ErrReasonNodeLabelNotMatch).
const (
	spreadNotMatch     = "didn't match pod topology spread constraints"
	spreadMissingLabel = spreadNotMatch + " (missing required label)"
)

// ZoneSpreadHint is what a pod the scheduler refused for its required zone
// spread (spec.zoneSpread: required) adds in the app spec's words, after
// "; ": the scheduler names the constraint, not the field nor the fix.
// "" for a pod without one, or refused for other reasons only.
func ZoneSpreadHint(pod *corev1.Pod, msg string) string {
	if !requiredZoneSpread(pod) || !strings.Contains(msg, spreadNotMatch) {
		return ""
	}
	var hints []string
	if strings.Contains(strings.ReplaceAll(msg, spreadMissingLabel, ""), spreadNotMatch) {
		hints = append(hints, "spec.zoneSpread: required keeps a pod waiting rather than put one zone two of the app's pods ahead of another (a zone whose nodes are full still counts its pods; one cordoned or tainted against the pod does not): make room in the zone with the fewest, or use zoneSpread: preferred")
	}
	if strings.Contains(msg, spreadMissingLabel) {
		hints = append(hints, "spec.zoneSpread: required places pods only on nodes labelled "+corev1.LabelTopologyZone+": label the nodes with their zone, or use zoneSpread: preferred")
	}
	return "; " + strings.Join(hints, "; ")
}

// selectorNotMatch is what kube-scheduler's NodeAffinity filter says of the
// nodes a pod's nodeSelector or node affinity turns away.
const selectorNotMatch = "didn't match Pod's node affinity/selector"

// PoolHint is what a pod of a pool (spec.pool, the nodeSelector
// zz.io/pool) that the scheduler refused for its node selector adds in the
// spec's words, after "; ": a pool no node carries (a typo, "genral")
// waited out the whole --timeout with no word of spec.pool (an audit of CI
// use). "" for a pod of no pool, or where the selector did not turn every
// node away: then the pool has nodes, refused for other reasons (a GPU pod
// waiting for memory on its pool's nodes was told to leave out a spec.pool
// it never wrote, a GPU audit).
func PoolHint(pod *corev1.Pod, msg string) string {
	pool := pod.Spec.NodeSelector[contract.LabelPool]
	all, cordoned := selectorTurnedAwayAll(msg)
	if pool == "" || !all {
		return ""
	}
	check := "that this cluster has that pool"
	if cordoned {
		// Counted under their taint, those may be the pool's own nodes.
		check += " and that its nodes are not cordoned or tainted against the pod"
	}
	return "; spec.pool " + pool + " places pods only on nodes labelled " + contract.LabelPool + "=" + pool +
		": check " + check + " (kubectl get nodes -L " + contract.LabelPool + "), or leave spec.pool out"
}

// selectorTurnedAwayAll says the scheduler's verdict msg ("0/8 nodes are
// available: 3 Insufficient cpu, 5 node(s) didn't match Pod's node
// affinity/selector. preemption: ...") turned every node away for the pod's
// node selector or affinity, or before its filter could judge them:
// kube-scheduler stops at a node's first failing filter, and
// NodeUnschedulable, NodeName and TaintToleration run before NodeAffinity,
// so a cordoned or tainted node (a kubeadm control plane) is counted under
// its taint (a review: a pool no node carries lost its hint on every
// cluster with one); before says some were turned away before it.
func selectorTurnedAwayAll(msg string) (all, before bool) {
	var available, total int
	if _, err := fmt.Sscanf(msg, "%d/%d nodes are available:", &available, &total); err != nil || total == 0 {
		return false, false
	}
	_, reasons, _ := strings.Cut(msg, "nodes are available: ")
	reasons, _, _ = strings.Cut(reasons, ". preemption:")
	selector, early := 0, 0
	for r := range strings.SplitSeq(strings.TrimSuffix(reasons, "."), ", ") {
		count, why, ok := strings.Cut(r, " ")
		n, err := strconv.Atoi(count)
		if !ok || err != nil {
			continue
		}
		switch {
		case why == "node(s) "+selectorNotMatch:
			selector += n
		case slices.ContainsFunc(beforeNodeAffinity, func(p string) bool { return strings.HasPrefix(why, p) }):
			early += n
		}
	}
	return selector > 0 && selector+early == total, early > 0
}

// beforeNodeAffinity are the verdicts of kube-scheduler's filters that run
// before NodeAffinity (NodeUnschedulable, NodeName, TaintToleration).
var beforeNodeAffinity = []string{"node(s) were unschedulable", "node(s) didn't match the requested node name", "node(s) had untolerated taint"}

// requiredZoneSpread says pod has a DoNotSchedule spread over zones, as
// kubectl zz renders spec.zoneSpread: required.
func requiredZoneSpread(pod *corev1.Pod) bool {
	return zoneSpreadOf(pod) == appspec.ZoneSpreadRequired
}

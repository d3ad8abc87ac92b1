package deploy

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
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

// requiredZoneSpread says pod has a DoNotSchedule spread over zones, as
// kubectl zz renders spec.zoneSpread: required.
func requiredZoneSpread(pod *corev1.Pod) bool {
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.TopologyKey == corev1.LabelTopologyZone && c.WhenUnsatisfiable == corev1.DoNotSchedule {
			return true
		}
	}
	return false
}

package deploy

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpuinspect"
	"github.com/zzcloud/zz/internal/prose"
	"github.com/zzcloud/zz/internal/rebalance"
	"github.com/zzcloud/zz/internal/render"
)

// ZoneGap says an app's ready pods sit in fewer zones than its
// spec.zoneSpread would put them in now. The spread is judged only when a
// pod is scheduled, honouring taints (render's nodeTaintsPolicy Honor): in
// a zone outage the replacements all go to the zones left, and when the
// zone is back they stay there, Ready, until the next rollout (an incident
// audit: nothing said so).
type ZoneGap struct {
	// Spread is spec.zoneSpread: required or preferred.
	Spread string `json:"spread"`
	// ReadyPods counts the ready pods judged (of the app's current
	// ReplicaSet, which its spread counts on its own).
	ReadyPods int `json:"readyPods"`
	// Zones are the zones they are in; FreeZones the zones where a node
	// could take one of them now (Ready, not cordoned, of the pool, no
	// taint against them) and none runs. Both sorted.
	Zones     []string `json:"zones"`
	FreeZones []string `json:"freeZones"`
}

// Note is the sentence kubectl zz says of g, of app.
func (g *ZoneGap) Note(app string) string {
	where := "all in zone " + g.Zones[0]
	if len(g.Zones) > 1 {
		where = "in zones " + andList(g.Zones)
	}
	has := "has"
	if len(g.FreeZones) > 1 {
		has = "have"
	}
	return fmt.Sprintf("spec.zoneSpread: %s, but its %d ready pods are %s (%s %s schedulable nodes again): kubectl zz restart %s spreads them where those nodes have room",
		g.Spread, g.ReadyPods, where, andList(g.FreeZones), has, app)
}

// andList is "a", "a and b", "a, b and c", the first few of a long list.
func andList(items []string) string {
	if len(items) < 2 || len(items) > 4 {
		return prose.Some(items, 3)
	}
	return prose.And(items)
}

// zoneSpreadOf is the spec.zoneSpread pod was rendered with ("" for none):
// its spread over render.ZoneTopologyKey, required (DoNotSchedule) or
// preferred (ScheduleAnyway).
func zoneSpreadOf(pod *corev1.Pod) string {
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.TopologyKey != render.ZoneTopologyKey {
			continue
		}
		if c.WhenUnsatisfiable == corev1.DoNotSchedule {
			return appspec.ZoneSpreadRequired
		}
		return appspec.ZoneSpreadPreferred
	}
	return ""
}

// zoneGroups are the app's pods whose zones are worth judging: ready, not
// terminating, of the stable track (a canary is a few pods, spread on its
// own), with a zone spread, grouped by ReplicaSet as the spread counts
// them (matchLabelKeys pod-template-hash), biggest first; groups of one
// pod are left out (one pod is in one zone).
func zoneGroups(pods []corev1.Pod) [][]*corev1.Pod {
	by := map[string][]*corev1.Pod{}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Spec.NodeName == "" || p.Labels[contract.LabelTrack] == contract.TrackCanary ||
			zoneSpreadOf(p) == "" || !podReady(p) {
			continue
		}
		rs := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		by[rs] = append(by[rs], p)
	}
	var out [][]*corev1.Pod
	for _, g := range by {
		if len(g) > 1 {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b []*corev1.Pod) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a[0].Name, b[0].Name))
	})
	return out
}

// NeedsNodes says ZoneGapOf(pods, ...) has anything to judge: the caller
// reads the nodes only then.
func NeedsNodes(pods []corev1.Pod) bool { return len(zoneGroups(pods)) > 0 }

// ZoneGapOf judges the zone spread of an app's pods against nodes (the
// cluster's, those without the zone label ignored), nil when there is no
// gap. A group's pods are in Zones; a zone is free when one of its nodes
// is Ready, not cordoned, and neither the pod's node selector or required
// affinity nor a NoSchedule or NoExecute taint keeps the pod off it (what
// the spread counts, nodeAffinityPolicy and nodeTaintsPolicy Honor), and
// none of the group runs there. Required: a gap when the pods are in fewer
// zones than they could fill (one a zone, as many zones as pods at most),
// which the spread, at its next scheduling, would not allow. Preferred
// asks only to try: a gap only when every pod is in one zone, which one
// zone's outage takes whole. Pods on a node not in nodes are not judged.
func ZoneGapOf(pods []corev1.Pod, nodes []corev1.Node) *ZoneGap {
	byName := make(map[string]*corev1.Node, len(nodes))
	for i := range nodes {
		byName[nodes[i].Name] = &nodes[i]
	}
	for _, g := range zoneGroups(pods) {
		in := map[string]bool{}
		ready := 0
		for _, p := range g {
			n := byName[p.Spec.NodeName]
			if n == nil || n.Labels[render.ZoneTopologyKey] == "" {
				continue
			}
			in[n.Labels[render.ZoneTopologyKey]] = true
			ready++
		}
		// A zone where a pod of the group runs unready is no free one: the
		// spread counts it as the others, and restarting would not move
		// it (a review: "zone-a has schedulable nodes again" beside a pod
		// crash-looping there).
		held := map[string]bool{}
		hash := g[0].Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		for i := range pods {
			p := &pods[i]
			if n := byName[p.Spec.NodeName]; n != nil && p.DeletionTimestamp == nil && p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == hash &&
				p.Labels[contract.LabelTrack] != contract.TrackCanary {
				held[n.Labels[render.ZoneTopologyKey]] = true
			}
		}
		free := map[string]bool{}
		for i := range nodes {
			n := &nodes[i]
			zone := n.Labels[render.ZoneTopologyKey]
			if zone == "" || in[zone] || held[zone] || free[zone] || n.Spec.Unschedulable || rebalance.NotReady(n) || gpuinspect.NodeExcludes(g[0], n) != "" {
				continue
			}
			free[zone] = true
		}
		if len(free) == 0 || ready < 2 {
			continue
		}
		spread := zoneSpreadOf(g[0])
		if spread == appspec.ZoneSpreadPreferred && len(in) > 1 ||
			len(in) >= min(ready, len(in)+len(free)) {
			continue
		}
		return &ZoneGap{Spread: spread, ReadyPods: ready, Zones: slices.Sorted(maps.Keys(in)), FreeZones: slices.Sorted(maps.Keys(free))}
	}
	return nil
}

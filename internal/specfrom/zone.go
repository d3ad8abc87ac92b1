package specfrom

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// zoneSpread: one topology spread constraint of the shape kubectl zz
// renders (zone, maxSkew 1, over the app's own pods, nothing more) is
// spec.zoneSpread; any other is said, as the spec has no field for it.
// kubectl zz renders nodeTaintsPolicy Honor: one written with Ignore (or
// without it: Ignore is upstream's default) is carried, as refusing it
// would lose the spread, and the policy it loses is said, since tainted
// zones stop counting after the move.
func (f *from) zoneSpread(d *appsv1.Deployment) {
	for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
		mode, why := zoneSpreadMode(c, f.app.Name, d.Spec.Selector)
		if why == "" && f.app.Spec.ZoneSpread != "" {
			why = "a second zone constraint"
		}
		if why != "" {
			f.lost("topologySpreadConstraints on %s (maxSkew %d, %s): %s; spec.zoneSpread spreads the app's pods over %s with maxSkew 1 (preferred or required), spec.antiAffinity over hosts",
				c.TopologyKey, c.MaxSkew, c.WhenUnsatisfiable, why, corev1.LabelTopologyZone)
			continue
		}
		f.app.Spec.ZoneSpread = mode
		if p := c.NodeTaintsPolicy; p == nil || *p != corev1.NodeInclusionPolicyHonor {
			f.lost("topologySpreadConstraints on %s (maxSkew %d, %s): nodeTaintsPolicy Ignore (upstream's default when left out), carried as spec.zoneSpread: %s, which sets nodeTaintsPolicy: Honor: nodes whose taints the pod does not tolerate (a cordoned zone, one down in an outage) no longer count, so they no longer hold the other zones back",
				c.TopologyKey, c.MaxSkew, c.WhenUnsatisfiable, mode)
		}
	}
}

// zoneSpreadMode is c as a spec.zoneSpread mode, or why it is none. The
// constraint must count the app's pods alone: its selector is the
// Deployment's own or kubectl zz's (zz.io/app).
func zoneSpreadMode(c corev1.TopologySpreadConstraint, app string, own *metav1.LabelSelector) (mode, why string) {
	zz := &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: app}}
	switch {
	case c.TopologyKey != corev1.LabelTopologyZone:
		return "", "not a zone"
	case c.MaxSkew != 1:
		return "", "maxSkew is 1 here"
	case c.MinDomains != nil:
		return "", "minDomains has no field"
	case c.NodeAffinityPolicy != nil && *c.NodeAffinityPolicy != corev1.NodeInclusionPolicyHonor:
		// Honor, the default, keeps other pools' zones out of the count.
		return "", "nodeAffinityPolicy Ignore (zones of nodes the pod may not go to count) has no field"
	case len(c.MatchLabelKeys) > 1 || len(c.MatchLabelKeys) == 1 && c.MatchLabelKeys[0] != appsv1.DefaultDeploymentUniqueLabelKey:
		return "", "matchLabelKeys other than pod-template-hash have no field"
	case c.LabelSelector == nil || !equality.Semantic.DeepEqual(c.LabelSelector, own) && !equality.Semantic.DeepEqual(c.LabelSelector, zz):
		return "", "its selector is not the Deployment's (the app's pods alone)"
	case c.WhenUnsatisfiable == corev1.DoNotSchedule:
		return appspec.ZoneSpreadRequired, ""
	default:
		return appspec.ZoneSpreadPreferred, ""
	}
}

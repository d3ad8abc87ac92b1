package specfrom

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// affinity: a pod anti-affinity of the shape kubectl zz renders (one term
// over kubernetes.io/hostname, selecting the app's own pods) is
// spec.antiAffinity, required or preferred (any weight: zz's is 100);
// kubectl zz renders the preferred one for every app, so anything else the
// pod's affinity says is replaced, and said: it was dropped unsaid, a
// required anti-affinity too (a round trip of every golden spec).
func (f *from) affinity(d *appsv1.Deployment) {
	a := d.Spec.Template.Spec.Affinity
	if a == nil {
		return
	}
	if a.NodeAffinity != nil {
		f.lost("node affinity: where pods run is spec.pool (zz.io/pool) here, and the webhook's pool policy")
	}
	if a.PodAffinity != nil {
		f.lost("pod affinity (pods placed beside other pods) has no field")
	}
	anti := a.PodAntiAffinity
	if anti == nil {
		return
	}
	own := func(t corev1.PodAffinityTerm) bool {
		zz := &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: f.app.Name}}
		return t.TopologyKey == corev1.LabelHostname && len(t.Namespaces) == 0 && t.NamespaceSelector == nil &&
			len(t.MatchLabelKeys) == 0 && len(t.MismatchLabelKeys) == 0 && t.LabelSelector != nil &&
			(equality.Semantic.DeepEqual(t.LabelSelector, d.Spec.Selector) || equality.Semantic.DeepEqual(t.LabelSelector, zz))
	}
	req, pref := anti.RequiredDuringSchedulingIgnoredDuringExecution, anti.PreferredDuringSchedulingIgnoredDuringExecution
	switch {
	case len(req) == 1 && len(pref) == 0 && own(req[0]):
		f.app.Spec.AntiAffinity = appspec.AntiAffinityRequired
	case len(req) == 0 && len(pref) == 1 && own(pref[0].PodAffinityTerm):
		// The default: one pod a host where it can.
	default:
		f.lost("pod anti-affinity other than one term over %s keeping the app's own pods apart; spec.antiAffinity is that term, preferred (the default) or required", corev1.LabelHostname)
	}
}

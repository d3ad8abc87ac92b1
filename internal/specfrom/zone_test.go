package specfrom

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/render"
)

// TestZoneSpreadRoundTrip: what kubectl zz renders for each zoneSpread
// mode comes back as that mode, with nothing said lost about it.
func TestZoneSpreadRoundTrip(t *testing.T) {
	for _, mode := range []string{"", appspec.ZoneSpreadPreferred, appspec.ZoneSpreadRequired} {
		t.Run("mode "+mode, func(t *testing.T) {
			app, err := appspec.Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  zoneSpread: '"+mode+"'\n"))
			if err != nil {
				t.Fatal(err)
			}
			var d *appsv1.Deployment
			for _, o := range render.Render(app, render.Options{Namespace: "ns"}) {
				if dep, ok := o.(*appsv1.Deployment); ok {
					d = dep
				}
			}
			got, notes := Spec("shop", Live{Deployment: d})
			if got.Spec.ZoneSpread != mode {
				t.Errorf("zoneSpread %q, want %q", got.Spec.ZoneSpread, mode)
			}
			for _, n := range notes {
				if strings.Contains(n, "topologySpreadConstraints") {
					t.Errorf("note %q", n)
				}
			}
		})
	}
}

// TestZoneSpreadFrom: a Deployment's zone constraint of kubectl zz's shape
// (over its own pods, as a chart writes it) is carried into zoneSpread;
// one without nodeTaintsPolicy Honor is carried too, and the Ignore it
// loses is said; any other is said, and the spec has no zoneSpread from it.
func TestZoneSpreadFrom(t *testing.T) {
	own := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	zone := func(mut func(*corev1.TopologySpreadConstraint)) corev1.TopologySpreadConstraint {
		c := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
			WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: own,
			NodeTaintsPolicy: ptr.To(corev1.NodeInclusionPolicyHonor)}
		if mut != nil {
			mut(&c)
		}
		return c
	}
	tests := []struct {
		name string
		tsc  []corev1.TopologySpreadConstraint
		mode string
		note string // a note that must be said; "" for none about the constraints
	}{
		{name: "ScheduleAnyway, taints honored", tsc: []corev1.TopologySpreadConstraint{zone(nil)}, mode: appspec.ZoneSpreadPreferred},
		{name: "chart's, no nodeTaintsPolicy", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) { c.NodeTaintsPolicy = nil })},
			mode: appspec.ZoneSpreadPreferred,
			note: "topologySpreadConstraints on topology.kubernetes.io/zone (maxSkew 1, ScheduleAnyway): nodeTaintsPolicy Ignore (upstream's default when left out), carried as spec.zoneSpread: preferred, which sets nodeTaintsPolicy: Honor: nodes whose taints the pod does not tolerate (a cordoned zone, one down in an outage) no longer count, so they no longer hold the other zones back"},
		{name: "nodeTaintsPolicy Ignore", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) {
			c.WhenUnsatisfiable, c.NodeTaintsPolicy = corev1.DoNotSchedule, ptr.To(corev1.NodeInclusionPolicyIgnore)
		})}, mode: appspec.ZoneSpreadRequired, note: "(maxSkew 1, DoNotSchedule): nodeTaintsPolicy Ignore (upstream's default when left out), carried as spec.zoneSpread: required, which sets nodeTaintsPolicy: Honor"},
		{name: "DoNotSchedule with pod-template-hash", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) {
			c.WhenUnsatisfiable = corev1.DoNotSchedule
			c.MatchLabelKeys = []string{"pod-template-hash"}
		})}, mode: appspec.ZoneSpreadRequired},
		{name: "nodeAffinityPolicy Honor written", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) {
			c.NodeAffinityPolicy = ptr.To(corev1.NodeInclusionPolicyHonor)
		})}, mode: appspec.ZoneSpreadPreferred},
		{name: "nodeAffinityPolicy Ignore", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) {
			c.NodeAffinityPolicy = ptr.To(corev1.NodeInclusionPolicyIgnore)
		})}, note: "nodeAffinityPolicy Ignore (zones of nodes the pod may not go to count) has no field"},
		{name: "hosts", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) { c.TopologyKey = corev1.LabelHostname })},
			note: "topologySpreadConstraints on kubernetes.io/hostname (maxSkew 1, ScheduleAnyway): not a zone; spec.zoneSpread spreads the app's pods over topology.kubernetes.io/zone with maxSkew 1 (preferred or required), spec.antiAffinity over hosts"},
		{name: "maxSkew 2", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) { c.MaxSkew = 2 })}, note: "(maxSkew 2, ScheduleAnyway): maxSkew is 1 here"},
		{name: "minDomains", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) {
			c.WhenUnsatisfiable, c.MinDomains = corev1.DoNotSchedule, ptr.To(int32(3))
		})}, note: "minDomains has no field"},
		{name: "other match label keys", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) { c.MatchLabelKeys = []string{"version"} })},
			note: "matchLabelKeys other than pod-template-hash have no field"},
		{name: "other apps' pods too", tsc: []corev1.TopologySpreadConstraint{zone(func(c *corev1.TopologySpreadConstraint) {
			c.LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}}
		})}, note: "its selector is not the Deployment's"},
		{name: "a second zone constraint", tsc: []corev1.TopologySpreadConstraint{zone(nil), zone(func(c *corev1.TopologySpreadConstraint) { c.WhenUnsatisfiable = corev1.DoNotSchedule })},
			mode: appspec.ZoneSpreadPreferred, note: "(maxSkew 1, DoNotSchedule): a second zone constraint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := web()
			l.Deployment.Spec.Template.Spec.TopologySpreadConstraints = tt.tsc
			app, notes := Spec("web", l)
			if app.Spec.ZoneSpread != tt.mode {
				t.Errorf("zoneSpread %q, want %q", app.Spec.ZoneSpread, tt.mode)
			}
			var said []string
			for _, n := range notes {
				if strings.Contains(n, "topologySpreadConstraints") {
					said = append(said, n)
				}
			}
			switch {
			case tt.note == "" && len(said) > 0:
				t.Errorf("notes %q, want none", said)
			case tt.note != "" && (len(said) != 1 || !strings.Contains(said[0], tt.note)):
				t.Errorf("notes %q, want one with %q", said, tt.note)
			}
		})
	}
}

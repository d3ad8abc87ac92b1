package specfrom

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/render"
)

// TestAffinityFrom: the anti-affinity kubectl zz renders comes back as
// spec.antiAffinity (required was dropped unsaid, as was any node or pod
// affinity a chart wrote); what the spec cannot say is said.
func TestAffinityFrom(t *testing.T) {
	deployment := func(anti string) *appsv1.Deployment {
		app, err := appspec.Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  antiAffinity: "+anti+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range render.Render(app, render.Options{Namespace: "ns"}) {
			if d, ok := o.(*appsv1.Deployment); ok {
				return d
			}
		}
		t.Fatal("no Deployment rendered")
		return nil
	}
	nodeAffinity := &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disktype", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}}}}
	tests := []struct {
		name, anti string
		edit       func(a *corev1.Affinity)
		want       string // spec.antiAffinity
		notes      []string
	}{
		{name: "preferred", anti: "preferred"},
		{name: "required", anti: "required", want: appspec.AntiAffinityRequired},
		{name: "none", anti: "preferred", edit: func(a *corev1.Affinity) { *a = corev1.Affinity{} }},
		{name: "node affinity", anti: "required", want: appspec.AntiAffinityRequired,
			edit: func(a *corev1.Affinity) { a.NodeAffinity = nodeAffinity }, notes: []string{"node affinity"}},
		{name: "pod affinity", anti: "preferred",
			edit: func(a *corev1.Affinity) { a.PodAffinity = &corev1.PodAffinity{} }, notes: []string{"pod affinity"}},
		{name: "over zones", anti: "required",
			edit: func(a *corev1.Affinity) {
				a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey = corev1.LabelTopologyZone
			}, notes: []string{"pod anti-affinity other than"}},
		{name: "two terms", anti: "required",
			edit: func(a *corev1.Affinity) {
				r := a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
				a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(r, r[0])
			}, notes: []string{"pod anti-affinity other than"}},
		{name: "apart from other pods", anti: "preferred",
			edit: func(a *corev1.Affinity) {
				a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchLabels = map[string]string{"app": "db"}
			}, notes: []string{"pod anti-affinity other than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deployment(tt.anti)
			if tt.edit != nil {
				tt.edit(d.Spec.Template.Spec.Affinity)
			}
			got, notes := Spec("shop", Live{Deployment: d})
			if got.Spec.AntiAffinity != tt.want {
				t.Errorf("antiAffinity %q, want %q", got.Spec.AntiAffinity, tt.want)
			}
			for _, about := range []string{"node affinity", "pod affinity", "pod anti-affinity other than"} {
				said := slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, about) || strings.Contains(n, ": "+about) })
				if said != slices.Contains(tt.notes, about) {
					t.Errorf("note about %q said %v, want %v: %q", about, said, !said, notes)
				}
			}
		})
	}
}

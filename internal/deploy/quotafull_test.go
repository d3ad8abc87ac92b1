package deploy

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestQuotaFullHint: a surge rollout refused by a quota full at the app's
// current pods is told at once that waiting cannot help, and what does; a
// quota with room left, a replace rollout, or a scale-up is not.
func TestQuotaFullHint(t *testing.T) {
	dep := func(surge string, spec, have int32) *appsv1.Deployment {
		d := &appsv1.Deployment{}
		d.Spec.Replicas = ptr.To(spec)
		d.Status.Replicas = have
		if surge == "" {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		} else {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.Parse(surge))}
		}
		return d
	}
	const full = `pods "qapp-6c9f7d-x2x4z" is forbidden: exceeded quota: q, requested: cpu=500m,pods=1, used: cpu=1500m,pods=3, limited: cpu=4,pods=3`
	for _, tt := range []struct {
		name, failure string
		d             *appsv1.Deployment
		want          string
	}{
		{"pods full", full, dep("25%", 3, 3), "; the quota q is full (pods) at the app's current pods: the rollout's extra pod (surge) cannot be created"},
		{"cpu full", `exceeded quota: team, requested: cpu=500m, used: cpu=1500m, limited: cpu=1500m`, dep("1", 3, 3), "quota team is full (cpu)"},
		{"room left", `exceeded quota: q, requested: cpu=1, used: cpu=1500m, limited: cpu=2`, dep("25%", 3, 3), ""},
		{"replace", full, dep("", 3, 3), ""},
		{"no surge", full, dep("0", 3, 3), ""},
		{"scale-up", full, dep("25%", 5, 3), ""},
		// The controller takes an old pod down first, freeing the quota:
		// waiting helps (a hand-edited Deployment; unset is 25%).
		{"an old pod may go first", full, func() *appsv1.Deployment {
			d := dep("25%", 3, 3)
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(1))
			return d
		}(), ""},
		{"unset maxUnavailable, 4 replicas", full, dep("25%", 4, 4), ""},
		{"other failure", `pods "x" is forbidden: minimum cpu usage per Container is 300m`, dep("25%", 3, 3), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := quotaFullHint(tt.d, tt.failure)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("quotaFullHint = %q, want %q", got, tt.want)
			}
			if got != "" && !strings.Contains(got, "raise quota") || got != "" && !strings.Contains(got, "spec.rollout: replace") {
				t.Fatalf("the hint does not say what to do: %q", got)
			}
		})
	}
}

package deploy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/render"
)

// TestAbortDiffOfUnrecordedCanaryShowsOnlyRemovals: the abort of a canary
// no revision records only prunes (the stable objects are not applied, so
// a kubectl edit's env var on the stable Deployment stays). abort --diff
// shows what abort does: the canary's Deployment going, and not the env
// var, which it showed going before.
func TestAbortDiffOfUnrecordedCanaryShowsOnlyRemovals(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctx := t.Context()
	d := deployment(t, c, "shop")
	canary := d.DeepCopy()
	d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "HOTFIX", Value: "1"})
	if _, err := c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	canary.ObjectMeta = metav1.ObjectMeta{Name: render.CanaryName("shop"), Namespace: ns, Labels: d.Labels}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, canary, metav1.CreateOptions{FieldManager: "kubectl-zz"}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	changed, err := CanaryDiff(ctx, c, ns, "shop", false, "", &out)
	if err != nil {
		t.Fatal(err)
	}
	if !changed || !strings.Contains(out.String(), "--- live Deployment/"+render.CanaryName("shop")) {
		t.Errorf("abort --diff (changed %v) does not show the canary's Deployment going:\n%s", changed, out.String())
	}
	if strings.Contains(out.String(), "HOTFIX") {
		t.Errorf("abort --diff shows HOTFIX, which abort keeps:\n%s", out.String())
	}
	if _, err := Abort(ctx, c, &CanaryActionConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if !hasEnv(deployment(t, c, "shop"), "HOTFIX") {
		t.Errorf("abort removed HOTFIX: the test no longer shows what it meant to")
	}
	if _, err := c.AppsV1().Deployments(ns).Get(ctx, render.CanaryName("shop"), metav1.GetOptions{}); err == nil {
		t.Errorf("abort kept the canary's Deployment")
	}
}

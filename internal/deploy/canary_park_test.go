package deploy

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/render"
)

// TestFailedCanaryAfterARecordedOne: a canary that fails after a recorded
// canary revision puts that revision back (its pods are the ones the failed
// rollout kept), where scaling the Deployment to 0 stopped them too and said
// nothing of it (a review).
func TestFailedCanaryAfterARecordedOne(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if res, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1}); err != nil || res.Revision != 2 {
		t.Fatalf("canary 2: %+v %v", res, err)
	}
	ctl.setStuck("reg/shop:slow")
	res, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:slow", "")}, CanaryShare{Count: 1})
	if err == nil || !strings.Contains(err.Error(), "rolled back to revision 2") || strings.Contains(err.Error(), "scaled to 0") || res.RolledBackTo != 2 {
		t.Fatalf("the failed canary after canary revision 2: %+v %v", res, err)
	}
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), render.CanaryName("shop"), metav1.GetOptions{})
	if err != nil || d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Containers[0].Image != "reg/shop:2" {
		t.Fatalf("revision 2's canary after the failed one: %v %+v", err, d)
	}
}

// TestParkCanaryGone: a canary Deployment already gone is said as gone
// (an apply would have created a bare one, refused as invalid, and read as
// "stays at its replicas"); an interrupted canary is not told to be fixed.
func TestParkCanaryGone(t *testing.T) {
	c := fake.NewClientset()
	o := opts()
	if got := parkCanary(t.Context(), c, &o, "shop", 0, true, ""); !strings.HasPrefix(got, "the canary Deployment shop-canary is gone: the stable version serves; deploy --canary again to go on with it") {
		t.Errorf("park of a gone canary: %q", got)
	}
	for _, a := range c.Actions() {
		if a.GetVerb() == "patch" || a.GetVerb() == "create" {
			t.Errorf("park of a gone canary wrote: %v", a)
		}
	}
}

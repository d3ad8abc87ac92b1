package deploy

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// TestTakeBackNotesOnFailedApply: the take-back of the Service removes a
// tenant's externalIPs, and the Deployment's apply after it fails. The
// error says what was taken back before it (the wait, which prints the
// notes, does not run): before, the cluster changed and the user was told
// only of the failure.
func TestTakeBackNotesOnFailedApply(t *testing.T) {
	// Armed once the app runs: the Deployment's step (its HPA read, after
	// the Service's take-back) fails.
	var armed atomic.Bool
	c, _ := startedApp(t, onEvery("list", "horizontalpodautoscalers", func(k8stesting.Action) (bool, runtime.Object, error) {
		if armed.Load() {
			return true, nil, errors.New("etcdserver: request timed out")
		}
		return false, nil, nil
	}))
	ctx := t.Context()
	updateService(t, c, "tenant", func(svc *corev1.Service) { svc.Spec.ExternalIPs = []string{"203.0.113.7"} })
	armed.Store(true)
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	_, err := Run(ctx, c, &Config{Options: o, App: spec(t, "reg/shop:2", "")})
	if err == nil {
		t.Fatal("the deploy succeeded")
	}
	after, _ := c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	said := err.Error() + "\n" + progress.String()
	if len(after.Spec.ExternalIPs) != 0 {
		t.Fatalf("the Service's externalIPs were not taken back: %v", after.Spec.ExternalIPs)
	}
	if !strings.Contains(said, "service shop: removed") {
		t.Errorf("the Service's externalIPs were taken back, and nothing says so:\nerror: %v\nprogress:\n%s", err, progress.String())
	}
}

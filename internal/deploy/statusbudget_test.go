package deploy

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// TestBookBudgets: an app whose pods are not all ready hears of each
// budget over its pods that allows no disruption now: its own (spec.pdb)
// and one of the namespace's that selects them; not of one with room, one
// whose status is not computed yet, one that selects none of its pods, nor
// one of another namespace. A Ready app hears of none (a drain waits for
// it only while its pods are not ready), nor a terminating pod's.
func TestBookBudgets(t *testing.T) {
	dep := func(app string, ready int32) appsv1.Deployment {
		return appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: "ns", Labels: map[string]string{contract.LabelApp: app}},
			Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
			Status: appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: ready, AvailableReplicas: ready}}
	}
	pod := func(name, app string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{contract.LabelApp: app, "team": "a"}}}
	}
	budget := func(ns, name string, sel *metav1.LabelSelector, allowed int32, observed bool) policyv1.PodDisruptionBudget {
		b := policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 2},
			Spec:   policyv1.PodDisruptionBudgetSpec{Selector: sel},
			Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2, DisruptionsAllowed: allowed, CurrentHealthy: 1, ExpectedPods: 2}}
		if !observed {
			b.Status.ObservedGeneration = 1
		}
		return b
	}
	app := func(name string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: name}}
	}
	gone := pod("cart-gone", "gone")
	gone.DeletionTimestamp = ptr.To(metav1.Now())
	b := newBook(false, nil)
	b.deployments([]appsv1.Deployment{dep("cart", 1), dep("shop", 2), dep("gone", 1)})
	pods := []corev1.Pod{pod("cart-1", "cart"), pod("cart-2", "cart"), pod("shop-1", "shop"), pod("shop-2", "shop"), gone}
	b.podsByApp(pods) // as StatusesOf reads them: by app first
	b.pods(pods)
	b.budgets([]policyv1.PodDisruptionBudget{
		budget("ns", "cart", app("cart"), 0, true),                                                        // spec.pdb's
		budget("ns", "team", &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}, 0, true), // another's, over its pods
		budget("ns", "room", app("cart"), 1, true),
		budget("ns", "stale", app("cart"), 1, false), // not computed yet: the Eviction API refuses
		budget("ns", "fresh", app("shop"), 1, false), // shop is Ready: said of none
		budget("ns", "web", app("web"), 0, true),
		budget("ns", "none", nil, 0, true), // a null selector selects nothing
		budget("other", "everything", &metav1.LabelSelector{}, 0, true),
	})
	got := map[string][]string{}
	for _, st := range b.statuses() {
		for _, bb := range st.BlockingBudgets {
			got[st.App] = append(got[st.App], bb.Name)
		}
	}
	if !slices.Equal(got["cart"], []string{"cart", "team", "stale"}) || len(got) != 1 {
		t.Errorf("blocking budgets = %v; want cart's: cart, team, stale", got)
	}
	want := "PodDisruptionBudget cart allows no disruption now: node drains and kubectl zz rebalance wait for this app (1 of 2 pods ready)"
	if note := b.apps["ns/cart"].BlockingBudgets[0].Note(); note != want {
		t.Errorf("note = %q, want %q", note, want)
	}
	// Not computed yet: said so, not with counts that are not its own (a
	// review read "0 of 0 pods ready").
	want = "PodDisruptionBudget stale is being processed by the disruption controller (just made or changed): evictions of this app's pods, node drains and kubectl zz rebalance wait until it is"
	if note := b.apps["ns/cart"].BlockingBudgets[2].Note(); note != want {
		t.Errorf("note = %q, want %q", note, want)
	}
}

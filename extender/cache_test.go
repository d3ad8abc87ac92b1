package extender

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestGuarded: a pod is guarded when a budget of its namespace selects it
// and allows no disruption; policy/v1 selectors: empty selects every pod,
// null none.
func TestGuarded(t *testing.T) {
	pod := func(name, app string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{"app": app}}}
	}
	budget := func(name string, sel *metav1.LabelSelector, allowed int32) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: policyv1.PodDisruptionBudgetSpec{Selector: sel}, Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed}}
	}
	client := fake.NewClientset(pod("db-0", "db"), pod("web-0", "web"), pod("job-0", "job"),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "db-0", Labels: map[string]string{"app": "db"}}},
		budget("db", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, 0),
		budget("web", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, 1),
		budget("none", nil, 0))
	c, err := NewCache(client, gpushare.NewLedger(), balance.NewBook())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Run(t.Context(), time.Minute, time.Minute) }()
	for deadline := time.Now().Add(10 * time.Second); c.Ready() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("caches did not sync")
		}
	}
	for _, tc := range []struct {
		ns, name string
		want     bool
	}{
		{"ns", "db-0", true},     // its budget allows no disruption
		{"ns", "web-0", false},   // its budget allows one
		{"ns", "job-0", false},   // only the null selector, which selects nothing
		{"other", "db-0", false}, // budgets are per namespace
		{"ns", "gone", false},
	} {
		if got := c.Guarded(types.NamespacedName{Namespace: tc.ns, Name: tc.name}); got != tc.want {
			t.Errorf("Guarded(%s/%s) = %v, want %v", tc.ns, tc.name, got, tc.want)
		}
	}
	// An empty selector selects every pod of the namespace.
	if _, err := client.PolicyV1().PodDisruptionBudgets("ns").Create(t.Context(), budget("all", &metav1.LabelSelector{}, 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !c.Guarded(types.NamespacedName{Namespace: "ns", Name: "job-0"}); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an empty selector does not guard job-0")
		}
	}
}

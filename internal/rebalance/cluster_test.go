package rebalance

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestSnapshot: the nodes' labels, taints and every resource, the pods'
// other requests and constraints, the volumes a claim is bound to, and a
// pod with claims pinned when volumes cannot be read.
func TestSnapshot(t *testing.T) {
	gpu := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-1", Labels: map[string]string{"pool": "gpu"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Conditions: ready, Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"),
			corev1.ResourcePods: resource.MustParse("110"), "zz.io/gpu": resource.MustParse("64"), "nvidia.com/gpu": resource.MustParse("8")}}}
	// A node the node lifecycle controller lost: its pods, about to be
	// evicted, load nothing the plan evens out.
	lost := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cpu-1"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}}
	gone := ownedPod("gone-1", "cpu-1", "ReplicaSet", "train-7c")
	infer := ownedPod("infer-1", "gpu-1", "ReplicaSet", "infer-5f")
	infer.Spec.Containers = []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), "zz.io/gpu-mem": resource.MustParse("10240")},
		Limits:   corev1.ResourceList{"zz.io/gpu-mem": resource.MustParse("10240")}}}}
	// A pod on a whole card, and one asking for a resource no node advertises
	// (the scheduler ignores it: an extender's).
	trainer := ownedPod("train-1", "gpu-1", "ReplicaSet", "train-7c")
	trainer.Spec.Containers = []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), "nvidia.com/gpu": resource.MustParse("1"), "example.com/ignored": resource.MustParse("3")}}}}
	db := ownedPod("db-0", "gpu-1", "StatefulSet", "db")
	db.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0"}}}}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-db-0", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1"}}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1"}, Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{
		Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
			Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"gpu"}}}}}}}}}
	// A replica of an app of one: the executor never moves it, so no plan may count on it.
	solo := ownedPod("solo-1", "gpu-1", "ReplicaSet", "solo-6d")
	// A replica whose budget allows no disruption: every eviction would be refused.
	guarded := ownedPod("guarded-1", "gpu-1", "ReplicaSet", "guarded-5c")
	guarded.Labels = map[string]string{"app": "guarded"}
	budget := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: "ns"},
		Spec:   policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0}}
	client := fake.NewClientset([]runtime.Object{gpu, lost, gone, infer, trainer, db, claim, pv, solo, replicaSet("solo-6d", 1, 1), replicaSet("train-7c", 2, 2), guarded, replicaSet("guarded-5c", 3, 3), budget}...)
	nodes, notReady, err := Snapshot(t.Context(), client, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(notReady) != 1 || notReady[0] != "cpu-1" {
		t.Errorf("not Ready: %q, want cpu-1", notReady)
	}
	if len(nodes) != 1 || nodes[0].Labels["pool"] != "gpu" || len(nodes[0].Taints) != 1 || nodes[0].Other["nvidia.com/gpu"] != 8 || nodes[0].Other[corev1.ResourcePods] != 110 {
		t.Fatalf("node %+v", nodes)
	}
	pods := map[string]Pod{}
	for _, p := range nodes[0].Pods {
		pods[p.Name] = p
	}
	if p := pods["infer-1"]; p.Unmovable != ReasonGPUMemory {
		t.Errorf("infer-1, on shared GPU memory: unmovable %q, want %q", p.Unmovable, ReasonGPUMemory)
	}
	if p := pods["guarded-1"]; p.Unmovable != ReasonBudget+" guarded allows no disruption now" {
		t.Errorf("guarded-1, under a budget that allows no disruption: unmovable %q", p.Unmovable)
	}
	if p := pods["solo-1"]; p.Unmovable != errSingleReplica.Error() {
		t.Errorf("solo-1, its app's only replica: unmovable %q", p.Unmovable)
	}
	if p := pods["train-1"]; p.Unmovable != "" || p.Constraints == nil || len(p.Other) != 1 || p.Other["nvidia.com/gpu"] != 1 {
		t.Errorf("train-1: %+v", p)
	}
	if p := pods["db-0"]; p.Unmovable != "" || p.Constraints == nil || len(p.Constraints.volumes) != 1 || p.Constraints.volumes[0].Name != "pv-1" {
		t.Errorf("db-0: %+v", p)
	}

	client.PrependReactor("list", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("persistentvolumes"), "", errors.New("no"))
	})
	nodes, _, err = Snapshot(t.Context(), client, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nodes[0].Pods {
		if p.Name == "solo-1" || p.Name == "guarded-1" {
			continue
		}
		if pinned := strings.HasPrefix(p.Unmovable, ReasonVolumesUnknown); pinned != (p.Name == "db-0") || p.Name == "train-1" && p.Unmovable != "" {
			t.Errorf("volumes unreadable: %s unmovable %q", p.Name, p.Unmovable)
		}
	}
}

var ready = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}

// TestNotReady: a node is left out of the plan when its Ready condition is
// not True (or missing), or it carries the taint of a lost or NotReady
// node, whatever its condition says; other taints are the planner's.
func TestNotReady(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status corev1.ConditionStatus // "": no Ready condition
		taint  string
		want   bool
	}{
		{"ready", corev1.ConditionTrue, "", false},
		{"ready, tainted for a pool", corev1.ConditionTrue, "gpu", false},
		{"NotReady", corev1.ConditionFalse, "", true},
		{"unknown (kubelet silent)", corev1.ConditionUnknown, "", true},
		{"no Ready condition yet", "", "", true},
		{"unreachable taint, condition not yet updated", corev1.ConditionTrue, corev1.TaintNodeUnreachable, true},
		{"not-ready taint", corev1.ConditionTrue, corev1.TaintNodeNotReady, true},
	} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}}
		if tc.status != "" {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: tc.status})
		}
		if tc.taint != "" {
			n.Spec.Taints = []corev1.Taint{{Key: tc.taint, Effect: corev1.TaintEffectNoSchedule}}
		}
		if got := NotReady(n); got != tc.want {
			t.Errorf("%s: NotReady %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"cpu-1"}, "1 node not Ready left out: cpu-1"},
		{[]string{"cpu-1", "cpu-2"}, "2 nodes not Ready left out: cpu-1, cpu-2"},
	} {
		if got := LeftOut(tc.names); got != tc.want {
			t.Errorf("LeftOut(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
}

// TestOnlyNamespace: pods outside the namespace stay, saying why; a pod
// already kept keeps its own reason; the namespace's pods stay movable.
func TestOnlyNamespace(t *testing.T) {
	nodes := []Node{{Name: "n1", Pods: []Pod{
		{Namespace: "team-a", Name: "a"},
		{Namespace: "team-b", Name: "b"},
		{Namespace: "kube-system", Name: "dns", Unmovable: ReasonSystem},
		{Namespace: "team-a", Name: "solo", Unmovable: "one replica"},
	}}}
	OnlyNamespace(nodes, "team-a")
	for _, tc := range []struct{ pod, want string }{
		{"a", ""}, {"b", "not in namespace team-a (-n)"}, {"dns", ReasonSystem}, {"solo", "one replica"},
	} {
		for _, p := range nodes[0].Pods {
			if p.Name == tc.pod && p.Unmovable != tc.want {
				t.Errorf("%s: %q, want %q", tc.pod, p.Unmovable, tc.want)
			}
		}
	}
	if got := Kept(nodes); !strings.Contains(got, "1  not in namespace team-a (-n)") {
		t.Errorf("Kept:\n%s", got)
	}
}

// TestBudgetBlocks: a budget blocks a pod of its namespace it selects
// while it allows no disruption by a status computed for its generation;
// a selector that cannot be read blocks (the Eviction API would judge it),
// an empty one takes every pod of the namespace, a null one none.
func TestBudgetBlocks(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns", Labels: map[string]string{"app": "web"}}}
	web := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	for _, tt := range []struct {
		name     string
		ns       string
		sel      *metav1.LabelSelector
		allowed  int32
		observed int64
		want     bool
	}{
		{"selects it, none allowed", "ns", web, 0, 2, true},
		{"one allowed", "ns", web, 1, 2, false},
		// The Eviction API refuses (429) while the controller has not
		// computed the budget's generation, whatever its old status says.
		{"status of an older generation", "ns", web, 0, 1, true},
		{"status of an older generation allowing one", "ns", web, 1, 1, true},
		{"another namespace", "other", web, 0, 2, false},
		{"another app", "ns", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}, 0, 2, false},
		{"empty selector", "ns", &metav1.LabelSelector{}, 0, 2, true},
		{"null selector", "ns", nil, 0, 2, false},
		{"unreadable selector", "ns", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}, 0, 2, true},
	} {
		b := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: tt.ns, Generation: 2},
			Spec: policyv1.PodDisruptionBudgetSpec{Selector: tt.sel}, Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: tt.observed, DisruptionsAllowed: tt.allowed}}
		if got := BudgetBlocks(b, pod); got != tt.want {
			t.Errorf("%s: BudgetBlocks = %v, want %v", tt.name, got, tt.want)
		}
	}
}

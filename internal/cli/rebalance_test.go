package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/rebalance"
)

// TestOtherSchedulers: a plan whose pods another scheduler places says so,
// since their replacements may not land where planned.
func TestOtherSchedulers(t *testing.T) {
	move := func(sched string) rebalance.Move { return rebalance.Move{Pod: rebalance.Pod{Scheduler: sched}} }
	tests := []struct {
		moves []rebalance.Move
		want  string
	}{
		{nil, ""},
		{[]rebalance.Move{move(contract.SchedulerName), move(contract.SchedulerName)}, ""},
		{[]rebalance.Move{move(contract.SchedulerName), move("default-scheduler"), move("volcano"), move("default-scheduler")},
			"3 of the 4 moves are of pods placed by default-scheduler, volcano"},
	}
	for _, tt := range tests {
		if got := otherSchedulers(tt.moves); got != tt.want {
			t.Errorf("otherSchedulers = %q, want %q", got, tt.want)
		}
	}
}

// TestSampledWarning: past 100 nodes the scheduler scores a sample, and the
// plan says so when it moves anything.
func TestSampledWarning(t *testing.T) {
	for _, tt := range []struct {
		nodes, moves int
		warns        bool
	}{{100, 5, false}, {101, 5, true}, {5000, 0, false}} {
		if got := sampledWarning(tt.nodes, tt.moves); (got != "") != tt.warns {
			t.Errorf("%d nodes, %d moves: %q", tt.nodes, tt.moves, got)
		}
	}
}

// TestRebalanceNamespace: an explicit -n moves only that namespace's pods
// (it was taken and ignored: an audit); without it every namespace's pods
// may move, the context's namespace notwithstanding. Every pod's requests
// load the nodes either way.
func TestRebalanceNamespace(t *testing.T) {
	node := func(name string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}, Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}}}
	}
	pod := func(ns, name, cpu string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": ns},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: ns + "-rs", Controller: ptr.To(true), APIVersion: "apps/v1"}}},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("512Mi")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	objs := []runtime.Object{node("n1"), node("n2")}
	for i := range 3 {
		// ns-b's pods are the ones that even the nodes best: moved
		// without -n, though the context's namespace is ns-a.
		objs = append(objs, pod("ns-a", fmt.Sprintf("a-%d", i), "100m"), pod("ns-b", fmt.Sprintf("b-%d", i), "1"))
	}
	zz := withFakeClusters(t, fakeClient(objs...), fakeClient())
	for _, tc := range []struct {
		name    string
		args    []string
		wantNS  []string // the namespaces moves may be of
		wantErr string   // on stderr
	}{
		{"every namespace", nil, []string{"ns-b"}, ""},
		{"-n ns-b", []string{"-n", "ns-b"}, []string{"ns-b"}, "3  not in namespace ns-b (-n)"},
		{"--namespace=ns-a", []string{"--namespace=ns-a"}, []string{"ns-a"}, "3  not in namespace ns-a (-n)"},
		{"-n with no pods", []string{"-n", "ns-empty"}, nil, "6  not in namespace ns-empty (-n)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := zz(append([]string{"rebalance", "--dry-run", "--context", "a", "-o", "jsonpath={range .items[*]}{.namespace} {end}"}, tc.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			seen := map[string]bool{}
			for _, ns := range strings.Fields(out) {
				seen[ns] = true
			}
			if got := slices.Sorted(maps.Keys(seen)); !slices.Equal(got, tc.wantNS) {
				t.Errorf("moves of %v, want %v\n%s", got, tc.wantNS, stderr)
			}
			if !strings.Contains(stderr, tc.wantErr) || tc.wantErr == "" && strings.Contains(stderr, "not in namespace") {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, stderr)
			}
		})
	}
}

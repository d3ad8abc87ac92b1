package balance

import (
	"math"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

func pod(uid, node, app, cpu, mem string) *corev1.Pod {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Name: uid, Namespace: "ns", Labels: map[string]string{contract.LabelApp: app}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Requests: req}}}},
	}
}

func TestBook(t *testing.T) {
	b := NewBook()
	for _, name := range []string{"a", "b"} {
		b.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}}})
	}
	b.SetPod(pod("1", "a", "web", "1", "2Gi"))
	b.SetPod(pod("2", "a", "web", "1", "2Gi"))
	b.SetPod(pod("3", "b", "db", "", ""))      // no requests: scheduler defaults
	b.SetPod(pod("4", "", "web", "1", "1Gi"))  // unbound: counts nowhere
	b.SetPod(pod("1", "a", "web", "1", "2Gi")) // seen again: counted once

	nodes, mean := b.Snapshot([]string{"a", "b", "gone"}, "ns/web")
	if nodes[0].Requested != (Resources{2000, 4 << 30}) || nodes[0].AppPods != 2 {
		t.Fatalf("node a: %+v", nodes[0])
	}
	if nodes[1].Requested != (Resources{100, 200 << 20}) || nodes[1].AppPods != 0 {
		t.Fatalf("node b: %+v", nodes[1])
	}
	if nodes[2].Allocatable != (Resources{}) {
		t.Fatalf("unknown node has allocatable: %+v", nodes[2])
	}
	wantCPU, wantMem := (0.5+100.0/4000)/2, (0.5+200.0/8192)/2
	if mean.CPU < wantCPU-1e-9 || mean.CPU > wantCPU+1e-9 || mean.Memory < wantMem-1e-9 || mean.Memory > wantMem+1e-9 {
		t.Fatalf("mean = %+v, want %v/%v", mean, wantCPU, wantMem)
	}
	done := pod("2", "a", "web", "1", "2Gi")
	done.Status.Phase = corev1.PodSucceeded
	b.SetPod(done)
	b.DeletePod("1")
	nodes, _ = b.Snapshot([]string{"a"}, "ns/web")
	if nodes[0].Requested != (Resources{}) || nodes[0].AppPods != 0 {
		t.Fatalf("after the pods went: %+v", nodes[0])
	}
}

func TestBookAssume(t *testing.T) {
	b := NewBook()
	for _, name := range []string{"a", "b"} {
		b.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}}})
	}
	t0 := time.Unix(100, 0)
	p := pod("1", "", "web", "1", "1Gi")
	b.Assume(p, "a", t0)
	b.SetPod(p) // an update while still pending keeps the guess
	if nodes, _ := b.Snapshot([]string{"a", "b"}, "ns/web"); nodes[0].Requested.MilliCPU != 1000 || nodes[0].Requested.Memory != 1<<30 || nodes[0].AppPods != 1 || nodes[1].Requested != (Resources{}) {
		t.Fatalf("assumed pod not counted on a: %+v", nodes)
	}
	bound := pod("1", "b", "web", "1", "1Gi") // it went elsewhere
	b.SetPod(bound)
	nodes, _ := b.Snapshot([]string{"a", "b"}, "ns/web")
	if nodes[0].Requested.MilliCPU != 0 || nodes[0].AppPods != 0 || nodes[1].Requested.MilliCPU != 1000 {
		t.Fatalf("guess not replaced by the binding: %+v", nodes)
	}
	b.Assume(bound, "a", t0) // a late guess never overrides what was seen
	if nodes, _ := b.Snapshot([]string{"a"}, "ns/web"); nodes[0].Requested.MilliCPU != 0 {
		t.Fatal("assume overrode a bound pod")
	}
	b.Assume(pod("2", "", "web", "1", "1Gi"), "a", t0)
	if n := b.Expire(t0.Add(10*time.Second), 30*time.Second); n != 0 {
		t.Fatal("expired too early")
	}
	if n := b.Expire(t0.Add(time.Minute), 30*time.Second); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
}

// TestBookMeanFollowsChanges: the mean kept as nodes and pods change equals
// ClusterMean over the book's nodes, through every kind of change.
func TestBookMeanFollowsChanges(t *testing.T) {
	b := NewBook()
	setNode := func(name, cpu, mem string) {
		b.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}})
	}
	t0 := time.Unix(100, 0)
	steps := []struct {
		name string
		do   func()
	}{
		{"nodes", func() { setNode("a", "4", "8Gi"); setNode("b", "8", "16Gi"); setNode("c", "0", "1Gi") }},
		{"bound pods", func() { b.SetPod(pod("1", "a", "web", "1", "2Gi")); b.SetPod(pod("2", "b", "db", "3", "1Gi")) }},
		{"assumed pod", func() { b.Assume(pod("3", "", "web", "2", "4Gi"), "b", t0) }},
		{"assumed pod bound elsewhere", func() { b.SetPod(pod("3", "a", "web", "2", "4Gi")) }},
		{"pod on a node not seen yet", func() { b.SetPod(pod("4", "d", "web", "1", "1Gi")) }},
		{"that node appears", func() { setNode("d", "2", "2Gi") }},
		{"node resized", func() { setNode("a", "16", "32Gi") }},
		{"pod deleted", func() { b.DeletePod("2") }},
		{"node deleted", func() { b.DeleteNode("b") }},
		{"assumption expired", func() { b.Assume(pod("5", "", "x", "1", "1Gi"), "a", t0); b.Expire(t0.Add(time.Hour), time.Minute) }},
	}
	for _, s := range steps {
		s.do()
		names := []string{"a", "b", "c", "d"}
		nodes, got := b.Snapshot(names, "")
		want := ClusterMean(nodes)
		if math.Abs(got.CPU-want.CPU) > 1e-12 || math.Abs(got.Memory-want.Memory) > 1e-12 {
			t.Fatalf("after %s: mean %+v, want %+v", s.name, got, want)
		}
	}
}

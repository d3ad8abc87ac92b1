package cli

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/contract"
)

// TestGPUCordon: cordon takes a card out of what --fit offers and says so;
// a second cordon changes nothing; a client dry run and a server dry run
// write nothing; uncordon removes the annotation; a card the node does not
// have is an error that lists its cards.
func TestGPUCordon(t *testing.T) {
	client := fakeClient(gpuCluster(t, "ns-a")...)
	zz := withFakeClusters(t, client, fakeClient())
	annotation := func() (string, bool) {
		t.Helper()
		n, err := client.CoreV1().Nodes().Get(t.Context(), "gpu-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v, ok := n.Annotations[contract.AnnotationNodeGPUCordon]
		return v, ok
	}
	run := func(want string, args ...string) {
		t.Helper()
		out, stderr, err := zz(args...)
		if err != nil || strings.TrimSpace(out) != want {
			t.Fatalf("%v: %q, %v (%s); want %q", args, out, err, stderr, want)
		}
	}
	run("node/gpu-1 card 0 (GPU-A) cordoned (dry run)", "gpu", "cordon", "gpu-1", "0", "--dry-run") // bare: client, as kubectl
	if v, ok := annotation(); ok {
		t.Fatalf("a client dry run wrote %q", v)
	}
	var dryRuns int
	client.PrependReactor("patch", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if p, ok := a.(k8stesting.PatchActionImpl); ok && strings.Contains(strings.Join(p.PatchOptions.DryRun, ","), metav1.DryRunAll) {
			dryRuns++
			return true, nil, nil
		}
		return false, nil, nil
	})
	run("node/gpu-1 card 0 (GPU-A) cordoned (server dry run)", "gpu", "cordon", "gpu-1", "0", "--dry-run=server")
	if v, ok := annotation(); ok || dryRuns != 1 {
		t.Fatalf("a server dry run: %d dry-run patches, annotation %q", dryRuns, v)
	}
	run("node/gpu-1 card 0 (GPU-A) cordoned", "gpu", "cordon", "gpu-1", "gpu-a")
	if v, _ := annotation(); v != "GPU-A" {
		t.Fatalf("annotation %q, want GPU-A", v)
	}
	run("node/gpu-1 card 0 (GPU-A) already cordoned", "gpu", "cordon", "gpu-1", "0")
	checkLines(t, zz, []string{"gpu"}, []string{"NODE CARD MODEL TOTAL ALLOCATED FREE PODS",
		"gpu-1 0 NVIDIA A100-SXM4-40GB 40Gi 0Mi 0 (cordoned) 0"})
	checkLines(t, zz, []string{"gpu", "--fit", "1Gi"}, []string{"NODE FITS CARDS MORE REASON",
		"gpu-1 false <none> 0 node has 0 healthy GPU cards < 1 asked; card 0 (GPU-A) unhealthy: cordoned (zz.io/gpu-cordon)"})
	run("node/gpu-1 card 0 (GPU-A) uncordoned", "gpu", "uncordon", "gpu-1", "0")
	if v, ok := annotation(); ok {
		t.Fatalf("uncordon left %q", v)
	}
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"gpu", "cordon", "gpu-1", "7"}, `node gpu-1: no card "7"; its cards are 0 (GPU-A)`},
		{[]string{"gpu", "cordon", "gpu-1"}, "requires at least 2 arg(s)"},
		{[]string{"gpu", "cordon", "gpu-1", "0", "--dry-run=maybe"}, `"maybe": use "none", "client" or "server" (bare --dry-run is "client")`},
		{[]string{"gpu", "cordon", "nope", "0"}, `nodes "nope" not found`},
		{[]string{"gpu", "cordon", "gpu-1", "0", "--context", "a,b"}, "one cluster at a time"},
	} {
		if _, _, err := zz(tt.args...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
}

// TestNodeCordoned: a node cordoned with kubectl cordon takes no new pod,
// whatever its cards hold: the card table says so where it showed the free
// memory as room (a GPU audit), and --fit pod/NAME keeps the node off, as
// kube-scheduler's NodeUnschedulable filter does, unless the pod tolerates
// the cordon.
func TestNodeCordoned(t *testing.T) {
	objs := gpuCluster(t, "ns-a", [3]string{"llm-0", "llm", ""})
	objs[0].(*corev1.Node).Spec.Unschedulable = true
	waiting := func(name string, tolerations ...corev1.Toleration) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-a"},
			Spec: corev1.PodSpec{SchedulerName: contract.SchedulerName, Tolerations: tolerations, Containers: []corev1.Container{{Name: "c",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("4Gi"), contract.ResourceGPU: resource.MustParse("1")}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending}}
	}
	objs = append(objs, waiting("train-0"), waiting("tolerant", corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))
	zz := withFakeClusters(t, fakeClient(objs...), fakeClient())
	checkLines(t, zz, []string{"gpu"}, []string{"NODE CARD MODEL TOTAL ALLOCATED FREE PODS",
		"gpu-1 0 NVIDIA A100-SXM4-40GB 40Gi 8Gi 0 (node cordoned) 1"})
	checkLines(t, zz, []string{"gpu", "--fit", "pod/train-0", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON",
		"gpu-1 false <none> 0 the node is cordoned (kubectl uncordon gpu-1 gives it back)"})
	checkLines(t, zz, []string{"gpu", "--fit", "pod/tolerant", "-n", "ns-a"}, []string{"NODE FITS CARDS MORE REASON", "gpu-1 true 0 3 <none>"})
}

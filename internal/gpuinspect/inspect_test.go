package gpuinspect

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

func fixture(t *testing.T) *fake.Clientset {
	inv := &contract.NodeGPUInventory{Version: 1, Cards: []contract.GPU{
		{Index: 0, UUID: "GPU-0", Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true},
		{Index: 1, UUID: "GPU-1", Model: "Tesla T4", MemoryMiB: 15360, Healthy: true},
	}}
	v, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name string, a *gpushare.Assignment, askMiB int64) *corev1.Pod {
		limits := corev1.ResourceList{
			contract.ResourceGPUMem: *resource.NewQuantity(askMiB<<20, resource.BinarySI),
			contract.ResourceGPU:    *resource.NewQuantity(int64(len(a.UUIDs)), resource.DecimalSI),
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team", UID: types.UID("u-" + name), Annotations: a.Annotations()},
			Spec: corev1.PodSpec{NodeName: "gpu-1", Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: limits}}}}}
	}
	broken := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: "team", UID: "u-broken",
		Annotations: map[string]string{contract.AnnotationGPUIndexes: "zero"}}, Spec: corev1.PodSpec{NodeName: "gpu-1"}}
	return fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-1", Annotations: map[string]string{contract.AnnotationNodeGPUInventory: v}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cpu-1"}},
		pod("train", &gpushare.Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-0"}, MemMiB: 8192}, 8192),
		pod("infer", &gpushare.Assignment{Indexes: []int{0, 1}, UUIDs: []string{"GPU-0", "GPU-1"}, MemMiB: 3000}, 3000),
		// Asks for 1 GiB, claims 30000 MiB: refused, shown as a warning.
		pod("forged", &gpushare.Assignment{Indexes: []int{1}, UUIDs: []string{"GPU-1"}, MemMiB: 30000}, 1024),
		broken,
	)
}

func TestCollectAndPrint(t *testing.T) {
	views, warnings, err := Collect(t.Context(), fixture(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(strings.Join(warnings, "\n"), "team/broken") ||
		!strings.Contains(strings.Join(warnings, "\n"), "team/forged: GPU assignment does not agree with the pod") {
		t.Errorf("warnings = %v, want one about team/broken and one about team/forged", warnings)
	}
	if len(views) != 1 || views[0].Name != "gpu-1" {
		t.Fatalf("views = %+v, want only gpu-1", views)
	}
	tests := []struct {
		wide bool
		want []string
	}{
		{false, []string{"NODE CARD MODEL TOTAL ALLOCATED FREE PODS", "gpu-1 0 NVIDIA A100-SXM4-40GB 40Gi 11192Mi 29768Mi 2", "gpu-1 1 Tesla T4 15Gi 3000Mi 12360Mi 1"}},
		{true, []string{"UUID HEALTHY POD MEMORY", "team/infer:3000Mi,team/train:8Gi", "GPU-1 true"}},
	}
	for _, tt := range tests {
		header, rows := Table(views, tt.wide)
		lines := []string{strings.Join(header, " ")}
		for _, r := range rows {
			if len(r) != len(header) {
				t.Errorf("row %v has %d cells, header %d", r, len(r), len(header))
			}
			lines = append(lines, strings.Join(r, " "))
		}
		got := strings.Join(lines, "\n")
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("wide=%t table lacks %q:\n%s", tt.wide, w, got)
			}
		}
	}
}

func TestCollectUnknownNode(t *testing.T) {
	if _, _, err := Collect(t.Context(), fixture(t), []string{"cpu-1"}); err == nil || !strings.Contains(err.Error(), `node "cpu-1" has no GPUs`) {
		t.Fatalf("err = %v", err)
	}
}

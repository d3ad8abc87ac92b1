package gpushare

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestCheckNames: what a pod names under zz.io/ for GPUs and zz does not
// read is refused with the name it meant; zz's own names pass.
func TestCheckNames(t *testing.T) {
	pod := func(limits map[corev1.ResourceName]string, annotations map[string]string) *corev1.Pod {
		rl := corev1.ResourceList{}
		for k, v := range limits {
			rl[k] = resource.MustParse(v)
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Limits: rl}}}}}
	}
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"zz's names", pod(map[corev1.ResourceName]string{contract.ResourceGPUMem: "4Gi", contract.ResourceGPU: "2", contract.ResourceGPUMemTotal: "8Gi"},
			map[string]string{contract.AnnotationGPUModel: "A100", contract.AnnotationGPUUUIDs: "GPU-1", "zz.io/injection-other": "x"}), ""},
		{"HAMi's spelling", pod(map[corev1.ResourceName]string{"zz.io/gpumem": "4096"}, nil),
			"container c: zz.io/gpumem is not a zz resource (did you mean zz.io/gpu-mem?); GPU memory is zz.io/gpu-mem (per card, e.g. 4096Mi) and cards zz.io/gpu (default 1)"},
		{"another word", pod(map[corev1.ResourceName]string{"zz.io/gpu-memory": "4Gi"}, nil), "container c: zz.io/gpu-memory is not a zz resource (did you mean zz.io/gpu-mem?)"},
		{"the total alone", pod(map[corev1.ResourceName]string{contract.ResourceGPUMemTotal: "4Gi"}, nil),
			"container c: zz.io/gpu-mem-total is set without zz.io/gpu-mem"},
		{"a typo'd choice", pod(nil, map[string]string{"zz.io/gpu-modle": "A100"}),
			"annotation zz.io/gpu-modle is not one zz reads (did you mean zz.io/gpu-model?); a pod's GPU choices are zz.io/gpu-policy"},
		{"an underscore", pod(nil, map[string]string{"zz.io/gpu_model": "A100"}), "annotation zz.io/gpu_model is not one zz reads (did you mean zz.io/gpu-model?)"},
		{"another case", pod(nil, map[string]string{"zz.io/GPU-model": "A100"}), "annotation zz.io/GPU-model is not one zz reads (did you mean zz.io/gpu-model?)"},
		{"far from any", pod(nil, map[string]string{"zz.io/gpu-favourite-colour": "green"}), "annotation zz.io/gpu-favourite-colour is not one zz reads; a pod's GPU choices"},
	} {
		err := CheckNames(tt.pod)
		if got := ""; err != nil {
			got = err.Error()
			if tt.want == "" || !strings.HasPrefix(got, tt.want) {
				t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%s: passed, want %q", tt.name, tt.want)
		}
	}
}

// TestForeignAsk: HAMi's GPU memory without zz's is warned of, with the
// zz resource to ask.
func TestForeignAsk(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1"), hamiMemory: resource.MustParse("4096")}}}}}}
	if w := ForeignAsk(p); !strings.Contains(w, "container c asks for nvidia.com/gpumem 4096, HAMi's GPU memory: zz schedules zz.io/gpu-mem (per card, e.g. 4096Mi)") {
		t.Errorf("warning %q", w)
	}
	p.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = resource.MustParse("4Gi")
	if w := ForeignAsk(p); w != "" {
		t.Errorf("a pod asking both: %q", w)
	}
}

// TestNamesCoverTheContract: every zz.io/gpu* annotation the contract
// names is a pod's choice, one zz writes on pods, or not a pod's (a node's,
// a container's): a key added to the contract and forgotten here would be
// refused on the pods that carry it.
func TestNamesCoverTheContract(t *testing.T) {
	src, err := os.ReadFile("../contract/names.go")
	if err != nil {
		t.Fatal(err)
	}
	notPods := []string{contract.AnnotationNodeGPUInventory, contract.AnnotationNodeGPUCordon, contract.AnnotationContainerGPU, contract.LabelGPUNode}
	keys := regexp.MustCompile(`Prefix \+ "(gpu[a-z-]*)"`).FindAllSubmatch(src, -1)
	if len(keys) < 10 {
		t.Fatalf("found %d zz.io/gpu* names in the contract; the pattern is stale", len(keys))
	}
	for _, m := range keys {
		key := contract.Prefix + string(m[1])
		if slices.Contains(resources, corev1.ResourceName(key)) {
			continue
		}
		if !slices.Contains(Choices, key) && !slices.Contains(written, key) && !slices.Contains(notPods, key) {
			t.Errorf("%s is in the contract but neither a choice, written on pods, nor another object's", key)
		}
	}
}

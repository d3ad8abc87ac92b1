package deploy

import (
	"strings"
	"testing"
)

// TestSpecWords: the GPU refusals an app spec causes say the fix in the
// spec's words too; other refusals add nothing.
func TestSpecWords(t *testing.T) {
	tests := []struct {
		name, refusal, want string
	}{
		{name: "webhook: cards without memory",
			refusal: `pods "infer-7cb5f-" is forbidden: admission webhook "pods.zz.io" denied the request: zz-webhook: container app asks for zz.io/gpu 2 without zz.io/gpu-mem: zz shares cards by GPU memory, so ask for the memory ...`,
			want:    "; in the app spec: spec.gpus: 2 without spec.gpuMem: ask for the memory each card needs (spec.gpuMem: 16Gi), or spec.gpuWhole: true with spec.gpuMem: the largest card (kubectl zz gpu, TOTAL)"},
		{name: "admission policy: cards without memory",
			refusal: `deployments.apps "train" is forbidden: ValidatingAdmissionPolicy 'zz-gpu-mem-total' with binding 'zz-gpu-mem-total' denied request: containers app ask for zz.io/gpu cards without zz.io/gpu-mem: zz shares cards by GPU memory ...`,
			want:    "; in the app spec: spec.gpus without spec.gpuMem: ask for the memory each card needs"},
		{name: "webhook: more than the largest card",
			refusal: `admission webhook "pods.zz.io" denied the request: zz-webhook: zz.io/gpu-mem asks for 102400 MiB per card but the largest card of this cluster has 81920 MiB; ask for at most 80Gi`,
			want:    "; in the app spec: spec.gpuMem: at most 80Gi, the largest card of this cluster (kubectl zz gpu, TOTAL)"},
		{name: "another refusal", refusal: `admission webhook "pods.zz.io" denied the request: zz-webhook: pool critical is reserved for namespaces [payments]`},
		{name: "memory total, not memory", refusal: `containers app ask for zz.io/gpu cards without zz.io/gpu-mem-total`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SpecWords(tt.refusal)
			if (tt.want == "") != (got == "") || !strings.HasPrefix(got, tt.want) {
				t.Errorf("SpecWords = %q, want %q", got, tt.want)
			}
		})
	}
}

package appspec

import (
	"strings"
	"testing"
)

// TestDeviceEnv: the env the zz device plugin sets is refused before
// anything is written, in the app's env and its sidecars' (a Secret env of
// that name whatever its value), and envFrom entries of a GPU app that
// could set it; void and none pass.
func TestDeviceEnv(t *testing.T) {
	const gpu = "gpuMem: 4Gi\n  "
	for _, tc := range []struct {
		name, spec, want string // want "" loads
	}{
		{"app env all", "env: {NVIDIA_VISIBLE_DEVICES: all}",
			`spec.env.NVIDIA_VISIBLE_DEVICES: is the zz device plugin's: it sets it to the cards the pod was given, and the container's own would win; ask for cards with spec.gpuMem (and spec.gpus) instead, or set it to "void"`},
		{"app env void", "env: {NVIDIA_VISIBLE_DEVICES: void}", ""},
		{"app env none, GPU app", gpu + "env: {NVIDIA_VISIBLE_DEVICES: none}", ""},
		{"app env MPS limit", gpu + "env: {CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: 0=80G}",
			`spec.env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: is the zz device plugin's: it sets it from the pod's zz.io/gpu-mem, and the container's own would win; remove it`},
		{"app env MPS threads", "env: {CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '100'}", "spec.env.CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: is the zz device plugin's"},
		{"other CUDA env", gpu + "env: {CUDA_MPS_PIPE_DIRECTORY: /tmp/mps, NVIDIA_DRIVER_CAPABILITIES: all}", ""},
		{"secret env", "secretEnv: {NVIDIA_VISIBLE_DEVICES: {secret: s, key: k}}", "spec.secretEnv.NVIDIA_VISIBLE_DEVICES: is the zz device plugin's"},
		{"sidecar env, GPU app", gpu + "sidecars: [{name: thief, image: 'p:1', env: {NVIDIA_VISIBLE_DEVICES: all}}]",
			`spec.sidecars[0].env.NVIDIA_VISIBLE_DEVICES: is the zz device plugin's: it sets it to the cards the pod was given`},
		{"sidecar Secret env", "sidecars: [{name: thief, image: 'p:1', secretEnv: {CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: {secret: s, key: k}}}]",
			`spec.sidecars[0].secretEnv.CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: is the zz device plugin's: it sets it from the pod's zz.io/gpu-mem, and the container's own would win; remove it`},
		{"sidecar Secret env, GPU app", gpu + "sidecars: [{name: thief, image: 'p:1', secretEnv: {NVIDIA_VISIBLE_DEVICES: {secret: s, key: k}}}]",
			`spec.sidecars[0].secretEnv.NVIDIA_VISIBLE_DEVICES: is the zz device plugin's: it sets it to the cards the pod was given`},
		{"sidecar env void", "sidecars: [{name: side, image: 'p:1', env: {NVIDIA_VISIBLE_DEVICES: void}}]", ""},
		{"envFrom, GPU app, no prefix", gpu + "envFrom: [{configMap: nv}]",
			`spec.envFrom[0]: with no prefix could set NVIDIA_VISIBLE_DEVICES, CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, CUDA_MPS_ACTIVE_THREAD_PERCENTAGE on the app's GPU container: the zz device plugin sets them from the cards and memory the pod is given, and the container's own would win; take the keys it needs with spec.secretEnv (or spec.env), or give the entry a prefix such as APP_`},
		{"envFrom, GPU app, NVIDIA_ prefix", gpu + "envFrom: [{secret: nv, prefix: NVIDIA_}]", "spec.envFrom[0]: with prefix NVIDIA_ could set NVIDIA_VISIBLE_DEVICES on"},
		{"envFrom, GPU app, APP_ prefix", gpu + "envFrom: [{configMap: nv, prefix: APP_}]", ""},
		{"envFrom, no GPU", "envFrom: [{configMap: nv}]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: worker\n  image: a:1\n  "+tc.spec+"\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to contain\n%s", err, tc.want)
			}
		})
	}
}

package inject

import (
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// EphemeralPatch is the patch of an UPDATE of pods/ephemeralcontainers
// (kubectl debug): NVIDIA_VISIBLE_DEVICES=void on each ephemeral container
// old lacks that sets none. No device plugin allocates for an ephemeral
// container (it has no resources), so under the NVIDIA runtime's envvar
// strategy its image's own ENV (CUDA images say all) exposed every card of
// the node; void in its env wins over that and over its envFrom. One that
// sets another value is left as it is, for the policy
// zz-ephemeral-containers to refuse with the reason. Containers added
// before are never touched: the apiserver refuses any change to them.
func EphemeralPatch(pod, old *corev1.Pod) []jsonpatch.Operation {
	before := map[string]bool{}
	if old != nil {
		for _, c := range old.Spec.EphemeralContainers {
			before[c.Name] = true
		}
	}
	void := corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: contract.VisibleDevicesVoid}
	var ops []jsonpatch.Operation
	for i, c := range pod.Spec.EphemeralContainers {
		if before[c.Name] || hasEnv(c.Env, contract.EnvVisibleDevices) {
			continue
		}
		path := fmt.Sprintf("/spec/ephemeralContainers/%d/env", i)
		if len(c.Env) == 0 { // an empty env is left out of the JSON: add it whole
			ops = append(ops, jsonpatch.NewOperation("add", path, []corev1.EnvVar{void}))
		} else {
			ops = append(ops, jsonpatch.NewOperation("add", path+"/-", void))
		}
	}
	return ops
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

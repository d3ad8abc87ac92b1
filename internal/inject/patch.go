package inject

import (
	"encoding/json"
	"fmt"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
)

// PatchPod decodes a pod from its JSON, mutates a copy and returns the JSON
// patch from the pod to the result (empty when nothing changes). Both sides
// go through the same typed Pod, so fields this binary does not know are never
// touched by the patch. An error refuses the pod with its message.
func (p *Policy) PatchPod(raw []byte, namespace string) (ops []jsonpatch.Operation, warnings []string, err error) {
	var pod corev1.Pod
	if err := json.Unmarshal(raw, &pod); err != nil {
		return nil, nil, fmt.Errorf("cannot decode the object as a Pod: %w", err)
	}
	mutated := pod.DeepCopy()
	if warnings, err = p.Mutate(mutated, namespace); err != nil {
		return nil, warnings, err
	}
	ops, err = Diff(&pod, mutated)
	return ops, warnings, err
}

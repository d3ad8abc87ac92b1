package inject

import (
	"bytes"
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
	return p.Patch(&pod, namespace)
}

// Patch mutates a copy of a decoded pod and returns the JSON patch from pod
// to the result; pod itself is not changed.
func (p *Policy) Patch(pod *corev1.Pod, namespace string) (ops []jsonpatch.Operation, warnings []string, err error) {
	mutated := pod.DeepCopy()
	if warnings, err = p.Mutate(mutated, namespace); err != nil {
		return nil, warnings, err
	}
	ops, err = Diff(pod, mutated)
	return ops, warnings, err
}

// MarshalPatch writes ops as a JSON patch, each value encoded once straight
// into one buffer. json.Marshal of the operations goes through
// jsonpatch.Operation's MarshalJSON, which encodes each operation on its own,
// and then re-scans and copies every byte of it.
func MarshalPatch(ops []jsonpatch.Operation) ([]byte, error) {
	var buf bytes.Buffer
	// About 130 bytes an operation in the pods of TestBenchWebhook: one
	// allocation, where 96 took two.
	buf.Grow(64 + 160*len(ops))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('[')
	for i := range ops {
		op := &ops[i]
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"op":`)
		if err := enc.Encode(op.Operation); err != nil {
			return nil, err
		}
		buf.WriteString(`,"path":`)
		if err := enc.Encode(op.Path); err != nil {
			return nil, err
		}
		// As jsonpatch: add and replace always carry a value (null too).
		if op.Value != nil || op.Operation == "add" || op.Operation == "replace" {
			buf.WriteString(`,"value":`)
			if err := enc.Encode(op.Value); err != nil {
				return nil, err
			}
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// Package podannotate writes the contract's annotations on pods: one merge
// patch, with the pod's UID as precondition, so a write meant for a pod never
// lands on a new pod of the same name.
package podannotate

import (
	"context"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Patch sets annotations on a pod; a nil value deletes the key.
func Patch(ctx context.Context, client kubernetes.Interface, namespace, name string, uid types.UID, ann map[string]*string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid, "annotations": ann}})
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Pods(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// PatchAt is Patch that applies only to the pod's resourceVersion: an
// apierrors.IsConflict error when the pod changed since it was read.
func PatchAt(ctx context.Context, client kubernetes.Interface, namespace, name string, uid types.UID, resourceVersion string, ann map[string]*string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid, "resourceVersion": resourceVersion, "annotations": ann}})
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Pods(namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// Set is Patch with plain values.
func Set(ctx context.Context, client kubernetes.Interface, namespace, name string, uid types.UID, ann map[string]string) error {
	ptrs := make(map[string]*string, len(ann))
	for k, v := range ann {
		ptrs[k] = &v
	}
	return Patch(ctx, client, namespace, name, uid, ptrs)
}

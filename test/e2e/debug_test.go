package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
)

// cudaImage is a debug image whose own ENV says NVIDIA_VISIBLE_DEVICES=all.
const cudaImage = "nvidia/cuda:12.4.1-base-ubuntu22.04"

// msgDebugVoid starts zz-ephemeral-containers' refusal.
const msgDebugVoid = "must set NVIDIA_VISIBLE_DEVICES to void"

// addDebugContainer adds c to pod ns/name as kubectl debug does (an update
// of pods/ephemeralcontainers; named debugger-N when c.Name is empty) and
// returns it as the apiserver admitted it, mutating admission included.
func addDebugContainer(ctx context.Context, client kubernetes.Interface, ns, name string, c corev1.EphemeralContainerCommon, opts metav1.UpdateOptions) (*corev1.EphemeralContainer, error) {
	p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("debugger-%d", len(p.Spec.EphemeralContainers))
	}
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: c})
	got, err := client.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, name, p, opts)
	if err != nil {
		return nil, err
	}
	for i := range got.Spec.EphemeralContainers {
		if got.Spec.EphemeralContainers[i].Name == c.Name {
			return &got.Spec.EphemeralContainers[i], nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s has no ephemeral container %s after the update", ns, name, c.Name)
}

// debugWithoutWebhook: while the installed webhook configuration
// (failurePolicy Fail) has no endpoint, the incident one debugs, kubectl
// debug still works with no flag: an ephemeral container added to a pod of
// an opted-in namespace, and of one not opted in, gets
// NVIDIA_VISIBLE_DEVICES=void from the MutatingAdmissionPolicy
// zz-ephemeral-void in the apiserver, and one that sets all is refused by
// zz-ephemeral-containers. (With the webhook's former rule for
// pods/ephemeralcontainers the opted-in case failed: failed calling webhook.)
func debugWithoutWebhook(t *testing.T) {
	ctx := t.Context()
	optedIn, plain := cluster.Namespace(t, nil), cluster.Namespace(t, nil)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1"}}}}
	for _, ns := range []string{optedIn, plain} {
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Opted in once its pod runs, as in an incident: the webhook serves
	// the namespace (its pods are refused) and is down.
	label := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, contract.LabelInjection, contract.InjectionEnabled)
	if _, err := cluster.Client.CoreV1().Namespaces().Patch(ctx, optedIn, types.MergePatchType, []byte(label), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 30*time.Second, "the down webhook to refuse pods of "+optedIn, func(ctx context.Context) (bool, string, error) {
		p := pod.DeepCopy()
		p.Name = "probe"
		_, err := cluster.Client.CoreV1().Pods(optedIn).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), `failed calling webhook "pods.zz.io"`), fmt.Sprint(err), nil
	})
	for _, ns := range []string{optedIn, plain} {
		// Until the apiserver has loaded the policies just installed.
		var c *corev1.EphemeralContainer
		var err error
		refusal := "" // the apiserver's last word, not the client's deadline
		cluster.WaitFor(t, 30*time.Second, "kubectl debug in "+ns+" with the webhook down", func(ctx context.Context) (bool, string, error) {
			c, err = addDebugContainer(ctx, cluster.Client, ns, pod.Name, corev1.EphemeralContainerCommon{Image: cudaImage}, metav1.UpdateOptions{})
			if status := apierrors.APIStatus(nil); errors.As(err, &status) {
				refusal = err.Error()
			}
			return err == nil, refusal, nil
		})
		// The runtime takes the last entry, as envOf does.
		if v := envOf(corev1.Container{Env: c.Env})[contract.EnvVisibleDevices]; v != contract.VisibleDevicesVoid {
			t.Errorf("namespace %s: the debug container's NVIDIA_VISIBLE_DEVICES is %q, want void: env %v", ns, v, c.Env)
		}
		_, err = addDebugContainer(ctx, cluster.Client, ns, pod.Name, corev1.EphemeralContainerCommon{Image: cudaImage,
			Env: []corev1.EnvVar{{Name: contract.EnvVisibleDevices, Value: "all"}}}, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		refused(t, "namespace "+ns+": a debug container setting NVIDIA_VISIBLE_DEVICES=all", err, msgDebugVoid)
	}
}

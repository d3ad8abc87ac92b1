package inject

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// TestPodRequestFloorMatchesAPIServer: the pod-level CPU request the
// webhook writes is never below what the apiserver sums of the containers
// (a native sidecar counts for the plain init containers declared after it
// only), and never above a valid pod's limit (review 17b 1.2: a sidecar
// declared after a 3-CPU migration was added to it, a floor of 4.5 over a
// limit of 4, and the apiserver refused the pod after the webhook).
func TestPodRequestFloorMatchesAPIServer(t *testing.T) {
	cpu := func(name, q string, sidecar bool) corev1.Container {
		c := corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}}}
		if sidecar {
			c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		}
		return c
	}
	for _, tt := range []struct {
		name       string
		init, app  []corev1.Container
		floor      string // what the apiserver sums
		podRequest string // at 750 permille of a pod-level limit of 4
	}{
		{name: "init before the sidecar runs alone", init: []corev1.Container{cpu("migrate", "3", false), cpu("proxy", "1500m", true)},
			app: []corev1.Container{cpu("app", "1500m", false)}, floor: "3", podRequest: "3"},
		{name: "init after the sidecar runs beside it", init: []corev1.Container{cpu("proxy", "1500m", true), cpu("migrate", "3", false)},
			app: []corev1.Container{cpu("app", "1500m", false)}, floor: "4500m", podRequest: "4500m"},
		{name: "init between two sidecars", init: []corev1.Container{cpu("s1", "1", true), cpu("migrate", "2", false), cpu("s2", "1", true)},
			app: []corev1.Container{cpu("app", "1", false)}, floor: "3", podRequest: "3"},
		{name: "sidecars beside the app", init: []corev1.Container{cpu("s1", "500m", true)},
			app: []corev1.Container{cpu("app", "1", false), cpu("b", "250m", false)}, floor: "1750m", podRequest: "3"},
		{name: "no requests", app: []corev1.Container{{Name: "app"}}, floor: "0", podRequest: "3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: tt.init, Containers: tt.app,
				Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}}}
			if got := containerCPURequests(pod); got.Cmp(resource.MustParse(tt.floor)) != 0 {
				t.Errorf("floor %s, want %s (the apiserver's sum)", got.String(), tt.floor)
			}
			scalePodRequest(pod, 750)
			if got := pod.Spec.Resources.Requests[corev1.ResourceCPU]; got.Cmp(resource.MustParse(tt.podRequest)) != 0 {
				t.Errorf("pod-level request %s, want %s", got.String(), tt.podRequest)
			}
		})
	}
}

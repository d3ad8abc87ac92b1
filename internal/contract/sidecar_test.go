package contract

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// TestIsNativeSidecar: only restartPolicy Always makes an init container
// a native sidecar.
func TestIsNativeSidecar(t *testing.T) {
	for _, tc := range []struct {
		policy *corev1.ContainerRestartPolicy
		want   bool
	}{
		{nil, false},
		{ptr.To(corev1.ContainerRestartPolicyAlways), true},
		{ptr.To(corev1.ContainerRestartPolicy("OnFailure")), false},
	} {
		if got := IsNativeSidecar(corev1.Container{Name: "c", RestartPolicy: tc.policy}); got != tc.want {
			t.Errorf("restartPolicy %v: %v, want %v", tc.policy, got, tc.want)
		}
	}
}

package contract

import (
	"slices"
	"testing"
)

func TestEnvFromReaches(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", DevicePluginEnv},
		{"N", []string{EnvVisibleDevices}},
		{"NVIDIA_", []string{EnvVisibleDevices}},
		{"NVIDIA_VISIBLE_DEVICES", []string{EnvVisibleDevices}},
		{"CUDA_", []string{EnvMPSPinnedMemLimit, EnvMPSThreadPercentage}},
		{"CUDA_MPS_", []string{EnvMPSPinnedMemLimit, EnvMPSThreadPercentage}},
		{"CUDA_MPS_PINNED_", []string{EnvMPSPinnedMemLimit}},
		{"APP_", nil},
		{"NVIDIA_DRIVER_", nil},          // capabilities pick libraries, not cards
		{"CUDA_MPS_PIPE_", nil},          // no name Allocate sets
		{"NVIDIA_VISIBLE_DEVICES_", nil}, // longer than the name
	} {
		if got := EnvFromReaches(tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("EnvFromReaches(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
}

func TestIsCDIAnnotation(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"cdi.k8s.io/grab", true},
		{"nvidia.cdi.k8s.io/container.app", true},
		{"a.b.cdi.k8s.io/x", true},
		{"cdi.k8s.io", false},        // no prefix: a name
		{"xcdi.k8s.io/grab", false},  // not a subdomain
		{"cdi.k8s.io.evil/x", false}, // another domain
		{"k8s.io/cdi.k8s.io", false}, // the name, not the prefix
		{"zz.io/gpu-indexes", false},
	} {
		if got := IsCDIAnnotation(tc.key); got != tc.want {
			t.Errorf("IsCDIAnnotation(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

package inject

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// gpuEnv keeps NVIDIA_VISIBLE_DEVICES (and the MPS limits) the device
// plugin's to set. The kubelet puts a container's own env after what
// Allocate returns, so a value the pod wrote would win over the cards it
// was given, and "all" shows every card of the node where the NVIDIA
// runtime honours the variable. A pod may set it only to void or none; a
// container that asks no device plugin for cards gets void, which also
// overrides the "all" that CUDA images carry in their own env and any
// envFrom (explicit env wins over envFrom). A container given zz cards
// gets no void, so its envFrom may not reach those names either.
// Not optional: this is the tenants' boundary on a GPU node.
func (p *Policy) gpuEnv(s *podState) error {
	for _, c := range allContainers(s.pod) {
		set := false
		for _, e := range c.Env {
			if e.Name == contract.EnvMPSPinnedMemLimit || e.Name == contract.EnvMPSThreadPercentage {
				// The MPS limits Allocate sets (--mps): the pod's would win.
				return fmt.Errorf("container %s sets %s: the zz device plugin sets it from the pod's %s; remove it",
					c.Name, e.Name, contract.ResourceGPUMem)
			}
			if e.Name != contract.EnvVisibleDevices {
				continue
			}
			if e.ValueFrom != nil || (e.Value != contract.VisibleDevicesVoid && e.Value != contract.VisibleDevicesNone) {
				return fmt.Errorf("container %s sets %s: the zz device plugin sets it to the cards the pod was given; ask for cards with %s (and %s) instead, or set it to %q",
					c.Name, contract.EnvVisibleDevices, contract.ResourceGPUMem, contract.ResourceGPU, contract.VisibleDevicesVoid)
			}
			set = true
		}
		if asksForZZCards(c) {
			if err := forgeableEnvFrom(c); err != nil {
				return err
			}
		}
		if !set && !asksForCards(c) {
			c.Env = append(c.Env, corev1.EnvVar{Name: contract.EnvVisibleDevices, Value: contract.VisibleDevicesVoid})
		}
	}
	return nil
}

// forgeableEnvFrom refuses an envFrom entry of a container given zz cards that could
// set a name of contract.DevicePluginEnv: the ConfigMap or Secret is not
// read at admission (it may change later), so its shape is judged, as
// policy zz-gpu-mem-total does where the webhook does not serve.
func forgeableEnvFrom(c *corev1.Container) error {
	for i, from := range c.EnvFrom {
		names := contract.EnvFromReaches(from.Prefix)
		if len(names) == 0 {
			continue
		}
		source := "an envFrom source"
		switch {
		case from.ConfigMapRef != nil:
			source = "ConfigMap " + from.ConfigMapRef.Name
		case from.SecretRef != nil:
			source = "Secret " + from.SecretRef.Name
		}
		prefix := "no prefix"
		if from.Prefix != "" {
			prefix = "prefix " + from.Prefix
		}
		return fmt.Errorf("container %s takes env from %s with %s (envFrom[%d]), which could set %s: the zz device plugin sets them from the cards and memory the pod is given, and the container's own would win; take the keys it needs with env[].valueFrom, or give the entry a prefix such as APP_",
			c.Name, source, prefix, i, strings.Join(names, ", "))
	}
	return nil
}

// asksForCards says a device plugin that sets NVIDIA_VISIBLE_DEVICES itself
// serves the container: zz's, or one of NVIDIA's (nvidia.com/...).
func asksForCards(c *corev1.Container) bool {
	for name, q := range c.Resources.Limits {
		// Zero asks no plugin for anything: no Allocate sets the variable.
		if (name == contract.ResourceGPU || name == contract.ResourceGPUMem || strings.HasPrefix(string(name), contract.NVIDIAResourcePrefix)) && q.Sign() > 0 {
			return true
		}
	}
	return false
}

// asksForZZCards says the zz device plugin serves the container.
func asksForZZCards(c *corev1.Container) bool {
	for _, name := range []corev1.ResourceName{contract.ResourceGPU, contract.ResourceGPUMem} {
		if q, ok := c.Resources.Limits[name]; ok && q.Sign() > 0 {
			return true
		}
	}
	return false
}

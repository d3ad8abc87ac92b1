package appspec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
)

// deviceEnv refuses the env the zz device plugin sets from what a pod is
// given (contract.DevicePluginEnv), as the zz webhook refuses it on any
// container and policy zz-gpu-mem-total on a GPU pod's: the kubelet puts a
// container's own env after Allocate's, so the pod's would win. Judged here
// so that kubectl zz deploy says so before it writes anything, where the
// apiserver would refuse every pod (and, where only the policy serves, a
// Deployment) later. NVIDIA_VISIBLE_DEVICES may say void or none.
func (v *validator) deviceEnv(s *Spec) {
	v.deviceEnvMap("spec.env", s.Env)
	v.deviceSecretEnv("spec.secretEnv", s.SecretEnv)
	for i, sc := range s.Sidecars {
		v.deviceEnvMap(fmt.Sprintf("spec.sidecars[%d].env", i), sc.Env)
		v.deviceSecretEnv(fmt.Sprintf("spec.sidecars[%d].secretEnv", i), sc.SecretEnv)
	}
	if !s.AsksGPU() {
		return // no cards: the webhook gives the app void, which wins over envFrom
	}
	for i, e := range s.EnvFrom {
		if names := contract.EnvFromReaches(e.Prefix); len(names) > 0 {
			how := "no prefix"
			if e.Prefix != "" {
				how = "prefix " + e.Prefix
			}
			v.add(fmt.Sprintf("spec.envFrom[%d]", i),
				fmt.Sprintf("with %s could set %s on the app's GPU container: the zz device plugin sets them from the cards and memory the pod is given, and the container's own would win",
					how, strings.Join(names, ", ")),
				"take the keys it needs with spec.secretEnv (or spec.env), or give the entry a prefix such as APP_")
		}
	}
}

func (v *validator) deviceEnvMap(field string, env map[string]string) {
	for _, name := range sortedKeys(env) {
		if !isDevicePluginEnv(name) {
			continue
		}
		if value := env[name]; name == contract.EnvVisibleDevices && (value == contract.VisibleDevicesVoid || value == contract.VisibleDevicesNone) {
			continue
		}
		v.add(field+"."+name, deviceEnvMsg(name), deviceEnvFix(name))
	}
}

// deviceSecretEnv refuses the device plugin's env in the Secret env of
// field whatever the value: a Secret's is unknown here (the webhook
// refuses valueFrom).
func (v *validator) deviceSecretEnv(field string, secretEnv map[string]SecretKey) {
	for _, name := range sortedKeys(secretEnv) {
		if isDevicePluginEnv(name) {
			v.add(field+"."+name, deviceEnvMsg(name), deviceEnvFix(name))
		}
	}
}

func isDevicePluginEnv(name string) bool { return slices.Contains(contract.DevicePluginEnv, name) }

// deviceEnvMsg and deviceEnvFix say what the zz webhook says of the name.
func deviceEnvMsg(name string) string {
	if name == contract.EnvVisibleDevices {
		return "is the zz device plugin's: it sets it to the cards the pod was given, and the container's own would win"
	}
	return fmt.Sprintf("is the zz device plugin's: it sets it from the pod's %s, and the container's own would win", contract.ResourceGPUMem)
}

func deviceEnvFix(name string) string {
	if name == contract.EnvVisibleDevices {
		return fmt.Sprintf("ask for cards with spec.gpuMem (and spec.gpus) instead, or set it to %q", contract.VisibleDevicesVoid)
	}
	return "remove it"
}

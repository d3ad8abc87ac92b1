package contract

import "strings"

// DevicePluginEnv are the env names the zz device plugin's Allocate sets
// from what a pod was given and a pod may not set itself: the kubelet puts
// a container's own env (envFrom, then env) after Allocate's, so the pod's
// would win. EnvVisibleDevices is the only device list the NVIDIA runtime
// reads (NVIDIA_DRIVER_CAPABILITIES picks driver libraries, not cards; the
// MIG variables need privileges a tenant lacks); the MPS pair is the
// memory and thread limit of --mps. A pod may still set EnvVisibleDevices
// to VisibleDevicesVoid or VisibleDevicesNone.
var DevicePluginEnv = []string{EnvVisibleDevices, EnvMPSPinnedMemLimit, EnvMPSThreadPercentage}

// EnvFromReaches returns the DevicePluginEnv names an envFrom entry with
// this prefix could set (its ConfigMap or Secret is not read at
// admission, so only its shape can be judged): every name the prefix
// starts, all of them for no prefix.
func EnvFromReaches(prefix string) []string {
	var names []string
	for _, n := range DevicePluginEnv {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	return names
}

// CDIAnnotationDomain is the domain of the annotations that ask a container
// runtime for CDI devices: CDIAnnotationPrefix, and the prefixes of its
// subdomains (the NVIDIA GPU Operator configures its toolkit and NRI
// plugin with nvidia.cdi.k8s.io/).
const CDIAnnotationDomain = "cdi.k8s.io"

// IsCDIAnnotation says whether annotation key asks a runtime for devices:
// its prefix is CDIAnnotationDomain or a subdomain of it.
func IsCDIAnnotation(key string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	return ok && (prefix == CDIAnnotationDomain || strings.HasSuffix(prefix, "."+CDIAnnotationDomain))
}

package deviceplugin

import (
	"fmt"
	"strings"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/internal/contract"
)

// DeviceListStrategy names one way Allocate hands a container its cards
// (--device-list-strategy, as NVIDIA's device plugin spells them).
type DeviceListStrategy string

const (
	// StrategyEnvvar sets NVIDIA_VISIBLE_DEVICES=<uuids>, which the NVIDIA
	// container runtime (legacy mode) turns into the cards' devices.
	StrategyEnvvar DeviceListStrategy = "envvar"
	// StrategyCDIAnnotations sets the container annotation
	// cdi.k8s.io/zz-device-plugin_<pod UID> = "nvidia.com/gpu=<uuid>,...",
	// which CDI-enabled runtimes (containerd, CRI-O, the NVIDIA runtime in cdi
	// mode) read.
	StrategyCDIAnnotations DeviceListStrategy = "cdi-annotations"
	// StrategyCDICRI fills the response's CDIDevices, which the kubelet passes
	// in the CRI's CreateContainer (ContainerConfig.CDIDevices).
	StrategyCDICRI DeviceListStrategy = "cdi-cri"
)

// KnownDeviceListStrategies lists the strategies, for flag help and errors.
var KnownDeviceListStrategies = []DeviceListStrategy{StrategyEnvvar, StrategyCDIAnnotations, StrategyCDICRI}

// cdiPluginName names this plugin in CDI annotation keys.
const cdiPluginName = contract.ComponentDevicePlugin

// DeviceListStrategies is the set of strategies Allocate applies; several
// may be combined (a comma-separated flag), for example envvar with cdi-cri
// while nodes move from the NVIDIA runtime's legacy mode to CDI.
type DeviceListStrategies map[DeviceListStrategy]bool

// ParseDeviceListStrategies parses a comma-separated --device-list-strategy.
func ParseDeviceListStrategies(flag string) (DeviceListStrategies, error) {
	out := DeviceListStrategies{}
	for _, f := range strings.Split(flag, ",") {
		s := DeviceListStrategy(strings.TrimSpace(f))
		known := false
		for _, k := range KnownDeviceListStrategies {
			known = known || s == k
		}
		if !known {
			return nil, fmt.Errorf("--device-list-strategy %q: unknown strategy %q; use %s, or several comma-separated",
				flag, s, strategyNames())
		}
		out[s] = true
	}
	return out, nil
}

func strategyNames() string {
	names := make([]string, len(KnownDeviceListStrategies))
	for i, s := range KnownDeviceListStrategies {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// String lists the set in KnownDeviceListStrategies' order.
func (s DeviceListStrategies) String() string {
	var names []string
	for _, k := range KnownDeviceListStrategies {
		if s[k] {
			names = append(names, string(k))
		}
	}
	return strings.Join(names, ",")
}

// CDIDevice is a card's fully qualified CDI device name.
func CDIDevice(uuid string) string { return contract.CDIKind + "=" + uuid }

// handOff puts the cards in resp the ways s says. Without envvar,
// NVIDIA_VISIBLE_DEVICES is "void", so a runtime in the NVIDIA legacy mode
// exposes no card of its own accord (CUDA images set "all"). id keys the
// CDI annotation: unique among the container's allocations (the pod's UID).
func (s DeviceListStrategies) handOff(resp *pluginapi.ContainerAllocateResponse, id string, uuids []string) error {
	devices := make([]string, len(uuids))
	for i, u := range uuids {
		devices[i] = CDIDevice(u)
	}
	resp.Envs[contract.EnvVisibleDevices] = contract.VisibleDevicesVoid
	if s[StrategyEnvvar] {
		resp.Envs[contract.EnvVisibleDevices] = strings.Join(uuids, ",")
	}
	if s[StrategyCDIAnnotations] {
		key, err := cdiAnnotationKey(id)
		if err != nil {
			return err
		}
		resp.Annotations[key] = strings.Join(devices, ",")
	}
	if s[StrategyCDICRI] {
		for _, d := range devices {
			resp.CdiDevices = append(resp.CdiDevices, &pluginapi.CDIDevice{Name: d})
		}
	}
	return nil
}

// cdiAnnotationKey is the CDI annotation key for one allocation, in the
// form the CDI library's AnnotationKey checks: the part after the prefix at
// most 63 characters, alphanumerics, '-', '_' and '.', starting and ending
// alphanumeric.
func cdiAnnotationKey(id string) (string, error) {
	name := cdiPluginName + "_" + id
	if len(name) > 63 {
		return "", fmt.Errorf("CDI annotation name %q is over 63 characters", name)
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		inner := i > 0 && i < len(name)-1 && (c == '-' || c == '_' || c == '.')
		if !alnum && !inner {
			return "", fmt.Errorf("CDI annotation name %q: character %q not allowed there", name, c)
		}
	}
	return contract.CDIAnnotationPrefix + name, nil
}

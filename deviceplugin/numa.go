package deviceplugin

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// maxNUMANode is Linux's largest NUMA node ID (NODES_SHIFT 10): anything
// above is no node (NVML reports an unsigned int).
const maxNUMANode = 1023

// LocateNUMA sets each card's NUMA node, so the kubelet's topology manager
// can align a GPU pod's CPUs with its cards and the extender can keep a
// multi-card pod's cards under one socket. A card whose node is unknown
// keeps none (the kubelet then treats it as close to every node). lib must
// be initialised; sysfs is the host's /sys, or "" when the cards are not the
// host's (mock NVML: its bus IDs may name the host's own devices).
func LocateNUMA(lib nvml.Interface, cards []Card, sysfs string) {
	for i := range cards {
		d, ret := lib.DeviceGetHandleByIndex(cards[i].Index)
		if ret != nvml.SUCCESS {
			continue
		}
		if node, ok := numaNode(lib, d, sysfs); ok {
			cards[i].NUMANode = &node
		}
	}
}

// numaNode is the NUMA node of the CPU socket the card hangs off. First the
// kernel's view of its PCI device, <sysfs>/bus/pci/devices/<bus id>/numa_node
// (-1: none), which is what NVIDIA's device plugin reads. Only when that has
// no answer NVML (nvmlDeviceGetNumaNodeId, in drivers from R535 on: the
// loaded library is checked for it first, as calling a missing symbol kills
// the process). NVML documents that call for "platforms where the GPUs are
// NUMA nodes" (Grace Hopper and Grace Blackwell), where it names the GPU's own
// memory node, which has no CPUs: slots advertised there could never align
// with a pod's CPUs, so a node sysfs shows without CPUs is not taken.
func numaNode(lib nvml.Interface, d nvml.Device, sysfs string) (int64, bool) {
	if node, ok := pciNUMANode(d, sysfs); ok {
		return node, true
	}
	if lib.Extensions().LookupSymbol("nvmlDeviceGetNumaNodeId") != nil {
		return 0, false
	}
	n, ret := d.GetNumaNodeId()
	if ret != nvml.SUCCESS || n < 0 || n > maxNUMANode {
		return 0, false
	}
	node := int64(n)
	if sysfs != "" {
		cpus, err := os.ReadFile(filepath.Join(sysfs, "devices", "system", "node", "node"+strconv.FormatInt(node, 10), "cpulist"))
		if err == nil && len(bytes.TrimSpace(cpus)) == 0 {
			return 0, false // the GPU's own memory node
		}
	}
	return node, true
}

// pciNUMANode reads the card's PCI device's NUMA node from sysfs.
func pciNUMANode(d nvml.Device, sysfs string) (int64, bool) {
	if sysfs == "" {
		return 0, false
	}
	pci, ret := d.GetPciInfo()
	if ret != nvml.SUCCESS {
		return 0, false
	}
	id := sysfsBusID(pci.BusId)
	if id == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(sysfs, "bus", "pci", "devices", id, "numa_node"))
	if err != nil {
		return 0, false
	}
	node, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	return node, err == nil && node >= 0 && node <= maxNUMANode
}

// sysfsBusID turns NVML's PCI bus ID ("00000000:07:00.0": an 8-digit
// domain, upper case, NUL-padded) into sysfs's ("0000:07:00.0"); "" if it
// is not one.
func sysfsBusID(raw [32]int8) string {
	var b strings.Builder
	for _, c := range raw {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	domain, rest, ok := strings.Cut(strings.ToLower(b.String()), ":")
	if !ok || len(domain) < 4 || strings.ContainsAny(rest, "/") || strings.Contains(rest, "..") {
		return ""
	}
	if trimmed := strings.TrimLeft(domain[:len(domain)-4], "0"); trimmed != "" {
		return "" // a domain over 16 bits: not a PCI domain sysfs names
	}
	return domain[len(domain)-4:] + ":" + rest
}

// topology is a card's NUMA node as the kubelet wants it on its slots, or
// nil when unknown.
func (c *Card) topology() *pluginapi.TopologyInfo {
	if c.NUMANode == nil {
		return nil
	}
	return &pluginapi.TopologyInfo{Nodes: []*pluginapi.NUMANode{{ID: *c.NUMANode}}}
}

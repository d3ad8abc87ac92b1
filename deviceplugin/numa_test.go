package deviceplugin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"

	"github.com/zzcloud/zz/internal/contract"
)

func busID(s string) [32]int8 {
	var out [32]int8
	for i := range len(s) {
		out[i] = int8(s[i])
	}
	return out
}

func TestSysfsBusID(t *testing.T) {
	for raw, want := range map[string]string{
		"00000000:07:00.0": "0000:07:00.0",
		"00000000:BD:00.0": "0000:bd:00.0",
		"0000:0f:00.0":     "0000:0f:00.0",
		"00000001:47:00.0": "0001:47:00.0",
		"00010000:47:00.0": "",
		"":                 "",
		"no-colon":         "",
		"00000000:../../x": "",
		"00000000:07/00.0": "",
		"000:07:00.0":      "",
	} {
		if got := sysfsBusID(busID(raw)); got != want {
			t.Errorf("sysfsBusID(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestLocateNUMA covers each way a card's NUMA node is found or not: the
// PCI device's node in sysfs first, NVML when sysfs has no answer (never a
// node without CPUs: on Grace platforms NVML names the GPU's own memory
// node), and "unknown" (-1, no file, errors).
func TestLocateNUMA(t *testing.T) {
	sysfs := t.TempDir()
	write := func(rel, value string) {
		path := filepath.Join(sysfs, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeNode := func(id, value string) { write(filepath.Join("bus", "pci", "devices", id, "numa_node"), value) }
	writeNode("0000:07:00.0", "3\n")
	writeNode("0000:0f:00.0", "-1\n")
	writeNode("0000:47:00.0", "garbage\n")
	// The host's NUMA nodes: 0 and 1 with CPUs, 4 the GPU memory node a
	// Grace Hopper machine shows (no CPUs).
	write("devices/system/node/node0/cpulist", "0-71\n")
	write("devices/system/node/node1/cpulist", "72-143\n")
	write("devices/system/node/node4/cpulist", "\n")
	nvmlNode := func(n int, ret nvml.Return) func() (int, nvml.Return) {
		return func() (int, nvml.Return) { return n, ret }
	}
	pci := func(id string) func() (nvml.PciInfo, nvml.Return) {
		return func() (nvml.PciInfo, nvml.Return) { return nvml.PciInfo{BusId: busID(id)}, nvml.SUCCESS }
	}
	noPCI := func() (nvml.PciInfo, nvml.Return) { return nvml.PciInfo{}, nvml.ERROR_UNKNOWN }
	tests := []struct {
		name     string
		noSymbol bool // the driver's NVML lacks nvmlDeviceGetNumaNodeId
		noSysfs  bool // LocateNUMA's sysfs is "" (mock NVML)
		numa     func() (int, nvml.Return)
		pci      func() (nvml.PciInfo, nvml.Return)
		want     int64 // -1: no topology
	}{
		{name: "sysfs, NVML not called", pci: pci("00000000:07:00.0"), want: 3},
		{name: "sysfs -1: NVML", pci: pci("00000000:0F:00.0"), numa: nvmlNode(1, nvml.SUCCESS), want: 1},
		{name: "sysfs missing: NVML node 0", pci: pci("00000000:87:00.0"), numa: nvmlNode(0, nvml.SUCCESS), want: 0},
		{name: "no PCI info: NVML", pci: noPCI, numa: nvmlNode(1, nvml.SUCCESS), want: 1},
		{name: "NVML names a node without CPUs (Grace Hopper's GPU memory)", pci: pci("00000000:87:00.0"), numa: nvmlNode(4, nvml.SUCCESS), want: -1},
		{name: "NVML names a node sysfs does not list", pci: pci("00000000:87:00.0"), numa: nvmlNode(2, nvml.SUCCESS), want: 2},
		{name: "NVML says no node", pci: pci("00000000:87:00.0"), numa: nvmlNode(-1, nvml.SUCCESS), want: -1},
		{name: "NVML out of range", pci: pci("00000000:87:00.0"), numa: nvmlNode(1<<32-1, nvml.SUCCESS), want: -1},
		{name: "NVML not supported", pci: pci("00000000:87:00.0"), numa: nvmlNode(0, nvml.ERROR_NOT_SUPPORTED), want: -1},
		{name: "old driver: NVML not called", noSymbol: true, pci: pci("00000000:0F:00.0"), want: -1},
		{name: "sysfs garbage, old driver", noSymbol: true, pci: pci("00000000:47:00.0"), want: -1},
		{name: "mock NVML: no sysfs, PCI not read", noSysfs: true, numa: nvmlNode(1, nvml.SUCCESS), want: 1},
		{name: "mock NVML: a node sysfs would call CPU-less is taken", noSysfs: true, numa: nvmlNode(4, nvml.SUCCESS), want: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := dgxa100.New()
			server.Init()
			if tt.noSymbol {
				server.LookupSymbolFunc = func(string) error { return errors.New("undefined symbol") }
			}
			d := server.Devices[0].(*dgxa100.Device)
			d.GetNumaNodeIdFunc, d.GetPciInfoFunc = tt.numa, tt.pci // nil ones panic if called
			cards := []Card{{GPU: contract.GPU{Index: 0, UUID: d.UUID}}}
			root := sysfs
			if tt.noSysfs {
				root = ""
			}
			LocateNUMA(server, cards, root)
			got := int64(-1)
			if cards[0].NUMANode != nil {
				got = *cards[0].NUMANode
			}
			if got != tt.want {
				t.Fatalf("NUMA node %d, want %d", got, tt.want)
			}
		})
	}
}

// The mock machine's cards sit on two NUMA nodes; every slot of a card is
// advertised on its card's node, and a card with no known node has no
// topology.
func TestSlotsCarryTheirCardsNUMANode(t *testing.T) {
	lib, cards := dgxA100(t)
	LocateNUMA(lib, cards, t.TempDir())
	cards[7].NUMANode = nil
	p := NewPlugin("n1", cards, 2, nil, nil)
	devs, _ := p.devices()
	if len(devs) != 16 {
		t.Fatalf("%d slots", len(devs))
	}
	for i, d := range devs {
		card := i / 2
		switch {
		case card == 7:
			if d.Topology != nil {
				t.Errorf("slot %s: topology %v for a card of unknown node", d.ID, d.Topology)
			}
		case d.Topology == nil || len(d.Topology.Nodes) != 1 || d.Topology.Nodes[0].ID != int64(card/4):
			t.Errorf("slot %s of card %d: topology %v, want node %d", d.ID, card, d.Topology, card/4)
		}
	}

	// The inventory publishes each card's node for the extender, which keeps
	// a multi-card pod's cards on one node where its packing allows; a card
	// of unknown node has none.
	value, err := Inventory(cards).Encode()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := contract.ParseInventory(value)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range inv.Cards {
		switch {
		case i == 7:
			if c.NUMANode != nil {
				t.Errorf("card 7: numaNode %d published for a card of unknown node", *c.NUMANode)
			}
		case c.NUMANode == nil || *c.NUMANode != int64(i/4):
			t.Errorf("card %d: numaNode %v in %s, want %d", i, c.NUMANode, value, i/4)
		}
	}
}

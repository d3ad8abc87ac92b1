// Package deviceplugin is the zz GPU device plugin: it finds the node's cards
// through NVML, publishes them in the node's inventory annotation, advertises
// each healthy card as shared zz.io/gpu slots, and in Allocate hands each
// container exactly the cards the extender chose for its pod.
//
// Files by concern: discover.go finds the cards (NVML is an injected
// nvml.Interface: the real library, or go-nvml's mock servers in tests);
// slots.go names the slots; match.go decides which pod a kubelet request is
// for (the protocol itself, waiting predicate and kubelet order, is
// internal/gpushare's); arrivals.go numbers pods as they reach the node;
// numa.go finds each card's NUMA node (advertised as the slots' topology);
// env.go is what a container gets and cdi.go how its cards reach the
// runtime (--device-list-strategy); plugin.go and serve.go speak the
// kubelet's API; health.go, usage.go and metrics.go watch the cards; run.go
// wires it all (Run).
package deviceplugin

import (
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/zzcloud/zz/internal/contract"
)

// ErrNoDriver means NVML could not start: no NVIDIA driver on this node. The
// plugin then logs it once and serves nothing, rather than crash-looping.
var ErrNoDriver = errors.New("NVML did not initialise: is the NVIDIA driver installed on this node?")

// Card is one card NVML reports.
type Card struct {
	contract.GPU
	// MIG is true when the card is partitioned (MIG mode on or pending):
	// its memory belongs to MIG instances, so zz does not share it.
	MIG bool
	// The card's NUMA node is GPU.NUMANode (LocateNUMA; nil when unknown),
	// published with the inventory.
}

// Discover lists the cards NVML sees, in NVML index order. lib must be
// initialised by the caller (Init/Shutdown bracket the plugin's life).
func Discover(lib nvml.Interface) ([]Card, error) {
	count, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("count devices: %v", ret)
	}
	cards := make([]Card, 0, count)
	for i := range count {
		d, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("device %d: %v", i, ret)
		}
		c, err := describe(d, i)
		if err != nil {
			return nil, fmt.Errorf("device %d: %w", i, err)
		}
		cards = append(cards, c)
	}
	return cards, nil
}

func describe(d nvml.Device, index int) (Card, error) {
	uuid, ret := d.GetUUID()
	if ret != nvml.SUCCESS {
		return Card{}, fmt.Errorf("uuid: %v", ret)
	}
	name, ret := d.GetName()
	if ret != nvml.SUCCESS {
		return Card{}, fmt.Errorf("name: %v", ret)
	}
	mem, ret := d.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return Card{}, fmt.Errorf("memory: %v", ret)
	}
	c := Card{GPU: contract.GPU{Index: index, UUID: uuid, Model: name, MemoryMiB: ToMiB(mem.Total), Healthy: true}}
	switch current, pending, ret := d.GetMigMode(); ret {
	case nvml.SUCCESS:
		c.MIG = current == nvml.DEVICE_MIG_ENABLE || pending == nvml.DEVICE_MIG_ENABLE
	case nvml.ERROR_NOT_SUPPORTED: // pre-Ampere cards have no MIG
	default:
		return Card{}, fmt.Errorf("mig mode: %v", ret)
	}
	return c, nil
}

// ToMiB converts NVML's bytes to the contract's MiB, rounding down: a pod is
// never promised memory the card does not have.
func ToMiB(bytes uint64) int64 { return int64(bytes >> 20) }

// Inventory is what the node annotation publishes: every card zz shares, in
// index order. MIG cards are left out.
func Inventory(cards []Card) *contract.NodeGPUInventory {
	inv := &contract.NodeGPUInventory{Version: contract.InventoryVersion, Cards: []contract.GPU{}}
	for _, c := range cards {
		if !c.MIG {
			inv.Cards = append(inv.Cards, c.GPU)
		}
	}
	return inv
}

package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// InventoryVersion is the NodeGPUInventory format this build writes and reads.
const InventoryVersion = 1

// NodeGPUInventory is the value of AnnotationNodeGPUInventory: the cards of one
// node, as the device plugin found them. Cards may differ in size.
type NodeGPUInventory struct {
	Version int   `json:"version"`
	Cards   []GPU `json:"cards"`
}

// GPU is one physical card.
type GPU struct {
	Index     int    `json:"index"`
	UUID      string `json:"uuid"`
	Model     string `json:"model"`
	MemoryMiB int64  `json:"memoryMiB"`
	// Healthy is false while the device plugin reports the card unusable.
	Healthy bool `json:"healthy"`
	// Reason says why an unhealthy card is down ("XID 48 ...", "lost ...");
	// empty for a healthy card. Added to format version 1 compatibly:
	// readers that do not know it ignore it.
	Reason string `json:"reason,omitempty"`
	// NUMANode is the card's NUMA node, where the device plugin could learn it
	// (NVML, else sysfs); absent when unknown. Added to format version 1
	// compatibly. The extender keeps a multi-card pod's cards on as few NUMA
	// nodes as its packing allows.
	NUMANode *int64 `json:"numaNode,omitempty"`
}

// Bounds on what one node may claim. No machine comes near them (the largest
// have 16–20 cards; Linux numbers NUMA nodes below 1024, CONFIG_NODES_SHIFT
// at most 10), but the extender prices a pod on every card of every node it
// is offered, once per NUMA node for zz.io/gpu-numa-bind, so root on one node
// must not be able to make that cost unbounded by forging its inventory.
// A card's UUID and model are at most MaxCardName bytes, NVML's own buffer
// size for both (NVML_DEVICE_UUID_V2_BUFFER_SIZE, NVML_DEVICE_NAME_V2_BUFFER_SIZE):
// pods' zz.io/gpu-model lists are matched against every model.
// A card's reason is at most MaxCardReason bytes. UUIDs, models and reasons
// are printable ASCII (NVML's are; a UUID also has no space, comma or '=',
// which separate UUIDs in the pod annotations): a newline or tab in a model
// printed a forged row about another node in kubectl zz gpu.
// A card of more than MaxCardMemoryMiB (1 TiB; the largest made have under
// 300 GB) is a forgery: sums of card memory over a node or the cluster (the
// extender's prices, kubectl zz gpu's totals) must not overflow.
const (
	MaxInventoryCards = 64
	MaxNUMANode       = 1023
	MaxCardName       = 96
	MaxCardReason     = 256
	MaxCardMemoryMiB  = 1 << 20
)

// ErrNoInventory means the node has no inventory annotation: not a GPU node, or
// its device plugin has not started.
var ErrNoInventory = errors.New("node has no " + AnnotationNodeGPUInventory + " annotation")

// ParseInventory decodes and checks an inventory annotation value. It rejects
// formats newer than this build knows, duplicate indexes or UUIDs, and cards
// without memory, so no consumer ever acts on half-valid data.
func ParseInventory(value string) (*NodeGPUInventory, error) {
	if value == "" {
		return nil, ErrNoInventory
	}
	var inv NodeGPUInventory
	if err := json.Unmarshal([]byte(value), &inv); err != nil {
		return nil, fmt.Errorf("decode %s: %w", AnnotationNodeGPUInventory, err)
	}
	if err := inv.Validate(); err != nil {
		return nil, err
	}
	return &inv, nil
}

// Validate reports the first problem that makes the inventory unusable.
func (inv *NodeGPUInventory) Validate() error {
	if inv.Version != InventoryVersion {
		return fmt.Errorf("%s version %d is not supported (want %d): upgrade the zz components together",
			AnnotationNodeGPUInventory, inv.Version, InventoryVersion)
	}
	if len(inv.Cards) > MaxInventoryCards {
		return fmt.Errorf("%s lists %d cards, more than the %d one node may have: a forged or corrupt inventory",
			AnnotationNodeGPUInventory, len(inv.Cards), MaxInventoryCards)
	}
	indexes := make(map[int]bool, len(inv.Cards))
	uuids := make(map[string]bool, len(inv.Cards))
	for i, c := range inv.Cards {
		switch {
		case c.Index < 0:
			return fmt.Errorf("card %d: negative index %d", i, c.Index)
		case indexes[c.Index]:
			return fmt.Errorf("card %d: index %d appears twice", i, c.Index)
		case c.UUID == "":
			return fmt.Errorf("card %d: empty uuid", i)
		case len(c.UUID) > MaxCardName:
			return fmt.Errorf("card %d: uuid %.20q… is longer than %d bytes", i, c.UUID, MaxCardName)
		case len(c.Model) > MaxCardName:
			return fmt.Errorf("card %d (%s): model %.20q… is longer than %d bytes", i, c.UUID, c.Model, MaxCardName)
		case len(c.Reason) > MaxCardReason:
			return fmt.Errorf("card %d (%.20q…): reason %.20q… is longer than %d bytes", i, c.UUID, c.Reason, MaxCardReason)
		case !printable(c.UUID, " ,="):
			return fmt.Errorf("card %d: uuid %q holds a control, non-ASCII, space, comma or '=' character: a forged or corrupt inventory", i, c.UUID)
		case !printable(c.Model, ""):
			return fmt.Errorf("card %d (%s): model %q holds a control or non-ASCII character: a forged or corrupt inventory", i, c.UUID, c.Model)
		case !printable(c.Reason, ""):
			return fmt.Errorf("card %d (%s): reason %q holds a control or non-ASCII character: a forged or corrupt inventory", i, c.UUID, c.Reason)
		case uuids[c.UUID]:
			return fmt.Errorf("card %d: uuid %s appears twice", i, c.UUID)
		case c.MemoryMiB <= 0:
			return fmt.Errorf("card %d (%s): memoryMiB must be positive, got %d", i, c.UUID, c.MemoryMiB)
		case c.MemoryMiB > MaxCardMemoryMiB:
			return fmt.Errorf("card %d (%s): memoryMiB %d is more than any card has (at most %d): a forged or corrupt inventory", i, c.UUID, c.MemoryMiB, MaxCardMemoryMiB)
		case c.NUMANode != nil && *c.NUMANode < 0:
			return fmt.Errorf("card %d (%s): numaNode must not be negative, got %d (leave it out when unknown)", i, c.UUID, *c.NUMANode)
		case c.NUMANode != nil && *c.NUMANode > MaxNUMANode:
			return fmt.Errorf("card %d (%s): numaNode %d is past the last NUMA node Linux can have (%d)", i, c.UUID, *c.NUMANode, MaxNUMANode)
		}
		indexes[c.Index] = true
		uuids[c.UUID] = true
	}
	return nil
}

// Encode returns the annotation value for inv.
func (inv *NodeGPUInventory) Encode() (string, error) {
	if err := inv.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(inv)
	return string(b), err
}

// printable reports whether s is printable ASCII (space to '~') without any
// byte of but.
func printable(s, but string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' || strings.IndexByte(but, s[i]) >= 0 {
			return false
		}
	}
	return true
}

package contract

import (
	"fmt"
	"testing"
)

// BenchmarkParseInventory measures what the extender pays per node update.
func BenchmarkParseInventory(b *testing.B) {
	inv := &NodeGPUInventory{Version: InventoryVersion}
	for i := range 8 {
		inv.Cards = append(inv.Cards, GPU{Index: i, UUID: fmt.Sprintf("GPU-%08d", i), Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true})
	}
	value, err := inv.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseInventory(value); err != nil {
			b.Fatal(err)
		}
	}
}

package deviceplugin

import (
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"

	"github.com/zzcloud/zz/internal/contract"
)

func TestDiscoverDGXA100(t *testing.T) {
	server := dgxa100.New()
	if ret := server.Init(); ret != nvml.SUCCESS {
		t.Fatal(ret)
	}
	cards, err := Discover(server)
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 8 {
		t.Fatalf("%d cards, want 8", len(cards))
	}
	seen := map[string]bool{}
	for i, c := range cards {
		if c.Index != i || c.UUID == "" || seen[c.UUID] || c.Model != "Mock NVIDIA A100-SXM4-40GB" || !c.Healthy || c.MIG {
			t.Errorf("card %d: %+v", i, c)
		}
		seen[c.UUID] = true
		// 40 GiB as NVML reports it (bytes), in whole MiB.
		if c.MemoryMiB != 40960 {
			t.Errorf("card %d: %d MiB, want 40960", i, c.MemoryMiB)
		}
	}

	// A card switched to MIG is reported but not shared.
	server.Devices[3].(*dgxa100.Device).MigMode = nvml.DEVICE_MIG_ENABLE
	cards, err = Discover(server)
	if err != nil {
		t.Fatal(err)
	}
	inv := Inventory(cards)
	if !cards[3].MIG || len(inv.Cards) != 7 {
		t.Fatalf("MIG card: %+v, inventory has %d cards", cards[3], len(inv.Cards))
	}
	value, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := contract.ParseInventory(value)
	if err != nil || len(back.Cards) != 7 || back.Cards[3].Index != 4 {
		t.Fatalf("inventory round trip: %v %+v", err, back)
	}
}

func TestDiscoverErrors(t *testing.T) {
	server := dgxa100.New()
	server.Init()
	server.Devices[2].(*dgxa100.Device).GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST
	}
	if _, err := Discover(server); err == nil {
		t.Fatal("a lost card's error was swallowed")
	}
}

func TestToMiB(t *testing.T) {
	for bytes, want := range map[uint64]int64{0: 0, 1<<20 - 1: 0, 1 << 20: 1, 42949672960: 40960, 15843721216: 15109} {
		if got := ToMiB(bytes); got != want {
			t.Errorf("ToMiB(%d) = %d, want %d", bytes, got, want)
		}
	}
}

package contract

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseInventory(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		cards   int
		wantErr string
	}{
		{name: "mixed card sizes", cards: 2,
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"A100","memoryMiB":40960,"healthy":true},{"index":1,"uuid":"GPU-b","model":"T4","memoryMiB":15360,"healthy":true}]}`},
		{name: "no cards", value: `{"version":1,"cards":[]}`},
		{name: "empty", value: "", wantErr: "has no zz.io/gpu-inventory"},
		{name: "not json", value: "A100x8", wantErr: "decode zz.io/gpu-inventory"},
		{name: "future version", value: `{"version":2,"cards":[]}`, wantErr: "version 2 is not supported"},
		{name: "duplicate index", wantErr: "index 0 appears twice",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":1},{"index":0,"uuid":"GPU-b","memoryMiB":1}]}`},
		{name: "duplicate uuid", wantErr: "uuid GPU-a appears twice",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":1},{"index":1,"uuid":"GPU-a","memoryMiB":1}]}`},
		{name: "no memory", wantErr: "memoryMiB must be positive",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":0}]}`},
		{name: "more memory than any card", wantErr: "memoryMiB 9223372036854775807 is more than any card has (at most 1048576)",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":9223372036854775807}]}`},
		{name: "the largest card", cards: 1, value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":1048576}]}`},
		{name: "negative index", wantErr: "negative index",
			value: `{"version":1,"cards":[{"index":-1,"uuid":"GPU-a","memoryMiB":1}]}`},
		{name: "NUMA nodes", cards: 2,
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":1,"numaNode":0},{"index":1,"uuid":"GPU-b","memoryMiB":1,"numaNode":1}]}`},
		{name: "negative NUMA node", wantErr: "numaNode must not be negative",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":1,"numaNode":-1}]}`},
		{name: "NUMA node past Linux's last", wantErr: "numaNode 1024 is past the last NUMA node",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":1,"numaNode":1024}]}`},
		{name: "long uuid", wantErr: "is longer than 96 bytes",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-` + strings.Repeat("a", 93) + `","memoryMiB":1}]}`},
		{name: "long model", wantErr: "model \"NVIDIA NVIDIA NVIDIA\"… is longer than 96 bytes",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"` + strings.Repeat("NVIDIA ", 14) + `","memoryMiB":1}]}`},
		{name: "model of 96 bytes", cards: 1,
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"` + strings.Repeat("NVIDIA H", 12) + `","memoryMiB":1}]}`},
		{name: "most cards a node may have", cards: MaxInventoryCards, value: inventoryOf(MaxInventoryCards)},
		{name: "more cards than a node may have", wantErr: "lists 65 cards, more than the 64", value: inventoryOf(MaxInventoryCards + 1)},
		// A root-on-one-node audit printed a forged row about another
		// node in kubectl zz gpu with a newline and tabs in a model.
		{name: "newline in model", wantErr: `model "Tesla T4\t15Gi\ngpu-a100-1" holds a control`,
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"Tesla T4\t15Gi\ngpu-a100-1","memoryMiB":1}]}`},
		{name: "BEL in model", wantErr: "holds a control",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"A100\u0007","memoryMiB":1}]}`},
		{name: "DEL in model", wantErr: "holds a control",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"A100\u007f","memoryMiB":1}]}`},
		{name: "C1 control in model", wantErr: "holds a control",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"A100\u009b2J","memoryMiB":1}]}`},
		{name: "right-to-left override in model", wantErr: "holds a control",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"A100\u202e","memoryMiB":1}]}`},
		{name: "escape in reason", wantErr: "reason \"\\x1b[2J\" holds a control",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":1,"reason":"\u001b[2J"}]}`},
		{name: "tab in uuid", wantErr: "uuid \"GPU-a\\tb\" holds a control",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a\tb","memoryMiB":1}]}`},
		{name: "comma in uuid", wantErr: "comma",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a,GPU-b","memoryMiB":1}]}`},
		{name: "long reason", wantErr: "is longer than 256 bytes",
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":1,"reason":"` + strings.Repeat("x", 257) + `"}]}`},
		{name: "printable model and reason", cards: 1,
			value: `{"version":1,"cards":[{"index":0,"uuid":"GPU-a","model":"NVIDIA A100-SXM4-40GB <x> & 'y'","memoryMiB":1,"reason":"XID 48 at 2026-01-01T00:00:00Z"}]}`},
		{name: "missing uuid", wantErr: "empty uuid",
			value: `{"version":1,"cards":[{"index":0,"memoryMiB":1}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := ParseInventory(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(inv.Cards) != tt.cards {
				t.Fatalf("got %d cards, want %d", len(inv.Cards), tt.cards)
			}
		})
	}
}

// inventoryOf is a valid inventory of n one-MiB cards, each on its own NUMA node.
func inventoryOf(n int) string {
	cards := make([]string, n)
	for i := range cards {
		cards[i] = fmt.Sprintf(`{"index":%d,"uuid":"GPU-%d","memoryMiB":1,"numaNode":%d}`, i, i, i)
	}
	return `{"version":1,"cards":[` + strings.Join(cards, ",") + `]}`
}

func TestParseInventoryEmptyIsSentinel(t *testing.T) {
	if _, err := ParseInventory(""); !errors.Is(err, ErrNoInventory) {
		t.Fatalf("err = %v, want ErrNoInventory", err)
	}
}

func TestInventoryRoundTrip(t *testing.T) {
	in := &NodeGPUInventory{Version: InventoryVersion, Cards: []GPU{
		{Index: 0, UUID: "GPU-0", Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true},
		{Index: 1, UUID: "GPU-1", Model: "NVIDIA A100-SXM4-80GB", MemoryMiB: 81920},
	}}
	s, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseInventory(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Cards) != 2 || out.Cards[1] != in.Cards[1] || out.Cards[0] != in.Cards[0] {
		t.Fatalf("round trip changed the inventory: %+v", out)
	}
	bad := &NodeGPUInventory{Version: InventoryVersion, Cards: []GPU{{UUID: "x"}}}
	if _, err := bad.Encode(); err == nil {
		t.Fatal("Encode accepted a card without memory")
	}
}

func FuzzParseInventory(f *testing.F) {
	f.Add(`{"version":1,"cards":[{"index":0,"uuid":"GPU-a","memoryMiB":40960}]}`)
	f.Add(`{"version":1}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInventory(s)
		if err != nil {
			return
		}
		// Whatever parses must encode again and mean the same.
		enc, err := inv.Encode()
		if err != nil {
			t.Fatalf("parsed inventory does not encode: %v", err)
		}
		if _, err := ParseInventory(enc); err != nil {
			t.Fatalf("re-encoded inventory does not parse: %v", err)
		}
	})
}

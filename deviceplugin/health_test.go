package deviceplugin

import (
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/deviceplugin/mocknvml"
)

func TestCardHealth(t *testing.T) {
	now := time.Unix(1000, 0)
	xid := func(n uint64, ago time.Duration) xidEvent { return xidEvent{at: now.Add(-ago), xid: n} }
	tests := []struct {
		name   string
		state  cardState
		want   bool
		reason string
	}{
		{"fine", cardState{reachable: true}, true, ""},
		{"lost", cardState{}, false, "lost"},
		{"recent xid", cardState{reachable: true, last: xid(31+1, time.Minute)}, false, "XID 32 at"},
		{"old xid, back", cardState{reachable: true, last: xid(32, 10*time.Minute)}, true, ""},
		{"old xid, still lost", cardState{last: xid(32, 10*time.Minute)}, false, "lost"},
		{"double-bit ECC: a timer does not clear it", cardState{reachable: true, last: xid(48, 24*time.Hour)}, false, "XID 48: down until the card is reset"},
		{"uncontained ECC", cardState{reachable: true, last: xid(95, time.Hour)}, false, "XID 95"},
		{"double-bit ECC, reset", cardState{reachable: true, last: xid(48, time.Second), reset: true}, true, ""},
	}
	for _, tt := range tests {
		got, why := cardHealth(tt.state, now, 5*time.Minute)
		if got != tt.want || !strings.Contains(why, tt.reason) || (tt.reason == "" && why != "") {
			t.Errorf("%s: healthy = %v (%q), want %v (%q)", tt.name, got, why, tt.want, tt.reason)
		}
	}
}

// A double-bit ECC XID on the mock machine keeps the card down through any
// number of polls until the card is reset; then it is back.
func TestStickyXIDUntilReset(t *testing.T) {
	m, err := mocknvml.New("dgxa100", "n1")
	if err != nil {
		t.Fatal(err)
	}
	m.Init()
	cards, err := Discover(m)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPlugin("n1", cards, 2, nil, nil)
	now := time.Unix(1000, 0)
	h := &HealthWatcher{Lib: m, Plugin: p, RecoverAfter: time.Minute, Now: func() time.Time { return now }}
	u := cards[1].UUID
	if err := m.InjectXID(u, 48); err != nil {
		t.Fatal(err)
	}
	h.Record(t.Context(), u, 48)
	for range 3 {
		now = now.Add(time.Hour)
		h.PollOnce(t.Context())
		if c := p.Cards()[1]; c.Healthy || !strings.Contains(c.Reason, "XID 48") {
			t.Fatalf("card 1 = %+v an hour later, want down for XID 48", c.GPU)
		}
	}
	if err := m.Reset(u); err != nil {
		t.Fatal(err)
	}
	h.PollOnce(t.Context())
	if c := p.Cards()[1]; !c.Healthy || c.Reason != "" {
		t.Fatalf("card 1 = %+v after reset, want healthy", c.GPU)
	}
}

func TestPollMarksLostCards(t *testing.T) {
	server := dgxa100.New()
	server.Init()
	cards, err := Discover(server)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPlugin("n1", cards, 2, nil, nil)
	h := &HealthWatcher{Lib: server, Plugin: p, RecoverAfter: time.Minute, Now: time.Now}
	lost := server.Devices[5].(*dgxa100.Device)
	healthy := lost.GetMemoryInfoFunc
	lost.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST }
	h.PollOnce(t.Context())
	for _, c := range p.Cards() {
		if c.Healthy != (c.Index != 5) {
			t.Fatalf("card %d healthy = %v after card 5 was lost", c.Index, c.Healthy)
		}
	}
	devs, _ := p.devices()
	if n := countUnhealthy(devs); n != 2 {
		t.Fatalf("%d unhealthy slots, want card 5's 2", n)
	}
	lost.GetMemoryInfoFunc = healthy
	h.PollOnce(t.Context())
	if !p.Cards()[5].Healthy {
		t.Fatal("card 5 did not recover once it answered again")
	}
	// An XID keeps a reachable card out until RecoverAfter has passed.
	h.Record(t.Context(), cards[2].UUID, 32)
	h.PollOnce(t.Context())
	if p.Cards()[2].Healthy {
		t.Fatal("a card with a fresh XID is healthy")
	}
}

func countUnhealthy(devs []*pluginapi.Device) int {
	n := 0
	for _, d := range devs {
		if d.Health != pluginapi.Healthy {
			n++
		}
	}
	return n
}

package deviceplugin

import (
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

func TestCardHealthy(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name      string
		reachable bool
		lastXID   time.Time
		want      bool
	}{
		{"fine", true, time.Time{}, true},
		{"lost", false, time.Time{}, false},
		{"recent xid", true, now.Add(-time.Minute), false},
		{"old xid, back", true, now.Add(-10 * time.Minute), true},
		{"old xid, still lost", false, now.Add(-10 * time.Minute), false},
	}
	for _, tt := range tests {
		if got := cardHealthy(tt.reachable, tt.lastXID, now, 5*time.Minute); got != tt.want {
			t.Errorf("%s: healthy = %v, want %v", tt.name, got, tt.want)
		}
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
	h := &HealthWatcher{Lib: server, Plugin: p, RecoverAfter: time.Minute, Now: time.Now, lastXID: map[string]time.Time{}}
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
	h.lastXID[cards[2].UUID] = time.Now()
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

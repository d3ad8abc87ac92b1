package deviceplugin

import (
	"context"
	"errors"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"k8s.io/klog/v2"
)

// DefaultIgnoredXIDs are XID errors an application causes (bad memory
// access, graphics engine exceptions, ...), which say nothing about the card;
// the same list as NVIDIA's device plugin.
var DefaultIgnoredXIDs = []uint64{13, 31, 43, 45, 68, 109}

// HealthWatcher keeps the plugin's card health current: an XID critical
// error (not ignored) or a card NVML cannot reach marks the card unhealthy,
// so the kubelet stops placing pods on its slots; a card that answers again
// and had no XID for RecoverAfter is healthy again.
type HealthWatcher struct {
	Lib          nvml.Interface
	Plugin       *Plugin
	Ignored      map[uint64]bool
	Poll         time.Duration
	RecoverAfter time.Duration
	Now          func() time.Time

	lastXID map[string]time.Time
}

// cardHealthy is the decision: reachable now, and no XID recently.
func cardHealthy(reachable bool, lastXID, now time.Time, recoverAfter time.Duration) bool {
	return reachable && (lastXID.IsZero() || now.Sub(lastXID) >= recoverAfter)
}

// Run watches until ctx ends. XID events need the real library; without
// them (mock servers, old drivers) the poll still catches lost cards.
func (h *HealthWatcher) Run(ctx context.Context) {
	h.lastXID = map[string]time.Time{}
	xids := make(chan string, 16)
	if set, err := h.registerXIDs(); err != nil {
		klog.FromContext(ctx).Info("XID events unavailable; watching card reachability only", "reason", err)
	} else {
		go h.waitXIDs(ctx, set, xids)
	}
	tick := time.NewTicker(h.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case uuid := <-xids:
			h.lastXID[uuid] = h.Now()
			h.Plugin.SetHealth(uuid, false)
		case <-tick.C:
			h.PollOnce(ctx)
		}
	}
}

// PollOnce checks every card once.
func (h *HealthWatcher) PollOnce(ctx context.Context) {
	for _, c := range h.Plugin.Cards() {
		healthy := cardHealthy(h.reachable(c.UUID), h.lastXID[c.UUID], h.Now(), h.RecoverAfter)
		if healthy != c.Healthy {
			klog.FromContext(ctx).Info("Card health changed", "uuid", c.UUID, "index", c.Index, "healthy", healthy)
			h.Plugin.SetHealth(c.UUID, healthy)
		}
	}
}

func (h *HealthWatcher) reachable(uuid string) bool {
	d, ret := h.Lib.DeviceGetHandleByUUID(uuid)
	if ret != nvml.SUCCESS {
		return false
	}
	_, ret = d.GetMemoryInfo()
	return ret == nvml.SUCCESS
}

func (h *HealthWatcher) registerXIDs() (nvml.EventSet, error) {
	set, ret := h.Lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		return nil, errors.New(ret.Error())
	}
	for _, c := range h.Plugin.Cards() {
		d, ret := h.Lib.DeviceGetHandleByUUID(c.UUID)
		if ret != nvml.SUCCESS {
			continue
		}
		if ret := d.RegisterEvents(nvml.EventTypeXidCriticalError, set); ret != nvml.SUCCESS && ret != nvml.ERROR_NOT_SUPPORTED {
			return nil, errors.New(ret.Error())
		}
	}
	return set, nil
}

func (h *HealthWatcher) waitXIDs(ctx context.Context, set nvml.EventSet, out chan<- string) {
	defer set.Free()
	for ctx.Err() == nil {
		data, ret := set.Wait(5000)
		if ret == nvml.ERROR_TIMEOUT {
			continue
		}
		if ret != nvml.SUCCESS || data.EventType != nvml.EventTypeXidCriticalError || h.Ignored[data.EventData] || data.Device == nil {
			continue
		}
		uuid, ret := data.Device.GetUUID()
		if ret != nvml.SUCCESS {
			continue
		}
		klog.FromContext(ctx).Info("XID critical error; marking the card unhealthy", "uuid", uuid, "xid", data.EventData)
		select {
		case out <- uuid:
		case <-ctx.Done():
		}
	}
}

package deviceplugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"k8s.io/klog/v2"
)

// DefaultIgnoredXIDs are XID errors an application causes (bad memory
// access, graphics engine exceptions, ...), which say nothing about the card;
// the same list as NVIDIA's device plugin.
var DefaultIgnoredXIDs = []uint64{13, 31, 43, 45, 68, 109}

// StickyXIDs are XIDs after which the card's memory cannot be trusted until
// the card is reset, however long it stays quiet: double-bit ECC (48) and
// uncontained ECC (95). (A card fallen off the bus, XID 79, is down while NVML
// cannot reach it.)
// A timer never clears them; a reset does (see HealthWatcher).
var StickyXIDs = map[uint64]bool{48: true, 95: true}

// HealthWatcher keeps the plugin's card health current: an XID critical
// error (not ignored) or a card NVML cannot reach marks the card unhealthy,
// so the kubelet stops placing pods on its slots, Allocate refuses it and the
// inventory annotation tells the extender; a reachable card is healthy again
// RecoverAfter after a passing XID, and after a sticky one (StickyXIDs) only
// once it was reset: its volatile uncorrected ECC counter, which a reset
// zeroes, reads 0 again.
type HealthWatcher struct {
	Lib          nvml.Interface
	Plugin       *Plugin
	Ignored      map[uint64]bool
	Poll         time.Duration
	RecoverAfter time.Duration
	Now          func() time.Time

	lastXID map[string]xidEvent
}

// xidEvent is the last XID a card raised.
type xidEvent struct {
	at  time.Time
	xid uint64
}

// cardState is what the decision reads of one card.
type cardState struct {
	reachable bool
	last      xidEvent // zero: none since the plugin started (or since a reset)
	reset     bool     // the card was reset since its last XID
}

// cardHealth is the decision: healthy, or down and why.
func cardHealth(s cardState, now time.Time, recoverAfter time.Duration) (bool, string) {
	switch {
	case !s.reachable:
		return false, "lost: NVML cannot reach the card"
	case s.last.xid == 0:
		return true, ""
	case StickyXIDs[s.last.xid] && !s.reset:
		return false, fmt.Sprintf("XID %d: down until the card is reset", s.last.xid)
	case !StickyXIDs[s.last.xid] && now.Sub(s.last.at) < recoverAfter:
		return false, fmt.Sprintf("XID %d at %s", s.last.xid, s.last.at.UTC().Format(time.RFC3339))
	}
	return true, ""
}

// Run watches until ctx ends. XID events need the real library or the mock
// machine; without them (old drivers) the poll still catches lost cards.
func (h *HealthWatcher) Run(ctx context.Context) {
	if h.lastXID == nil {
		h.lastXID = map[string]xidEvent{}
	}
	xids := make(chan xidNotice, 16)
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
		case e := <-xids:
			h.Record(ctx, e.uuid, e.xid)
		case <-tick.C:
			h.PollOnce(ctx)
		}
	}
}

// xidNotice is an XID on a card, from the event loop.
type xidNotice struct {
	uuid string
	xid  uint64
}

// Record takes an XID on a card and marks the card down at once.
func (h *HealthWatcher) Record(ctx context.Context, uuid string, xid uint64) {
	if h.lastXID == nil {
		h.lastXID = map[string]xidEvent{}
	}
	h.lastXID[uuid] = xidEvent{at: h.Now(), xid: xid}
	healthy, why := cardHealth(cardState{reachable: true, last: h.lastXID[uuid]}, h.Now(), h.RecoverAfter)
	klog.FromContext(ctx).Info("XID critical error; marking the card unhealthy", "uuid", uuid, "xid", xid, "reason", why)
	h.Plugin.SetHealth(uuid, healthy, why)
}

// PollOnce checks every card once.
func (h *HealthWatcher) PollOnce(ctx context.Context) {
	if h.lastXID == nil {
		h.lastXID = map[string]xidEvent{}
	}
	for _, c := range h.Plugin.Cards() {
		s := cardState{reachable: h.reachable(c.UUID), last: h.lastXID[c.UUID]}
		if StickyXIDs[s.last.xid] && s.reachable {
			s.reset = h.wasReset(c.UUID)
		}
		healthy, why := cardHealth(s, h.Now(), h.RecoverAfter)
		if healthy && s.last.xid != 0 && (s.reset || !StickyXIDs[s.last.xid]) {
			delete(h.lastXID, c.UUID)
		}
		if healthy != c.Healthy || why != c.Reason {
			klog.FromContext(ctx).Info("Card health changed", "uuid", c.UUID, "index", c.Index, "healthy", healthy, "reason", why)
			h.Plugin.SetHealth(c.UUID, healthy, why)
		}
	}
}

// wasReset reports whether the card's volatile uncorrected ECC counter is
// back at 0, which only a reset (or driver reload) does. A card that cannot
// say stays down until the plugin restarts.
func (h *HealthWatcher) wasReset(uuid string) bool {
	d, ret := h.Lib.DeviceGetHandleByUUID(uuid)
	if ret != nvml.SUCCESS {
		return false
	}
	n, ret := d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC)
	return ret == nvml.SUCCESS && n == 0
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

func (h *HealthWatcher) waitXIDs(ctx context.Context, set nvml.EventSet, out chan<- xidNotice) {
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
		select {
		case out <- xidNotice{uuid: uuid, xid: data.EventData}:
		case <-ctx.Done():
		}
	}
}

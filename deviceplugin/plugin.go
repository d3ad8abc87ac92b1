package deviceplugin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// PodLister lists the pods bound to this node (an informer's cache).
type PodLister func() ([]*corev1.Pod, error)

// AllocationMarker records on the pod that its cards were handed out
// (contract.AnnotationGPUAssigned=true).
type AllocationMarker func(ctx context.Context, pod *corev1.Pod) error

// Plugin serves the kubelet's device-plugin API for contract.ResourceGPU.
type Plugin struct {
	pluginapi.UnimplementedDevicePluginServer

	Node         string
	SlotsPerCard int
	MPS          bool
	// Strategies say how Allocate hands the cards to the runtime
	// (envvar, CDI); NewPlugin sets envvar.
	Strategies DeviceListStrategies
	Pods       PodLister
	Mark       AllocationMarker

	mu      sync.Mutex
	cards   []Card
	changed chan struct{} // closed and replaced on every change of cards

	// allocMu serialises Allocate: matching and marking must not interleave,
	// or two containers could be handed the same pod's cards.
	allocMu sync.Mutex
	// recent are pods this plugin allocated whose mark the informer may not
	// show yet, so they are not matched twice.
	recent map[types.UID]time.Time
	// refused are pods Allocate turned down as unidentifiable.
	refused map[types.UID]time.Time
	// Arrival numbers pods in the order they reached the node (Arrivals.Of);
	// nil leaves creation time to order them.
	Arrival func(types.UID) uint64
	// InformerLag is how long Allocate waits for a pod the kubelet already
	// admits to show in the plugin's informer.
	InformerLag time.Duration
}

var _ pluginapi.DevicePluginServer = (*Plugin)(nil)

// NewPlugin returns a plugin for cards.
func NewPlugin(node string, cards []Card, slotsPerCard int, pods PodLister, mark AllocationMarker) *Plugin {
	return &Plugin{Node: node, SlotsPerCard: slotsPerCard, Pods: pods, Mark: mark, Strategies: DeviceListStrategies{StrategyEnvvar: true},
		cards: cards, changed: make(chan struct{}), recent: map[types.UID]time.Time{}, refused: map[types.UID]time.Time{}, InformerLag: 5 * time.Second}
}

// SetHealth marks a card healthy or not, with why; ListAndWatch streams the
// change and the inventory publisher writes it on the node.
func (p *Plugin) SetHealth(uuid string, healthy bool, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if healthy {
		reason = ""
	}
	for i := range p.cards {
		if c := &p.cards[i]; c.UUID == uuid && (c.Healthy != healthy || c.Reason != reason) {
			c.Healthy, c.Reason = healthy, reason
			close(p.changed)
			p.changed = make(chan struct{})
		}
	}
}

// Watch returns the cards and a channel closed at their next change.
func (p *Plugin) Watch() ([]Card, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Card(nil), p.cards...), p.changed
}

// Cards returns the current cards.
func (p *Plugin) Cards() []Card {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Card(nil), p.cards...)
}

// devices is every slot of every shared card, with its card's health.
func (p *Plugin) devices() ([]*pluginapi.Device, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*pluginapi.Device
	for _, c := range p.cards {
		if c.MIG {
			continue
		}
		health := pluginapi.Healthy
		if !c.Healthy {
			health = pluginapi.Unhealthy
		}
		topology := c.topology() // a slot is on its card's NUMA node
		for n := range p.SlotsPerCard {
			out = append(out, &pluginapi.Device{ID: SlotID(c.UUID, n), Health: health, Topology: topology})
		}
	}
	return out, p.changed
}

// GetDevicePluginOptions says GetPreferredAllocation is implemented.
func (p *Plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{GetPreferredAllocationAvailable: true}, nil
}

// ListAndWatch sends the slots, then again whenever a card's health changes.
func (p *Plugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	for {
		devs, changed := p.devices()
		if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: devs}); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-changed:
		}
	}
}

// GetPreferredAllocation steers the kubelet to slots of the cards the
// extender chose for the next waiting pod.
// The kubelet may ask before the plugin's informer shows the pod it admits:
// with no waiting pod of that size it waits up to InformerLag.
func (p *Plugin) GetPreferredAllocation(ctx context.Context, req *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	deadline := time.Now().Add(p.InformerLag)
	for {
		pods, err := p.waitingPods()
		if err != nil {
			return nil, err
		}
		resp := &pluginapi.PreferredAllocationResponse{}
		missing := false
		for _, c := range req.ContainerRequests {
			ids := Preferred(pods, p.Node, c.AvailableDeviceIDs, c.MustIncludeDeviceIDs, int(c.AllocationSize), p.Arrival)
			missing = missing || (len(c.MustIncludeDeviceIDs) == 0 && firstWaiting(pods, p.Node, int(c.AllocationSize), p.Arrival) == nil)
			resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerPreferredAllocationResponse{DeviceIDs: ids})
		}
		if !missing || time.Now().After(deadline) {
			return resp, nil
		}
		select {
		case <-ctx.Done():
			return resp, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Allocate finds the pod each container request is for, marks it allocated
// and returns the env of its assignment. Any doubt fails the request: the
// kubelet reports the error on the pod, and no card is guessed.
func (p *Plugin) Allocate(ctx context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	p.allocMu.Lock()
	defer p.allocMu.Unlock()
	pods, err := p.waitingPods()
	if err != nil {
		return nil, err
	}
	sizes := map[string]int64{}
	down := map[string]string{}
	for _, c := range p.Cards() {
		sizes[c.UUID] = c.MemoryMiB
		if !c.Healthy {
			down[c.UUID] = c.Reason
		}
	}
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		pod, a, err := p.match(ctx, &pods, c.DevicesIds)
		if err != nil {
			return nil, fmt.Errorf("zz device plugin on %s: %w", p.Node, err)
		}
		for _, u := range a.UUIDs {
			if _, ok := sizes[u]; !ok {
				return nil, fmt.Errorf("zz device plugin on %s: pod %s/%s was assigned card %s, which this node does not have", p.Node, pod.Namespace, pod.Name, u)
			}
			if why, ok := down[u]; ok {
				return nil, fmt.Errorf("zz device plugin on %s: pod %s/%s was assigned card %s, which is unhealthy (%s); delete the pod so the extender places it on a healthy card",
					p.Node, pod.Namespace, pod.Name, u, why)
			}
		}
		cresp := &pluginapi.ContainerAllocateResponse{
			Envs:        Env(a, sizes, p.MPS),
			Annotations: map[string]string{contract.AnnotationContainerGPU: pod.Namespace + "/" + pod.Name + "/" + strconv.FormatInt(a.MemMiB, 10)},
		}
		if err := p.Strategies.handOff(cresp, string(pod.UID), a.UUIDs); err != nil {
			return nil, fmt.Errorf("zz device plugin on %s: pod %s/%s: %w", p.Node, pod.Namespace, pod.Name, err)
		}
		if err := p.Mark(ctx, pod); err != nil {
			return nil, fmt.Errorf("zz device plugin on %s: mark pod %s/%s allocated: %w", p.Node, pod.Namespace, pod.Name, err)
		}
		p.recent[pod.UID] = time.Now()
		pods = removePod(pods, pod.UID)
		klog.FromContext(ctx).Info("Allocated", "pod", klog.KObj(pod), "cards", a.UUIDs, "memMiB", a.MemMiB, "deviceListStrategy", p.Strategies.String())
		resp.ContainerResponses = append(resp.ContainerResponses, cresp)
	}
	return resp, nil
}

// match finds the pod a container request is for. A pod the kubelet admits
// may not be in the informer yet: on no match it waits up to InformerLag,
// re-reading pods.
func (p *Plugin) match(ctx context.Context, pods *[]*corev1.Pod, slotIDs []string) (*corev1.Pod, *gpushare.Assignment, error) {
	deadline := time.Now().Add(p.InformerLag)
	for {
		skip := map[types.UID]bool{}
		for uid := range p.refused {
			skip[uid] = true
		}
		if blocker, why := Unidentifiable(*pods, p.Node, skip, p.Arrival); blocker != nil {
			p.refused[blocker.UID] = time.Now()
			return nil, nil, fmt.Errorf("pod %s/%s, the first waiting for %s on this node, has no valid assignment from the zz extender (%v); "+
				"refusing rather than handing it another pod's card: schedule it with schedulerName %s",
				blocker.Namespace, blocker.Name, contract.ResourceGPU, why, contract.SchedulerName)
		}
		pod, a, err := Match(*pods, p.Node, slotIDs, p.Arrival)
		if !errors.Is(err, ErrNoWaitingPod) || time.Now().After(deadline) {
			return pod, a, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, err
		case <-time.After(100 * time.Millisecond):
		}
		fresh, lerr := p.waitingPods()
		if lerr != nil {
			return nil, nil, lerr
		}
		*pods = fresh
	}
}

// waitingPods lists the node's pods without those allocated a moment ago.
func (p *Plugin) waitingPods() ([]*corev1.Pod, error) {
	pods, err := p.Pods()
	if err != nil {
		return nil, fmt.Errorf("list pods on %s: %w", p.Node, err)
	}
	for _, m := range []map[types.UID]time.Time{p.recent, p.refused} {
		for uid, at := range m {
			if time.Since(at) > 10*time.Minute {
				delete(m, uid)
			}
		}
	}
	out := pods[:0:0]
	for _, pod := range pods {
		if _, ok := p.recent[pod.UID]; ok {
			if a, err := gpushare.PodAssignment(pod); err == nil && !a.Assigned {
				continue // our mark is not visible yet
			}
		}
		out = append(out, pod)
	}
	return out, nil
}

func removePod(pods []*corev1.Pod, uid types.UID) []*corev1.Pod {
	out := pods[:0:0]
	for _, p := range pods {
		if p.UID != uid {
			out = append(out, p)
		}
	}
	return out
}

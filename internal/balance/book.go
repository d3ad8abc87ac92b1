package balance

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// The scheduler's own defaults for a container that requests nothing, so an
// empty pod still counts (as in its scoring plugins).
const (
	defaultMilliCPU = 100
	defaultMemory   = 200 << 20
)

// Book tracks what every node has allocatable and what its pods request,
// fed by informers, so Prioritize needs no API call.
type Book struct {
	mu    sync.RWMutex
	nodes map[string]*nodeUse
	pods  map[types.UID]podUse
	// sum holds the request fractions summed over the known nodes with
	// something allocatable, kept as nodes and pods change, so a call reads
	// the cluster's mean without a pass over every node.
	sum struct {
		cpu, mem float64
		n        int
	}
}

type nodeUse struct {
	alloc     Resources
	requested Resources
	apps      map[string]int
	known     bool
}

// podUse is what one pod adds to its node, bound or only assumed there.
type podUse struct {
	node string
	app  string // for replica spread
	req  Resources
	// assumed is when Assume placed the pod; zero for pods seen bound.
	assumed time.Time
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{nodes: map[string]*nodeUse{}, pods: map[types.UID]podUse{}}
}

func (b *Book) node(name string) *nodeUse {
	n := b.nodes[name]
	if n == nil {
		n = &nodeUse{apps: map[string]int{}}
		b.nodes[name] = n
	}
	return n
}

// account adds (sign 1) or takes out (sign -1) a node's fractions from the
// cluster's sums; callers take it out before they change the node and add it
// back after.
func (b *Book) account(n *nodeUse, sign int) {
	if !n.known || n.alloc.MilliCPU <= 0 || n.alloc.Memory <= 0 {
		return
	}
	b.sum.cpu += float64(sign) * float64(n.requested.MilliCPU) / float64(n.alloc.MilliCPU)
	b.sum.mem += float64(sign) * float64(n.requested.Memory) / float64(n.alloc.Memory)
	b.sum.n += sign
}

// SetNode records a node's allocatable CPU and memory.
func (b *Book) SetNode(obj *corev1.Node) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.node(obj.Name)
	b.account(n, -1)
	n.known = true
	n.alloc = Resources{MilliCPU: obj.Status.Allocatable.Cpu().MilliValue(), Memory: obj.Status.Allocatable.Memory().Value()}
	b.account(n, 1)
}

// DeleteNode forgets a node.
func (b *Book) DeleteNode(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := b.nodes[name]; n != nil {
		b.account(n, -1)
		n.known = false
		n.alloc = Resources{}
	}
}

// SetPod counts a pod's requests on its node; finished and deleted pods
// count nowhere, and an unbound one only where Assume put it.
func (b *Book) SetPod(pod *corev1.Pod) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !gpushare.HoldsResources(pod) {
		b.remove(pod.UID)
		return
	}
	if pod.Spec.NodeName == "" {
		if u, ok := b.pods[pod.UID]; !ok || u.assumed.IsZero() {
			b.remove(pod.UID)
		}
		return
	}
	b.add(pod.UID, podUse{node: pod.Spec.NodeName, app: AppKey(pod), req: PodRequests(pod)})
}

// Assume counts a pod on the node it will be bound to, until the informer
// shows where it really went or ttl passes (Expire). The scheduler does not
// tell an extender that is not the binder where a pod went; it scores pods
// one at a time, and the next call may come before the watch event of the
// last binding. Without this, the pods scored in between would all see the
// same stale "best" node and herd onto it. The extender gives one node alone
// its top score (see extender.PrioritizeBalance), so that is where the
// scheduler puts the pod unless the user's own preferences outweigh it.
func (b *Book) Assume(pod *corev1.Pod, node string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u, ok := b.pods[pod.UID]; ok && u.assumed.IsZero() {
		return // already seen bound
	}
	b.add(pod.UID, podUse{node: node, app: AppKey(pod), req: PodRequests(pod), assumed: now})
}

// Expire drops assumptions older than ttl and returns how many.
func (b *Book) Expire(now time.Time, ttl time.Duration) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for uid, u := range b.pods {
		if !u.assumed.IsZero() && now.Sub(u.assumed) > ttl {
			b.remove(uid)
			n++
		}
	}
	return n
}

func (b *Book) add(uid types.UID, u podUse) {
	b.remove(uid)
	b.pods[uid] = u
	n := b.node(u.node)
	b.account(n, -1)
	n.requested.MilliCPU += u.req.MilliCPU
	n.requested.Memory += u.req.Memory
	b.account(n, 1)
	if u.app != "" {
		n.apps[u.app]++
	}
}

// DeletePod stops counting a pod.
func (b *Book) DeletePod(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remove(uid)
}

func (b *Book) remove(uid types.UID) {
	u, ok := b.pods[uid]
	if !ok {
		return
	}
	delete(b.pods, uid)
	n := b.nodes[u.node]
	b.account(n, -1)
	n.requested.MilliCPU -= u.req.MilliCPU
	n.requested.Memory -= u.req.Memory
	b.account(n, 1)
	if u.app != "" {
		if n.apps[u.app]--; n.apps[u.app] <= 0 {
			delete(n.apps, u.app)
		}
	}
}

// Snapshot returns the named nodes as the score needs them for a pod of app,
// plus the cluster's mean request fractions. Unknown nodes are returned with
// nothing allocatable, so they score 0.
func (b *Book) Snapshot(names []string, app string) ([]Node, Mean) {
	out := make([]Node, len(names))
	b.mu.RLock()
	defer b.mu.RUnlock()
	for i, name := range names {
		out[i].Name = name
		if n := b.nodes[name]; n != nil && n.known {
			out[i].Allocatable, out[i].Requested, out[i].AppPods = n.alloc, n.requested, n.apps[app]
		}
	}
	if b.sum.n == 0 {
		return out, Mean{}
	}
	return out, Mean{CPU: b.sum.cpu / float64(b.sum.n), Memory: b.sum.mem / float64(b.sum.n)}
}

// PodRequests is what a pod asks of a node (init containers and overhead
// included, as the scheduler counts), with the scheduler's defaults for a
// container that asks for nothing.
func PodRequests(pod *corev1.Pod) Resources {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{
		NonMissingContainerRequests: corev1.ResourceList{
			corev1.ResourceCPU:    *resourceQuantity(defaultMilliCPU, true),
			corev1.ResourceMemory: *resourceQuantity(defaultMemory, false),
		},
	})
	return Resources{MilliCPU: reqs.Cpu().MilliValue(), Memory: reqs.Memory().Value()}
}

// AppKey names the app a pod belongs to, for spreading its replicas: the zz
// app label, else the common app labels, else its controller.
func AppKey(pod *corev1.Pod) string {
	for _, l := range []string{contract.LabelApp, contract.LabelK8sName, "app"} {
		if v := pod.Labels[l]; v != "" {
			return pod.Namespace + "/" + v
		}
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller {
			return pod.Namespace + "/" + ref.Kind + "/" + ref.Name
		}
	}
	return pod.Namespace + "/" + pod.Name
}

func resourceQuantity(v int64, milli bool) *resource.Quantity {
	if milli {
		return resource.NewMilliQuantity(v, resource.DecimalSI)
	}
	return resource.NewQuantity(v, resource.BinarySI)
}

package deviceplugin

import (
	"math"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Arrivals numbers pods in the order the node's informer first sees them
// (the order they are bound to the node), for the kubelet order
// (gpushare.KubeletOrder). Use Transform as the informer's transform: it runs
// before the informer's cache shows the pod, so no pod is matched before it
// is numbered.
type Arrivals struct {
	mu     sync.Mutex
	next   uint64
	seq    map[types.UID]uint64
	synced bool
}

// Transform numbers pods as the informer receives them.
func (a *Arrivals) Transform(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		a.Saw(p.UID)
	}
	return obj, nil
}

// Synced marks the end of the informer's first list: pods seen before it
// were already on the node and get 0 (then creation and assume time order them).
func (a *Arrivals) Synced() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.synced = true
}

// Saw records a pod.
func (a *Arrivals) Saw(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seq == nil {
		a.seq = map[types.UID]uint64{}
	}
	if _, ok := a.seq[uid]; ok {
		return
	}
	if !a.synced {
		a.seq[uid] = 0
		return
	}
	a.next++
	a.seq[uid] = a.next
}

// Forget drops a pod that is gone.
func (a *Arrivals) Forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.seq, uid)
}

// Of is a pod's number; a pod never seen comes last.
func (a *Arrivals) Of(uid types.UID) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n, ok := a.seq[uid]; ok {
		return n
	}
	return math.MaxUint64
}

package extender

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// maxInvalidLogged bounds the pods remembered as logged: past it the
// oldest is forgotten (and logged again if kube-scheduler still retries it).
const maxInvalidLogged = 4096

// recentUIDs remembers the last max pod UIDs added, in a ring.
type recentUIDs struct {
	mu   sync.Mutex
	seen map[types.UID]struct{}
	ring []types.UID
	next int
}

func newRecentUIDs(max int) *recentUIDs {
	return &recentUIDs{seen: make(map[types.UID]struct{}, max), ring: make([]types.UID, max)}
}

// add reports whether uid is new, and remembers it.
func (r *recentUIDs) add(uid types.UID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[uid]; ok {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.seen, old)
	}
	r.ring[r.next], r.seen[uid] = uid, struct{}{}
	r.next = (r.next + 1) % len(r.ring)
	return true
}

// has reports whether uid is remembered.
func (r *recentUIDs) has(uid types.UID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.seen[uid]
	return ok
}

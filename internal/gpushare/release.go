package gpushare

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// release is an assignment the ledger gave back while the pod may still
// carry it.
type release struct {
	Released
	assumeTime time.Time
	// unboundOnly: Expire gave it back because the pod was never seen bound;
	// a bound pod carrying it is real and counts again.
	unboundOnly bool
	// clear: its annotations must still be cleared (PendingClears).
	clear bool
}

// isReleased reports whether pod carries an assignment the ledger gave back,
// which must not come back as a phantom.
func (l *Ledger) isReleased(pod *corev1.Pod, a *Assignment) bool {
	r := l.released[pod.UID]
	return r != nil && r.assumeTime.Equal(a.AssumeTime) && (!r.unboundOnly || pod.Spec.NodeName == "")
}

// cleared forgets a release once the pod is seen without an assignment.
func (l *Ledger) cleared(uid types.UID) {
	delete(l.released, uid)
	delete(l.refused, uid)
}

// Release gives back the cards reserved for a pod whose bind failed and
// queues the clearing of its annotations (PendingClears), so its choice never
// comes back when the pod is next updated.
func (l *Ledger) Release(uid types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.pods[uid]
	if h == nil {
		return
	}
	l.released[uid] = &release{Released: Released{UID: uid, Pod: h.Pod}, assumeTime: h.AssumeTime, clear: true}
	l.remove(uid)
	l.markFreed(h.Node)
}

// PendingClear is a released assignment whose annotations must be cleared:
// the caller clears them only while the pod still carries AssumeTime, and
// retries until Cleared.
type PendingClear struct {
	Released
	AssumeTime time.Time
}

// PendingClears lists the released assignments whose annotations are not
// known to be cleared.
func (l *Ledger) PendingClears() []PendingClear {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []PendingClear
	for _, r := range l.released {
		if r.clear {
			out = append(out, PendingClear{Released: r.Released, AssumeTime: r.assumeTime})
		}
	}
	return out
}

// Cleared records that a released assignment's annotations were cleared (or
// changed, or the pod is gone): no more attempts. The release itself stays
// until the pod is seen without it, so it cannot come back meanwhile.
func (l *Ledger) Cleared(uid types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.released[uid]; r != nil {
		r.clear = false
	}
}

// Refused is how many pods carry an assignment the ledger refuses (see
// SetPod): a metric, and a warning in kubectl zz gpu.
func (l *Ledger) Refused() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.refused)
}

package extender

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Requeuer asks kube-scheduler to retry the GPU pods the extender refused
// on a state its informer had not caught up with. kube-scheduler retries a
// pod an extender refused on any cluster event, the deletion that frees
// GPU memory included; but its informer may deliver that deletion before
// the extender's does, and its retry is then refused on the memory still
// counted. Nothing retries the pod again until the next cluster event,
// which on a quiet cluster is kube-scheduler's periodic flush, 5 minutes
// later (measured: 1 retry in 7 waited 320 s). So when the ledger frees
// memory on a node, each pod refused there within Window that now fits it
// gets a pod condition (contract.ConditionGPUMemoryFreed): an update of the
// pod, on which kube-scheduler retries it (from its backoff queue at once
// when nothing else waits, else when the backoff ends). The
// preemptor whose victims are gone is asked the same way, whenever it was
// refused.
type Requeuer struct {
	Ledger *gpushare.Ledger
	Client kubernetes.Interface
	GetPod PodGetter
	Now    func() time.Time
	// Window bounds how far the extender's informer may lag behind
	// kube-scheduler's: older refusals were retried by kube-scheduler on
	// the event itself.
	Window  time.Duration
	Results *prometheus.CounterVec

	mu      sync.Mutex
	waiting map[types.UID]*waiter
	prune   int // prune refusals older than Window when waiting grows past it
	// handled are the last batches of freed nodes due weighed the waiters
	// against, and handledTo the ledger's FreedSeq the batches before them
	// reach: a refusal decided before such a batch but recorded after it
	// was never weighed against it (Filtered).
	handled   []handledBatch
	handledTo uint64
}

// handledBatch is one TakeFreed due handled: nodes, and FreedSeq then.
type handledBatch struct {
	seq   uint64
	nodes []string
}

// nodeSeed hashes the node names refusals remember.
var nodeSeed = maphash.MakeSeed()

// Bounds on what a tenant's pending pods can make the extender keep and
// write: the nodes a refusal remembers (a pod offered more could go almost
// anywhere, and is asked about for any node), the refusals kept at once, and
// the retries asked per node freed (the first pod bound there is a cluster
// event on which kube-scheduler retries every pod the extender refused,
// with the ledger up to date by then).
const (
	maxNodesKept    = 256
	maxWaiters      = 10000
	maxAsksPerNode  = 4
	minPruneWaiting = 64
	maxHandled      = 32
)

// waiter is a GPU pod the extender refused on every node it was offered.
type waiter struct {
	uid      types.UID
	pod      types.NamespacedName
	priority int32
	req      gpushare.Request
	nodes    []uint64 // hashes of the nodes it was refused on; nil: any
	refused  time.Time
	refusals int // how many filter calls refused it
	// asked counts the retries requested (the condition's message);
	// answered is the refusal the last one was about.
	asked, answered int
}

// NewRequeueMetric counts the retries asked of kube-scheduler by result.
func NewRequeueMetric() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zz_extender_requeues_total",
		Help: "GPU pods the extender had refused where memory was then freed, that it asked kube-scheduler to retry (by setting a pod condition), by result (requested, failed).",
	}, []string{"result"})
	for _, r := range []string{"requested", "failed"} {
		c.WithLabelValues(r)
	}
	return c
}

// Filtered records the outcome of a filter call decided when the ledger's
// FreedSeq was seq: a pod refused on every node (names) waits; one that
// fits somewhere does not. Memory freed after the decision on a node it was
// refused on, that Run handled before this record, is noted again so Run
// weighs the pod against it: else the pod would wait for kube-scheduler's
// periodic flush.
func (r *Requeuer) Filtered(pod *corev1.Pod, names []string, req gpushare.Request, fit bool, seq uint64) {
	if again := r.record(pod, names, req, fit, seq); len(again) > 0 {
		r.Ledger.MarkFreed(again...)
	}
}

// record keeps the outcome (Filtered), and returns the nodes to note again.
func (r *Requeuer) record(pod *corev1.Pod, names []string, req gpushare.Request, fit bool, seq uint64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fit || len(names) == 0 {
		delete(r.waiting, pod.UID)
		return nil
	}
	if r.waiting == nil {
		r.waiting, r.prune = map[types.UID]*waiter{}, minPruneWaiting
	}
	if len(r.waiting) >= r.prune {
		r.pruneLocked()
		r.prune = max(minPruneWaiting, 2*len(r.waiting))
	}
	w := r.waiting[pod.UID]
	if w == nil {
		if len(r.waiting) >= maxWaiters {
			return nil // a backlog that large is retried on the events its binds make
		}
		w = &waiter{uid: pod.UID, pod: types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}}
		r.waiting[pod.UID] = w
	}
	w.nodes = w.nodes[:0]
	if len(names) > maxNodesKept {
		w.nodes = nil
	} else {
		for _, n := range names {
			w.nodes = append(w.nodes, maphash.String(nodeSeed, n))
		}
	}
	w.priority, w.req, w.refused = corev1helpers.PodPriority(pod), req, r.Now()
	w.refusals++
	return r.missedLocked(w, names, seq)
}

// missedLocked returns the nodes w was refused on (names) that due handled
// freed memory on after the decision (seq).
func (r *Requeuer) missedLocked(w *waiter, names []string, seq uint64) []string {
	if seq < r.handledTo {
		// More batches than kept since the decision: every node it was
		// refused on, unless that is more than a refusal remembers.
		if w.nodes == nil {
			return nil
		}
		return slices.Clone(names)
	}
	var out []string
	for _, b := range r.handled {
		if b.seq <= seq {
			continue
		}
		for _, n := range b.nodes {
			if r.refusedOn(w, n) && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// refusedOn reports whether w was refused on node (nil nodes: any).
func (r *Requeuer) refusedOn(w *waiter, node string) bool {
	return w.nodes == nil || slices.Contains(w.nodes, maphash.String(nodeSeed, node))
}

// pruneLocked drops the refusals older than Window, but for preemptors
// (waiting for their victims, or holding what they freed).
func (r *Requeuer) pruneLocked() {
	since := r.Now().Add(-r.Window)
	for uid, w := range r.waiting {
		if w.refused.Before(since) && !r.Ledger.Reserved(uid) {
			delete(r.waiting, uid)
		}
	}
}

// Run asks for retries each time the ledger frees memory, until ctx ends.
func (r *Requeuer) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.Ledger.Freed():
			for _, d := range r.due(r.Ledger.TakeFreed()) {
				r.ask(ctx, d)
			}
		}
	}
}

// retry is a waiter to ask about, and the node freed for it.
type retry struct {
	waiter
	node string
}

// due picks, for the nodes where memory was freed, the waiters to ask
// about: refused there within Window (or preempted for: waiting for its
// victims, or holding what they freed) and fitting now, most important
// first (priority, then the earliest refused), as many as the node's free
// memory could hold and at most maxAsksPerNode. A refusal is asked about
// once; a new one may be asked about again. Older waiters are dropped.
// seq is the ledger's FreedSeq when nodes were taken.
func (r *Requeuer) due(nodes []string, seq uint64) []retry {
	if len(nodes) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.handled) == maxHandled {
		r.handledTo = r.handled[0].seq
		r.handled = slices.Delete(r.handled, 0, 1)
	}
	r.handled = append(r.handled, handledBatch{seq: seq, nodes: nodes})
	r.pruneLocked()
	cands := slices.Collect(maps.Values(r.waiting))
	slices.SortFunc(cands, func(a, b *waiter) int {
		if c := cmp.Compare(b.priority, a.priority); c != 0 {
			return c
		}
		return a.refused.Compare(b.refused)
	})
	var out []retry
	for _, node := range nodes {
		var claimed int64
		asked := 0
		for _, w := range cands {
			if asked == maxAsksPerNode {
				break
			}
			if w.answered == w.refusals || !r.refusedOn(w, node) {
				continue // asked about already, or not refused here
			}
			ok, held, free := r.Ledger.FitsOn(w.uid, node, w.req)
			if !ok {
				continue
			}
			if !held {
				// Not a preemptor's own cards: count what it would take.
				if claimed += w.req.MemMiB * int64(w.req.Cards); claimed > free {
					continue
				}
			}
			asked++
			w.asked++
			w.answered = w.refusals
			out = append(out, retry{waiter: *w, node: node})
		}
	}
	return out
}

// ask sets the condition on a pod that is still waiting: kube-scheduler
// sees the update and retries the pod.
func (r *Requeuer) ask(ctx context.Context, d retry) {
	logger := klog.FromContext(ctx).WithValues("pod", d.pod, "node", d.node, "refusedAgo", r.Now().Sub(d.refused).Round(time.Millisecond))
	pod, err := r.GetPod(ctx, d.pod.Namespace, d.pod.Name)
	if apierrors.IsNotFound(err) || (err == nil && (pod.UID != d.uid || pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil)) {
		return // gone, recreated, placed or leaving: nothing to retry
	}
	if err == nil {
		err = r.patch(ctx, d)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		r.Results.WithLabelValues("failed").Inc()
		logger.Error(err, "Could not ask kube-scheduler to retry a GPU pod where memory was freed; it retries on the next cluster event")
		return
	}
	r.Results.WithLabelValues("requested").Inc()
	logger.V(2).Info("Asked kube-scheduler to retry a GPU pod the extender had refused where memory was freed")
}

// patch merges the condition into the pod's status (a strategic merge by
// condition type leaves kube-scheduler's and the kubelet's alone). The
// pod's UID makes it a precondition: a pod recreated under the name is
// left alone. The count in the message makes each retry a change, so an
// update even within the same second.
func (r *Requeuer) patch(ctx context.Context, d retry) error {
	cond := corev1.PodCondition{
		Type: contract.ConditionGPUMemoryFreed, Status: corev1.ConditionTrue, Reason: contract.ReasonGPUMemoryFreed,
		LastTransitionTime: metav1.NewTime(r.Now()),
		Message: fmt.Sprintf("GPU memory was freed on node %s after the scheduler extender refused the pod there; "+
			"kube-scheduler was asked to retry it (%d)", d.node, d.asked),
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": d.uid},
		"status":   map[string]any{"conditions": []corev1.PodCondition{cond}},
	})
	if err != nil {
		return err
	}
	_, err = r.Client.CoreV1().Pods(d.pod.Namespace).Patch(ctx, d.pod.Name, types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: contract.ComponentExtender}, "status")
	return err
}

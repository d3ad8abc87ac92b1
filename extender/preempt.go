package extender

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/podannotate"
)

// Preemptor makes room for a GPU pod that fits no node by evicting pods of
// lower priority, where kube-scheduler's own preemption cannot see GPU
// memory (see internal/gpushare/preempt.go). The plan is the ledger's; the
// evictions go through the Eviction API, so PodDisruptionBudgets hold: a pod
// whose budget allows no disruption is no victim (Guarded), every victim is
// first evicted as a dry run, and one refusal cancels the plan before any pod
// is touched.
type Preemptor struct {
	Ledger *gpushare.Ledger
	Client kubernetes.Interface
	Now    func() time.Time
	// Ctx bounds the evictions (the server's lifetime).
	Ctx     context.Context
	Results *prometheus.CounterVec
	// Recorder, when set, tells the preemptor and its victims what happens
	// (kubectl describe pod).
	Recorder record.EventRecorder
	// Guarded, when set, says a PodDisruptionBudget allows the pod no
	// disruption now (Cache.Guarded): it is no victim.
	Guarded func(types.NamespacedName) bool

	inflight sync.WaitGroup // the evictions under way
	// blocked are the pods told that budgets block their preemption.
	blocked     *recentUIDs
	blockedOnce sync.Once
}

// Wait waits up to timeout for the evictions under way (at SIGTERM, so a
// preemption is not cut between its victims), and says whether they ended.
func (p *Preemptor) Wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { p.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (p *Preemptor) event(obj runtime.Object, typ, reason, format string, args ...any) {
	if p.Recorder != nil {
		p.Recorder.Eventf(obj, typ, reason, format, args...)
	}
}

func podRef(uid types.UID, pod types.NamespacedName) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: uid}
}

// minFeasibleNodesToFind is kube-scheduler's: it stops searching for
// feasible nodes once it has max(100, percentageOfNodesToScore) of them.
const minFeasibleNodesToFind = 100

// preemptionResults label zz_extender_preemptions_total.
const (
	preemptStarted  = "started"
	preemptRefused  = "refused"
	preemptFailed   = "failed"
	preemptFinished = "evicted"
)

// NewPreemptionWaiting is zz_extender_preemptions_waiting, read from the
// ledger at each scrape.
func NewPreemptionWaiting(l *gpushare.Ledger) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zz_extender_preemptions_waiting",
		Help: "GPU preemptions (the extender's own, and kube-scheduler's it keeps memory for) whose victims have not all gone yet (the memory they freed is kept for the preemptor).",
	}, func() float64 { return float64(l.Nominations()) })
}

// NewPreemptionMetric is zz_extender_preemptions_total.
func NewPreemptionMetric() *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zz_extender_preemptions_total",
		Help: "GPU preemptions by result: started (victims chosen), evicted (all evicted), refused (an eviction refused, e.g. by a PodDisruptionBudget: nothing evicted), failed (an eviction failed midway).",
	}, []string{"result"})
	for _, r := range []string{preemptStarted, preemptRefused, preemptFailed, preemptFinished} {
		v.WithLabelValues(r)
	}
	return v
}

// NewCandidateMetric is zz_extender_preemption_candidates_total: the
// preempt verb's answers to kube-scheduler's own preemption, per node.
func NewCandidateMetric() *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "zz_extender_preemption_candidates_total",
		Help: "Nodes kube-scheduler's own preemption proposed for a GPU pod (its victims chosen for CPU, memory or pods), by the preempt verb's answer: kept (the pod's cards fit once they go), extended (lower-priority GPU pods added), dropped (no room for the pod's GPU memory even so: nobody evicted there).",
	}, []string{"result"})
	for _, r := range []string{candidateKept, candidateExtended, candidateDropped} {
		v.WithLabelValues(r)
	}
	return v
}

// Consider plans and starts a preemption for pod, which fits none of names,
// unless it may not preempt (preemptionPolicy Never) or one is under way.
func (p *Preemptor) Consider(pod *corev1.Pod, names []string, req gpushare.Request, policy gpushare.Policy) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return
	}
	if p.Ledger.Nominated(pod.UID) {
		return
	}
	plan, ok := p.Ledger.PlanPreemption(names, req, corev1helpers.PodPriority(pod), p.Guarded)
	if !ok {
		p.blockedBy(pod, names, req)
		return // at once for a pod that outranks no GPU pod (the usual one)
	}
	// Fewer feasible nodes than kube-scheduler's smallest search means it
	// searched them all; otherwise a node it has not asked about yet may
	// have room, and the next scheduling attempt will find it.
	if len(names) >= minFeasibleNodesToFind && p.Ledger.FitsElsewhere(names, req) {
		return
	}
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	since := p.Now()
	if !p.Ledger.Nominate(pod.UID, key, plan, req, policy, since) {
		return
	}
	p.Results.WithLabelValues(preemptStarted).Inc()
	klog.InfoS("Preempting for GPU memory", "pod", klog.KObj(pod), "priority", corev1helpers.PodPriority(pod), "request", req.String(), "plan", plan.String())
	// Events name no pod of another namespace: the preemptor's owner reads
	// its events, and the victims' owners theirs (kube-scheduler, too, gives
	// a victim only its preemptor's UID).
	p.event(pod, corev1.EventTypeNormal, contract.ReasonPreempting, "Evicting %d lower-priority pods on node %s to free the GPU memory this pod asks for (%s)",
		len(plan.Victims), plan.Node, req)
	if len(plan.Victims) > 0 {
		p.inflight.Go(func() { p.evict(pod.UID, key, corev1helpers.PodPriority(pod), plan, since) })
	}
}

// blockedBy tells a pod, once, that PodDisruptionBudgets are what keep
// its preemption from making room: a plan exists that evicts pods the
// budgets allow no disruption now. Its only event had been
// kube-scheduler's "Preemption is not helpful", while kubectl zz gpu --fit
// said preemption would make room (an ML-engineer audit). No budget or
// pod of another namespace is named: the preemptor's owner reads it.
func (p *Preemptor) blockedBy(pod *corev1.Pod, names []string, req gpushare.Request) {
	if p.Guarded == nil {
		return
	}
	p.blockedOnce.Do(func() { p.blocked = newRecentUIDs(maxInvalidLogged) })
	if p.blocked.has(pod.UID) {
		return // told: planning again at each retry is for nothing
	}
	plan, ok := p.Ledger.PlanPreemption(names, req, corev1helpers.PodPriority(pod), nil)
	if !ok || !p.blocked.add(pod.UID) {
		return
	}
	p.event(pod, corev1.EventTypeWarning, contract.ReasonPreemptionBlocked,
		"No GPU preemption: evicting %d lower-priority pods on node %s would free the GPU memory this pod asks for (%s), but PodDisruptionBudgets allow none of them to go now; it waits until they do, or memory frees",
		len(plan.Victims), plan.Node, req)
}

// Refresh asks the API server whether the pods a preemption waits for are
// gone, and tells the ledger of those that are. kube-scheduler retries the
// preemptor on its own informer's news of a victim's deletion, and may ask
// before the extender's informer has it: without this the answer would be
// "no room" with nothing left to bring the pod back but the periodic flush.
func (p *Preemptor) Refresh(pod *corev1.Pod) {
	for _, v := range p.Ledger.Awaited(pod.UID) {
		ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Second)
		got, err := p.Client.CoreV1().Pods(v.Pod.Namespace).Get(ctx, v.Pod.Name, metav1.GetOptions{})
		cancel()
		if apierrors.IsNotFound(err) || (err == nil && got.UID != v.UID) {
			p.Ledger.DeletePod(v.UID)
		}
	}
}

// evict evicts the plan's victims, all or none where a budget refuses;
// then it records the nomination on the preemptor (record).
func (p *Preemptor) evict(uid types.UID, preemptor types.NamespacedName, priority int32, plan gpushare.Plan, since time.Time) {
	logger := klog.FromContext(p.Ctx).WithValues("preemptor", preemptor, "node", plan.Node)
	for _, dry := range []bool{true, false} {
		for _, v := range plan.Victims {
			if !dry {
				p.event(podRef(v.UID, v.Pod), corev1.EventTypeNormal, contract.ReasonPreempted,
					"Evicted by zz-extender on node %s for pod %s of priority %d (> %d), which needs its GPU memory", plan.Node, uid, priority, v.Priority)
			}
			err := p.evictOne(v, dry)
			switch {
			case err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err):
				// Evicted, or gone already (a UID precondition that fails is
				// a pod of the same name recreated: not this victim).
			case dry:
				// A budget the cache saw allowing it (it changed since, or
				// two victims share it), or another refusal.
				p.Ledger.CancelNomination(uid)
				p.Results.WithLabelValues(preemptRefused).Inc()
				logger.Info("Not preempting: an eviction would be refused", "victim", v.Pod, "err", err)
				p.event(podRef(uid, preemptor), corev1.EventTypeWarning, contract.ReasonPreemptionRefused,
					"Not preempting on node %s: the eviction of a lower-priority pod was refused (%s); no pod was evicted", plan.Node, apierrors.ReasonForError(err))
				return
			default:
				p.Ledger.CancelNomination(uid)
				p.Results.WithLabelValues(preemptFailed).Inc()
				logger.Error(err, "Preemption stopped: an eviction failed", "victim", v.Pod)
				p.event(podRef(uid, preemptor), corev1.EventTypeWarning, contract.ReasonPreemptionFailed,
					"Preemption on node %s stopped: the eviction of a lower-priority pod failed (%s)", plan.Node, apierrors.ReasonForError(err))
				return
			}
		}
	}
	p.Results.WithLabelValues(preemptFinished).Inc()
	logger.V(2).Info("Evicted the victims of a GPU preemption", "victims", len(plan.Victims))
	p.record(uid, preemptor, gpushare.NominationRecord{Node: plan.Node, Since: since}, logger)
}

// record writes the nomination on its preemptor (contract.AnnotationGPUNomination),
// after the evictions: the other replicas' ledgers, whose informers see the
// victims terminating first, restore it from there, and so does this one
// after a restart. Not written, the preemption still works here; only a
// failover or restart before the preemptor runs would lose its hold on the
// freed memory, as before.
func (p *Preemptor) record(uid types.UID, preemptor types.NamespacedName, rec gpushare.NominationRecord, logger klog.Logger) {
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()
	err := podannotate.Set(ctx, p.Client, preemptor.Namespace, preemptor.Name, uid, map[string]string{contract.AnnotationGPUNomination: rec.Encode()})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		logger.Error(err, "Could not record the GPU preemption on its pod; a restart of the extender before it runs would forget it")
	}
}

func (p *Preemptor) evictOne(v gpushare.Victim, dryRun bool) error {
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: v.Pod.Namespace, Name: v.Pod.Name},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &v.UID}},
	}
	if dryRun {
		ev.DeleteOptions.DryRun = []string{metav1.DryRunAll}
	}
	ctx, cancel := context.WithTimeout(p.Ctx, 30*time.Second)
	defer cancel()
	if err := p.Client.PolicyV1().Evictions(v.Pod.Namespace).Evict(ctx, ev); err != nil {
		return fmt.Errorf("evict %s: %w", v.Pod, err)
	}
	return nil
}

package extender

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/podannotate"
	"github.com/zzcloud/zz/internal/rebalance"
)

// Cache keeps the ledger and the request book up to date from node and pod
// informers; it is ready once both informers delivered their initial lists,
// so the GPU state was rebuilt from every pod's annotations.
type Cache struct {
	// DefaultPolicy, when set, restores the GPU preemptions recorded on
	// pending pods (contract.AnnotationGPUNomination) by another replica or
	// before a restart; it is the cluster's placement policy.
	DefaultPolicy gpushare.Policy

	client  kubernetes.Interface
	ledger  *gpushare.Ledger
	book    *balance.Book
	factory informers.SharedInformerFactory
	synced  []cache.InformerSynced
	ready   atomic.Bool
	// listErr is the informers' last failed list or watch, which Ready
	// says while the caches have not synced.
	listErr atomic.Pointer[string]
	badPods prometheus.Counter
	// nominationTTL is how long a recorded preemption may wait (Run's
	// assumeTTL); deferred holds the pods that carried a record before the
	// initial lists were in, restored once they are.
	nominationTTL time.Duration
	mu            sync.Mutex
	deferred      []types.NamespacedName
	// records holds bound pods that still carry a preemption record, for
	// removeRecords; nil until Run starts it.
	records atomic.Pointer[workqueue.TypedRateLimitingInterface[types.NamespacedName]]
}

// NewCache builds the informers; Run starts them.
func NewCache(client kubernetes.Interface, ledger *gpushare.Ledger, book *balance.Book) (*Cache, error) {
	c := &Cache{client: client, ledger: ledger, book: book,
		factory: informers.NewSharedInformerFactory(client, 0),
		badPods: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zz_extender_bad_gpu_annotations_total",
			Help: "Pod updates whose GPU assignment annotations could not be read (their memory stays held) or did not agree with the pod (refused).",
		}),
	}
	nodes := c.factory.Core().V1().Nodes().Informer()
	pods := c.factory.Core().V1().Pods().Informer()
	if err := errors.Join(nodes.SetTransform(strip), pods.SetTransform(stripPod)); err != nil {
		return nil, err
	}
	nreg, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.setNode(obj) },
		UpdateFunc: func(_, obj any) { c.setNode(obj) },
		DeleteFunc: func(obj any) {
			if n, ok := unwrap(obj).(*corev1.Node); ok {
				c.ledger.DeleteNode(n.Name)
				c.book.DeleteNode(n.Name)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	preg, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.setPod(obj) },
		UpdateFunc: func(_, obj any) { c.setPod(obj) },
		DeleteFunc: func(obj any) {
			if p, ok := unwrap(obj).(*corev1.Pod); ok {
				c.ledger.DeletePod(p.UID)
				c.book.DeletePod(p.UID)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	// Budgets, for GPU preemption (Guarded).
	pdbs := c.factory.Policy().V1().PodDisruptionBudgets().Informer()
	if err := pdbs.SetTransform(stripBudget); err != nil {
		return nil, err
	}
	c.synced = []cache.InformerSynced{nreg.HasSynced, preg.HasSynced, pdbs.HasSynced}
	for _, inf := range []cache.SharedIndexInformer{nodes, pods, pdbs} {
		if err := inf.SetWatchErrorHandlerWithContext(c.watchFailed); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// watchFailed keeps an informer's failed list or watch for Ready, then
// logs it as client-go does.
func (c *Cache) watchFailed(ctx context.Context, r *cache.Reflector, err error) {
	msg := err.Error()
	c.listErr.Store(&msg)
	cache.DefaultWatchErrorHandler(ctx, r, err)
}

// strip drops what scheduling never reads: managed fields (half the cache).
func strip(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// stripPod is strip, and keeps only a pod's zz.io/ annotations, all the
// extender reads (its GPU choices and assignment, any case of the prefix:
// gpushare refuses a misspelt one): a tenant's pods of 256 KiB of other
// annotations each grew the extender's memory with the cluster's, not zz's,
// data (a hostile-tenant audit). Labels stay: budgets select by them. Of
// its containers it keeps what placement reads (names, resources, ports,
// restart policy), not what they run with: a node's mirror pods, in any
// namespace, of 1 MB of env each grew the extender 1.8 MB apiece (a
// root-on-one-node audit); ephemeral containers go whole.
func stripPod(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		for k := range p.Annotations {
			if !strings.HasPrefix(strings.ToLower(k), contract.Prefix) {
				delete(p.Annotations, k)
			}
		}
		for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for i := range cs {
				c := &cs[i]
				c.Env, c.EnvFrom, c.Command, c.Args, c.WorkingDir = nil, nil, nil, nil, ""
				c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
			}
		}
		p.Spec.EphemeralContainers = nil
	}
	return strip(obj)
}

// stripBudget keeps of a PodDisruptionBudget what Guarded reads
// (rebalance.BudgetBlocks): its name, namespace, generation, selector and
// status' disruptionsAllowed and observedGeneration.
func stripBudget(obj any) (any, error) {
	b, ok := obj.(*policyv1.PodDisruptionBudget)
	if !ok {
		return strip(obj)
	}
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: b.Namespace, UID: b.UID, ResourceVersion: b.ResourceVersion, Generation: b.Generation},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: b.Spec.Selector},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: b.Status.DisruptionsAllowed, ObservedGeneration: b.Status.ObservedGeneration},
	}, nil
}

// Guarded reports whether a PodDisruptionBudget of the pod allows no
// disruption now, as the cache last saw them: evicting it would be refused
// (rebalance.BudgetBlocks, which kubectl zz rebalance and status judge by).
func (c *Cache) Guarded(pod types.NamespacedName) bool {
	p, err := c.factory.Core().V1().Pods().Lister().Pods(pod.Namespace).Get(pod.Name)
	if err != nil {
		return false
	}
	budgets, err := c.factory.Policy().V1().PodDisruptionBudgets().Lister().PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return false
	}
	return slices.ContainsFunc(budgets, func(b *policyv1.PodDisruptionBudget) bool { return rebalance.BudgetBlocks(b, p) })
}

func unwrap(obj any) any {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return d.Obj
	}
	return obj
}

func (c *Cache) setNode(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		c.ledger.SetNode(n)
		c.book.SetNode(n)
	}
}

func (c *Cache) setPod(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if err := c.ledger.SetPod(p); errors.Is(err, gpushare.ErrCardMissing) {
		klog.InfoS("A GPU pod's card is missing from its node's inventory (down, or its device plugin restarting); its memory stays held", "pod", klog.KObj(p), "err", err)
	} else if errors.Is(err, gpushare.ErrInconsistent) {
		c.badPods.Inc()
		klog.ErrorS(err, "Refused a GPU assignment that does not agree with its pod; it counts nowhere", "pod", klog.KObj(p))
	} else if err != nil {
		c.badPods.Inc()
		klog.ErrorS(err, "Cannot read the GPU assignment; its memory stays held", "pod", klog.KObj(p))
	}
	c.book.SetPod(p)
	v, recorded := p.Annotations[contract.AnnotationGPUNomination]
	switch {
	case recorded && p.Spec.NodeName == "" && c.DefaultPolicy != "":
		c.restoreNomination(p, v)
	case recorded && p.Spec.NodeName != "":
		if q := c.records.Load(); q != nil {
			(*q).Add(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
		}
	case p.Spec.NodeName == "" && p.Status.NominatedNodeName != "" && c.DefaultPolicy != "":
		c.keepNominated(p)
	}
}

// keepNominated keeps, for a pending GPU pod kube-scheduler nominated a node
// for (its own preemption, which the preempt verb let evict GPU pods there
// too, or a bind about to happen), what the pods terminating on that node
// free, as kube-scheduler keeps the node's CPU and memory for it: otherwise
// a GPU pod of lower priority waiting for a card could take the card first,
// and the preemptor would have to preempt again. A nomination of the
// extender's own, or cards the pod holds already, are left as they are; one
// kept too long is given up after --assume-ttl, as the extender's own.
func (c *Cache) keepNominated(p *corev1.Pod) {
	if !c.ready.Load() {
		c.mu.Lock()
		c.deferred = append(c.deferred, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
		c.mu.Unlock()
		return
	}
	// RestoreNomination keeps nothing for a pod that asks for no GPU memory.
	rec := gpushare.NominationRecord{Node: p.Status.NominatedNodeName, Since: c.ledger.Now()}
	if c.ledger.RestoreNomination(p, rec, c.DefaultPolicy, c.nominationTTL) {
		klog.InfoS("Keeping GPU memory for a pod kube-scheduler nominated a node for", "pod", klog.KObj(p), "node", rec.Node)
	}
}

// removeRecords removes the preemption record from pods that are bound:
// it kept the freed cards for the pod across a failover while it waited;
// bound, nothing reads it, and left on the pod it reads as a preemption
// still under way (kubectl describe). The informer tells of every such pod,
// whichever replica bound it and whenever the record landed; a failed patch
// is retried with backoff.
func (c *Cache) removeRecords(ctx context.Context) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName]())
	c.records.Store(&q)
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	// Bound pods listed before the queue existed.
	if pods, err := c.factory.Core().V1().Pods().Lister().List(labels.Everything()); err == nil {
		for _, p := range pods {
			if _, ok := p.Annotations[contract.AnnotationGPUNomination]; ok && p.Spec.NodeName != "" {
				q.Add(types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
			}
		}
	}
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		if c.removeRecord(ctx, key) {
			q.Forget(key)
		} else {
			q.AddRateLimited(key)
		}
		q.Done(key)
	}
}

// removeRecord removes the record from pod key if it is bound and has one;
// false means try again.
func (c *Cache) removeRecord(ctx context.Context, key types.NamespacedName) bool {
	pod, err := c.factory.Core().V1().Pods().Lister().Pods(key.Namespace).Get(key.Name)
	if err != nil {
		return true // gone
	}
	if _, ok := pod.Annotations[contract.AnnotationGPUNomination]; !ok || pod.Spec.NodeName == "" {
		return true
	}
	err = podannotate.Patch(ctx, c.client, pod.Namespace, pod.Name, pod.UID, map[string]*string{contract.AnnotationGPUNomination: nil})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		klog.FromContext(ctx).Error(err, "Could not remove the preemption record of a bound pod; retrying", "pod", key)
		return false
	}
	return true // a conflict: the pod was recreated (UID precondition)
}

// restoreNomination restores the preemption recorded on pending pod p, once
// the ledger knows every pod: the record's victims are read from them.
func (c *Cache) restoreNomination(p *corev1.Pod, value string) {
	if !c.ready.Load() {
		c.mu.Lock()
		c.deferred = append(c.deferred, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
		c.mu.Unlock()
		return
	}
	rec, err := gpushare.ParseNominationRecord(value)
	if err != nil {
		c.badPods.Inc()
		klog.ErrorS(err, "Cannot read the GPU preemption recorded on a pod; not restored", "pod", klog.KObj(p))
		return
	}
	if c.ledger.RestoreNomination(p, rec, c.DefaultPolicy, c.nominationTTL) {
		klog.InfoS("Restored a GPU preemption recorded on its pod; the memory its victims free is kept for it", "pod", klog.KObj(p), "node", rec.Node, "since", rec.Since)
	}
}

// restoreDeferred restores the preemptions seen during the initial lists.
func (c *Cache) restoreDeferred() {
	c.mu.Lock()
	keys := c.deferred
	c.deferred = nil
	c.mu.Unlock()
	for _, k := range keys {
		if p, err := c.factory.Core().V1().Pods().Lister().Pods(k.Namespace).Get(k.Name); err == nil {
			c.setPod(p)
		}
	}
}

// Run starts the informers, waits for the initial lists, then, until ctx
// ends, expires reservations of pods never bound after assumeTTL and
// releases the cards of bound pods that did not start within unstartedTTL.
func (c *Cache) Run(ctx context.Context, assumeTTL, unstartedTTL time.Duration) error {
	c.nominationTTL = assumeTTL
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("informer caches did not sync: %w", ctx.Err())
	}
	c.ready.Store(true)
	c.restoreDeferred()
	go c.removeRecords(ctx)
	go c.expireAssumptions(ctx)
	klog.FromContext(ctx).Info("Caches synced; GPU state rebuilt from pod annotations", "gpuNodes", len(c.ledger.View()))
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		logger := klog.FromContext(ctx)
		for _, p := range c.ledger.Expire(time.Now(), assumeTTL) {
			logger.Info("Released the cards of a pod that was never bound", "pod", p, "after", assumeTTL)
		}
		for _, r := range c.ledger.ExpireUnstarted(time.Now(), unstartedTTL) {
			logger.Info("Released the cards of a bound pod that did not start; its assignment is cleared, so the device plugin will refuse it",
				"pod", r.Pod, "after", unstartedTTL)
		}
		for _, p := range c.ledger.ExpireNominations(time.Now(), assumeTTL) {
			logger.Info("Gave up a GPU preemption whose victims did not go", "preemptor", p, "after", assumeTTL)
		}
		for _, r := range c.ledger.PendingClears() {
			c.clear(ctx, r)
		}
	}, min(assumeTTL, unstartedTTL)/4)
	return nil
}

// clear removes a released assignment from its pod, only while the pod still
// carries that very assignment (resourceVersion precondition): a new bind's
// choice is never cleared. It leaves the release pending on any failure, so
// the next tick retries until it lands or the pod is gone.
func (c *Cache) clear(ctx context.Context, r gpushare.PendingClear) {
	pod, err := c.factory.Core().V1().Pods().Lister().Pods(r.Pod.Namespace).Get(r.Pod.Name)
	if apierrors.IsNotFound(err) || (err == nil && pod.UID != r.UID) {
		c.ledger.Cleared(r.UID) // gone
		return
	}
	if err != nil {
		return
	}
	if a, err := gpushare.PodAssignment(pod); err != nil || !a.AssumeTime.Equal(r.AssumeTime) {
		c.ledger.Cleared(r.UID) // cleared or replaced already
		return
	}
	err = podannotate.PatchAt(ctx, c.client, pod.Namespace, pod.Name, pod.UID, pod.ResourceVersion, gpushare.ClearAssignment())
	switch {
	case err == nil || apierrors.IsNotFound(err):
		c.ledger.Cleared(r.UID)
	case apierrors.IsConflict(err):
		// Changed since the cache saw it: look again next tick.
	default:
		klog.FromContext(ctx).Error(err, "Could not clear a released GPU assignment; retrying", "pod", r.Pod)
	}
}

// expireAssumptions drops balance guesses the informer never confirmed.
func (c *Cache) expireAssumptions(ctx context.Context) {
	wait.UntilWithContext(ctx, func(context.Context) {
		c.book.Expire(time.Now(), balanceAssumeTTL)
	}, balanceAssumeTTL/2)
}

// balanceAssumeTTL bounds how long a guessed placement counts: a pod is
// normally seen bound well within it.
const balanceAssumeTTL = 30 * time.Second

// Ready is nil once the caches synced.
func (c *Cache) Ready() error {
	if !c.ready.Load() {
		// An SRE audit started the extender against a dead apiserver and
		// its /readyz said only that the caches had not synced.
		if e := c.listErr.Load(); e != nil {
			return fmt.Errorf("informer caches have not synced yet: the last list or watch failed: %s", *e)
		}
		return errors.New("informer caches have not synced yet")
	}
	return nil
}

// GetPod reads a pod from the cache, or from the API server when the cache
// has not seen it yet (a pod created a moment ago).
func (c *Cache) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	p, err := c.factory.Core().V1().Pods().Lister().Pods(namespace).Get(name)
	if err == nil {
		return p, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	return c.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Collectors are the cache's own metrics.
func (c *Cache) Collectors() []prometheus.Collector {
	refused := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zz_gpu_refused_assignments",
		Help: "Pods whose GPU assignment annotations do not agree with the pod (card count, memory, node, assume time): counted nowhere.",
	}, func() float64 { return float64(c.ledger.Refused()) })
	return []prometheus.Collector{c.badPods, refused, &gpuCollector{ledger: c.ledger}}
}

// gpuCollector exports every card's size and allocated memory.
type gpuCollector struct{ ledger *gpushare.Ledger }

var (
	gpuTotalDesc = prometheus.NewDesc("zz_gpu_memory_capacity_bytes", "GPU card memory, as the node inventory gives it.",
		[]string{"node", "card", "uuid", "model"}, nil)
	gpuAllocDesc = prometheus.NewDesc("zz_gpu_memory_allocated_bytes", "GPU card memory held by pods (bound or assumed).",
		[]string{"node", "card", "uuid", "model"}, nil)
	gpuPodsDesc = prometheus.NewDesc("zz_gpu_pods", "Pods holding memory on a GPU card.",
		[]string{"node", "card", "uuid", "model"}, nil)

	// Per request shape of the recent stream (at most gpushare.MaxShapes):
	// what binpack weighs, so fragmentation shows before pods pend on it.
	shapeLabels    = []string{"shape", "memory_bytes", "cards"}
	shapeShareDesc = prometheus.NewDesc("zz_gpu_shape_share",
		"Share of the recent GPU requests (the last 1,000 pods) that ask for this shape: memory_bytes on each of cards cards.", shapeLabels, nil)
	shapeRoomDesc = prometheus.NewDesc("zz_gpu_shape_room_pods",
		"More pods of this shape the GPU nodes could take, each node counted alone; 0: the next one stays Pending.", shapeLabels, nil)
	shapeUnusableDesc = prometheus.NewDesc("zz_gpu_shape_unusable_memory_bytes",
		"Free GPU memory no pod of this shape can use: on cards with less free than it asks, or on nodes with fewer such cards than it needs.", shapeLabels, nil)

	// Pods on several cards, by how their cards sit: numa="one" (all on one
	// NUMA node), "several", or "unknown" (a card's NUMA node unpublished).
	multiCardDesc = prometheus.NewDesc("zz_gpu_multi_card_pods",
		"Pods holding memory on several GPU cards, by whether those cards are on one NUMA node (one), span several (several), or include a card of unknown NUMA node (unknown).", []string{"numa"}, nil)
)

// mib is a MiB in bytes: metrics are in base units.
const mib = 1 << 20

func (g *gpuCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gpuTotalDesc
	ch <- gpuAllocDesc
	ch <- gpuPodsDesc
	ch <- shapeShareDesc
	ch <- shapeRoomDesc
	ch <- shapeUnusableDesc
	ch <- multiCardDesc
}

func (g *gpuCollector) Collect(ch chan<- prometheus.Metric) {
	type podCards struct {
		cards   int
		numa    map[int64]bool
		unknown bool
	}
	pods := map[string]*podCards{} // by node/namespace/name
	for _, n := range g.ledger.View() {
		for _, c := range n.Cards {
			labels := []string{n.Name, fmt.Sprint(c.Index), c.UUID, c.Model}
			ch <- prometheus.MustNewConstMetric(gpuTotalDesc, prometheus.GaugeValue, float64(c.MemoryMiB)*mib, labels...)
			ch <- prometheus.MustNewConstMetric(gpuAllocDesc, prometheus.GaugeValue, float64(c.UsedMiB)*mib, labels...)
			ch <- prometheus.MustNewConstMetric(gpuPodsDesc, prometheus.GaugeValue, float64(len(c.Pods)), labels...)
			for _, p := range c.Pods {
				key := n.Name + "/" + p.Namespace + "/" + p.Name
				pc := pods[key]
				if pc == nil {
					pc = &podCards{numa: map[int64]bool{}}
					pods[key] = pc
				}
				pc.cards++
				if c.NUMANode == nil {
					pc.unknown = true
				} else {
					pc.numa[*c.NUMANode] = true
				}
			}
		}
	}
	multi := map[string]int{"one": 0, "several": 0, "unknown": 0}
	for _, pc := range pods {
		switch {
		case pc.cards < 2:
		case pc.unknown:
			multi["unknown"]++
		case len(pc.numa) == 1:
			multi["one"]++
		default:
			multi["several"]++
		}
	}
	for numa, n := range multi {
		ch <- prometheus.MustNewConstMetric(multiCardDesc, prometheus.GaugeValue, float64(n), numa)
	}
	for _, r := range g.ledger.ShapeRooms() {
		labels := []string{r.Request.String(), strconv.FormatInt(r.MemMiB*mib, 10), strconv.Itoa(r.Cards)}
		ch <- prometheus.MustNewConstMetric(shapeShareDesc, prometheus.GaugeValue, r.Share, labels...)
		ch <- prometheus.MustNewConstMetric(shapeRoomDesc, prometheus.GaugeValue, float64(r.Pods), labels...)
		ch <- prometheus.MustNewConstMetric(shapeUnusableDesc, prometheus.GaugeValue, float64(r.UnusableMiB)*mib, labels...)
	}
}

package deviceplugin

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
)

// UsageMonitor samples NVML's running processes on every card, maps them to
// the node's pods through their cgroups, exports per-pod requested vs used
// memory and per-card utilisation as Prometheus metrics, puts a Warning
// event on a pod when it goes over its request (and kills its processes
// there once it has stayed over, with OverRequestKill), and publishes each
// pod's use in its contract.AnnotationGPUMemUsed (rate-limited by Publish).
type UsageMonitor struct {
	Lib      nvml.Interface
	Plugin   *Plugin
	Pods     PodLister
	ProcRoot string // the host's /proc (the DaemonSet runs with hostPID)
	Recorder record.EventRecorder
	Interval time.Duration
	// Node is this node's name: only its pods are annotated.
	Node string
	// Annotate writes a pod's used-memory annotation (nil removes it); nil
	// publishes nothing.
	Annotate func(ctx context.Context, pod *corev1.Pod, value *string) error
	Publish  PublishPolicy
	// Now is the clock of the rate limit and of the grace (time.Now when nil).
	Now func() time.Time
	// OverRequest is what a pod over its request on a card gets (an event,
	// or with OverRequestKill its processes there killed once it has been
	// over for Grace); Kill stops one process of pod uid (nil:
	// KillProcess(ProcRoot)).
	OverRequest OverRequestAction
	Grace       time.Duration
	Kill        func(pid uint32, uid types.UID) error

	mu        sync.Mutex
	last      Usage
	overSince map[usageKey]time.Time // pods over their request, since the first sample that saw it
	published map[types.UID]time.Time
	writes    [2]int64 // annotation writes: succeeded, failed
	kills     [2]int64 // processes killed: done, failed
	// tried are the processes a kill was attempted on, and when: one NVML
	// still lists (a kill that failed, or the driver not caught up yet) is
	// tried again only a grace later, so a pod gets an event per kill, not
	// one per sample.
	tried map[killKey]time.Time
}

type killKey struct {
	uid types.UID
	pid uint32
}

type usageKey struct {
	uid  types.UID
	uuid string
}

// Run samples every Interval until ctx ends.
func (m *UsageMonitor) Run(ctx context.Context) {
	tick := time.NewTicker(m.Interval)
	defer tick.Stop()
	for {
		m.publish(ctx, m.Sample(ctx))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sample reads NVML and the pods once, keeps the result for /metrics, sends
// an event for each pod that has gone over its request since the last
// sample (once per crossing, not on every sample) and, with OverRequestKill,
// kills the processes PlanKills picks (outside the lock).
func (m *UsageMonitor) Sample(ctx context.Context) Usage {
	logger := klog.FromContext(ctx)
	cards := m.Plugin.Cards()
	procs := make(map[string][]Process, len(cards))
	for _, c := range cards {
		d, ret := m.Lib.DeviceGetHandleByUUID(c.UUID)
		if ret != nvml.SUCCESS {
			continue // the health watcher reports lost cards
		}
		infos, ret := d.GetComputeRunningProcesses()
		if ret != nvml.SUCCESS {
			logger.V(2).Info("Cannot list the card's processes", "uuid", c.UUID, "nvml", ret.Error())
			continue
		}
		for _, p := range infos {
			procs[c.UUID] = append(procs[c.UUID], Process{PID: p.Pid, UsedMiB: ToMiB(p.UsedGpuMemory)})
		}
	}
	pods, err := m.Pods()
	if err != nil {
		logger.Error(err, "Cannot list the node's pods")
		return m.Last()
	}
	u := ComputeUsage(cards, procs, m.podOf, pods)

	now := m.now()
	m.mu.Lock()
	over := map[usageKey]time.Time{}
	for _, pu := range u.Pods {
		if !pu.Over() {
			continue
		}
		k := usageKey{pu.UID, pu.CardUUID}
		if since, ok := m.overSince[k]; ok {
			over[k] = since
			continue
		}
		over[k] = now
		logger.Info("Pod uses more GPU memory than it requested", "pod", klog.KRef(pu.Namespace, pu.Name),
			"uuid", pu.CardUUID, "usedMiB", pu.UsedMiB, "requestedMiB", pu.RequestedMiB)
		m.event(pu, corev1.EventTypeWarning, contract.ReasonGPUMemoryOverRequest, OverMessage(pu))
	}
	m.overSince, m.last = over, u
	var kills []Kill
	if m.OverRequest == OverRequestKill {
		kills = m.untried(PlanKills(u, over, now, m.Grace), u, now)
	}
	m.mu.Unlock()
	for _, k := range kills {
		m.kill(ctx, k)
	}
	return u
}

// untried keeps the kills not attempted within the last grace (at least a
// sample interval), marks them tried, and forgets processes no longer in u.
// m.mu is held.
func (m *UsageMonitor) untried(kills []Kill, u Usage, now time.Time) []Kill {
	listed := map[killKey]bool{}
	for _, pu := range u.Pods {
		for _, p := range pu.procs {
			listed[killKey{pu.UID, p.PID}] = true
		}
	}
	if m.tried == nil {
		m.tried = map[killKey]time.Time{}
	}
	maps.DeleteFunc(m.tried, func(k killKey, _ time.Time) bool { return !listed[k] })
	again := max(m.Grace, m.Interval)
	out := kills[:0]
	for _, k := range kills {
		key := killKey{k.Pod.UID, k.PID}
		if at, ok := m.tried[key]; ok && now.Sub(at) < again {
			continue
		}
		m.tried[key] = now
		out = append(out, k)
	}
	return out
}

// kill stops one process of a pod over its request and says so on the pod.
func (m *UsageMonitor) kill(ctx context.Context, k Kill) {
	logger := klog.FromContext(ctx)
	killFn := m.Kill
	if killFn == nil {
		killFn = KillProcess(m.ProcRoot)
	}
	err := killFn(k.PID, k.Pod.UID)
	m.mu.Lock()
	if err != nil {
		m.kills[1]++
	} else {
		m.kills[0]++
	}
	m.mu.Unlock()
	if err != nil {
		// Gone already, or no longer the pod's: the next sample decides again.
		logger.Error(err, "Cannot kill a process of a pod over its GPU memory request", "pod", klog.KRef(k.Pod.Namespace, k.Pod.Name), "pid", k.PID)
		return
	}
	logger.Info("Killed a process of a pod over its GPU memory request", "pod", klog.KRef(k.Pod.Namespace, k.Pod.Name),
		"pid", k.PID, "uuid", k.Pod.CardUUID, "processMiB", k.UsedMiB, "usedMiB", k.Pod.UsedMiB, "requestedMiB", k.Pod.RequestedMiB)
	m.event(k.Pod, corev1.EventTypeWarning, contract.ReasonGPUMemoryOverRequestKilled, KillMessage(k, m.Grace))
}

// event records an event on the pod of pu.
func (m *UsageMonitor) event(pu PodUsage, kind, reason, message string) {
	if m.Recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: pu.Namespace, Name: pu.Name, UID: pu.UID}
	m.Recorder.Event(ref, kind, reason, message)
}

func (m *UsageMonitor) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// publish writes the annotations PlanPublish asks for, one merge patch per
// pod, outside the monitor's lock; a failed write is retried at a later
// sample.
func (m *UsageMonitor) publish(ctx context.Context, u Usage) {
	if m.Annotate == nil {
		return
	}
	logger := klog.FromContext(ctx)
	pods, err := m.Pods()
	if err != nil {
		logger.Error(err, "Cannot list the node's pods")
		return
	}
	now := m.now
	m.mu.Lock()
	last := maps.Clone(m.published)
	m.mu.Unlock()
	plan := PlanPublish(m.Node, pods, u, last, now(), m.Publish)
	done := map[types.UID]time.Time{}
	var failed int64
	for _, p := range plan {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := m.Annotate(wctx, p.Pod, p.Value)
		cancel()
		if err != nil {
			failed++
			logger.Error(err, "Cannot publish the pod's GPU memory use", "pod", klog.KObj(p.Pod))
			continue
		}
		done[p.Pod.UID] = now()
		logger.V(4).Info("Published the pod's GPU memory use", "pod", klog.KObj(p.Pod), "value", p.Value)
	}
	present := make(map[types.UID]bool, len(pods))
	for _, p := range pods {
		present[p.UID] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.published == nil {
		m.published = map[types.UID]time.Time{}
	}
	maps.Copy(m.published, done)
	maps.DeleteFunc(m.published, func(uid types.UID, _ time.Time) bool { return !present[uid] })
	m.writes[0] += int64(len(done))
	m.writes[1] += failed
}

// podOf reads the process's cgroup from the host's /proc.
func (m *UsageMonitor) podOf(pid uint32) (types.UID, bool) {
	b, err := os.ReadFile(filepath.Join(m.ProcRoot, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", false // gone, or not visible: counted as unattributed
	}
	return PodUIDFromCgroup(string(b))
}

// Last is the latest sample.
func (m *UsageMonitor) Last() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

var (
	podLabels        = []string{"namespace", "pod", "app", "uuid", "index"}
	podRequestedMiB  = prometheus.NewDesc("zz_gpu_pod_memory_requested_bytes", "GPU memory the pod requested on the card (zz.io/gpu-mem, per card).", podLabels, nil)
	podUsedMiB       = prometheus.NewDesc("zz_gpu_pod_memory_used_bytes", "GPU memory the pod's processes use on the card (NVML running processes mapped to the pod by cgroup).", podLabels, nil)
	podOver          = prometheus.NewDesc("zz_gpu_pod_memory_over_request", "1 when the pod uses more GPU memory on the card than it requested.", podLabels, nil)
	unattributedMiB  = prometheus.NewDesc("zz_gpu_card_memory_unattributed_bytes", "GPU memory used by processes in no pod of this node.", []string{"uuid", "index"}, nil)
	annotationWrites = prometheus.NewDesc("zz_gpu_pod_usage_annotation_writes_total",
		"Writes of the pods' "+contract.AnnotationGPUMemUsed+" annotation, by result (ok, error).", []string{"result"}, nil)
	overRequestKills = prometheus.NewDesc("zz_gpu_over_request_kills_total",
		"Processes of pods over their GPU memory request killed (--over-request=kill), by result (ok, error).", []string{"result"}, nil)
)

// Describe implements prometheus.Collector.
func (m *UsageMonitor) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{podRequestedMiB, podUsedMiB, podOver, unattributedMiB, annotationWrites, overRequestKills} {
		ch <- d
	}
}

// Collect implements prometheus.Collector with the latest sample.
func (m *UsageMonitor) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	u, writes, kills := m.last, m.writes, m.kills
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(annotationWrites, prometheus.CounterValue, float64(writes[0]), "ok")
	ch <- prometheus.MustNewConstMetric(annotationWrites, prometheus.CounterValue, float64(writes[1]), "error")
	ch <- prometheus.MustNewConstMetric(overRequestKills, prometheus.CounterValue, float64(kills[0]), "ok")
	ch <- prometheus.MustNewConstMetric(overRequestKills, prometheus.CounterValue, float64(kills[1]), "error")
	for _, pu := range u.Pods {
		lv := []string{pu.Namespace, pu.Name, pu.App, pu.CardUUID, strconv.Itoa(pu.CardIndex)}
		over := 0.0
		if pu.Over() {
			over = 1
		}
		ch <- prometheus.MustNewConstMetric(podRequestedMiB, prometheus.GaugeValue, float64(pu.RequestedMiB)*mib, lv...)
		ch <- prometheus.MustNewConstMetric(podUsedMiB, prometheus.GaugeValue, float64(pu.UsedMiB)*mib, lv...)
		ch <- prometheus.MustNewConstMetric(podOver, prometheus.GaugeValue, over, lv...)
	}
	for _, c := range m.Plugin.Cards() {
		ch <- prometheus.MustNewConstMetric(unattributedMiB, prometheus.GaugeValue, float64(u.Unattributed[c.UUID])*mib, c.UUID, strconv.Itoa(c.Index))
	}
}

package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/contract"
)

// The job site's nodes and its stream of apps (what the job site's seed
// reported: nodes of 47.8 cores / 251 GiB, two of them at CPU 39% /
// memory 7% that the default scheduler starved).
var (
	jobSiteCPU = resource.MustParse("47800m")
	jobSiteMem = resource.MustParse("251Gi")
	// jobSiteMix is the stream: kind, CPU and memory requests, share.
	jobSiteMix = []struct {
		kind     string
		cpu, mem string
		share    float64
	}{
		{"java", "2", "4Gi", 0.35},
		{"web", "1", "1Gi", 0.35},
		{"cache", "500m", "8Gi", 0.15},
		{"batch", "4", "2Gi", 0.15},
	}
)

// jobSiteStream draws the stream's pods: what each asks for and its app.
type jobSiteStream struct{ rng *rand.Rand }

func newJobSiteStream(seed uint64) *jobSiteStream {
	return &jobSiteStream{rng: rand.New(rand.NewPCG(seed, 0x10b5))}
}

// next returns the next pod's kind, requests and app (many apps of a few
// replicas each, as on a real cluster).
func (s *jobSiteStream) next() (kind string, req corev1.ResourceList, app string) {
	x := s.rng.Float64()
	m := jobSiteMix[len(jobSiteMix)-1]
	for _, c := range jobSiteMix {
		if x -= c.share; x < 0 {
			m = c
			break
		}
	}
	req = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(m.cpu), corev1.ResourceMemory: resource.MustParse(m.mem)}
	return m.kind, req, fmt.Sprintf("%s-%02d", m.kind, s.rng.IntN(30))
}

// jobSiteResult is one scheduler's outcome on one seed.
type jobSiteResult struct {
	rangeCPU, cv float64 // of CPU request fractions across nodes, at the target load
	pending      int     // pods left Pending once overfilled
	pods         int     // pods created in all
}

// TestBenchJobSite replays the job site's case on kwok nodes, default
// scheduler and zz-scheduler in one run, three seeds: two nodes start at
// 39% CPU / 7% memory, then a stream of java/web/cache/batch pods fills the
// cluster to 75% CPU; reported are the range (max - min) and coefficient of
// variation of the nodes' CPU request fractions. The stream then goes on to
// 110% and the pods left Pending are counted. Run with ZZ_BENCH=1 (make
// bench-e2e); ZZ_BENCH_JOBSITE_NODES sets the node count (default 20).
func TestBenchJobSite(t *testing.T) {
	if os.Getenv("ZZ_BENCH") != "1" {
		t.Skip("set ZZ_BENCH=1 to run the scheduling benchmark")
	}
	startZZScheduler(t)
	nodes := benchNodesOf(t, envInt(t, "ZZ_BENCH_JOBSITE_NODES", 20), jobSiteCPU, jobSiteMem)
	seeds := envInt(t, "ZZ_BENCH_SEEDS", 3)
	results := map[string][]jobSiteResult{}
	var idealR, idealCV []float64
	for seed := range seeds {
		r, cv := jobSiteIdeal(uint64(seed+1), len(nodes))
		idealR, idealCV = append(idealR, r), append(idealCV, cv)
		t.Logf("seed %d %-17s range %.3f, CV %.3f at 75%% CPU", seed+1, "ideal", r, cv)
		for _, sched := range []string{corev1.DefaultSchedulerName, contract.SchedulerName} {
			r := jobSiteRun(t, sched, uint64(seed+1), nodes)
			results[sched] = append(results[sched], r)
			t.Logf("seed %d %-17s range %.3f, CV %.3f at 75%% CPU; %d of %d pods Pending at 110%%",
				seed+1, sched, r.rangeCPU, r.cv, r.pending, r.pods)
			deleteBenchPods(t)
		}
	}
	for _, sched := range []string{corev1.DefaultSchedulerName, contract.SchedulerName} {
		var rs, cvs []float64
		var pend []int
		for _, r := range results[sched] {
			rs, cvs, pend = append(rs, r.rangeCPU), append(cvs, r.cv), append(pend, r.pending)
		}
		t.Logf("RESULT job site %-17s %d nodes, %d seeds: CPU fraction range %.3f-%.3f (mean %.3f), CV %.3f-%.3f (mean %.3f), Pending when overfilled %v",
			sched, len(nodes), seeds, slices.Min(rs), slices.Max(rs), mean(rs), slices.Min(cvs), slices.Max(cvs), mean(cvs), pend)
	}
	t.Logf("RESULT job site %-17s %d nodes, %d seeds: CPU fraction range %.3f-%.3f (mean %.3f), CV %.3f-%.3f (mean %.3f) (the extender's score with every placement known at once, no cluster)",
		"ideal", len(nodes), seeds, slices.Min(idealR), slices.Max(idealR), mean(idealR), slices.Min(idealCV), slices.Max(idealCV), mean(idealCV))
}

// jobSiteIdeal places a seed's stream up to 75% CPU with the extender's own
// score, every earlier placement known exactly (no scheduler, no informer
// lag, no other plugin): what this one-pod-at-a-time placement achieves at
// best, for comparison with the cluster's runs. The stream is not known
// ahead, so a 4-CPU pod (0.084 of a node) lands on a node near the minimum
// and leaves the range near 0.08 until smaller pods fill the others.
func jobSiteIdeal(seed uint64, n int) (rangeCPU, cv float64) {
	alloc := balance.Resources{MilliCPU: jobSiteCPU.MilliValue(), Memory: jobSiteMem.Value()}
	nodes := make([]balance.Node, n)
	apps := make([]map[string]int, n)
	var used int64
	for i := range nodes {
		nodes[i] = balance.Node{Name: fmt.Sprint(i), Allocatable: alloc}
		apps[i] = map[string]int{}
		if i < 2 { // the ballast, as jobSiteRun
			nodes[i].Requested = balance.Resources{MilliCPU: alloc.MilliCPU * 39 / 100, Memory: alloc.Memory * 7 / 100}
			used += nodes[i].Requested.MilliCPU
		}
	}
	src := newJobSiteStream(seed)
	for used < alloc.MilliCPU*int64(n)*75/100 {
		_, req, app := src.next()
		pod := balance.Resources{MilliCPU: req.Cpu().MilliValue(), Memory: req.Memory().Value()}
		for i := range nodes {
			nodes[i].AppPods = apps[i][app]
		}
		_, best := balance.Scores(nodes, pod, balance.ClusterMean(nodes), balance.Default)
		if best < 0 {
			break
		}
		nodes[best].Requested.MilliCPU += pod.MilliCPU
		nodes[best].Requested.Memory += pod.Memory
		apps[best][app]++
		used += pod.MilliCPU
	}
	fr := make([]float64, n)
	for i := range nodes {
		fr[i] = float64(nodes[i].Requested.MilliCPU) / float64(alloc.MilliCPU)
	}
	return slices.Max(fr) - slices.Min(fr), stddev(fr) / mean(fr)
}

// jobSiteRun schedules one seed's stream with sched.
func jobSiteRun(t *testing.T, sched string, seed uint64, nodes []string) jobSiteResult {
	t.Helper()
	ensureBenchNamespace(t)
	total := jobSiteCPU.MilliValue() * int64(len(nodes))
	var used int64
	// Two nodes start at the seed's 39% CPU / 7% memory.
	for _, node := range nodes[:2] {
		cpu := jobSiteCPU.MilliValue() * 39 / 100
		p := benchPod("ballast-"+node, corev1.DefaultSchedulerName, corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(cpu, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(jobSiteMem.Value()*7/100, resource.BinarySI)})
		p.Spec.NodeName = node
		if _, err := cluster.Client.CoreV1().Pods(benchNS).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		used += cpu
	}
	src := newJobSiteStream(seed)
	var res jobSiteResult
	stream := func(upTo int64) int {
		var batch []*corev1.Pod
		for used < upTo {
			kind, req, app := src.next()
			p := benchPod(fmt.Sprintf("%s-%04d", kind, res.pods), sched, req)
			p.Labels[contract.LabelApp] = app
			p.Labels["run"] = sched
			batch = append(batch, p)
			used += req.Cpu().MilliValue()
			res.pods++
		}
		createStream(t, batch)
		return res.pods
	}
	n := stream(total * 75 / 100)
	waitBound(t, sched, n)
	fr := cpuFractions(t)
	res.rangeCPU = slices.Max(fr) - slices.Min(fr)
	res.cv = stddev(fr) / mean(fr)
	n = stream(total * 110 / 100)
	res.pending = waitSettled(t, sched, n)
	return res
}

func ensureBenchNamespace(t *testing.T) {
	t.Helper()
	if _, err := cluster.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNS}}, metav1.CreateOptions{}); err == nil {
		cluster.WaitFor(t, 30*time.Second, "bench ServiceAccount", func(ctx context.Context) (bool, string, error) {
			_, err := cluster.Client.CoreV1().ServiceAccounts(benchNS).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, "", nil
		})
	}
}

// createStream creates the pods in order, a few in flight, as apps arrive.
func createStream(t *testing.T, pods []*corev1.Pod) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, p := range pods {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := cluster.Client.CoreV1().Pods(benchNS).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
				t.Errorf("create %s: %v", p.Name, err)
			}
		})
	}
	wg.Wait()
}

func waitBound(t *testing.T, sched string, n int) {
	t.Helper()
	cluster.WaitFor(t, 10*time.Minute, fmt.Sprintf("%d pods bound by %s", n, sched), func(ctx context.Context) (bool, string, error) {
		bound, total, err := boundCount(ctx, benchNS, "run="+sched)
		return bound == n, fmt.Sprintf("%d of %d bound", bound, total), err
	})
}

// waitSettled waits until each of the n pods is bound or marked
// unschedulable, and returns how many are left Pending.
func waitSettled(t *testing.T, sched string, n int) int {
	t.Helper()
	pending := 0
	cluster.WaitFor(t, 10*time.Minute, fmt.Sprintf("%d pods of %s bound or unschedulable", n, sched), func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.CoreV1().Pods(benchNS).List(ctx, metav1.ListOptions{LabelSelector: "run=" + sched})
		if err != nil {
			return false, "", err
		}
		bound, refused := 0, 0
		for _, p := range l.Items {
			switch {
			case p.Spec.NodeName != "":
				bound++
			case slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
				return c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
			}):
				refused++
			}
		}
		pending = refused
		return len(l.Items) == n && bound+refused == n, fmt.Sprintf("%d bound, %d unschedulable of %d", bound, refused, n), nil
	})
	return pending
}

// cpuFractions is every bench node's CPU request fraction.
func cpuFractions(t *testing.T) []float64 {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods(benchNS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	use := map[string]int64{}
	for i := range pods.Items {
		if pods.Items[i].Spec.NodeName != "" {
			use[pods.Items[i].Spec.NodeName] += balance.PodRequests(&pods.Items[i]).MilliCPU
		}
	}
	nodes, err := cluster.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: benchLabel})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		out = append(out, float64(use[n.Name])/float64(n.Status.Allocatable.Cpu().MilliValue()))
	}
	if len(out) == 0 || mean(out) == 0 || math.IsNaN(mean(out)) {
		t.Fatal("no bench node has any CPU requested")
	}
	return out
}

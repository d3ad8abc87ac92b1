package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/test/e2e/framework"
)

// benchLabel marks the bench's own nodes; they are tainted so no other pod
// lands there, and removed at the end.
const benchLabel = "zz.io/bench"

// TestBenchScheduling measures, on the real scheduler and kwok, the zz
// scheduler (extender) against the default scheduler in the same run:
// throughput in pods/s, and how even CPU/memory requests end up after a
// mixed workload on nodes that start imbalanced. Run with ZZ_BENCH=1
// (make bench-e2e); figures go to the test log.
func TestBenchScheduling(t *testing.T) {
	if os.Getenv("ZZ_BENCH") != "1" {
		t.Skip("set ZZ_BENCH=1 to run the scheduling benchmark")
	}
	z := startZZSchedulerWith(t, true)
	nodes := benchNodes(t, envInt(t, "ZZ_BENCH_NODES", 200))
	// The shipped zz-scheduler, the same profile scoring as many nodes as the
	// default scheduler, and the default scheduler, in turn.
	scheds := []string{corev1.DefaultSchedulerName, contract.SchedulerName, likeDefaultProfile}

	t.Run("throughput", func(t *testing.T) {
		pods, rounds := envInt(t, "ZZ_BENCH_PODS", 2000), envInt(t, "ZZ_BENCH_ROUNDS", 2)
		// CPU per pod of every process that works for a run: on a shared
		// machine the rate measures the queue too, CPU per pod does not.
		procs := []string{"default-scheduler", "zz-scheduler", "extender", "apiserver", "etcd", "kwok"}
		pids := []int{clusterPid(t, "kube-scheduler"), z.scheduler.Pid(), z.extender.Pid(), clusterPid(t, "kube-apiserver"), clusterPid(t, "etcd"), clusterPid(t, "kwok")}
		var rates = map[string][]float64{}
		var cpu = map[string][][]float64{}
		for round := range rounds {
			for _, sched := range scheds {
				before := cpuOf(t, pids)
				rate := scheduleRun(t, sched, pods, func(i int) corev1.ResourceList {
					return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
				})
				used := cpuOf(t, pids)
				for i := range used {
					used[i] = (used[i] - before[i]) / float64(pods) * 1000
				}
				rates[sched] = append(rates[sched], rate)
				cpu[sched] = append(cpu[sched], used)
				t.Logf("round %d: %-17s %4.0f pods/s, CPU ms per pod: %s", round+1, sched, rate, cpuPerPod(procs, used))
				deleteBenchPods(t)
			}
		}
		def, zz, like := mean(rates[corev1.DefaultSchedulerName]), mean(rates[contract.SchedulerName]), mean(rates[likeDefaultProfile])
		t.Logf("RESULT throughput: default-scheduler %.0f pods/s, zz-scheduler %.0f pods/s (ratio %.2f), zz-scheduler scoring as many nodes as the default %.0f pods/s (ratio %.2f); %d pods on %d nodes, mean of %d rounds",
			def, zz, zz/def, like, like/def, pods, len(nodes), rounds)
		// The scheduling layer's CPU per pod in a round: both schedulers and
		// the extender, since each watches every pod whoever schedules it.
		work := func(sched string) float64 {
			var sum float64
			for _, used := range cpu[sched] {
				sum += used[0] + used[1] + used[2]
			}
			return sum / float64(len(cpu[sched]))
		}
		t.Logf("RESULT scheduling CPU per pod (both schedulers and the extender): default-scheduler rounds %.2f ms, zz-scheduler rounds %.2f ms (ratio %.2f), like-default rounds %.2f ms (ratio %.2f)",
			work(corev1.DefaultSchedulerName), work(contract.SchedulerName), work(contract.SchedulerName)/work(corev1.DefaultSchedulerName),
			work(likeDefaultProfile), work(likeDefaultProfile)/work(corev1.DefaultSchedulerName))
	})

	t.Run("balance", func(t *testing.T) {
		// Six pods a node (1,200 on the default 200 nodes).
		pods := envInt(t, "ZZ_BENCH_BALANCE_PODS", 6*len(nodes))
		for _, sched := range scheds {
			ballast(t, nodes)
			scheduleRun(t, sched, pods, func(i int) corev1.ResourceList {
				if i%2 == 0 { // CPU-heavy and memory-heavy pods, alternating
					return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}
				}
				return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("8Gi")}
			})
			cpuSD, memSD, imb := spread(t)
			t.Logf("RESULT balance: %-17s CPU fraction stddev %.3f, memory fraction stddev %.3f, mean |cpu-mem| per node %.3f",
				sched, cpuSD, memSD, imb)
			deleteBenchPods(t)
		}
	})
}

// benchNodes creates n tainted kwok nodes of 16 cores / 64 GiB.
func benchNodes(t *testing.T, n int) []string {
	return benchNodesOf(t, n, resource.MustParse("16"), resource.MustParse("64Gi"))
}

func benchNodesOf(t *testing.T, n int, cpu, mem resource.Quantity) []string {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	// Leftovers of an interrupted run would skew the figures.
	deleteBenchPods(t)
	if err := cluster.Client.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: benchLabel}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, time.Minute, "old bench nodes gone", func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: benchLabel})
		return err == nil && len(l.Items) == 0, "", err
	})
	var names []string
	for i := range n {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%04d", i),
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{benchLabel: "true", "kubernetes.io/hostname": fmt.Sprintf("bench-%04d", i), "type": "kwok"}},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: benchLabel, Value: "true", Effect: corev1.TaintEffectNoSchedule}}},
			Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: cpu,
				corev1.ResourceMemory: mem, corev1.ResourcePods: resource.MustParse("250")},
				Capacity: corev1.ResourceList{corev1.ResourceCPU: cpu,
					corev1.ResourceMemory: mem, corev1.ResourcePods: resource.MustParse("250")}},
		}
		if _, err := cluster.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, node.Name)
	}
	t.Cleanup(func() {
		deleteBenchPods(t)
		// One call: deleting 5,000 nodes one by one took minutes.
		_ = cluster.Client.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: benchLabel})
	})
	cluster.WaitFor(t, 2*time.Minute, "bench nodes Ready", func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: benchLabel})
		if err != nil {
			return false, "", err
		}
		ready := 0
		for _, n := range l.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == n, fmt.Sprintf("%d of %d ready", ready, n), nil
	})
	return names
}

const benchNS = "zz-bench"

func benchPod(name, sched string, req corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNS, Labels: map[string]string{contract.LabelApp: "bench"}},
		Spec: corev1.PodSpec{
			SchedulerName:                 sched,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			NodeSelector:                  map[string]string{benchLabel: "true"},
			Tolerations:                   []corev1.Toleration{{Key: benchLabel, Operator: corev1.TolerationOpExists}},
			Containers:                    []corev1.Container{{Name: "app", Image: "registry.local/bench:1", Resources: corev1.ResourceRequirements{Requests: req, Limits: req}}},
		},
	}
}

// scheduleRun creates n pods for sched and returns pods bound per second,
// from the first create to the last binding.
func scheduleRun(t *testing.T, sched string, n int, req func(i int) corev1.ResourceList) float64 {
	t.Helper()
	ctx := t.Context()
	ensureBenchNamespace(t)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := benchPod(fmt.Sprintf("%s-%05d", sched, i), sched, req(i))
			p.Labels["run"] = sched
			if _, err := cluster.Client.CoreV1().Pods(benchNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	var elapsed time.Duration
	cluster.WaitFor(t, 10*time.Minute, fmt.Sprintf("%d pods bound by %s", n, sched), func(ctx context.Context) (bool, string, error) {
		bound, total, err := boundCount(ctx, benchNS, "run="+sched)
		elapsed = time.Since(start)
		return bound == n, fmt.Sprintf("%d of %d bound", bound, total), err
	})
	return float64(n) / elapsed.Seconds()
}

// ballast puts a CPU-heavy pod straight onto every third bench node (no
// scheduler), so those nodes start at CPU 38% vs memory 3%.
func ballast(t *testing.T, nodes []string) {
	t.Helper()
	ensureBenchNamespace(t)
	for i, node := range nodes {
		if i%3 != 0 {
			continue
		}
		p := benchPod("ballast-"+node, corev1.DefaultSchedulerName, corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("6"), corev1.ResourceMemory: resource.MustParse("2Gi")})
		p.Spec.NodeName = node
		if _, err := cluster.Client.CoreV1().Pods(benchNS).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// spread returns the standard deviation of the CPU and memory request
// fractions across bench nodes, and the mean per-node |cpu - memory|.
func spread(t *testing.T) (cpuSD, memSD, imbalance float64) {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods(benchNS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	use := map[string]balance.Resources{}
	for i := range pods.Items {
		r := balance.PodRequests(&pods.Items[i])
		u := use[pods.Items[i].Spec.NodeName]
		u.MilliCPU += r.MilliCPU
		u.Memory += r.Memory
		use[pods.Items[i].Spec.NodeName] = u
	}
	nodes, err := cluster.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: benchLabel})
	if err != nil {
		t.Fatal(err)
	}
	var cpu, mem []float64
	for _, n := range nodes.Items {
		u := use[n.Name]
		c := float64(u.MilliCPU) / float64(n.Status.Allocatable.Cpu().MilliValue())
		m := float64(u.Memory) / float64(n.Status.Allocatable.Memory().Value())
		cpu, mem = append(cpu, c), append(mem, m)
		imbalance += math.Abs(c - m)
	}
	return stddev(cpu), stddev(mem), imbalance / float64(len(nodes.Items))
}

func deleteBenchPods(t *testing.T) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	// The next round reuses the pods' names and counts its pods by label:
	// none may be left. A DeleteCollection of thousands of pods can end
	// (server-side timeout) with some not deleted, so it is repeated while any
	// is not being deleted.
	if err := framework.Poll(ctx, 10*time.Minute, func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.CoreV1().Pods(benchNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", nil
		}
		if slices.ContainsFunc(l.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp == nil }) {
			_ = cluster.Client.CoreV1().Pods(benchNS).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		}
		return len(l.Items) == 0, fmt.Sprintf("%d bench pods left", len(l.Items)), nil
	}); err != nil {
		t.Errorf("bench pods not gone: %v", err)
	}
}

// envInt reads a positive count from the environment, def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func stddev(v []float64) float64 {
	m := mean(v)
	var s float64
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(v)))
}

// cpuPerPod prints each process's CPU milliseconds per pod.
func cpuPerPod(procs []string, ms []float64) string {
	parts := make([]string, len(procs))
	for i := range procs {
		parts[i] = fmt.Sprintf("%s %.2f", procs[i], ms[i])
	}
	return strings.Join(parts, ", ")
}

package e2e

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/balance/jobsite"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/rebalance"
)

// The job site's nodes (internal/balance/jobsite, the case the unit tests
// use too, seed for seed).
var (
	jobSiteCPU = *resource.NewMilliQuantity(jobsite.Allocatable.MilliCPU, resource.DecimalSI)
	jobSiteMem = *resource.NewQuantity(jobsite.Allocatable.Memory, resource.BinarySI)
)

// requests is r as a pod asks for it.
func requests(r balance.Resources) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: *resource.NewMilliQuantity(r.MilliCPU, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(r.Memory, resource.BinarySI)}
}

// jobSiteResult is one scheduler's outcome on one seed.
type jobSiteResult struct {
	rangeCPU, cv float64 // of CPU request fractions across nodes, at the target load
	// After a rebalance of that placement, as kubectl zz rebalance plans it
	// (the stream's pods taken as replicas that may move; at most
	// jobSiteMoves moves).
	rebalancedRange, rebalancedCV float64
	moves                         int
	pending                       int // pods left Pending once overfilled
	pods                          int // pods created in all
}

// jobSiteMoves bounds the rebalance planned after each placement.
const jobSiteMoves = 10

// TestBenchJobSite replays the job site's case on kwok nodes, default
// scheduler and zz-scheduler in one run, three seeds: two nodes start at
// 39% CPU / 7% memory, then a stream of java/web/cache/batch pods fills the
// cluster to 75% CPU; reported are the range (max - min) and coefficient of
// variation of the nodes' CPU request fractions. The stream then goes on to
// 110% and the pods left Pending are counted. Run with ZZ_BENCH=1 (make
// bench-e2e); ZZ_BENCH_JOBSITE_NODES sets the node count (default 20).
func TestBenchJobSite(t *testing.T) {
	nodes, seeds := jobSiteBench(t)
	results := map[string][]jobSiteResult{}
	var idealR, idealCV []float64
	for seed := range seeds {
		r, cv := jobSiteIdeal(uint64(seed+1), len(nodes))
		idealR, idealCV = append(idealR, r), append(idealCV, cv)
		t.Logf("seed %d %-17s range %.3f, CV %.3f at 75%% CPU", seed+1, "ideal", r, cv)
		for _, sched := range []string{corev1.DefaultSchedulerName, contract.SchedulerName} {
			r := jobSiteRun(t, sched, uint64(seed+1), nodes)
			results[sched] = append(results[sched], r)
			t.Logf("seed %d %-17s range %.3f, CV %.3f at 75%% CPU (after a planned rebalance of %d moves: range %.3f, CV %.3f); %d of %d pods Pending at 110%%",
				seed+1, sched, r.rangeCPU, r.cv, r.moves, r.rebalancedRange, r.rebalancedCV, r.pending, r.pods)
			deleteBenchPods(t)
		}
	}
	for _, sched := range []string{corev1.DefaultSchedulerName, contract.SchedulerName} {
		var rs, cvs, rrs, rcvs []float64
		var pend, moves []int
		for _, r := range results[sched] {
			rs, cvs, pend = append(rs, r.rangeCPU), append(cvs, r.cv), append(pend, r.pending)
			rrs, rcvs, moves = append(rrs, r.rebalancedRange), append(rcvs, r.rebalancedCV), append(moves, r.moves)
		}
		t.Logf("RESULT job site %-17s %d nodes, %d seeds: CPU fraction range %.3f-%.3f (mean %.3f), CV %.3f-%.3f (mean %.3f), Pending when overfilled %v",
			sched, len(nodes), seeds, slices.Min(rs), slices.Max(rs), mean(rs), slices.Min(cvs), slices.Max(cvs), mean(cvs), pend)
		t.Logf("RESULT job site %-17s %d nodes, %d seeds: then kubectl zz rebalance's plan (moves %v, at most %d): range %.3f-%.3f (mean %.3f), CV %.3f-%.3f (mean %.3f)",
			sched, len(nodes), seeds, moves, jobSiteMoves, slices.Min(rrs), slices.Max(rrs), mean(rrs), slices.Min(rcvs), slices.Max(rcvs), mean(rcvs))
	}
	t.Logf("RESULT job site %-17s %d nodes, %d seeds: CPU fraction range %.3f-%.3f (mean %.3f), CV %.3f-%.3f (mean %.3f) (the extender's score with every placement known at once, no cluster)",
		"ideal", len(nodes), seeds, slices.Min(idealR), slices.Max(idealR), mean(idealR), slices.Min(idealCV), slices.Max(idealCV), mean(idealCV))
}

// jobSiteBench starts a job-site benchmark (only with ZZ_BENCH=1):
// zz-scheduler, the bench nodes (ZZ_BENCH_JOBSITE_NODES, 20) and how many
// seeds to run (ZZ_BENCH_SEEDS, 3).
func jobSiteBench(t *testing.T) (nodes []string, seeds int) {
	t.Helper()
	if os.Getenv("ZZ_BENCH") != "1" {
		t.Skip("set ZZ_BENCH=1 to run the scheduling benchmark")
	}
	startZZScheduler(t)
	return benchNodesOf(t, envInt(t, "ZZ_BENCH_JOBSITE_NODES", 20), jobSiteCPU, jobSiteMem), envInt(t, "ZZ_BENCH_SEEDS", 3)
}

// jobSiteIdeal places a seed's stream up to 75% CPU with the extender's own
// score, every earlier placement known exactly (no scheduler, no informer
// lag, no other plugin): what this one-pod-at-a-time placement achieves at
// best, for comparison with the cluster's runs. The stream is not known
// ahead, so a 4-CPU pod (0.084 of a node) lands on a node near the minimum
// and leaves the range near 0.08 until smaller pods fill the others.
func jobSiteIdeal(seed uint64, n int) (rangeCPU, cv float64) {
	return jobsite.CPUSpread(jobsite.Place(seed, n, 0.75, balance.Default).Nodes)
}

// jobSiteLoad creates a seed's stream on the bench nodes for one scheduler:
// the ballast of the starved nodes, then pods up to a share of the CPU.
type jobSiteLoad struct {
	sched       string
	src         *jobsite.Stream
	used, total int64
	pods        int
}

func newJobSiteLoad(t *testing.T, sched string, seed uint64, nodes []string) *jobSiteLoad {
	t.Helper()
	ensureBenchNamespace(t)
	l := &jobSiteLoad{sched: sched, src: jobsite.NewStream(seed), total: jobSiteCPU.MilliValue() * int64(len(nodes))}
	// Two nodes start at the seed's 39% CPU / 7% memory.
	for _, node := range nodes[:jobsite.BallastNodes] {
		p := benchPod("ballast-"+node, corev1.DefaultSchedulerName, requests(jobsite.Ballast))
		p.Spec.NodeName = node
		if _, err := cluster.Client.CoreV1().Pods(benchNS).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		l.used += jobsite.Ballast.MilliCPU
	}
	return l
}

// fill creates the stream's next pods until the requests reach percent of
// the cluster's CPU, and returns how many pods the stream has created.
func (l *jobSiteLoad) fill(t *testing.T, percent int64) int {
	t.Helper()
	var batch []*corev1.Pod
	for l.used < l.total*percent/100 {
		kind, app := l.src.Next()
		p := benchPod(fmt.Sprintf("%s-%04d", kind.Name, l.pods), l.sched, requests(kind.Requests))
		p.Labels[contract.LabelApp] = app
		p.Labels["run"] = l.sched
		batch = append(batch, p)
		l.used += kind.Requests.MilliCPU
		l.pods++
	}
	createStream(t, batch)
	return l.pods
}

// jobSiteRun schedules one seed's stream with sched.
func jobSiteRun(t *testing.T, sched string, seed uint64, nodes []string) jobSiteResult {
	t.Helper()
	load := newJobSiteLoad(t, sched, seed, nodes)
	var res jobSiteResult
	n := load.fill(t, 75)
	waitBound(t, sched, n)
	res.rangeCPU, res.cv = jobsite.Spread(cpuFractions(t))
	plan := jobSiteRebalance(t, sched)
	res.rebalancedRange, res.rebalancedCV, res.moves = plan.After.Range, plan.After.CV, len(plan.Moves)
	res.pods = load.fill(t, 110)
	res.pending = waitSettled(t, sched, res.pods)
	return res
}

// jobSiteRebalance is the plan kubectl zz rebalance makes for the bench
// nodes as sched placed the stream, the stream's pods taken as the replicas
// they stand for (the bench creates bare pods, which rebalance never moves).
func jobSiteRebalance(t *testing.T, sched string) rebalance.Plan {
	t.Helper()
	nodes, _, err := rebalance.Snapshot(t.Context(), cluster.Client, benchLabel+"=true")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cluster.Client.CoreV1().Pods(benchNS).List(t.Context(), metav1.ListOptions{LabelSelector: "run=" + sched})
	if err != nil {
		t.Fatal(err)
	}
	stream := map[string]*corev1.Pod{}
	for i := range pods.Items {
		stream[pods.Items[i].Name] = &pods.Items[i]
	}
	for i := range nodes {
		for j := range nodes[i].Pods {
			p := &nodes[i].Pods[j]
			if k := stream[p.Name]; k != nil && p.Namespace == benchNS {
				if p.Constraints, err = rebalance.NewConstraints(k, nil); err != nil {
					t.Fatal(err)
				}
				p.Unmovable, p.App = "", benchNS+"/ReplicaSet/"+k.Labels[contract.LabelApp]
			}
		}
	}
	return rebalance.Compute(nodes, rebalance.Options{MaxMoves: jobSiteMoves})
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
		if pods.Items[i].Spec.NodeName != "" && pods.Items[i].DeletionTimestamp == nil {
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

// TestBenchJobSiteRebalance carries the rebalance out on the cluster: the
// job site's stream placed by zz-scheduler up to 75% CPU, each app's pods
// then adopted by a ReplicaSet of as many replicas (as a Deployment's
// would be), and kubectl zz rebalance run on the bench nodes (at most
// jobSiteMoves moves, each replacement placed by zz-scheduler and its
// extender). Reported per seed: the range and CV of the CPU request
// fractions as placed, as the plan expects, and as they are after the
// moves. Run with ZZ_BENCH=1 (make bench-e2e).
func TestBenchJobSiteRebalance(t *testing.T) {
	nodes, seeds := jobSiteBench(t)
	planned := regexp.MustCompile(`expected after (\d+) moves: range ([0-9.]+), CV ([0-9.]+)`)
	var after, afterCV []float64
	for seed := range seeds {
		sched := contract.SchedulerName
		load := newJobSiteLoad(t, sched, uint64(seed+1), nodes)
		waitBound(t, sched, load.fill(t, 75))
		r0, cv0 := jobsite.Spread(cpuFractions(t))
		adoptIntoReplicaSets(t, sched)
		_, errOut, err := zz(t, benchNS, "rebalance", "-l", benchLabel+"=true", "--max-moves", strconv.Itoa(jobSiteMoves), "--timeout", "90s")
		if err != nil {
			t.Errorf("seed %d: kubectl zz rebalance: %v\n%s", seed+1, err, errOut)
		}
		m := planned.FindStringSubmatch(errOut)
		if m == nil {
			t.Fatalf("seed %d: no plan in:\n%s", seed+1, errOut)
		}
		r1, cv1 := jobsite.Spread(cpuFractions(t))
		after, afterCV = append(after, r1), append(afterCV, cv1)
		t.Logf("seed %d %s: range %.3f, CV %.3f as placed; kubectl zz rebalance planned %s moves to range %s, CV %s; after them range %.3f, CV %.3f",
			seed+1, sched, r0, cv0, m[1], m[2], m[3], r1, cv1)
		deleteBenchReplicaSets(t)
		deleteBenchPods(t)
	}
	t.Logf("RESULT job site zz-scheduler then kubectl zz rebalance (at most %d moves, carried out), %d nodes, %d seeds: CPU fraction range %.3f-%.3f (mean %.3f), CV %.3f-%.3f (mean %.3f)",
		jobSiteMoves, len(nodes), seeds, slices.Min(after), slices.Max(after), mean(after), slices.Min(afterCV), slices.Max(afterCV), mean(afterCV))
}

// adoptIntoReplicaSets gives each app of sched's bench pods a ReplicaSet of
// as many replicas, which adopts them (they have no controller): the moves
// kubectl zz rebalance makes are then replaced by the ReplicaSet, as a
// Deployment's replicas would be.
func adoptIntoReplicaSets(t *testing.T, sched string) {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods(benchNS).List(t.Context(), metav1.ListOptions{LabelSelector: "run=" + sched})
	if err != nil {
		t.Fatal(err)
	}
	apps := map[string][]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		apps[p.Labels[contract.LabelApp]] = append(apps[p.Labels[contract.LabelApp]], p)
	}
	for app, ps := range apps {
		labels := map[string]string{contract.LabelApp: app, "run": sched}
		tmpl := benchPod(app, sched, ps[0].Spec.Containers[0].Resources.Requests)
		maps.Copy(tmpl.Labels, labels)
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: benchNS, Labels: labels}, Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(len(ps))), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: tmpl.Labels}, Spec: tmpl.Spec}}}
		if _, err := cluster.Client.AppsV1().ReplicaSets(benchNS).Create(t.Context(), rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cluster.WaitFor(t, 2*time.Minute, "every bench pod adopted and every ReplicaSet ready", func(ctx context.Context) (bool, string, error) {
		rsl, err := cluster.Client.AppsV1().ReplicaSets(benchNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		for _, rs := range rsl.Items {
			if rs.Status.ReadyReplicas != *rs.Spec.Replicas || rs.Status.Replicas != *rs.Spec.Replicas {
				return false, fmt.Sprintf("ReplicaSet %s: %d of %d ready", rs.Name, rs.Status.ReadyReplicas, *rs.Spec.Replicas), nil
			}
		}
		l, err := cluster.Client.CoreV1().Pods(benchNS).List(ctx, metav1.ListOptions{LabelSelector: "run=" + sched})
		if err != nil {
			return false, "", err
		}
		for _, p := range l.Items {
			if metav1.GetControllerOfNoCopy(&p) == nil {
				return false, "pod " + p.Name + " not adopted yet", nil
			}
		}
		return len(l.Items) == len(pods.Items), fmt.Sprintf("%d pods, %d before", len(l.Items), len(pods.Items)), nil
	})
}

// deleteBenchReplicaSets deletes the bench ReplicaSets and waits until they
// are gone, so that none recreates the pods deleteBenchPods deletes.
func deleteBenchReplicaSets(t *testing.T) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	if err := cluster.Client.AppsV1().ReplicaSets(benchNS).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 2*time.Minute, "bench ReplicaSets gone", func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.AppsV1().ReplicaSets(benchNS).List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, "", err
	})
}

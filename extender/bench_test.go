package extender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// benchCluster is n nodes, a quarter of them with 8 GPUs, each node running
// 20 pods, a third of the GPU memory taken.
func benchCluster(b *testing.B, n int) (*env, []string) {
	b.Helper()
	var nodes []*corev1.Node
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("node-%05d", i)
		var node *corev1.Node
		if i%4 == 0 {
			node = gpuNode(names[i], 40960, 40960, 40960, 40960, 40960, 40960, 40960, 40960)
		} else {
			node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: names[i]}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi")}}}
		}
		nodes = append(nodes, node)
	}
	e := newEnv(b, nodes)
	d := e.handler.Decider
	for i, name := range names {
		for j := range 20 {
			uid := types.UID(fmt.Sprintf("%s-%d", name, j))
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: string(uid), Namespace: "ns", UID: uid, Labels: map[string]string{contract.LabelApp: fmt.Sprint("app-", j%5)}},
				Spec: corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}}
			d.Usage.SetPod(p)
		}
		if i%4 == 0 {
			for c := range 8 {
				uid := types.UID(fmt.Sprintf("%s-gpu-%d", name, c))
				a, err := e.ledger.Reserve(name, types.NamespacedName{Namespace: "ns", Name: string(uid)}, uid, gpushare.Request{MemMiB: 13000, Cards: 1}, gpushare.Spread, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				// Running, at priority 0: a victim preemption may pick.
				p := gpuPod(string(uid), "13000Mi", 1)
				p.UID, p.Annotations = uid, a.Annotations()
				p.Spec.NodeName, p.Spec.Priority, p.Status.Phase = name, ptr.To[int32](0), corev1.PodRunning
				if err := e.ledger.SetPod(p); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	return e, names
}

func post(b *testing.B, h http.Handler, path string, body []byte) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
}

// BenchmarkScheduleCall is what one pod costs the extender: filter and GPU
// prioritize for a GPU pod, balance prioritize for any pod, through the HTTP
// handler (decode, decide, encode), with node names only (nodeCacheCapable).
// "all" sends every node's name; "gpu" only the GPU nodes, which is what the
// scheduler sends for a pod asking for zz.io/gpu slots, since its own filters
// drop the others first. gpu-preempt is kube-scheduler's preemption asking
// about every node as a candidate, each with a victim of its own, for a pod
// whose GPU memory fits no card without evicting a GPU pod: the entry's
// httpTimeout (2 s) cuts it off too, and the entry is not ignorable.
func BenchmarkScheduleCall(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		e, names := benchCluster(b, n)
		var gpuNames []string
		for i, name := range names {
			if i%4 == 0 {
				gpuNames = append(gpuNames, name)
			}
		}
		cpuPod := gpuPod("q", "1Gi", 0)
		cpuPod.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")}}
		preemptor := gpuPod("p", "40Gi", 1)
		preemptor.Spec.Priority = ptr.To[int32](100)
		for _, c := range []struct {
			name  string
			path  string
			pod   *corev1.Pod
			nodes []string
		}{
			{"gpu-filter/all", "/gpu/filter", gpuPod("p", "8Gi", 0), names},
			{"gpu-filter/gpu", "/gpu/filter", gpuPod("p", "8Gi", 0), gpuNames},
			{"gpu-prioritize/gpu", "/gpu/prioritize", gpuPod("p", "8Gi", 0), gpuNames},
			{"gpu-preempt/all", "/gpu/preempt", preemptor, names},
			{"balance-prioritize/all", "/balance/prioritize", cpuPod, names},
		} {
			var args any = extenderv1.ExtenderArgs{Pod: c.pod, NodeNames: &c.nodes}
			if c.path == "/gpu/preempt" {
				args = preemptionArgs(b, e, c.pod, c.nodes)
			}
			body, err := json.Marshal(args)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("nodes=%d/%s", n, c.name), func(b *testing.B) {
				b.ReportAllocs()
				// p99-ns is what sizes the scheduler's httpTimeout
				// (manifests/scheduler/zz-scheduler-config.yaml).
				var took []time.Duration
				for b.Loop() {
					start := time.Now()
					post(b, e.handler, c.path, body)
					took = append(took, time.Since(start))
				}
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)*99/100]), "p99-ns")
			})
		}
	}
}

// preemptionArgs is kube-scheduler's preemption call (nodeCacheCapable:
// victims by UID) with every node a candidate, one of its CPU pods the
// victim. It fails the benchmark unless the answer evicts GPU pods on GPU
// nodes, so that it measures the GPU victims' search, not a shortcut.
func preemptionArgs(b *testing.B, e *env, pod *corev1.Pod, nodes []string) extenderv1.ExtenderPreemptionArgs {
	b.Helper()
	// The extender's own preemption on, as zz-extender runs it: GPU pods of
	// lower priority are added to kube-scheduler's victims.
	e.handler.Decider.AddVictims = true
	args := extenderv1.ExtenderPreemptionArgs{Pod: pod, NodeNameToMetaVictims: map[string]*extenderv1.MetaVictims{}}
	for _, name := range nodes {
		args.NodeNameToMetaVictims[name] = &extenderv1.MetaVictims{Pods: []*extenderv1.MetaPod{{UID: name + "-0"}}}
	}
	res, err := e.handler.Decider.Preemption(&args)
	if err != nil {
		b.Fatal(err)
	}
	gpuVictims := 0
	for _, v := range res.NodeNameToMetaVictims {
		for _, p := range v.Pods {
			if strings.Contains(p.UID, "-gpu-") {
				gpuVictims++
			}
		}
	}
	if gpuVictims == 0 {
		b.Fatalf("preemption over %d candidates evicts no GPU pod (%d nodes kept): the benchmark would not measure the victims' search", len(nodes), len(res.NodeNameToMetaVictims))
	}
	return args
}

// BenchmarkDecide is the decision alone, without HTTP and JSON.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		e, names := benchCluster(b, n)
		args := &extenderv1.ExtenderArgs{Pod: gpuPod("p", "8Gi", 0), NodeNames: &names}
		b.Run(fmt.Sprintf("nodes=%d/filter", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.handler.Decider.Filter(args)
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/balance", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.handler.Decider.PrioritizeBalance(args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

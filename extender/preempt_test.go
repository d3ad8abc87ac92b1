package extender

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
	"k8s.io/utils/ptr"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// evictions records the Eviction API calls of a fake clientset, answering
// each with refuse (nil: allowed; a real eviction deletes the pod and tells
// the ledger, as the informer would).
type evictions struct {
	mu    sync.Mutex
	calls []string // "dry ns/name" or "evict ns/name"
}

func (ev *evictions) list() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return slices.Clone(ev.calls)
}

func (e *env) recordEvictions(refuse error) *evictions { return e.recordEvictionsLag(refuse, false) }

// recordEvictionsLag: with lag, a real eviction deletes the pod from the
// API server but the ledger is not told (the extender's informer behind).
func (e *env) recordEvictionsLag(refuse error, lag bool) *evictions {
	ev := &evictions{}
	e.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		obj := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		dry := obj.DeleteOptions != nil && len(obj.DeleteOptions.DryRun) > 0
		// Recorded once handled, so a test that sees the call sees its effect.
		defer func() {
			ev.mu.Lock()
			ev.calls = append(ev.calls, map[bool]string{true: "dry ", false: "evict "}[dry]+obj.Namespace+"/"+obj.Name)
			ev.mu.Unlock()
		}()
		if refuse != nil {
			return true, nil, refuse
		}
		if !dry {
			if err := e.client.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), obj.Namespace, obj.Name); err != nil {
				return true, nil, err
			}
			if !lag {
				e.ledger.DeletePod(*obj.DeleteOptions.Preconditions.UID)
			}
		}
		return true, nil, nil
	})
	return ev
}

// holder is a running pod of priority prio on node holding mem on one card.
func (e *env) holder(t *testing.T, node, name, mem string, prio int32) *corev1.Pod {
	t.Helper()
	p := gpuPod(name, mem, 1)
	req, err := gpushare.PodRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.ledger.Reserve(node, types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, p.UID, req, gpushare.BestFit, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations = a.Annotations()
	p.Spec.NodeName, p.Spec.Priority, p.Status.Phase = node, &prio, corev1.PodRunning
	if err := e.ledger.SetPod(p); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Tracker().Add(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPreemptor(t *testing.T) {
	high := func(name string) *corev1.Pod {
		p := gpuPod(name, "40Gi", 1)
		p.Spec.Priority = ptr.To[int32](100)
		return p
	}
	filter := func(t *testing.T, e *env, p *corev1.Pod) []string {
		t.Helper()
		var res extenderv1.ExtenderFilterResult
		if code := e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: p, NodeNames: names("a")}, &res); code != 200 || res.Error != "" {
			t.Fatalf("filter: %d %s", code, res.Error)
		}
		return *res.NodeNames
	}
	setupLag := func(t *testing.T, refuse error, lag bool) (*env, *evictions, *record.FakeRecorder) {
		e := newEnv(t, []*corev1.Node{gpuNode("a", 40960)})
		e.holder(t, "a", "low", "40Gi", 10)
		ev := e.recordEvictionsLag(refuse, lag)
		rec := record.NewFakeRecorder(10)
		p := &Preemptor{Ledger: e.ledger, Client: e.client, Now: time.Now, Ctx: t.Context(), Results: NewPreemptionMetric(), Recorder: rec}
		e.decider.Preempt, e.decider.Refresh = p.Consider, p.Refresh
		return e, ev, rec
	}
	setup := func(t *testing.T, refuse error) (*env, *evictions, *record.FakeRecorder) {
		return setupLag(t, refuse, false)
	}
	waitFor := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	t.Run("evicts after a dry run, then the preemptor fits where it freed", func(t *testing.T) {
		e, ev, rec := setup(t, nil)
		p := high("high")
		if err := e.client.Tracker().Add(p); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if fit := filter(t, e, p); len(fit) != 0 {
			t.Fatalf("fits %v before the preemption", fit)
		}
		waitFor(t, "the eviction", func() bool { return len(ev.list()) == 2 })
		// Then the nomination is recorded on the preemptor, for the other
		// replicas and a restart.
		waitFor(t, "the record", func() bool {
			got, err := e.client.CoreV1().Pods("ns").Get(t.Context(), "high", metav1.GetOptions{})
			return err == nil && got.Annotations[contract.AnnotationGPUNomination] != ""
		})
		got, _ := e.client.CoreV1().Pods("ns").Get(t.Context(), "high", metav1.GetOptions{})
		if r, err := gpushare.ParseNominationRecord(got.Annotations[contract.AnnotationGPUNomination]); err != nil || r.Node != "a" ||
			r.Since.Before(start.Add(-time.Second)) || r.Since.After(time.Now()) {
			t.Errorf("record %+v, %v; want node a, since the preemption started", r, err)
		}
		if got := testutil.ToFloat64(NewPreemptionWaiting(e.ledger)); got != 0 {
			t.Errorf("zz_extender_preemptions_waiting %v once the victim is gone, want 0", got)
		}
		if got := ev.list(); !slices.Equal(got, []string{"dry ns/low", "evict ns/low"}) {
			t.Fatalf("eviction calls %v", got)
		}
		if fit := filter(t, e, p); !slices.Equal(fit, []string{"a"}) {
			t.Fatalf("after the preemption the preemptor fits %v, want [a]", fit)
		}
		// A lower-priority pod does not take what was freed.
		if fit := filter(t, e, gpuPod("other", "1Gi", 1)); len(fit) != 0 {
			t.Fatalf("another pod fits %v the preemptor's cards", fit)
		}
		if _, err := e.ledger.Reserve("a", types.NamespacedName{Namespace: "ns", Name: "high"}, p.UID, gpushare.Request{MemMiB: 40960, Cards: 1}, gpushare.Binpack, time.Now()); err != nil {
			t.Fatalf("the preemptor's bind: %v", err)
		}
		close(rec.Events)
		var reasons []string
		for ev := range rec.Events {
			reasons = append(reasons, ev)
		}
		if len(reasons) != 2 {
			t.Fatalf("events %q; want Preempting on the preemptor and Preempted on the victim", reasons)
		}
		for _, ev := range reasons {
			if strings.Contains(ev, "ns/") {
				t.Errorf("event %q names a pod: each side's owner reads it", ev)
			}
		}
	})
	t.Run("the extender's informer behind: the filter asks the API server", func(t *testing.T) {
		e, ev, _ := setupLag(t, nil, true)
		p := high("high")
		filter(t, e, p)
		waitFor(t, "the eviction", func() bool { return len(ev.list()) == 2 })
		if got := testutil.ToFloat64(NewPreemptionWaiting(e.ledger)); got != 1 {
			t.Errorf("zz_extender_preemptions_waiting %v while the ledger still sees the victim, want 1", got)
		}
		if fit := filter(t, e, p); !slices.Equal(fit, []string{"a"}) {
			t.Fatalf("the victim is gone from the API server, yet the preemptor fits %v", fit)
		}
	})
	t.Run("a budget's refusal evicts nothing", func(t *testing.T) {
		e, ev, _ := setup(t, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10))
		p := high("high")
		if err := e.client.Tracker().Add(p); err != nil {
			t.Fatal(err)
		}
		filter(t, e, p)
		waitFor(t, "the nomination to be cancelled", func() bool { return !e.ledger.Nominated(p.UID) })
		if got := ev.list(); !slices.Equal(got, []string{"dry ns/low"}) {
			t.Fatalf("eviction calls %v; want the dry run only", got)
		}
		if got, _ := e.client.CoreV1().Pods("ns").Get(t.Context(), "high", metav1.GetOptions{}); got.Annotations[contract.AnnotationGPUNomination] != "" {
			t.Errorf("a cancelled preemption was recorded: %v", got.Annotations)
		}
	})
	t.Run("a pod its budget guards is no victim: the API is not asked", func(t *testing.T) {
		e, ev, _ := setup(t, nil)
		rec := record.NewFakeRecorder(10)
		p := &Preemptor{Ledger: e.ledger, Client: e.client, Now: time.Now, Ctx: t.Context(), Results: NewPreemptionMetric(), Recorder: rec,
			Guarded: func(v types.NamespacedName) bool { return v.Name == "low" }}
		e.decider.Preempt = p.Consider
		pod := high("high")
		filter(t, e, pod)
		filter(t, e, pod) // kube-scheduler retries: told once
		if e.ledger.Nominated(pod.UID) || len(ev.list()) != 0 {
			t.Fatalf("preempted a guarded pod: %v", ev.list())
		}
		// The preemptor is told the budgets block it, once, where it had
		// kube-scheduler's "Preemption is not helpful" alone.
		close(rec.Events)
		var got []string
		for e := range rec.Events {
			got = append(got, e)
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], "Warning PreemptionBlocked No GPU preemption: evicting 1 lower-priority pods on node a would free the GPU memory") {
			t.Errorf("events %q", got)
		}
	})
	t.Run("preemptionPolicy Never and equal priority preempt nothing", func(t *testing.T) {
		e, ev, _ := setup(t, nil)
		never := high("never")
		never.Spec.PreemptionPolicy = ptr.To(corev1.PreemptNever)
		equal := gpuPod("equal", "40Gi", 1)
		equal.Spec.Priority = ptr.To[int32](10)
		for _, p := range []*corev1.Pod{never, equal} {
			filter(t, e, p)
			if e.ledger.Nominated(p.UID) {
				t.Fatalf("%s is nominated", p.Name)
			}
		}
		if got := ev.list(); len(got) != 0 {
			t.Fatalf("eviction calls %v", got)
		}
	})
	t.Run("room on a node not asked about yet: no preemption", func(t *testing.T) {
		e, ev, _ := setup(t, nil)
		e.ledger.SetNode(gpuNode("b", 40960))
		many := []string{"a"}
		for range minFeasibleNodesToFind {
			many = append(many, "a") // as many names as kube-scheduler's smallest window
		}
		p := high("high")
		e.decider.Preempt(p, many, gpushare.Request{MemMiB: 40960, Cards: 1}, gpushare.BestFit)
		if e.ledger.Nominated(p.UID) || len(ev.list()) != 0 {
			t.Fatal("preempted although b, not asked about, has room")
		}
		// Fewer names than the scheduler's smallest window are every
		// feasible node: it preempts (the nomination may already have
		// settled when Preempt returns: the evictions tell).
		e.decider.Preempt(p, []string{"a"}, gpushare.Request{MemMiB: 40960, Cards: 1}, gpushare.BestFit)
		waitFor(t, "the eviction", func() bool { return len(ev.list()) == 2 })
	})
}

// TestPreemptVerb: kube-scheduler's own preemption asks the preempt verb
// about the nodes where it found victims for CPU or memory. The verb keeps a
// node where the GPU pod then fits, adds the GPU pods that must go too, and
// drops a node where nothing makes room (so nobody is evicted there for
// nothing); a pod that is not a GPU pod gets its candidates back unchanged,
// and a pod the extender already keeps memory for keeps that node alone.
func TestPreemptVerb(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("free", 40960), gpuNode("full", 40960), gpuNode("small", 15360, 15360), gpuNode("high", 40960)})
	e.holder(t, "full", "gpu-low", "40Gi", 10)
	e.holder(t, "high", "gpu-high", "40Gi", 500)
	candidates := NewCandidateMetric()
	e.decider.Candidates = func(r string) { candidates.WithLabelValues(r).Inc() }
	cpuVictim := func(node string) *extenderv1.MetaVictims {
		return &extenderv1.MetaVictims{Pods: []*extenderv1.MetaPod{{UID: "cpu-hog-" + node}}, NumPDBViolations: 1}
	}
	args := func(p *corev1.Pod) extenderv1.ExtenderPreemptionArgs {
		return extenderv1.ExtenderPreemptionArgs{Pod: p, NodeNameToMetaVictims: map[string]*extenderv1.MetaVictims{
			"free": cpuVictim("free"), "full": cpuVictim("full"), "small": cpuVictim("small"), "high": cpuVictim("high")}}
	}
	preempt := func(t *testing.T, a extenderv1.ExtenderPreemptionArgs) map[string][]string {
		t.Helper()
		var res extenderv1.ExtenderPreemptionResult
		if code := e.call(t, "/gpu/preempt", a, &res); code != http.StatusOK {
			t.Fatalf("preempt: HTTP %d", code)
		}
		out := map[string][]string{}
		for node, v := range res.NodeNameToMetaVictims {
			for _, p := range v.Pods {
				out[node] = append(out[node], p.UID)
			}
			if v.NumPDBViolations != 1 {
				t.Errorf("node %s: %d budget violations, want kube-scheduler's 1", node, v.NumPDBViolations)
			}
		}
		return out
	}
	pod := gpuPod("pre", "40Gi", 1)
	pod.Spec.Priority = ptr.To[int32](100)

	t.Run("without the extender's own preemption nothing is added", func(t *testing.T) {
		got := preempt(t, args(pod))
		want := map[string][]string{"free": {"cpu-hog-free"}}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("candidates %v, want %v", got, want)
		}
	})
	t.Run("with it, the GPU pod that must go is added", func(t *testing.T) {
		e.decider.AddVictims = true
		got := preempt(t, args(pod))
		want := map[string][]string{"free": {"cpu-hog-free"}, "full": {"cpu-hog-full", "uid-gpu-low"}}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("candidates %v, want %v", got, want)
		}
		if e.ledger.Reserved(pod.UID) {
			t.Fatal("memory kept for the pod while kube-scheduler may still pick either node")
		}
	})
	t.Run("a budget keeps its pod; one candidate left is kept for the pod at once", func(t *testing.T) {
		e.decider.Guarded = func(p types.NamespacedName) bool { return p.Name == "gpu-low" }
		defer func() { e.decider.Guarded = nil }()
		got := preempt(t, args(pod))
		if want := map[string][]string{"free": {"cpu-hog-free"}}; !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("candidates %v, want %v", got, want)
		}
		// kube-scheduler preempts there: its card is the pod's from now on.
		if node, held := e.ledger.HeldOn(pod.UID); !held || node != "free" {
			t.Fatalf("the only candidate's card is not kept for the pod (held %v on %q)", held, node)
		}
		if fit, _ := e.ledger.Filter([]string{"free"}, gpushare.Request{MemMiB: 1024, Cards: 1}); len(fit) != 0 {
			t.Fatal("another pod fits on the card kept for the preemptor")
		}
		e.ledger.DeletePod(pod.UID)
	})
	t.Run("full pods, as kube-scheduler sends them without nodeCacheCapable", func(t *testing.T) {
		a := extenderv1.ExtenderPreemptionArgs{Pod: pod, NodeNameToVictims: map[string]*extenderv1.Victims{
			"small": {Pods: []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{UID: "cpu-hog-small"}}}, NumPDBViolations: 1},
			"free":  {Pods: []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{UID: "cpu-hog-free"}}}, NumPDBViolations: 1}}}
		if got, want := preempt(t, a), (map[string][]string{"free": {"cpu-hog-free"}}); !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("candidates %v, want %v", got, want)
		}
		e.ledger.DeletePod(pod.UID) // the card kept for it (one candidate left)
	})
	t.Run("not a GPU pod: unchanged", func(t *testing.T) {
		plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "ns", UID: "uid-plain"}}
		if got := preempt(t, args(plain)); len(got) != 4 {
			t.Fatalf("candidates %v, want all four back", got)
		}
	})
	t.Run("memory the extender keeps for the pod: that node alone", func(t *testing.T) {
		held := gpuPod("held", "40Gi", 1)
		held.Spec.Priority = ptr.To[int32](100)
		if _, err := e.ledger.Reserve("free", types.NamespacedName{Namespace: "ns", Name: "held"}, held.UID, gpushare.Request{MemMiB: 40960, Cards: 1}, gpushare.BestFit, time.Now()); err != nil {
			t.Fatal(err)
		}
		a := args(held)
		a.NodeNameToMetaVictims["other"] = cpuVictim("other")
		if got, want := preempt(t, a), (map[string][]string{"free": {"cpu-hog-free"}}); !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("candidates %v, want %v", got, want)
		}
	})
	for result, want := range map[string]float64{candidateKept: 5, candidateExtended: 1, candidateDropped: 3 + 2 + 3 + 1 + 4} {
		if got := testutil.ToFloat64(candidates.WithLabelValues(result)); got != want {
			t.Errorf("zz_extender_preemption_candidates_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// TestPreemptorWaits: at SIGTERM the extender waits, up to its grace, for
// the evictions under way, so a preemption is not cut between victims.
func TestPreemptorWaits(t *testing.T) {
	p := &Preemptor{}
	// Nothing in flight: true, at once on a quiet machine (the bound only
	// leaves a loaded one, under -race, time to run the waiting goroutine:
	// 1 ms failed a CI run).
	if !p.Wait(5 * time.Second) {
		t.Fatal("waited for nothing")
	}
	release := make(chan struct{})
	p.inflight.Go(func() { <-release })
	if p.Wait(20 * time.Millisecond) {
		t.Fatal("did not wait for the eviction under way")
	}
	close(release)
	if !p.Wait(5 * time.Second) {
		t.Fatal("the eviction ended, the wait did not")
	}
}

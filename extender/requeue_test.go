package extender

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestRequeuer: a pod the extender refused on a node where memory is then
// freed gets the condition (an update kube-scheduler retries it on), once
// per refusal; pods refused long ago, elsewhere, or that still do not fit
// are left alone, and a node's freed memory asks for no more pods than it
// holds, the most important first.
func TestRequeuer(t *testing.T) {
	type step struct {
		fill   []string // holders added on node a
		refuse []string // pods filtered (all refused) in this order
		free   []string // holders deleted, freeing their cards
		after  time.Duration
	}
	tests := []struct {
		name  string
		steps []step
		bind  string // a waiter placed meanwhile
		want  []string
	}{
		{name: "refused, then its node frees memory: asked",
			steps: []step{{refuse: []string{"w"}}, {free: []string{"h1"}}}, want: []string{"w (1) a"}},
		{name: "refused before the window: kube-scheduler retried it on the event itself",
			steps: []step{{refuse: []string{"w"}}, {after: 11 * time.Second, free: []string{"h1"}}}},
		{name: "asked once per refusal, again after a new one",
			steps: []step{{refuse: []string{"w"}}, {free: []string{"h1"}}, {free: []string{"h2"}},
				{fill: []string{"f1", "f2"}, refuse: []string{"w"}}, {free: []string{"h3"}}},
			want: []string{"w (1) a", "w (2) a"}},
		{name: "the freed memory holds one of two waiters: the higher priority",
			steps: []step{{refuse: []string{"w", "urgent"}}, {free: []string{"h1"}}}, want: []string{"urgent (1) a"}},
		{name: "a waiter that still does not fit is left alone",
			steps: []step{{refuse: []string{"two-cards"}}, {free: []string{"h1"}}}},
		{name: "a waiter placed meanwhile is left alone",
			steps: []step{{refuse: []string{"w"}}, {free: []string{"h1"}}}, bind: "w"},
		{name: "memory freed on a node the pod was not refused on",
			steps: []step{{refuse: []string{"w"}}, {free: []string{"b1"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []*corev1.Node{gpuNode("a", 40960, 40960, 40960), gpuNode("b", 40960)})
			holders := map[string]*corev1.Pod{}
			for _, h := range []string{"h1", "h2", "h3"} {
				holders[h] = e.holder(t, "a", h, "40Gi", 0)
			}
			holders["b1"] = e.holder(t, "b", "b1", "40Gi", 0)
			now := time.Now()
			r := &Requeuer{Ledger: e.ledger, Client: e.client, Now: func() time.Time { return now }, Window: 10 * time.Second, Results: NewRequeueMetric(),
				GetPod: func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
					return e.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
				}}
			e.decider.Filtered = r.Filtered
			waiters := map[string]*corev1.Pod{"w": gpuPod("w", "40Gi", 1), "urgent": gpuPod("urgent", "40Gi", 1), "two-cards": gpuPod("two-cards", "40Gi", 2)}
			waiters["urgent"].Spec.Priority = ptr.To[int32](100)
			for _, p := range waiters {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
				if err := e.client.Tracker().Add(p); err != nil {
					t.Fatal(err)
				}
			}
			if tc.bind != "" {
				p := waiters[tc.bind].DeepCopy()
				p.Spec.NodeName = "b"
				if err := e.client.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), p, p.Namespace); err != nil {
					t.Fatal(err)
				}
			}
			e.ledger.TakeFreed() // the nodes' own arrival
			var got []string
			for _, s := range tc.steps {
				now = now.Add(s.after)
				for _, name := range s.fill {
					holders[name] = e.holder(t, "a", name, "40Gi", 0)
				}
				for _, name := range s.refuse {
					var res extenderv1.ExtenderFilterResult
					if code := e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: waiters[name], NodeNames: names("a")}, &res); code != 200 || len(*res.NodeNames) != 0 {
						t.Fatalf("filter %s: %d %v", name, code, res)
					}
				}
				for _, name := range s.free {
					e.ledger.DeletePod(holders[name].UID)
				}
				select {
				case <-e.ledger.Freed():
				default:
					if len(s.free) > 0 {
						t.Fatal("no signal after memory was freed")
					}
				}
				for _, d := range r.due(e.ledger.TakeFreed()) {
					r.ask(t.Context(), d)
				}
			}
			for _, name := range []string{"w", "urgent", "two-cards"} {
				p, err := e.client.CoreV1().Pods("ns").Get(t.Context(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
					return c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable
				}) {
					t.Errorf("%s: kube-scheduler's condition is gone: %v", name, p.Status.Conditions)
				}
				for _, c := range p.Status.Conditions {
					if c.Type == contract.ConditionGPUMemoryFreed && c.Status == corev1.ConditionTrue && c.Reason == contract.ReasonGPUMemoryFreed {
						n := strings.TrimSuffix(c.Message[strings.LastIndex(c.Message, "(")+1:], ")")
						got = append(got, name+" ("+n+") "+strings.Fields(c.Message[strings.Index(c.Message, "node "):])[1])
					}
				}
			}
			// The last condition written is what the pod carries: compare
			// it with the last wanted one.
			want := tc.want
			if len(want) > 1 {
				want = want[len(want)-1:]
			}
			if strings.Join(got, ";") != strings.Join(want, ";") {
				t.Errorf("conditions: got %q, want %q", got, want)
			}
			if n := int(testutil.ToFloat64(r.Results.WithLabelValues("requested"))); n != len(tc.want) {
				t.Errorf("requested %d retries, want %d", n, len(tc.want))
			}
		})
	}
}

// TestRequeuerPreemptor: the preemptor whose victims are gone is asked,
// however long ago it was refused (the victims' grace period may be long).
func TestRequeuerPreemptor(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("a", 40960)})
	low := e.holder(t, "a", "low", "40Gi", 10)
	now := time.Now()
	r := &Requeuer{Ledger: e.ledger, Client: e.client, Now: func() time.Time { return now }, Window: 10 * time.Second, Results: NewRequeueMetric(),
		GetPod: func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
			return e.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		}}
	high := gpuPod("high", "40Gi", 1)
	high.Spec.Priority = ptr.To[int32](100)
	if err := e.client.Tracker().Add(high); err != nil {
		t.Fatal(err)
	}
	e.decider.Filtered = r.Filtered
	var res extenderv1.ExtenderFilterResult
	if code := e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: high, NodeNames: names("a")}, &res); code != 200 || len(*res.NodeNames) != 0 {
		t.Fatalf("filter: %d %v", code, res)
	}
	// The extender nominates the preemptor for the victim's card.
	req := gpushare.Request{MemMiB: 40960, Cards: 1}
	plan, ok := e.ledger.PlanPreemption([]string{"a"}, req, 100, nil)
	if !ok || !e.ledger.Nominate(high.UID, types.NamespacedName{Namespace: high.Namespace, Name: high.Name}, plan, req, gpushare.BestFit, now) {
		t.Fatalf("no nomination: %v %v", plan, ok)
	}
	e.ledger.TakeFreed()
	now = now.Add(time.Minute)
	e.ledger.DeletePod(low.UID)
	if on, held := e.ledger.HeldOn(high.UID); !held || on != "a" {
		t.Fatalf("the preemptor holds nothing on a: %q %v", on, held)
	}
	ds := r.due(e.ledger.TakeFreed())
	if len(ds) != 1 || ds[0].pod.Name != "high" || ds[0].node != "a" {
		t.Fatalf("due: %+v, want the preemptor on a", ds)
	}
}

// TestRequeuerBounds: what pending pods can make the extender keep and
// write is bounded: asks per node freed, refusals kept, nodes remembered.
func TestRequeuerBounds(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("a", 40960), gpuNode("b", 40960)})
	h := e.holder(t, "a", "h", "40Gi", 0)
	e.holder(t, "b", "hb", "40Gi", 0)
	now := time.Now()
	r := &Requeuer{Ledger: e.ledger, Client: e.client, Now: func() time.Time { return now }, Window: 10 * time.Second, Results: NewRequeueMetric()}
	req := gpushare.Request{MemMiB: 1024, Cards: 1}
	for i := range 10 {
		r.Filtered(gpuPod(fmt.Sprint("tiny-", i), "1Gi", 1), []string{"a"}, req, false, e.ledger.FreedSeq())
	}
	// Offered more nodes than kept: asked about for any node.
	many := []string{"b"}
	for i := range maxNodesKept {
		many = append(many, fmt.Sprint("n", i))
	}
	r.Filtered(gpuPod("anywhere", "1Gi", 1), many, req, false, e.ledger.FreedSeq())
	e.ledger.TakeFreed()
	e.ledger.DeletePod(h.UID)
	if ds := r.due(e.ledger.TakeFreed()); len(ds) != maxAsksPerNode {
		t.Errorf("asked about %d pods for one node freed, want %d", len(ds), maxAsksPerNode)
	}
	if w := r.waiting["uid-anywhere"]; w == nil || w.nodes != nil || !r.refusedOn(w, "a") {
		t.Errorf("a pod offered %d nodes is not taken as refused anywhere: %+v", len(many), w)
	}
	// Old refusals go as new ones come; never more than maxWaiters kept.
	now = now.Add(time.Minute)
	for i := range maxWaiters + 10 {
		r.Filtered(gpuPod(fmt.Sprint("p-", i), "1Gi", 1), []string{"a"}, req, false, e.ledger.FreedSeq())
	}
	if n := len(r.waiting); n != maxWaiters {
		t.Errorf("%d refusals kept, want %d", n, maxWaiters)
	}
	if r.waiting["uid-tiny-0"] != nil {
		t.Error("a refusal older than the window was kept")
	}
	// Refused on no node at all: nothing to ask about.
	r.Filtered(gpuPod("nowhere", "1Gi", 1), nil, req, false, e.ledger.FreedSeq())
	if r.waiting["uid-nowhere"] != nil {
		t.Error("a pod offered no node was kept")
	}
}

// TestRequeuerFreedBeforeRecord: memory freed after the filter decided,
// and handled by Run before the refusal was recorded, is weighed against
// the pod all the same (the ledger notes the node again), so the pod is
// asked about rather than left for kube-scheduler's periodic flush; memory
// handled before the decision, or freed on other nodes, is not noted again.
func TestRequeuerFreedBeforeRecord(t *testing.T) {
	tests := []struct {
		name    string
		free    []string // holders deleted between the decision and the record
		batches int      // frees on node c handled meanwhile as well
		before  bool     // the frees happen and are handled before the decision
		want    []string // nodes the waiter is asked about afterwards
	}{
		{name: "freed on its node and handled between decision and record", free: []string{"ha"}, want: []string{"a"}},
		{name: "and more batches handled meanwhile than kept", free: []string{"ha"}, batches: maxHandled + 1, want: []string{"a"}},
		{name: "freed on a node it was not offered", free: []string{"hc"}},
		{name: "freed and handled before the decision: the decision saw it", free: []string{"ha"}, before: true, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []*corev1.Node{gpuNode("a", 40960), gpuNode("b", 40960), gpuNode("c", 40960)})
			holders := map[string]*corev1.Pod{
				"ha": e.holder(t, "a", "ha", "40Gi", 0), "hb": e.holder(t, "b", "hb", "40Gi", 0), "hc": e.holder(t, "c", "hc", "40Gi", 0),
			}
			now := time.Now()
			r := &Requeuer{Ledger: e.ledger, Client: e.client, Now: func() time.Time { return now }, Window: 10 * time.Second, Results: NewRequeueMetric()}
			e.ledger.TakeFreed() // the nodes' own arrival
			handle := func() {
				for _, name := range tc.free {
					e.ledger.DeletePod(holders[name].UID)
				}
				for i := range tc.batches {
					e.ledger.MarkFreed("c")
					if ds := r.due(e.ledger.TakeFreed()); len(ds) != 0 {
						t.Fatalf("batch %d: asked about %v", i, ds)
					}
				}
				if ds := r.due(e.ledger.TakeFreed()); len(ds) != 0 {
					t.Fatalf("asked about %v before the refusal was recorded", ds)
				}
			}
			if tc.before {
				handle()
				e.holder(t, "a", "again", "40Gi", 0) // the freed card taken again
				e.ledger.TakeFreed()
			}
			e.decider.Filtered = func(pod *corev1.Pod, names []string, req gpushare.Request, fit bool, seq uint64) {
				if !tc.before {
					handle() // Run wins the race with the record
				}
				r.Filtered(pod, names, req, fit, seq)
			}
			w := gpuPod("w", "40Gi", 1)
			var res extenderv1.ExtenderFilterResult
			if code := e.call(t, "/gpu/filter", extenderv1.ExtenderArgs{Pod: w, NodeNames: names("a", "b")}, &res); code != 200 || len(*res.NodeNames) != 0 {
				t.Fatalf("filter: %d %v", code, res)
			}
			var got []string
			for _, d := range r.due(e.ledger.TakeFreed()) {
				got = append(got, d.node)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("asked about w on %v, want %v", got, tc.want)
			}
		})
	}
}

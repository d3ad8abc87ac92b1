package gpushare

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// running is a running pod of priority prio holding memMiB on each of the
// cards at indexes of node, as the informer shows it after its bind.
func running(t *testing.T, l *Ledger, node, name string, prio int32, memMiB int64, age time.Duration, indexes ...int) *corev1.Pod {
	t.Helper()
	a := Assignment{MemMiB: memMiB, AssumeTime: time.Now().Add(-age)}
	for _, i := range indexes {
		a.Indexes = append(a.Indexes, i)
		a.UUIDs = append(a.UUIDs, fmt.Sprintf("GPU-%s-%d", node, i))
	}
	a.Assigned = true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Annotations: a.Annotations(),
			CreationTimestamp: metav1.NewTime(time.Now().Add(-age))},
		Spec:   corev1.PodSpec{NodeName: node, Priority: &prio, Containers: asking(memMiB, len(indexes))},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if err := l.SetPod(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func victimNames(p Plan) []string {
	var out []string
	for _, v := range p.Victims {
		out = append(out, v.Pod.Name)
	}
	return out
}

func TestPlanPreemption(t *testing.T) {
	type pod struct {
		node, name string
		prio       int32
		mem        int64
		ageMin     int
		cards      []int
		terminate  bool
	}
	for _, tc := range []struct {
		name     string
		nodes    map[string][]int64
		pods     []pod
		req      Request
		prio     int32
		wantNode string // "" : no plan
		victims  []string
		awaited  int
	}{
		{name: "the lowest priority pod that frees enough goes",
			nodes: map[string][]int64{"a": {40000}},
			pods:  []pod{{"a", "low", 0, 20000, 5, []int{0}, false}, {"a", "mid", 5, 20000, 5, []int{0}, false}},
			req:   Request{MemMiB: 20000, Cards: 1}, prio: 10, wantNode: "a", victims: []string{"low"}},
		{name: "the more important pod is given back first, as kube-scheduler does",
			nodes: map[string][]int64{"a": {40000}},
			// Both gone fits; big (priority 1) back leaves 10000: a victim;
			// small (priority 0) back leaves 30000: given back.
			pods: []pod{{"a", "small", 0, 10000, 5, []int{0}, false}, {"a", "big", 1, 30000, 5, []int{0}, false}},
			req:  Request{MemMiB: 20000, Cards: 1}, prio: 10, wantNode: "a", victims: []string{"big"}},
		{name: "equal or higher priority is never a victim",
			nodes: map[string][]int64{"a": {40000}},
			pods:  []pod{{"a", "same", 10, 40000, 5, []int{0}, false}},
			req:   Request{MemMiB: 20000, Cards: 1}, prio: 10},
		{name: "not enough even with every lower-priority pod gone",
			nodes: map[string][]int64{"a": {40000}},
			pods:  []pod{{"a", "low", 0, 20000, 5, []int{0}, false}, {"a", "high", 20, 20000, 5, []int{0}, false}},
			req:   Request{MemMiB: 30000, Cards: 1}, prio: 10},
		{name: "a terminating pod is awaited, not evicted",
			nodes: map[string][]int64{"a": {40000}},
			pods:  []pod{{"a", "going", 50, 20000, 5, []int{0}, true}, {"a", "low", 0, 20000, 5, []int{0}, false}},
			req:   Request{MemMiB: 40000, Cards: 1}, prio: 10, wantNode: "a", victims: []string{"low"}, awaited: 1},
		{name: "room once a terminating pod is gone is no preemption",
			nodes: map[string][]int64{"a": {40000}},
			pods:  []pod{{"a", "going", 50, 20000, 5, []int{0}, true}, {"a", "low", 0, 20000, 5, []int{0}, false}},
			req:   Request{MemMiB: 20000, Cards: 1}, prio: 10},
		{name: "the node whose victims matter least",
			nodes: map[string][]int64{"a": {40000}, "b": {40000}},
			pods:  []pod{{"a", "a-prio3", 3, 40000, 5, []int{0}, false}, {"b", "b-prio1", 1, 40000, 5, []int{0}, false}},
			req:   Request{MemMiB: 40000, Cards: 1}, prio: 10, wantNode: "b", victims: []string{"b-prio1"}},
		{name: "fewer victims at the same priorities",
			nodes: map[string][]int64{"a": {40000}, "b": {40000}},
			pods: []pod{{"a", "a1", 0, 20000, 5, []int{0}, false}, {"a", "a2", 0, 20000, 5, []int{0}, false},
				{"b", "b1", 0, 40000, 5, []int{0}, false}},
			req: Request{MemMiB: 40000, Cards: 1}, prio: 10, wantNode: "b", victims: []string{"b1"}},
		{name: "the newer of equal pods goes",
			nodes: map[string][]int64{"a": {40000}},
			pods:  []pod{{"a", "old", 0, 20000, 50, []int{0}, false}, {"a", "new", 0, 20000, 5, []int{0}, false}},
			req:   Request{MemMiB: 20000, Cards: 1}, prio: 10, wantNode: "a", victims: []string{"new"}},
		{name: "a two-card pod frees both of its cards",
			nodes: map[string][]int64{"a": {40000, 40000}},
			pods:  []pod{{"a", "wide", 0, 40000, 5, []int{0, 1}, false}},
			req:   Request{MemMiB: 30000, Cards: 2}, prio: 1, wantNode: "a", victims: []string{"wide"}},
		{name: "the card model the preemptor needs",
			nodes: map[string][]int64{"a": {40000}},
			pods:  []pod{{"a", "low", 0, 40000, 5, []int{0}, false}},
			req:   Request{MemMiB: 20000, Cards: 1, Models: "h100"}, prio: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			var names []string
			for name, mib := range tc.nodes {
				l.SetNode(gpuNode(t, name, mib...))
				names = append(names, name)
			}
			slices.Sort(names)
			for _, p := range tc.pods {
				pod := running(t, l, p.node, p.name, p.prio, p.mem, time.Duration(p.ageMin)*time.Minute, p.cards...)
				if p.terminate {
					pod.DeletionTimestamp = &metav1.Time{Time: time.Now()}
					if err := l.SetPod(pod); err != nil {
						t.Fatal(err)
					}
				}
			}
			plan, ok := l.PlanPreemption(names, tc.req, tc.prio, nil)
			if !ok {
				if tc.wantNode != "" {
					t.Fatalf("no plan; want one on %s", tc.wantNode)
				}
				return
			}
			if tc.wantNode == "" {
				t.Fatalf("plan %s; want none", plan)
			}
			if plan.Node != tc.wantNode || !slices.Equal(victimNames(plan), tc.victims) || len(plan.Awaited) != tc.awaited {
				t.Fatalf("plan %s (%d awaited); want node %s, victims %v, %d awaited", plan, len(plan.Awaited), tc.wantNode, tc.victims, tc.awaited)
			}
		})
	}
}

// TestExtendVictims: kube-scheduler's own preemption chose victims on a node
// for what its plugins see; the preempt verb keeps the node when the GPU pod
// then fits, adds lower-priority GPU pods when they make room, and drops the
// node where nothing does (no eviction for nothing).
func TestExtendVictims(t *testing.T) {
	type pod struct {
		name      string
		prio      int32
		mem       int64
		cards     []int
		terminate bool
	}
	for _, tc := range []struct {
		name    string
		cards   []int64
		pods    []pod
		forced  []string // kube-scheduler's victims (pods with no GPU memory are unknown to the ledger)
		req     Request
		addMore bool
		guarded string
		ok      bool
		extra   []string
	}{
		{name: "the cards are free: kube-scheduler's victims are enough",
			cards: []int64{40000}, forced: []string{"cpu-hog"},
			req: Request{MemMiB: 40000, Cards: 1}, addMore: true, ok: true},
		{name: "kube-scheduler's victim also holds the card",
			cards: []int64{40000}, pods: []pod{{"low", 0, 40000, []int{0}, false}}, forced: []string{"low"},
			req: Request{MemMiB: 40000, Cards: 1}, addMore: true, ok: true},
		{name: "a lower-priority GPU pod must go too",
			cards: []int64{40000}, pods: []pod{{"gpu-low", 0, 40000, []int{0}, false}}, forced: []string{"cpu-hog"},
			req: Request{MemMiB: 40000, Cards: 1}, addMore: true, ok: true, extra: []string{"gpu-low"}},
		{name: "only the GPU pods needed are added, the more important given back",
			cards: []int64{40000},
			pods:  []pod{{"small", 0, 10000, []int{0}, false}, {"big", 1, 30000, []int{0}, false}},
			req:   Request{MemMiB: 20000, Cards: 1}, addMore: true, ok: true, extra: []string{"big"}},
		{name: "with the extender's preemption off nothing is added: the node is dropped",
			cards: []int64{40000}, pods: []pod{{"gpu-low", 0, 40000, []int{0}, false}}, forced: []string{"cpu-hog"},
			req: Request{MemMiB: 40000, Cards: 1}, ok: false},
		{name: "cards too small for the pod: dropped",
			cards: []int64{15360, 15360}, forced: []string{"cpu-hog"},
			req: Request{MemMiB: 40000, Cards: 1}, addMore: true, ok: false},
		{name: "the card is held by a pod of higher priority: dropped",
			cards: []int64{40000}, pods: []pod{{"high", 50, 40000, []int{0}, false}}, forced: []string{"cpu-hog"},
			req: Request{MemMiB: 40000, Cards: 1}, addMore: true, ok: false},
		{name: "a pod a budget guards is never added: dropped",
			cards: []int64{40000}, pods: []pod{{"gpu-low", 0, 40000, []int{0}, false}}, forced: []string{"cpu-hog"},
			req: Request{MemMiB: 40000, Cards: 1}, addMore: true, guarded: "gpu-low", ok: false},
		{name: "a terminating pod's memory counts as free",
			cards: []int64{40000}, pods: []pod{{"going", 50, 40000, []int{0}, true}}, forced: []string{"cpu-hog"},
			req: Request{MemMiB: 40000, Cards: 1}, addMore: true, ok: true},
		{name: "a victim kube-scheduler chose is not added twice",
			cards: []int64{40000, 40000},
			pods:  []pod{{"a", 0, 40000, []int{0}, false}, {"b", 0, 40000, []int{1}, false}}, forced: []string{"a"},
			req: Request{MemMiB: 40000, Cards: 2}, addMore: true, ok: true, extra: []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			l.SetNode(gpuNode(t, "n", tc.cards...))
			for _, p := range tc.pods {
				pod := running(t, l, "n", p.name, p.prio, p.mem, time.Minute, p.cards...)
				if p.terminate {
					pod.DeletionTimestamp = &metav1.Time{Time: time.Now()}
					if err := l.SetPod(pod); err != nil {
						t.Fatal(err)
					}
				}
			}
			var forced []types.UID
			for _, name := range tc.forced {
				forced = append(forced, types.UID(name))
			}
			guarded := func(p types.NamespacedName) bool { return p.Name == tc.guarded }
			plan, ok := l.ExtendVictims("n", tc.req, 10, forced, guarded, tc.addMore)
			if ok != tc.ok || !slices.Equal(victimNames(plan), tc.extra) {
				t.Fatalf("got %v, extra %v; want %v, %v", ok, victimNames(plan), tc.ok, tc.extra)
			}
			if want := tc.ok && slices.ContainsFunc(tc.pods, func(p pod) bool { return p.terminate }); (len(plan.Awaited) > 0) != want {
				t.Fatalf("awaited %v; want the terminating pods awaited: %v", plan.Awaited, want)
			}
		})
	}
	if _, ok := NewLedger().ExtendVictims("unknown", Request{MemMiB: 1, Cards: 1}, 10, nil, nil, true); ok {
		t.Error("a node the ledger does not know is a candidate")
	}
}

// TestNominationKeepsFreedMemory: while a preemptor waits for its victims,
// the memory each one frees is kept for it (another pod's filter sees it
// taken); when the last is gone its cards are chosen under the same lock, it
// fits there alone, and Reserve on that node returns them.
func TestNominationKeepsFreedMemory(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 40000, 40000))
	running(t, l, "a", "v1", 0, 40000, time.Minute, 0)
	running(t, l, "a", "v2", 0, 40000, time.Minute, 1)
	req := Request{MemMiB: 40000, Cards: 2}
	plan, ok := l.PlanPreemption([]string{"a"}, req, 100, nil)
	if !ok || !slices.Equal(victimNames(plan), []string{"v1", "v2"}) {
		t.Fatalf("plan %s, %v", plan, ok)
	}
	pre := types.NamespacedName{Namespace: "ns", Name: "pre"}
	if !l.Nominate("pre", pre, plan, req, Binpack, time.Now()) || l.Nominate("pre", pre, plan, req, Binpack, time.Now()) {
		t.Fatal("a pod is nominated once")
	}
	if !l.Nominated("pre") {
		t.Fatal("not nominated")
	}
	l.DeletePod("v1")
	// v1's card is kept: a lower-priority pod still fits nowhere.
	if fit, _ := l.Filter([]string{"a"}, Request{MemMiB: 1000, Cards: 1}); len(fit) != 0 {
		t.Fatalf("a pod fits on %v the memory kept for the preemptor", fit)
	}
	if got := used(t, l, "a"); !slices.Equal(got, []int64{40000, 40000}) {
		t.Fatalf("used %v while one victim is gone", got)
	}
	if _, held := l.HeldOn("pre"); held {
		t.Fatal("the preemptor holds cards before its victims are all gone")
	}
	l.DeletePod("v2")
	node, held := l.HeldOn("pre")
	if !held || node != "a" || l.Nominated("pre") {
		t.Fatalf("after the victims: held on %q %v, nominated %v", node, held, l.Nominated("pre"))
	}
	if got := used(t, l, "a"); !slices.Equal(got, []int64{40000, 40000}) {
		t.Fatalf("used %v: the preemptor's cards", got)
	}
	a, err := l.Reserve("a", pre, "pre", req, Binpack, time.Now())
	if err != nil || len(a.UUIDs) != 2 {
		t.Fatalf("Reserve for the preemptor: %v, %v", a, err)
	}
	if got := used(t, l, "a"); !slices.Equal(got, []int64{40000, 40000}) {
		t.Fatalf("used %v after the preemptor's Reserve: counted twice", got)
	}
}

// TestPlanLeavesOthersNominations: what one preemptor waits for is not
// another's to plan with, whatever their priorities.
func TestPlanLeavesOthersNominations(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 40000, 40000))
	v1 := running(t, l, "a", "v1", 0, 40000, time.Minute, 0)
	running(t, l, "a", "v2", 0, 40000, 2*time.Minute, 1)
	req := Request{MemMiB: 40000, Cards: 1}
	plan, ok := l.PlanPreemption([]string{"a"}, req, 100, nil)
	if !ok || len(plan.Victims) != 1 || plan.Victims[0].Pod.Name != "v1" {
		t.Fatalf("plan %s, %v", plan, ok)
	}
	// Two preemptors planned at once: the second to nominate loses.
	if !l.Nominate("first", types.NamespacedName{Namespace: "ns", Name: "first"}, plan, req, BestFit, time.Now()) ||
		l.Nominate("racer", types.NamespacedName{Namespace: "ns", Name: "racer"}, plan, req, BestFit, time.Now()) {
		t.Fatal("two nominations wait for the same victim")
	}
	other, ok := l.PlanPreemption([]string{"a"}, req, 100, nil)
	if !ok || len(other.Victims) != 1 || other.Victims[0].UID == plan.Victims[0].UID {
		t.Fatalf("second plan %s, %v: want the other pod, not %s", other, ok, plan.Victims[0].Pod)
	}
	// The first victim terminates: still the first preemptor's, not a
	// pod another may await.
	v1.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	if err := l.SetPod(v1); err != nil {
		t.Fatal(err)
	}
	if p, ok := l.PlanPreemption([]string{"a"}, Request{MemMiB: 40000, Cards: 2}, 100, nil); ok {
		t.Fatalf("a pod on two cards plans with the terminating victim of another: %s", p)
	}
}

// TestNominationEnds: a cancelled, expired or deleted preemptor's kept
// memory is free again, and a nomination with nothing to wait for settles
// at once.
func TestNominationEnds(t *testing.T) {
	setup := func(t *testing.T) (*Ledger, Plan) {
		l := NewLedger()
		l.SetNode(gpuNode(t, "a", 40000, 40000))
		l.SetNode(gpuNode(t, "b", 80000, 80000))
		running(t, l, "a", "v1", 0, 40000, time.Minute, 0)
		running(t, l, "a", "v2", 0, 40000, time.Minute, 1)
		plan, ok := l.PlanPreemption([]string{"a"}, Request{MemMiB: 40000, Cards: 2}, 100, nil)
		if !ok {
			t.Fatal("no plan")
		}
		l.Nominate("pre", types.NamespacedName{Namespace: "ns", Name: "pre"}, plan, Request{MemMiB: 40000, Cards: 2}, BestFit, time.Now())
		l.DeletePod("v1")
		return l, plan
	}
	for name, end := range map[string]func(l *Ledger){
		"cancelled": func(l *Ledger) { l.CancelNomination("pre") },
		"expired": func(l *Ledger) {
			if got := l.ExpireNominations(time.Now().Add(time.Hour), time.Minute); len(got) != 1 || got[0].Name != "pre" {
				t.Errorf("expired %v", got)
			}
		},
		"the preemptor deleted": func(l *Ledger) { l.DeletePod("pre") },
		"the preemptor placed elsewhere": func(l *Ledger) {
			if _, err := l.Reserve("b", types.NamespacedName{Namespace: "ns", Name: "pre"}, "pre", Request{MemMiB: 40000, Cards: 2}, BestFit, time.Now()); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			l, _ := setup(t)
			end(l)
			if l.Nominated("pre") {
				t.Fatal("still nominated")
			}
			if got := used(t, l, "a"); !slices.Equal(got, []int64{0, 40000}) {
				t.Fatalf("used %v: the kept card is not free", got)
			}
			l.DeletePod("v2") // no nomination left to settle
			if node, held := l.HeldOn("pre"); held && node == "a" {
				t.Fatal("the preemptor got cards on a after its nomination ended")
			}
		})
	}
	t.Run("nothing to wait for", func(t *testing.T) {
		l := NewLedger()
		l.SetNode(gpuNode(t, "a", 40000))
		plan := Plan{Node: "a"}
		l.Nominate("pre", types.NamespacedName{Namespace: "ns", Name: "pre"}, plan, Request{MemMiB: 1000, Cards: 1}, Spread, time.Now())
		if node, held := l.HeldOn("pre"); !held || node != "a" {
			t.Fatalf("held on %q %v", node, held)
		}
	})
}

// TestGuarded: a pod a budget guards is no victim; another node's pods
// are, and a node whose only way is a guarded pod is no candidate.
func TestGuarded(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 40000))
	l.SetNode(gpuNode(t, "b", 40000))
	running(t, l, "a", "guarded", 0, 40000, time.Minute, 0)
	running(t, l, "b", "other", 5, 40000, time.Minute, 0)
	req := Request{MemMiB: 40000, Cards: 1}
	if p, _ := l.PlanPreemption([]string{"a", "b"}, req, 10, nil); p.Node != "a" {
		t.Fatalf("plan %s; want a (its victim's priority is lower)", p)
	}
	var asked []string
	guard := func(p types.NamespacedName) bool {
		asked = append(asked, p.Name)
		return p.Name == "guarded"
	}
	if p, _ := l.PlanPreemption([]string{"a", "b"}, req, 10, guard); p.Node != "b" || !slices.Equal(victimNames(p), []string{"other"}) {
		t.Fatalf("plan %s with guarded's budget; want b", p)
	}
	if _, ok := l.PlanPreemption([]string{"a"}, req, 10, guard); ok {
		t.Fatal("a plan on a with its only pod guarded")
	}
	// Budgets are read only where evicting could help at all.
	asked = nil
	if _, ok := l.PlanPreemption([]string{"a", "b"}, Request{MemMiB: 50000, Cards: 1}, 10, guard); ok || len(asked) != 0 {
		t.Fatalf("asked about %v for a request no node can hold", asked)
	}
}

// TestFitsElsewhere: room on a node kube-scheduler did not ask about.
func TestFitsElsewhere(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 40000))
	l.SetNode(gpuNode(t, "b", 40000))
	running(t, l, "a", "full", 0, 40000, time.Minute, 0)
	req := Request{MemMiB: 20000, Cards: 1}
	if !l.FitsElsewhere([]string{"a"}, req) {
		t.Fatal("b has room")
	}
	if l.FitsElsewhere([]string{"a", "b"}, req) {
		t.Fatal("no node beyond a and b")
	}
	running(t, l, "b", "full-b", 0, 30000, time.Minute, 0)
	if l.FitsElsewhere([]string{"a"}, req) {
		t.Fatal("b has 10000 MiB left, not 20000")
	}
}

// BenchmarkPlanPreemption: one plan over 1,000 full nodes of 8 cards, two
// pods a card: what a high-priority pod that fits nowhere costs the filter
// call that finds it fits nowhere (once per pod: a nominated pod plans no
// more), against Filter over the same nodes.
func BenchmarkPlanPreemption(b *testing.B) {
	l := NewLedger()
	var names []string
	for i := range 1000 {
		name := fmt.Sprint("n", i)
		names = append(names, name)
		l.SetNode(gpuNode(b, name, 81920, 81920, 81920, 81920, 81920, 81920, 81920, 81920))
		for c := range 8 {
			for k := range 2 {
				pod := fmt.Sprintf("%s-%d-%d", name, c, k)
				a := Assignment{MemMiB: 40960, AssumeTime: time.Now(), Assigned: true, Indexes: []int{c}, UUIDs: []string{fmt.Sprintf("GPU-%s-%d", name, c)}}
				prio := int32(i % 7)
				if err := l.SetPod(&corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "ns", UID: types.UID(pod), Annotations: a.Annotations()},
					Spec:       corev1.PodSpec{NodeName: name, Priority: &prio, Containers: asking(40960, 1)},
					Status:     corev1.PodStatus{Phase: corev1.PodRunning},
				}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	req := Request{MemMiB: 81920, Cards: 2}
	b.Run("filter", func(b *testing.B) {
		for b.Loop() {
			l.Filter(names, req)
		}
	})
	b.Run("plan", func(b *testing.B) {
		for b.Loop() {
			if _, ok := l.PlanPreemption(names, req, 5, nil); !ok {
				b.Fatal("no plan")
			}
		}
	})
	// The preempt verb's answer to kube-scheduler's own preemption: 100
	// candidates (its minimum when the cluster has that many), each with a
	// victim of its own the ledger does not know (a pod without GPU memory).
	b.Run("extend-100-candidates", func(b *testing.B) {
		victims := []types.UID{"cpu-pod"}
		for b.Loop() {
			for _, name := range names[:100] {
				if _, ok := l.ExtendVictims(name, req, 100, victims, nil, true); !ok {
					b.Fatal("no room")
				}
			}
		}
	})
	// A pod that outranks nobody (priority 0, the default): what every
	// GPU pod that fits nowhere pays.
	b.Run("outranks-nobody", func(b *testing.B) {
		for b.Loop() {
			if _, ok := l.PlanPreemption(names, req, 0, nil); ok {
				b.Fatal("a plan")
			}
		}
	})
}

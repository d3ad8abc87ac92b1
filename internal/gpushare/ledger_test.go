package gpushare

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

func gpuNode(t testing.TB, name string, mib ...int64) *corev1.Node {
	t.Helper()
	inv := &contract.NodeGPUInventory{Version: contract.InventoryVersion}
	for i, m := range mib {
		inv.Cards = append(inv.Cards, contract.GPU{Index: i, UUID: fmt.Sprintf("GPU-%s-%d", name, i), Model: "T", MemoryMiB: m, Healthy: true})
	}
	v, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{contract.AnnotationNodeGPUInventory: v}}}
}

func used(t *testing.T, l *Ledger, node string) []int64 {
	t.Helper()
	cs, err := l.Cards(node)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, len(cs))
	for i := range cs {
		out[i] = cs[i].UsedMiB
	}
	return out
}

// TestReserveConcurrentNeverOverfills binds 400 pods at once onto 2 nodes of
// 4 cards; each card holds 7 pods of 2000 MiB, so 56 must succeed and no
// card may ever exceed its size.
func TestReserveConcurrentNeverOverfills(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 15000, 15000, 15000, 15000))
	l.SetNode(gpuNode(t, "b", 15000, 15000, 15000, 15000))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := []string{"a", "b"}[i%2]
			uid := types.UID(fmt.Sprint("pod-", i))
			if _, err := l.Reserve(node, types.NamespacedName{Namespace: "ns", Name: string(uid)}, uid, Request{MemMiB: 2000, Cards: 1}, Binpack, time.Now()); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 56 {
		t.Fatalf("%d reservations succeeded, want 56", ok)
	}
	for _, n := range []string{"a", "b"} {
		for i, u := range used(t, l, n) {
			if u != 14000 {
				t.Errorf("node %s card %d uses %d MiB, want 14000", n, i, u)
			}
		}
	}
}

func TestRebuildFromAnnotations(t *testing.T) {
	// The extender that made these reservations restarts: a new ledger fed the
	// same nodes and pods (in any order) must hold exactly the same memory.
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 16000, 16000))
	var pods []*corev1.Pod
	for i := range 5 {
		uid := types.UID(fmt.Sprint("p", i))
		a, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: string(uid)}, uid, Request{MemMiB: 3000, Cards: 1}, Binpack, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: string(uid), Namespace: "ns", UID: uid, Annotations: a.Annotations()},
			Spec:       corev1.PodSpec{NodeName: "a", Containers: asking(3000, 1)},
		})
	}
	before := used(t, l, "a")

	fresh := NewLedger()
	for _, p := range pods { // pods before their node
		if err := fresh.SetPod(p); err != nil {
			t.Fatal(err)
		}
	}
	fresh.SetNode(gpuNode(t, "a", 16000, 16000))
	after := used(t, fresh, "a")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("rebuilt use %v, want %v", after, before)
	}
	// Seeing a pod twice does not count it twice; a finished pod frees memory.
	_ = fresh.SetPod(pods[0])
	done := pods[1].DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	_ = fresh.SetPod(done)
	if got := used(t, fresh, "a"); got[0]+got[1] != before[0]+before[1]-3000 {
		t.Fatalf("after a pod finished: %v (was %v)", got, before)
	}
}

func TestUnboundReservationExpires(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 16000))
	t0 := time.Unix(1000, 0)
	if _, err := l.Reserve("a", types.NamespacedName{Name: "x"}, "x", Request{MemMiB: 8000, Cards: 1}, Binpack, t0); err != nil {
		t.Fatal(err)
	}
	bound := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "y", UID: "y", Annotations: (&Assignment{
		Indexes: []int{0}, UUIDs: []string{"GPU-a-0"}, MemMiB: 4000, AssumeTime: t0}).Annotations()}, Spec: corev1.PodSpec{NodeName: "a", Containers: asking(4000, 1)}}
	if err := l.SetPod(bound); err != nil {
		t.Fatal(err)
	}
	if gone := l.Expire(t0.Add(time.Minute), 2*time.Minute); len(gone) != 0 {
		t.Fatalf("expired too early: %v", gone)
	}
	gone := l.Expire(t0.Add(3*time.Minute), 2*time.Minute)
	if len(gone) != 1 || gone[0].Name != "x" {
		t.Fatalf("expired %v, want only the unbound x", gone)
	}
	if u := used(t, l, "a"); u[0] != 4000 {
		t.Fatalf("used %v, want the bound pod's 4000", u)
	}
}

func TestReserveErrors(t *testing.T) {
	l := NewLedger()
	l.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cpu"}})
	bad := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bad", Annotations: map[string]string{contract.AnnotationNodeGPUInventory: "{"}}}
	l.SetNode(bad)
	for node, want := range map[string]string{
		"cpu":     "has no zz.io/gpu-inventory",
		"bad":     "decode zz.io/gpu-inventory",
		"missing": "node missing is not in the extender's cache",
	} {
		_, err := l.Reserve(node, types.NamespacedName{Name: "p"}, "p", Request{MemMiB: 1, Cards: 1}, Binpack, time.Now())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("node %s: err = %v, want %q", node, err, want)
		}
	}
	// A retried bind gets the same cards, not a second set.
	l.SetNode(gpuNode(t, "g", 16000, 16000))
	a1, _ := l.Reserve("g", types.NamespacedName{Name: "p"}, "p", Request{MemMiB: 1000, Cards: 1}, Spread, time.Now())
	a2, _ := l.Reserve("g", types.NamespacedName{Name: "p"}, "p", Request{MemMiB: 1000, Cards: 1}, Spread, time.Now())
	if a1.Indexes[0] != a2.Indexes[0] || used(t, l, "g")[0]+used(t, l, "g")[1] != 1000 {
		t.Fatalf("retried reserve double-counted: %v %v %v", a1, a2, used(t, l, "g"))
	}
	if v := l.View(); len(v) != 2 || v[0].Name != "bad" || v[0].Error == "" || len(v[1].Cards[a1.Indexes[0]].Pods) != 1 {
		t.Fatalf("view: %+v", v)
	}
}

func TestExpireUnstarted(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 16000, 16000))
	t0 := time.Unix(1000, 0)
	mk := func(name string, phase corev1.PodPhase, assigned bool) *corev1.Pod {
		a := &Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-a-0"}, MemMiB: 1000, AssumeTime: t0, Assigned: assigned}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Annotations: a.Annotations()},
			Spec: corev1.PodSpec{NodeName: "a", Containers: asking(1000, 1)}, Status: corev1.PodStatus{Phase: phase}}
	}
	stuck, running, served := mk("stuck", corev1.PodPending, false), mk("running", corev1.PodRunning, false), mk("served", corev1.PodPending, true)
	for _, p := range []*corev1.Pod{stuck, running, served} {
		if err := l.SetPod(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.ExpireUnstarted(t0.Add(time.Minute), 10*time.Minute); len(got) != 0 {
		t.Fatalf("released too early: %v", got)
	}
	got := l.ExpireUnstarted(t0.Add(11*time.Minute), 10*time.Minute)
	if len(got) != 1 || got[0].Pod.Name != "stuck" {
		t.Fatalf("released %v, want only the stuck pod", got)
	}
	if u := used(t, l, "a"); u[0] != 2000 {
		t.Fatalf("card 0 uses %d, want the 2000 of the running and served pods", u[0])
	}
	// Until its annotations are cleared, the informer still shows the old
	// assignment: it must not come back.
	if err := l.SetPod(stuck); err != nil || used(t, l, "a")[0] != 2000 {
		t.Fatalf("released assignment counted again: %v %v", err, used(t, l, "a"))
	}
	l.DeletePod(stuck.UID)
	if len(l.released) != 0 {
		t.Fatal("a deleted pod stays in the released set")
	}
}

// asking is a container asking for memMiB on each of cards cards.
func asking(memMiB int64, cards int) []corev1.Container {
	return []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
		contract.ResourceGPUMem: *resource.NewQuantity(memMiB*MiB, resource.BinarySI),
		contract.ResourceGPU:    *resource.NewQuantity(int64(cards), resource.DecimalSI),
	}}}}
}

// TestLedgerCountsSlots: the device plugin advertises 2 slots per card
// (capacity zz.io/gpu=2 on a 1-card node): a third pod on the card is
// refused though memory is left, or the kubelet's Allocate would fail it
// (a mutation audit: the per-card pod count could be always 0).
func TestLedgerCountsSlots(t *testing.T) {
	l := NewLedger()
	n := gpuNode(t, "a", 16000)
	n.Status.Capacity = corev1.ResourceList{contract.ResourceGPU: resource.MustParse("2")}
	l.SetNode(n)
	ok := 0
	for i := range 3 {
		uid := types.UID(fmt.Sprint("p", i))
		if _, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: string(uid)}, uid, Request{MemMiB: 1000, Cards: 1}, BestFit, time.Now()); err == nil {
			ok++
		}
	}
	if ok != 2 {
		t.Fatalf("%d reservations on a card of 2 slots, want 2", ok)
	}
}

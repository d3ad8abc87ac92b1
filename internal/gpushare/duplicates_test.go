package gpushare

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

// nodeWithUUIDs is a node whose cards of mib MiB carry uuids.
func nodeWithUUIDs(t testing.TB, name string, mib int64, uuids ...string) *corev1.Node {
	t.Helper()
	inv := &contract.NodeGPUInventory{Version: contract.InventoryVersion}
	for i, u := range uuids {
		inv.Cards = append(inv.Cards, contract.GPU{Index: i, UUID: u, Model: "A100", MemoryMiB: mib, Healthy: true})
	}
	v, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{contract.AnnotationNodeGPUInventory: v}}}
}

// The real node a lists card GPU-a-7; the forger b lists it too (in any
// case). In either order of arrival the card takes no new pod on either
// node, each says which other node lists it, the nodes' other cards are
// untouched, and the card is back on a once b stops listing it or is gone.
func TestDuplicateUUIDAcrossNodes(t *testing.T) {
	real := nodeWithUUIDs(t, "a", 40960, "GPU-a-6", "GPU-a-7")
	forged := nodeWithUUIDs(t, "b", 40960, "GPU-b-0", "gpu-A-7")
	pinned := Request{MemMiB: 30720, Cards: 1, UUIDs: "GPU-a-7"}
	for _, tc := range []struct {
		name  string
		order []*corev1.Node
	}{
		{"real first", []*corev1.Node{real, forged}},
		{"forger first", []*corev1.Node{forged, real}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			for _, n := range tc.order {
				l.SetNode(n)
			}
			fit, failed := l.Filter([]string{"a", "b"}, pinned)
			if len(fit) != 0 {
				t.Fatalf("a pod pinned to the duplicated card fits on %v", fit)
			}
			for node, other := range map[string]string{"a": "node b", "b": "node a"} {
				if !strings.Contains(failed[node], DuplicateReason+other) {
					t.Errorf("node %s's reason %q does not name %s", node, failed[node], other)
				}
			}
			if fit, _ := l.Filter([]string{"a", "b"}, Request{MemMiB: 30720, Cards: 1}); len(fit) != 2 {
				t.Errorf("the nodes' other cards take no pod: fit %v", fit)
			}
			if d := l.Duplicates(); len(d) != 1 || !strings.Contains(d[0], "on nodes a, b") {
				t.Errorf("Duplicates() = %v", d)
			}
			if _, err := l.Reserve("b", types.NamespacedName{Namespace: "ns", Name: "p"}, "p", pinned, Binpack, time.Now()); err == nil {
				t.Fatal("the forger's copy of the card was reserved")
			}

			l.SetNode(nodeWithUUIDs(t, "b", 40960, "GPU-b-0"))
			if fit, _ := l.Filter([]string{"a", "b"}, pinned); len(fit) != 1 || fit[0] != "a" {
				t.Fatalf("after the forger stopped listing it, the pinned pod fits on %v, want [a]", fit)
			}
			if d := l.Duplicates(); len(d) != 0 {
				t.Errorf("Duplicates() = %v after the forgery ended", d)
			}
			l.SetNode(forged)
			l.DeleteNode("b")
			if fit, _ := l.Filter([]string{"a"}, pinned); len(fit) != 1 {
				t.Fatal("the card stayed out of service after the forger's node was deleted")
			}
		})
	}
}

// An extender restarts (or a standby replica rebuilds) while a pod chosen on
// a's card is not bound yet, and node b lists that card too. Fed in any
// order, the rebuilt ledger charges the pod to a when the choice names its
// node, and to no node (an error, not a guess) when an older extender's
// choice does not: the card is never given again on a (audit 14: 22 of 200
// rebuilds charged it to the forger and gave the real card twice).
func TestRebuildUnboundWithDuplicateUUID(t *testing.T) {
	real := nodeWithUUIDs(t, "a", 40960, "GPU-a-7")
	forged := nodeWithUUIDs(t, "b", 40960, "GPU-b-0", "GPU-a-7")
	chosen := &Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-a-7"}, MemMiB: 40960, AssumeTime: time.Now(), NodeName: "a"}
	old := *chosen
	old.NodeName = ""
	r := rand.New(rand.NewPCG(14, 14))
	for _, tc := range []struct {
		name    string
		a       *Assignment
		wantErr error
	}{
		{"choice names its node", chosen, nil},
		{"an older extender's choice", &old, ErrAmbiguousCard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 200 {
				pod := podWith("inflight", "", asking(40960, 1), tc.a)
				l := NewLedger()
				// Nodes in either order; a choice naming its node may
				// come before them, an older one after (before them it
				// is charged where the one node seen lists its card).
				feed := []func() error{
					func() error { l.SetNode(real); return nil },
					func() error { l.SetNode(forged); return nil },
				}
				var podErr error
				if tc.a.NodeName != "" {
					feed = append(feed, func() error { return l.SetPod(pod) })
				}
				for _, j := range r.Perm(len(feed)) {
					if err := feed[j](); err != nil {
						podErr = err
					}
				}
				if tc.a.NodeName == "" {
					podErr = l.SetPod(pod)
				}
				switch {
				case tc.wantErr == nil && podErr != nil && !errors.Is(podErr, ErrCardMissing):
					t.Fatalf("rebuild %d: %v", i, podErr)
				case tc.wantErr != nil && !errors.Is(podErr, tc.wantErr):
					t.Fatalf("rebuild %d: SetPod = %v, want %v", i, podErr, tc.wantErr)
				}
				if cs, _ := l.Cards("b"); cs[1].UsedMiB != 0 {
					t.Fatalf("rebuild %d: the pod was charged to the forger: %+v", i, cs[1])
				}
				if cs, _ := l.Cards("a"); tc.wantErr == nil && cs[0].UsedMiB != 40960 {
					t.Fatalf("rebuild %d: the pod is not charged to a: %+v", i, cs[0])
				}
				if _, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: "next"}, "next", Request{MemMiB: 40960, Cards: 1}, Binpack, time.Now()); err == nil {
					t.Fatalf("rebuild %d: a's card was given again", i)
				}
			}
		})
	}
}

// A choice naming another node than the one the pod is bound to is not
// the extender's: refused, counted nowhere.
func TestAssignmentNodeMustBeThePodsNode(t *testing.T) {
	a := &Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-a-0"}, MemMiB: 1000, AssumeTime: time.Now(), NodeName: "a"}
	if err := CheckAssignment(podWith("p", "b", asking(1000, 1), a), a); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("chosen on a, bound to b: %v", err)
	}
	if err := CheckAssignment(podWith("p", "a", asking(1000, 1), a), a); err != nil {
		t.Fatalf("chosen on a, bound to a: %v", err)
	}
	got, err := PodAssignment(podWith("p", "a", asking(1000, 1), a))
	if err != nil || got.NodeName != "a" {
		t.Fatalf("PodAssignment = %+v, %v", got, err)
	}
}

// Root on node b lists card GPU-a-7 of node a, whose UUID it read in a pod's
// zz.io/gpu-uuids (its device plugin's token lists every pod). Node a serves
// that pod on the card (zz.io/gpu-assigned=true, which only a's device plugin
// may write, for pods bound to a): evidence b cannot forge, since no pod is
// ever given a card on b that another node lists. So a keeps the card and
// only b's copy is out of service, in any order of arrival (a node-root
// audit froze every busy card of the cluster from one node). Without the
// evidence (the pod gone, or served on both) both copies are out.
func TestDuplicateUUIDServedStaysWithItsNode(t *testing.T) {
	served := func(name, node string, a *Assignment) *corev1.Pod {
		b := *a
		b.Assigned = true
		return podWith(name, node, asking(b.MemMiB, 1), &b)
	}
	choice := &Assignment{Indexes: []int{1}, UUIDs: []string{"GPU-a-7"}, MemMiB: 8192, AssumeTime: time.Now(), NodeName: "a"}
	real := nodeWithUUIDs(t, "a", 40960, "GPU-a-6", "GPU-a-7")
	forged := nodeWithUUIDs(t, "b", 40960, "GPU-b-0", "gpu-A-7")
	pinned := Request{MemMiB: 30720, Cards: 1, UUIDs: "GPU-a-7"}
	orders := map[string][]int{"nodes, then the pod": {0, 1, 2}, "the pod first": {2, 0, 1}, "forger last": {0, 2, 1}}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			l := NewLedger()
			feed := []func(){func() { l.SetNode(real) }, func() { l.SetNode(forged) }, func() {
				if err := l.SetPod(served("served", "a", choice)); err != nil {
					t.Fatal(err)
				}
			}}
			for _, i := range order {
				feed[i]()
			}
			fit, failed := l.Filter([]string{"a", "b"}, pinned)
			if len(fit) != 1 || fit[0] != "a" {
				t.Fatalf("a pod pinned to the card a serves fits on %v (%v), want [a]", fit, failed)
			}
			if !strings.Contains(failed["b"], DuplicateReason+"node a") {
				t.Errorf("the forger's copy: %q, want %q", failed["b"], DuplicateReason+"node a")
			}
			if d := l.Duplicates(); len(d) != 1 {
				t.Errorf("Duplicates() = %v: kubectl zz check must still name the forgery", d)
			}
			l.DeletePod("served")
			if fit, _ := l.Filter([]string{"a", "b"}, pinned); len(fit) != 0 {
				t.Errorf("with no pod served on it, the card fits on %v while two nodes list it", fit)
			}
		})
	}
	t.Run("served on both", func(t *testing.T) {
		l := NewLedger()
		l.SetNode(real)
		l.SetNode(forged)
		for _, p := range []*corev1.Pod{served("on-a", "a", choice), served("on-b", "b", &Assignment{Indexes: []int{1}, UUIDs: []string{"gpu-A-7"},
			MemMiB: 8192, AssumeTime: time.Now(), NodeName: "b"})} {
			if err := l.SetPod(p); err != nil {
				t.Fatal(err)
			}
		}
		if fit, _ := l.Filter([]string{"a", "b"}, Request{MemMiB: 8192, Cards: 1, UUIDs: "GPU-a-7"}); len(fit) != 0 {
			t.Errorf("a card both nodes serve pods on fits on %v", fit)
		}
	})
}

package gpushare

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

// TestFreed: every way memory leaves a node notes the node (and signals),
// and what frees nothing notes nothing: the extender asks kube-scheduler to
// retry the pods it refused there (extender.Requeuer).
func TestFreed(t *testing.T) {
	reserve := func(t *testing.T, l *Ledger, uid types.UID) {
		t.Helper()
		if _, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: string(uid)}, uid, Request{MemMiB: 1000, Cards: 1}, BestFit, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		change func(t *testing.T, l *Ledger)
		want   []string
	}{
		{"a pod deleted", func(t *testing.T, l *Ledger) { l.DeletePod("r") }, []string{"a"}},
		{"a pod finished", func(t *testing.T, l *Ledger) {
			p := running(t, l, "b", "done", 0, 1000, time.Minute, 0)
			l.TakeFreed()
			p.Status.Phase = corev1.PodSucceeded
			if err := l.SetPod(p); err != nil {
				t.Fatal(err)
			}
		}, []string{"b"}},
		{"a pod nobody holds deleted", func(t *testing.T, l *Ledger) { l.DeletePod("nobody") }, nil},
		{"a bind failed", func(t *testing.T, l *Ledger) {
			reserve(t, l, "bind")
			l.TakeFreed()
			l.Release("bind")
		}, []string{"a"}},
		{"an assumption expired", func(t *testing.T, l *Ledger) {
			reserve(t, l, "assumed")
			l.TakeFreed()
			l.Expire(time.Now().Add(time.Hour), time.Minute)
		}, []string{"a"}},
		{"a bound pod never started", func(t *testing.T, l *Ledger) {
			l.ExpireUnstarted(time.Now().Add(time.Hour), time.Minute)
		}, []string{"a"}},
		{"a node's inventory grew", func(t *testing.T, l *Ledger) { l.SetNode(gpuNode(t, "b", 40000, 40000, 40000)) }, []string{"b"}},
		{"a node's slots changed", func(t *testing.T, l *Ledger) {
			n := gpuNode(t, "b", 40000, 40000)
			n.Status.Capacity = corev1.ResourceList{contract.ResourceGPU: resource.MustParse("8")}
			l.SetNode(n)
		}, []string{"b"}},
		{"a node updated with the same inventory", func(t *testing.T, l *Ledger) { l.SetNode(gpuNode(t, "b", 40000, 40000)) }, nil},
		{"a pod updated in place", func(t *testing.T, l *Ledger) {
			p := running(t, l, "b", "same", 0, 1000, time.Minute, 0)
			l.TakeFreed()
			p.Labels = map[string]string{"x": "y"}
			if err := l.SetPod(p); err != nil {
				t.Fatal(err)
			}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			l.SetNode(gpuNode(t, "a", 40000))
			l.SetNode(gpuNode(t, "b", 40000, 40000))
			// r: a pod bound to a that never started.
			reserve(t, l, "r")
			p := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "a", Containers: asking(1000, 1)}}
			p.Name, p.Namespace, p.UID = "r", "ns", "r"
			cards, _ := l.Cards("a")
			a := Assignment{Indexes: []int{0}, UUIDs: []string{cards[0].UUID}, MemMiB: 1000, AssumeTime: time.Now()}
			p.Annotations = a.Annotations()
			if err := l.SetPod(p); err != nil {
				t.Fatal(err)
			}
			if got, _ := l.TakeFreed(); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("new nodes: %v, want both", got)
			}
			<-l.Freed()
			tc.change(t, l)
			got, _ := l.TakeFreed()
			if !slices.Equal(got, tc.want) {
				t.Fatalf("freed %v, want %v", got, tc.want)
			}
			select {
			case <-l.Freed():
				if len(tc.want) == 0 {
					t.Fatal("signalled with nothing freed")
				}
			default:
				if len(tc.want) > 0 {
					t.Fatal("not signalled")
				}
			}
		})
	}
}

// TestFitsOn: what the extender's filter would say of one node.
func TestFitsOn(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 40000, 40000))
	l.SetNode(gpuNode(t, "b", 40000))
	running(t, l, "a", "x", 0, 30000, time.Minute, 0)
	for _, tc := range []struct {
		uid  types.UID
		node string
		req  Request
		ok   bool
		free int64
	}{
		{"p", "a", Request{MemMiB: 40000, Cards: 1}, true, 50000},
		{"p", "a", Request{MemMiB: 40000, Cards: 2}, false, 50000},
		{"p", "nowhere", Request{MemMiB: 1, Cards: 1}, false, 0},
	} {
		if ok, held, free := l.FitsOn(tc.uid, tc.node, tc.req); ok != tc.ok || held || free != tc.free {
			t.Errorf("FitsOn(%s, %s, %v) = %v, %v, %d; want %v, false, %d", tc.uid, tc.node, tc.req, ok, held, free, tc.ok, tc.free)
		}
	}
	// A pod holding unbound cards on b (a preemption's result) fits there
	// alone.
	if _, err := l.Reserve("b", types.NamespacedName{Namespace: "ns", Name: "held"}, "held", Request{MemMiB: 40000, Cards: 1}, BestFit, time.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, held, _ := l.FitsOn("held", "b", Request{MemMiB: 40000, Cards: 1}); !ok || !held {
		t.Errorf("the pod where it holds its cards: fits %v, held %v", ok, held)
	}
	if ok, held, _ := l.FitsOn("held", "a", Request{MemMiB: 1000, Cards: 1}); ok || held {
		t.Errorf("a pod holding cards on b, on a: fits %v, held %v", ok, held)
	}
}

package gpushare

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

func TestEditCordon(t *testing.T) {
	for _, tc := range []struct {
		current string
		uuids   []string
		on      bool
		next    string
		changed []string
		wantErr string
	}{
		{"", []string{"GPU-a"}, true, "GPU-a", []string{"GPU-a"}, ""},
		{"GPU-a", []string{"gpu-A", "GPU-b"}, true, "GPU-a,GPU-b", []string{"GPU-b"}, ""},
		{"GPU-a,GPU-b", []string{"GPU-A"}, false, "GPU-b", []string{"GPU-A"}, ""},
		{"GPU-a", []string{"GPU-a"}, false, "", []string{"GPU-a"}, ""},
		{"GPU-a", []string{"GPU-c"}, false, "GPU-a", nil, ""},
		{"GPU a", []string{"GPU-c"}, true, "", nil, "annotation zz.io/gpu-cordon: "},
	} {
		next, changed, err := EditCordon(tc.current, tc.uuids, tc.on)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("EditCordon(%q, %v, %v): err %v, want %q", tc.current, tc.uuids, tc.on, err, tc.wantErr)
			}
			continue
		}
		if err != nil || next != tc.next || !slices.Equal(changed, tc.changed) {
			t.Errorf("EditCordon(%q, %v, %v) = %q, %v, %v; want %q, %v", tc.current, tc.uuids, tc.on, next, changed, err, tc.next, tc.changed)
		}
	}
}

// TestCordonedCards: a cordoned card takes no new pod and says why, its
// pods keep their memory, uncordoning frees it for the waiting pods, and a
// cordon list that cannot be read takes the whole node out.
func TestCordonedCards(t *testing.T) {
	l := NewLedger()
	node := gpuNode(t, "a", 40000, 40000)
	l.SetNode(node)
	running(t, l, "a", "old", 0, 10000, time.Minute, 0)
	node.Annotations[contract.AnnotationNodeGPUCordon] = "gpu-a-0" // any case
	l.SetNode(node)
	if got := used(t, l, "a"); !slices.Equal(got, []int64{10000, 0}) {
		t.Fatalf("used %v: the cordoned card's pod lost its memory", got)
	}
	a, err := l.Reserve("a", types.NamespacedName{Namespace: "ns", Name: "new"}, "new", Request{MemMiB: 1000, Cards: 1}, BestFit, time.Now())
	if err != nil || !slices.Equal(a.Indexes, []int{1}) {
		t.Fatalf("a new pod got %v, %v; want card 1 (best-fit would take the cordoned card 0)", a, err)
	}
	_, failed := l.Filter([]string{"a"}, Request{MemMiB: 1000, Cards: 2})
	if want := "node has 1 healthy GPU cards < 2 asked; card 0 (GPU-a-0) unhealthy: " + CordonReason; failed["a"] != want {
		t.Errorf("reason %q, want %q", failed["a"], want)
	}
	// One card asked, the other card full: the reason still says why the
	// node has less room.
	_, failed = l.Filter([]string{"a"}, Request{MemMiB: 40000, Cards: 1})
	if want := "largest free card 39000 MiB < 40000 MiB asked; card 0 (GPU-a-0) unhealthy: " + CordonReason; failed["a"] != want {
		t.Errorf("reason %q, want %q", failed["a"], want)
	}
	l.TakeFreed()
	delete(node.Annotations, contract.AnnotationNodeGPUCordon)
	l.SetNode(node)
	if got, _ := l.TakeFreed(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("uncordoning freed %v, want [a]", got)
	}
	if fit, _ := l.Filter([]string{"a"}, Request{MemMiB: 1000, Cards: 2}); len(fit) != 1 {
		t.Error("the uncordoned card takes no pod")
	}
	node.Annotations[contract.AnnotationNodeGPUCordon] = "GPU a"
	l.SetNode(node)
	if _, failed := l.Filter([]string{"a"}, Request{MemMiB: 1000, Cards: 1}); !strings.Contains(failed["a"], "annotation zz.io/gpu-cordon: ") {
		t.Errorf("a cordon list that cannot be read: %q", failed["a"])
	}
}

package gpushare

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

func TestShapeRooms(t *testing.T) {
	l := NewLedger()
	if got := l.ShapeRooms(); got != nil {
		t.Fatalf("before any request: %+v", got)
	}
	l.SetNode(gpuNode(t, "n1", 40960, 40960))
	l.SetNode(gpuNode(t, "n2", 81920))
	broken := gpuNode(t, "n3", 81920, 81920)
	broken.Annotations[contract.AnnotationNodeGPUInventory] = "{broken"
	l.SetNode(broken) // not counted: binpack cannot place there either
	now := time.Unix(1e9, 0)
	for _, r := range []struct {
		node string
		mib  int64
	}{{"n1", 30720}, {"n2", 51200}} { // n1 left with 10 and 40 GiB free, n2 with 30
		uid := types.UID("held-" + r.node)
		if _, err := l.Reserve(r.node, types.NamespacedName{Name: string(uid)}, uid, Request{MemMiB: r.mib, Cards: 1}, BestFit, now); err != nil {
			t.Fatal(err)
		}
	}
	whole40, two20, small8 := Request{MemMiB: 40960, Cards: 1}, Request{MemMiB: 20480, Cards: 2}, Request{MemMiB: 8192, Cards: 1}
	for i, r := range []Request{whole40, whole40, two20, small8} {
		l.Stream().Observe(types.UID(rune('a'+i)), r)
	}
	want := []ShapeRoom{
		// 8 GiB: 1 + 5 pieces on n1, 3 on n2; every free MiB usable.
		{Request: small8, Share: 0.25, Pods: 9, UnusableMiB: 0},
		// 20 GiB on 2 cards: n1 has one card with 20 GiB free, n2 one card.
		{Request: two20, Share: 0.25, Pods: 0, UnusableMiB: 51200 + 30720},
		// 40 GiB: n1's emptier card; n1's 10 GiB hole and n2's 30 are too small.
		{Request: whole40, Share: 0.5, Pods: 1, UnusableMiB: 10240 + 30720},
	}
	if got := l.ShapeRooms(); !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestShapeRoomsWhole: a whole-card shape is judged as such (empty cards of
// any size up to it), apart from a shared shape of the same size, where the
// audit found --shapes pricing it as its most on every card (MORE 0 while
// --fit --whole found room); binpack's Mix still counts it as its most.
func TestShapeRoomsWhole(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "w1", 16384, 16384)) // two empty small cards: one whole pod
	l.SetNode(gpuNode(t, "w2", 40960, 40960)) // one card holds a pod: none
	l.SetNode(gpuNode(t, "w3", 81920))        // one card: none
	uid := types.UID("held")
	if _, err := l.Reserve("w2", types.NamespacedName{Name: "held"}, uid, Request{MemMiB: 10240, Cards: 1}, BestFit, time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	whole, shared := Request{MemMiB: 81920, Cards: 2, Whole: true}, Request{MemMiB: 81920, Cards: 2}
	l.Stream().Observe("a", whole)
	l.Stream().Observe("b", shared)
	want := []ShapeRoom{
		{Request: shared, Share: 0.5, Pods: 0, UnusableMiB: 32768 + 30720 + 40960 + 81920},
		{Request: whole, Share: 0.5, Pods: 1, UnusableMiB: 30720 + 40960 + 81920},
	}
	if got := l.ShapeRooms(); !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if mix := l.Stream().Mix(); len(mix.Shapes) != 1 || mix.Shapes[0].Request != shared || mix.Shapes[0].Weight != 1 {
		t.Errorf("binpack's mix %+v, want the whole request counted as its most", mix.Shapes)
	}
}

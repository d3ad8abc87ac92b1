package gpushare

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

// wholeCards builds healthy cards of the given GiB sizes; a negative size
// is a card of that size holding one pod of 1 GiB.
func wholeCards(gibs ...int64) []Card {
	cs := make([]Card, len(gibs))
	for i, g := range gibs {
		cs[i] = Card{GPU: contract.GPU{Index: i, UUID: "GPU-" + string(rune('a'+i)), MemoryMiB: abs(g) * gib, Healthy: true,
			Model: map[bool]string{true: "Tesla T4", false: "NVIDIA A100-SXM4-80GB"}[abs(g) < 40]}, Slots: 16}
		if g < 0 {
			cs[i].UsedMiB, cs[i].Pods = gib, 1
		}
	}
	return cs
}

func abs(v int64) int64 { return max(v, -v) }

// TestWholeCards: a whole-card request takes cards no pod holds, all of one
// size, at most what it asks for, and all of their memory.
func TestWholeCards(t *testing.T) {
	whole := func(g int64, n int) Request { return Request{MemMiB: g * gib, Cards: n, Whole: true} }
	for _, tc := range []struct {
		name    string
		cards   []Card
		req     Request
		policy  Policy
		want    []int  // cards chosen
		wantMiB int64  // what the pod holds on each
		wantErr string // "" : fits
	}{
		{name: "the smaller of two free cards, on a tie", cards: wholeCards(80, 15), req: whole(80, 1), policy: BestFit, want: []int{1}, wantMiB: 15 * gib},
		{name: "spread takes the smaller too", cards: wholeCards(80, 15), req: whole(80, 1), policy: Spread, want: []int{1}, wantMiB: 15 * gib},
		{name: "no card larger than asked", cards: wholeCards(80, 15), req: whole(16, 1), policy: Binpack, want: []int{1}, wantMiB: 15 * gib},
		{name: "a card a pod holds is not whole", cards: wholeCards(80, -15), req: whole(80, 1), policy: BestFit, want: []int{0}, wantMiB: 80 * gib},
		{name: "models", cards: wholeCards(15, 80), req: Request{MemMiB: 80 * gib, Cards: 1, Whole: true, Models: "A100"}, policy: BestFit, want: []int{1}, wantMiB: 80 * gib},
		{name: "two cards of one size", cards: wholeCards(40, -40, 40, 80, 40), req: whole(80, 2), policy: BestFit, want: []int{0, 2}, wantMiB: 40 * gib},
		{name: "two cards of one size, the size that has them", cards: wholeCards(40, -40, 80, 80), req: whole(80, 2), policy: BestFit, want: []int{2, 3}, wantMiB: 80 * gib},
		{name: "two cards of two sizes are not two of one", cards: wholeCards(80, 15), req: whole(80, 2), policy: Binpack,
			wantErr: "no 2 whole cards of one size, at most 81920 MiB each, free (cards no pod holds: 1 of 1 of 81920 MiB, 1 of 1 of 15360 MiB)"},
		{name: "every card holds a pod", cards: wholeCards(-80, -15), req: whole(80, 1), policy: Binpack,
			wantErr: "no whole card of at most 81920 MiB free (cards no pod holds: 0 of 1 of 81920 MiB, 0 of 1 of 15360 MiB)"},
		{name: "every card larger than asked", cards: wholeCards(80, 40), req: whole(16, 1), policy: Binpack,
			wantErr: "no healthy card of at most 16384 MiB for whole cards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Fit(tc.cards, tc.req)
			got, cerr := Choose(tc.cards, tc.req, tc.policy, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || cerr == nil || fits(tc.cards, tc.req) || Room(tc.cards, tc.req) != 0 {
					t.Fatalf("Fit %v, Choose %v %v; want %q", err, got, cerr, tc.wantErr)
				}
				return
			}
			if err != nil || cerr != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Fit %v, Choose %v %v; want cards %v", err, got, cerr, tc.want)
			}
			if tc.req.Models != "" {
				return // the ledger's test nodes have one model
			}
			l := NewLedger()
			var mib []int64
			for _, c := range tc.cards {
				mib = append(mib, c.MemoryMiB)
			}
			l.SetNode(gpuNode(t, "n", mib...))
			for i, c := range tc.cards {
				if c.Pods > 0 {
					running(t, l, "n", "holder"+c.UUID, 0, c.UsedMiB, time.Hour, i)
				}
			}
			a, err := l.Reserve("n", types.NamespacedName{Namespace: "ns", Name: "p"}, "p", tc.req, tc.policy, time.Now())
			if err != nil || a.MemMiB != tc.wantMiB || !slices.Equal(a.Indexes, tc.want) {
				t.Fatalf("Reserve: %+v, %v; want cards %v of %d MiB each", a, err, tc.want, tc.wantMiB)
			}
			// The cards are the pod's alone: even 1 MiB finds no room there.
			cs, _ := l.Cards("n")
			for _, i := range tc.want {
				if cs[i].FreeMiB() != 0 {
					t.Errorf("card %d has %d MiB free after a whole-card pod took it", i, cs[i].FreeMiB())
				}
			}
		})
	}
}

// TestWholeRoom: how many whole-card pods a node takes, over its sizes.
func TestWholeRoom(t *testing.T) {
	whole := Request{MemMiB: 80 * gib, Cards: 1, Whole: true}
	if n := Room(wholeCards(80, 15, -15, 40, 40), whole); n != 4 {
		t.Errorf("room for one whole card: %d, want 4", n)
	}
	whole.Cards = 2
	if n := Room(wholeCards(80, 15, -15, 40, 40, 40), whole); n != 1 {
		t.Errorf("room for two whole cards of one size: %d, want 1 (two of the 40s)", n)
	}
}

// TestWholePodRequest: the annotation asks for whole cards; the assignment
// may hold less than the pod asks for, never more.
func TestWholePodRequest(t *testing.T) {
	p := gpuPod("w", string(contract.ResourceGPUMem), "80Gi")
	p.Annotations = map[string]string{contract.AnnotationGPUWhole: "true"}
	req, err := PodRequest(p)
	if err != nil || req != (Request{MemMiB: 80 * gib, Cards: 1, Whole: true}) || req.String() != "a whole card of at most 81920 MiB" {
		t.Fatalf("PodRequest: %+v (%s), %v", req, req, err)
	}
	for _, tc := range []struct {
		mib  int64
		want error
	}{{15 * gib, nil}, {80 * gib, nil}, {81 * gib, ErrInconsistent}} {
		a := &Assignment{MemMiB: tc.mib, Indexes: []int{0}, UUIDs: []string{"GPU-a"}}
		if err := CheckAssignment(p, a); !errors.Is(err, tc.want) {
			t.Errorf("CheckAssignment of %d MiB for a whole card of at most 80 GiB: %v, want %v", tc.mib, err, tc.want)
		}
	}
	// The annotation may change after the bind: the card held stays held.
	p.Annotations[contract.AnnotationGPUWhole] = "false"
	if err := CheckAssignment(p, &Assignment{MemMiB: 15 * gib, Indexes: []int{0}, UUIDs: []string{"GPU-a"}}); err != nil {
		t.Errorf("CheckAssignment of a whole 15 GiB card once the pod says gpu-whole=false: %v", err)
	}
	p.Annotations[contract.AnnotationGPUWhole] = "yes"
	if _, err := PodRequest(p); err == nil || !strings.Contains(err.Error(), `annotation zz.io/gpu-whole: "yes" is not a boolean`) {
		t.Fatalf("PodRequest with gpu-whole=yes: %v", err)
	}
	if err := CheckAssignment(p, &Assignment{MemMiB: 15 * gib, Indexes: []int{0}, UUIDs: []string{"GPU-a"}}); err != nil {
		t.Errorf("CheckAssignment once the pod says gpu-whole=yes: %v", err)
	}
	// Whole cards for containers asking cards alone, unless the pod says no.
	q := gpuPod("q", string(contract.ResourceGPU), "2")
	WholeCards(q, resource.MustParse("80Gi"))
	if req, err := PodRequest(q); err != nil || req != (Request{MemMiB: 80 * gib, Cards: 2, Whole: true}) {
		t.Fatalf("PodRequest after WholeCards: %+v, %v", req, err)
	}
	q = gpuPod("q", string(contract.ResourceGPU), "1")
	q.Annotations = map[string]string{contract.AnnotationGPUWhole: "false"}
	WholeCards(q, resource.MustParse("80Gi"))
	if req, err := PodRequest(q); err != nil || req.Whole {
		t.Fatalf("PodRequest after WholeCards on a pod that says gpu-whole=false: %+v, %v", req, err)
	}
}

// TestWholePreemption: a whole-card pod evicts what holds the card it needs.
func TestWholePreemption(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "n", 40*gib, 15*gib))
	running(t, l, "n", "small", 0, gib, time.Hour, 0)
	running(t, l, "n", "t4", 10, 2*gib, time.Hour, 1)
	plan, ok := l.PlanPreemption([]string{"n"}, Request{MemMiB: 40 * gib, Cards: 1, Whole: true}, 5, nil)
	if !ok || !slices.Equal(victimNames(plan), []string{"small"}) {
		t.Fatalf("plan %+v, %t; want small evicted (t4 outranks the pod)", plan, ok)
	}
}

// TestSetMemTotalDecimal: 1.5Gi on 2 cards is 1536Mi each, 3Gi in all, in
// whole numbers an admission policy's isInteger accepts.
func TestSetMemTotalDecimal(t *testing.T) {
	p := gpuPod("d", string(contract.ResourceGPUMem), "1.5Gi", string(contract.ResourceGPU), "2")
	p.Spec.Containers[0].Resources.Requests = p.Spec.Containers[0].Resources.Limits.DeepCopy()
	SetMemTotal(p)
	for _, l := range []corev1.ResourceList{p.Spec.Containers[0].Resources.Limits, p.Spec.Containers[0].Resources.Requests} {
		mem, total := l[contract.ResourceGPUMem], l[contract.ResourceGPUMemTotal]
		if _, whole := mem.AsInt64(); !whole || mem.String() != "1536Mi" || total.String() != "3Gi" {
			t.Errorf("gpu-mem %s, total %s; want 1536Mi and 3Gi", mem.String(), total.String())
		}
	}
}

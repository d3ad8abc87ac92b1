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

func TestRoom(t *testing.T) {
	twoSockets := []int64{0, 0, 1, 1}
	for _, tc := range []struct {
		name string
		used []int64
		numa []int64
		req  Request
		want int
	}{
		{"empty cards, 20 GiB each", []int64{0, 0, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 1}, 16},
		{"two-card pods: as many as pairs of room", []int64{0, 40, 40, 60}, twoSockets, Request{MemMiB: 20 * gib, Cards: 2}, 4},
		{"one card can hold them all but each pod needs two", []int64{0, 80, 80, 80}, twoSockets, Request{MemMiB: 10 * gib, Cards: 2}, 0},
		{"four-card pods", []int64{0, 0, 0, 60}, twoSockets, Request{MemMiB: 20 * gib, Cards: 4}, 1},
		{"bound to one NUMA node: per socket", []int64{0, 60, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 2, SameNUMA: true}, 1 + 4},
		{"not bound: across sockets too", []int64{0, 60, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 2}, 6},
		{"bound, NUMA unknown: one node", []int64{0, 60, 0, 0}, []int64{-1, -1, -1, -1}, Request{MemMiB: 20 * gib, Cards: 2, SameNUMA: true}, 6},
		{"bound, one card unknown: at most what all hold", []int64{0, 60, 0, 0}, []int64{0, 0, 1, -1}, Request{MemMiB: 20 * gib, Cards: 2, SameNUMA: true}, 6},
		{"too big for any card", []int64{0, 0, 0, 0}, twoSockets, Request{MemMiB: 81 * gib, Cards: 1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := numaCards(80, tc.used, tc.numa)
			if got := Room(cs, tc.req); got != tc.want {
				t.Errorf("Room = %d, want %d", got, tc.want)
			}
		})
	}
	// Slots and models: a full card's slots hold no more; a refused model none.
	cs := numaCards(80, []int64{0, 0, 0, 0}, twoSockets)
	cs[0].Slots, cs[0].Pods = 4, 2
	cs[1].Model = "Tesla T4"
	if got, want := Room(cs, Request{MemMiB: 10 * gib, Cards: 1, AvoidModels: "T4"}), 2+8+8; got != want {
		t.Errorf("Room with slots and a refused model = %d, want %d", got, want)
	}
	cs[2].Healthy = false
	if got, want := Room(cs, Request{MemMiB: 10 * gib, Cards: 1}), 2+8+8; got != want {
		t.Errorf("Room with an unhealthy card = %d, want %d", got, want)
	}
}

// TestFits: Ledger.Fits says, per GPU node, what the extender would do with
// one pod of a request: the cards its policy would choose and the room, or
// the filter's reason.
func TestFits(t *testing.T) {
	l := NewLedger()
	l.SetNode(gpuNode(t, "a", 80*gib, 80*gib))
	l.SetNode(gpuNode(t, "b", 16*gib))
	l.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cpu"}})
	l.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "broken", Annotations: map[string]string{"zz.io/gpu-inventory": "{"}}})
	if _, err := l.Reserve("a", types.NamespacedName{Name: "held"}, "held", Request{MemMiB: 60 * gib, Cards: 1}, BestFit, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := l.Fits(Request{MemMiB: 20 * gib, Cards: 1}, BestFit, nil)
	want := []NodeFit{
		{Node: "a", Fits: true, Cards: []int{0}, More: 1 + 4},
		{Node: "b", Reason: "node's largest card has 16384 MiB < 20480 MiB asked: never fits here, even empty"},
		{Node: "broken", Reason: `decode zz.io/gpu-inventory: unexpected end of JSON input`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Fits =\n%v\nwant\n%v", got, want)
	}
	if got := l.Fits(Request{MemMiB: 20 * gib, Cards: 2}, Spread, []string{"a"}); len(got) != 1 || !got[0].Fits || !slices.Equal(got[0].Cards, []int{0, 1}) || got[0].More != 1 {
		t.Errorf("Fits of two cards on a = %+v", got)
	}
	if got := l.Fits(Request{MemMiB: gib, Cards: 1}, Binpack, []string{"cpu"}); len(got) != 0 {
		t.Errorf("a node without GPUs is not judged: %+v", got)
	}
}

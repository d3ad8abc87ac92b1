package gpushare

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

func mixOf(shapes ...Shape) *Mix { return &Mix{Shapes: shapes} }

func TestFrag(t *testing.T) {
	half := Shape{Request{MemMiB: 40, Cards: 1}, 0.5}
	pair := Shape{Request{MemMiB: 20, Cards: 2}, 0.5}
	tests := []struct {
		name string
		free []int64
		mix  *Mix
		want float64
	}{
		{"no mix, no fragmentation", []int64{10, 80}, nil, 0},
		{"every card fits", []int64{40, 80}, mixOf(Shape{half.Request, 1}), 0},
		{"a card too small is fragmented", []int64{30, 80}, mixOf(Shape{half.Request, 1}), 30},
		{"a node without enough cards is all fragmented", []int64{30, 10}, mixOf(Shape{pair.Request, 1}), 40},
		{"weighted by the mix", []int64{30, 80}, mixOf(half, pair), 0.5*30 + 0.5*0},
		{"empty cards fragment nothing that fits", []int64{0, 0}, mixOf(half), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Frag(tt.free, tt.mix); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Frag(%v) = %v, want %v", tt.free, got, tt.want)
			}
		})
	}
}

func TestNewMix(t *testing.T) {
	m := NewMix(map[Request]int{{2048, 1}: 3, {1024, 1}: 1, {4096, 2}: 0})
	want := []Shape{{Request{1024, 1}, 0.25}, {Request{2048, 1}, 0.75}}
	if !slices.Equal(m.Shapes, want) {
		t.Fatalf("NewMix = %v, want %v", m.Shapes, want)
	}
}

// gibCards builds healthy cards from (free, total) pairs in GiB.
func gibCards(freeAndTotal ...int64) []Card {
	cs := cards(freeAndTotal...)
	for i := range cs {
		cs[i].MemoryMiB *= gib
		cs[i].UsedMiB *= gib
	}
	return cs
}

func TestChooseBinpack(t *testing.T) {
	// The stream asks for 5 GiB on one card, three times as often as 20.
	mix := NewMix(map[Request]int{{5 * gib, 1}: 3, {20 * gib, 1}: 1})
	tests := []struct {
		name   string
		cards  []Card
		req    Request
		mix    *Mix
		policy Policy
		want   []int
	}{
		{name: "no mix: best-fit", cards: gibCards(25, 80, 22, 80, 80, 80), req: Request{20 * gib, 1}, policy: Binpack, want: []int{1}},
		{name: "bestfit takes the tightest", cards: gibCards(25, 80, 22, 80, 80, 80), req: Request{20 * gib, 1}, mix: mix, policy: BestFit, want: []int{1}},
		// 2 GiB left on card 1 fits no pod of the stream; 5 GiB on card 0,
		// within 6% of a card of the tightest fit, takes a 5 GiB pod.
		{name: "binpack leaves a hole the stream can fill", cards: gibCards(25, 80, 22, 80, 80, 80), req: Request{20 * gib, 1}, mix: mix, policy: Binpack, want: []int{0}},
		{name: "binpack exact fit", cards: gibCards(25, 80, 20, 80), req: Request{20 * gib, 1}, mix: mix, policy: Binpack, want: []int{1}},
		// Beyond the band best-fit's order holds: 40 free would strand
		// nothing, but leaves 20 GiB of a card where 2 would do.
		{name: "binpack stays near the tightest fit", cards: gibCards(22, 80, 40, 80), req: Request{20 * gib, 1}, mix: mix, policy: Binpack, want: []int{0}},
		{name: "fgd alone opens the bigger hole", cards: gibCards(22, 80, 40, 80), req: Request{20 * gib, 1}, mix: mix, policy: fgd, want: []int{1}},
		{name: "binpack multi-card", cards: gibCards(22, 80, 25, 80, 22, 80, 25, 80), req: Request{20 * gib, 2}, mix: mix, policy: Binpack, want: []int{1, 3}},
		{name: "bestfit multi-card", cards: gibCards(22, 80, 25, 80, 22, 80, 25, 80), req: Request{20 * gib, 2}, mix: mix, policy: BestFit, want: []int{0, 2}},
		{name: "spread takes the emptiest", cards: gibCards(21, 80, 24, 80, 50, 80, 80, 80), req: Request{20 * gib, 2}, mix: mix, policy: Spread, want: []int{3, 2}},
		// A card whose last slot the pod takes is full whatever memory it
		// has left: no hole is left there, while card 1 would keep 8 GiB
		// that a 20 GiB pod cannot use.
		{name: "binpack: the last slot closes the card", cards: slotted(gibCards(25, 80, 28, 80), 0, 4, 3), req: Request{20 * gib, 1}, mix: mix, policy: Binpack, want: []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Choose(tt.cards, tt.req, tt.policy, tt.mix)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Choose = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func slotted(cs []Card, i, slots, pods int) []Card {
	cs[i].Slots, cs[i].Pods = slots, pods
	return cs
}

func TestRank(t *testing.T) {
	tests := []struct {
		name  string
		costs []Cost
		fits  []bool
		want  []float64
	}{
		{"best alone on top", []Cost{{Left: 0.5}, {Left: 0.1}, {Left: 0.9}}, []bool{true, true, true}, []float64{0.45, 1, 0}},
		{"ties share the top", []Cost{{Left: 0.1}, {Left: 0.1}}, []bool{true, true}, []float64{1, 1}},
		{"unfit nodes score 0", []Cost{{Left: 0.1}, {}}, []bool{true, false}, []float64{1, 0}},
		{"within the band fragmentation decides", []Cost{{Left: 0.10, Frag: 5, band: fitBand}, {Left: 0.12, Frag: 1, band: fitBand}},
			[]bool{true, true}, []float64{0.9, 1}},
		{"nothing fits", []Cost{{}, {}}, []bool{false, false}, []float64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Rank(tt.costs, tt.fits)
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-9 {
					t.Fatalf("Rank = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func gpuReqPod(uid, mem string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, UID: types.UID(uid)}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse(mem)}}}}}}
}

func TestStream(t *testing.T) {
	s := NewStream(3)
	s.ObservePod(gpuReqPod("a", "1Gi"))
	s.ObservePod(gpuReqPod("a", "1Gi")) // an update: counted once
	s.ObservePod(gpuReqPod("b", "2Gi"))
	s.ObservePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "cpu"}}) // no GPU: not a request
	if got := s.Mix().Shapes; len(got) != 2 || got[0].Weight != 0.5 {
		t.Fatalf("after a, b: %v", got)
	}
	for i := range 3 { // pushes a and b out of the ring of 3
		s.Observe(types.UID(fmt.Sprint("c", i)), Request{4 * gib, 1})
	}
	if got := s.Mix().Shapes; len(got) != 1 || got[0].MemMiB != 4*gib || got[0].Weight != 1 {
		t.Fatalf("after three 4Gi: %v", got)
	}
	s.Forget("a") // deleted, then a new pod with the same UID would count again
	s.ObservePod(gpuReqPod("a", "1Gi"))
	if got := s.Mix().Shapes; len(got) != 2 {
		t.Fatalf("a after Forget: %v", got)
	}
	if m := NewStream(10).Mix(); len(m.Shapes) != 0 || Frag([]int64{1}, m) != 0 {
		t.Fatalf("an empty stream must know nothing: %v", m)
	}
}

func TestTopShapes(t *testing.T) {
	counts := map[Request]int{}
	for i := range MaxShapes + 5 {
		counts[Request{int64(i+1) * gib, 1}] = i + 1
	}
	top := topShapes(counts, MaxShapes)
	if len(top) != MaxShapes {
		t.Fatalf("kept %d shapes", len(top))
	}
	for r := range top {
		if r.MemMiB <= 5*gib {
			t.Errorf("kept the rare shape %v", r)
		}
	}
}

// FuzzChooseNeverOverfills: whatever the cards, request, policy and mix,
// Choose returns distinct healthy cards with room for the request and a free
// slot, exactly as many as asked, and errs exactly when Fit does.
func FuzzChooseNeverOverfills(f *testing.F) {
	f.Add([]byte{8, 3, 2, 1, 0, 200, 7, 100, 3, 50, 9, 0, 0, 255, 1}, uint16(4000), uint8(2), uint8(0))
	f.Add([]byte{80, 80, 80, 80, 16, 16}, uint16(40000), uint8(4), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, mem uint16, ncards, pol uint8) {
		var cs []Card
		for i := 0; i+2 < len(raw) && len(cs) < 12; i += 3 {
			total := int64(raw[i]%81+1) * gib
			cs = append(cs, Card{GPU: contract.GPU{Index: len(cs), UUID: fmt.Sprint(len(cs)), MemoryMiB: total, Healthy: raw[i+1]%7 != 0},
				UsedMiB: total * int64(raw[i+1]) / 255, Pods: int(raw[i+2] % 5), Slots: int(raw[i+2] % 6)})
		}
		req := Request{MemMiB: int64(mem) + 1, Cards: int(ncards%5) + 1}
		policy := []Policy{Binpack, BestFit, Spread, fgd}[pol%4]
		mix := NewMix(map[Request]int{req: 2, {gib, 1}: 1, {20 * gib, 2}: 1})
		got, err := Choose(cs, req, policy, mix)
		if (err != nil) != (Fit(cs, req) != nil) {
			t.Fatalf("Choose err %v, Fit err %v", err, Fit(cs, req))
		}
		if err != nil {
			return
		}
		if len(got) != req.Cards || len(slices.Compact(slices.Sorted(slices.Values(got)))) != req.Cards {
			t.Fatalf("got cards %v for %s", got, req)
		}
		for _, i := range got {
			c := cs[i]
			if !c.Healthy || c.FreeMiB() < req.MemMiB || c.UsedMiB+req.MemMiB > c.MemoryMiB || (c.Slots > 0 && c.Pods+1 > c.Slots) {
				t.Fatalf("%s put %s on card %+v", policy, req, c)
			}
		}
	})
}

// TestLedgerBinpackFollowsTheStream: the pods the informer shows (SetPod)
// make the stream; Reserve and Scores place by it, and a new ledger (a
// restart) knows nothing until it sees pods again.
func TestLedgerBinpackFollowsTheStream(t *testing.T) {
	setup := func() *Ledger {
		l := NewLedger()
		l.SetNode(gpuNode(t, "n", 80*gib, 80*gib))
		for _, p := range []struct {
			uid string
			mib int64
		}{{"fill0", 55 * gib}, {"fill1", 58 * gib}} { // leaves 25 and 22 GiB free
			if _, err := l.Reserve("n", types.NamespacedName{Name: p.uid}, types.UID(p.uid), Request{p.mib, 1}, BestFit, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	reserve := func(l *Ledger, policy Policy) []int {
		a, err := l.Reserve("n", types.NamespacedName{Name: "p"}, "p", Request{20 * gib, 1}, policy, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return a.Indexes
	}
	if got := reserve(setup(), Binpack); got[0] != 1 {
		t.Errorf("with no stream binpack chose %v, want best-fit's card 1", got)
	}
	l := setup()
	for i := range 3 {
		if err := l.SetPod(gpuReqPod(fmt.Sprint("small-", i), "5Gi")); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetPod(gpuReqPod("mid", "20Gi")); err != nil {
		t.Fatal(err)
	}
	if got := l.Stream().Mix().Shapes; len(got) != 2 {
		t.Fatalf("stream after four pods: %v", got)
	}
	if got := reserve(l, Binpack); got[0] != 0 {
		t.Errorf("binpack chose %v, want card 0: it leaves 5 GiB for the stream's 5 GiB pods", got)
	}
	l.DeletePod("p")
	if got := reserve(l, BestFit); got[0] != 1 {
		t.Errorf("bestfit chose %v, want the tightest card 1", got)
	}
}

package gpushare

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

func gpuPod(name string, limits ...string) *corev1.Pod {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(limits); i += 2 {
		l[corev1.ResourceName(limits[i])] = resource.MustParse(limits[i+1])
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: k8stypes.UID("uid-" + name)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: l}}}},
	}
}

func TestPodRequest(t *testing.T) {
	mem, cards := string(contract.ResourceGPUMem), string(contract.ResourceGPU)
	tests := []struct {
		name    string
		pod     *corev1.Pod
		want    Request
		wantErr string
	}{
		{name: "4Gi one card", pod: gpuPod("a", mem, "4Gi"), want: Request{MemMiB: 4096, Cards: 1}},
		{name: "3000Mi two cards", pod: gpuPod("a", mem, "3000Mi", cards, "2"), want: Request{MemMiB: 3000, Cards: 2}},
		{name: "rounds up to MiB", pod: gpuPod("a", mem, "1500000000"), want: Request{MemMiB: 1431, Cards: 1}},
		{name: "a decimal quantity", pod: gpuPod("a", mem, "1.5Gi"), want: Request{MemMiB: 1536, Cards: 1}},
		{name: "a decimal quantity, whole", pod: gpuPod("a", mem, "8.0Gi"), want: Request{MemMiB: 8192, Cards: 1}},
		{name: "a fraction of a byte rounds up", pod: gpuPod("a", mem, "0.1Ti"), want: Request{MemMiB: 104858, Cards: 1}},
		{name: "too large, as a decimal", pod: gpuPod("a", mem, "1.5Ti"), wantErr: "zz.io/gpu-mem 1536Gi is more than 1024 GiB per card"},
		{name: "no gpu", pod: gpuPod("a", "cpu", "1"), wantErr: "asks for no zz.io/gpu-mem"},
		{name: "zero", pod: gpuPod("a", mem, "0"), wantErr: "must be positive"},
		{name: "negative", pod: gpuPod("a", mem, "-1Gi"), wantErr: "must be positive"},
		{name: "bytes not GiB", pod: gpuPod("a", mem, "4"), wantErr: "zz.io/gpu-mem 4 is 4 bytes, less than 1Mi: write 4Mi (MiB, as HAMi's gpumem counts) or 4Gi"},
		{name: "MiB written as HAMi's gpumem", pod: gpuPod("a", mem, "4096"), wantErr: "zz.io/gpu-mem 4096 is 4096 bytes, less than 1Mi: write 4096Mi (MiB, as HAMi's gpumem counts) or 4Gi"},
		{name: "a large number of bytes", pod: gpuPod("a", mem, "500000"), wantErr: "zz.io/gpu-mem 500k is 500000 bytes, less than 1Mi: write a byte quantity such as 4Gi or 3000Mi"},
		{name: "milli-bytes", pod: gpuPod("a", mem, "100m"), wantErr: "zz.io/gpu-mem 100m is 1 bytes, less than 1Mi: write a byte quantity such as 4Gi or 3000Mi"},
		{name: "absurd", pod: gpuPod("a", mem, "2Pi"), wantErr: "is more than 1024 GiB per card"},
		{name: "zero cards", pod: gpuPod("a", mem, "1Gi", cards, "0"), wantErr: "whole number of cards from 1 to 64"},
		{name: "fractional cards", pod: gpuPod("a", mem, "1Gi", cards, "500m"), wantErr: "whole number of cards"},
		{name: "too many cards", pod: gpuPod("a", mem, "1Gi", cards, "65"), wantErr: "whole number of cards"},
		// As nvidia.com/gpu: 1 would be written. No card could be handed to it.
		{name: "cards without memory", pod: gpuPod("a", cards, "1"), wantErr: "container app asks for zz.io/gpu 1 without zz.io/gpu-mem: zz shares cards by GPU memory"},
		{name: "a second container's cards without memory", pod: func() *corev1.Pod {
			p := gpuPod("a", mem, "4Gi")
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("2")}}})
			return p
		}(), wantErr: "container side asks for zz.io/gpu 2 without zz.io/gpu-mem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PodRequest(tt.pod)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	two := gpuPod("a", mem, "1Gi")
	two.Spec.Containers = append(two.Spec.Containers, corev1.Container{Name: "side", Resources: two.Spec.Containers[0].Resources})
	if _, err := PodRequest(two); err == nil || !strings.Contains(err.Error(), "containers app, side all ask") {
		t.Fatalf("two GPU containers: err = %v", err)
	}
	if _, err := PodRequest(gpuPod("a")); !errors.Is(err, ErrNoGPU) {
		t.Fatalf("err = %v, want ErrNoGPU", err)
	}
}

func TestAssignmentRoundTrip(t *testing.T) {
	a := &Assignment{Indexes: []int{0, 3}, UUIDs: []string{"GPU-a", "GPU-d"}, MemMiB: 4096, AssumeTime: time.Unix(0, 1700000000123456789)}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: a.Annotations()}}
	got, err := PodAssignment(pod)
	if err != nil {
		t.Fatal(err)
	}
	if got.MemMiB != 4096 || len(got.Indexes) != 2 || got.Indexes[1] != 3 || got.UUIDs[1] != "GPU-d" || !got.AssumeTime.Equal(a.AssumeTime) || got.Assigned {
		t.Fatalf("round trip: %+v", got)
	}
	bad := []map[string]string{
		{contract.AnnotationGPUIndexes: "x", contract.AnnotationGPUUUIDs: "a", contract.AnnotationGPUMemMiB: "1"},
		{contract.AnnotationGPUIndexes: "0,1", contract.AnnotationGPUUUIDs: "a", contract.AnnotationGPUMemMiB: "1"},
		{contract.AnnotationGPUIndexes: "0", contract.AnnotationGPUUUIDs: "a", contract.AnnotationGPUMemMiB: "0"},
		{contract.AnnotationGPUIndexes: "0", contract.AnnotationGPUUUIDs: "a", contract.AnnotationGPUMemMiB: "1", contract.AnnotationGPUAssumeTime: "soon"},
	}
	for i, ann := range bad {
		if _, err := PodAssignment(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: ann}}); err == nil {
			t.Errorf("case %d: bad annotations %v accepted", i, ann)
		}
	}
}

func cards(freeAndTotal ...int64) []Card {
	var cs []Card
	for i := 0; i+1 < len(freeAndTotal); i += 2 {
		total := freeAndTotal[i+1]
		cs = append(cs, Card{GPU: contract.GPU{Index: i / 2, UUID: "GPU-" + string(rune('a'+i/2)), MemoryMiB: total, Healthy: true},
			UsedMiB: total - freeAndTotal[i]})
	}
	return cs
}

func TestFitChooseScore(t *testing.T) {
	tests := []struct {
		name    string
		cards   []Card // free, total pairs
		req     Request
		policy  Policy
		want    []int
		wantErr string
	}{
		{name: "binpack takes tightest", cards: cards(8000, 16000, 5000, 16000, 16000, 16000), req: Request{MemMiB: 4096, Cards: 1}, policy: Binpack, want: []int{1}},
		{name: "spread takes emptiest", cards: cards(8000, 16000, 5000, 16000, 16000, 16000), req: Request{MemMiB: 4096, Cards: 1}, policy: Spread, want: []int{2}},
		{name: "ties go to lower index", cards: cards(16000, 16000, 16000, 16000), req: Request{MemMiB: 1, Cards: 1}, policy: Binpack, want: []int{0}},
		{name: "two distinct cards", cards: cards(4096, 16000, 3000, 16000, 4096, 16000), req: Request{MemMiB: 4096, Cards: 2}, policy: Binpack, want: []int{0, 2}},
		{name: "exact fit", cards: cards(4096, 16000), req: Request{MemMiB: 4096, Cards: 1}, policy: Binpack, want: []int{0}},
		{name: "largest free too small", cards: cards(3072, 16000, 1000, 16000), req: Request{MemMiB: 4096, Cards: 1}, policy: Binpack,
			wantErr: "largest free card 3072 MiB < 4096 MiB asked"},
		{name: "too few cards", cards: cards(16000, 16000), req: Request{MemMiB: 1, Cards: 2}, policy: Binpack, wantErr: "node has 1 GPU cards < 2 asked"},
		{name: "too few fitting", cards: cards(8000, 16000, 100, 16000), req: Request{MemMiB: 4096, Cards: 2}, policy: Binpack,
			wantErr: "node has 1 cards with 4096 MiB free < 2 asked (free MiB per card: 0:8000 1:100)"},
		// Cards too small even empty: never, not "no room now".
		{name: "never fits one card", cards: cards(8000, 16000, 16000, 16000), req: Request{MemMiB: 20000, Cards: 1}, policy: Binpack,
			wantErr: "node's largest card has 16000 MiB < 20000 MiB asked: never fits here, even empty"},
		{name: "never fits two cards", cards: cards(1000, 81920, 40960, 40960, 40960, 40960), req: Request{MemMiB: 61440, Cards: 2}, policy: Binpack,
			wantErr: "node has 1 cards of at least 61440 MiB < 2 asked: never fits here, even empty"},
		// A big card out now (unhealthy, cordoned) is back later: no "never".
		{name: "the big card is down", cards: downCard(cards(8000, 16000, 30000, 32000), 1), req: Request{MemMiB: 20000, Cards: 1}, policy: Binpack,
			wantErr: "largest free card 8000 MiB < 20000 MiB asked; card 1 (GPU-b) unhealthy: "},
		{name: "overfilled card is full", cards: cards(-500, 16000, 2000, 16000), req: Request{MemMiB: 1000, Cards: 1}, policy: Spread, want: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Choose(tt.cards, tt.req, tt.policy, nil)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, err := NodeCost(tt.cards, tt.req, tt.policy, nil); err == nil {
					t.Fatal("a node that does not fit has a cost")
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
	slotted := cards(16000, 16000, 8000, 16000)
	slotted[0].Slots, slotted[0].Pods = 4, 4
	if got, err := Choose(slotted, Request{MemMiB: 1000, Cards: 1}, Spread, nil); err != nil || got[0] != 1 {
		t.Fatalf("a card with no slot left was chosen: %v %v", got, err)
	}
	unhealthy := cards(16000, 16000, 16000, 16000)
	unhealthy[0].Healthy = false
	if err := Fit(unhealthy, Request{MemMiB: 1, Cards: 2}); err == nil || !strings.Contains(err.Error(), "1 healthy GPU cards < 2 asked") {
		t.Fatalf("unhealthy card counted: %v", err)
	}
	// Binpack prefers the node whose cards end fuller; spread the reverse.
	half, empty := cards(8000, 16000), cards(16000, 16000)
	req := Request{MemMiB: 4000, Cards: 1}
	for _, tt := range []struct {
		policy Policy
		want   []float64
	}{{Binpack, []float64{1, 0}}, {BestFit, []float64{1, 0}}, {Spread, []float64{0, 1}}} {
		var costs []Cost
		for _, cs := range [][]Card{half, empty} {
			c, err := NodeCost(cs, req, tt.policy, nil)
			if err != nil {
				t.Fatal(err)
			}
			costs = append(costs, c)
		}
		if got := Rank(costs, []bool{true, true}); !slices.Equal(got, tt.want) {
			t.Errorf("%s: half, empty scored %v, want %v", tt.policy, got, tt.want)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	if p, err := ParsePolicy("", Spread); err != nil || p != Spread {
		t.Fatal("empty policy must give the default")
	}
	if _, err := ParsePolicy("worstfit", Binpack); err == nil {
		t.Fatal("unknown policy accepted")
	}
}

// downCard marks card i of cards unhealthy.
func downCard(cards []Card, i int) []Card {
	cards[i].Healthy = false
	return cards
}

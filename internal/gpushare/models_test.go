package gpushare

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

// TestParseLists: the card model and card UUID lists of a pod's
// annotations, normalized or refused with what to write.
func TestParseLists(t *testing.T) {
	models, uuids := ParseModels, ParseUUIDs
	for _, tc := range []struct {
		parse             func(string) (string, error)
		in, want, wantErr string
	}{
		{parse: models, in: "A100", want: "A100"},
		{parse: models, in: " a100 , H100,,a100", want: "a100,H100"},
		{parse: models, in: "A100,A100,a100", want: "A100"},
		{parse: models, in: "", wantErr: `"" names no card model; list models or parts of them, comma-separated, e.g. "A100,H100"`},
		{parse: models, in: " , ,", wantErr: "names no card model"},
		{parse: models, in: strings.Repeat("x", 65), wantErr: "is longer than 64 characters"},
		{parse: models, in: "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", want: "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p"},
		{parse: models, in: "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", wantErr: "more than 16 card models listed; name at most 16"},
		{parse: uuids, in: "GPU-8f2b", want: "GPU-8f2b"},
		{parse: uuids, in: " GPU-a , gpu-A,,GPU-b", want: "GPU-a,GPU-b"},
		{parse: uuids, in: "", wantErr: `"" names no card; list card UUIDs as kubectl zz gpu shows them`},
		{parse: uuids, in: "GPU-a b", wantErr: "is not a card UUID"},
		{parse: uuids, in: strings.Repeat("x", 97), wantErr: "is not a card UUID"},
		{parse: uuids, in: "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", wantErr: "more than 16 card UUIDs listed"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := tc.parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parse(%q) = %q, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parse(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestParseModelsHostile: the longest list an annotation may hold, of
// distinct names, is refused at the 17th, not compared name by name.
func TestParseModelsHostile(t *testing.T) {
	var b strings.Builder
	for i := range 30000 {
		fmt.Fprintf(&b, "m%d,", i)
	}
	if _, err := ParseModels(b.String()); err == nil || !strings.Contains(err.Error(), "more than 16 card models listed") {
		t.Fatalf("err = %v", err)
	}
	if got, err := ParseModels(strings.Repeat("A100,", 50000)); err != nil || got != "A100" {
		t.Fatalf("one model repeated: %q, %v", got, err)
	}
}

func TestAdmits(t *testing.T) {
	for _, tc := range []struct {
		models, avoid, uuids, avoidUUIDs, model, uuid string
		want                                          bool
	}{
		{"", "", "", "", "Tesla T4", "GPU-1", true},
		{"a100", "", "", "", "NVIDIA A100-SXM4-80GB", "GPU-1", true},
		{"A100", "", "", "", "NVIDIA H100 80GB HBM3", "GPU-1", false},
		{"A100,H100", "", "", "", "NVIDIA H100 80GB HBM3", "GPU-1", true},
		{"80GB", "", "", "", "NVIDIA A100-SXM4-40GB", "GPU-1", false},
		{"", "T4", "", "", "Tesla T4", "GPU-1", false},
		{"", "T4", "", "", "NVIDIA L4", "GPU-1", true},
		{"NVIDIA", "A100", "", "", "NVIDIA A100-PCIE-40GB", "GPU-1", false}, // avoiding wins
		{"A100", "", "", "", "", "GPU-1", false},                            // an unnamed card is no A100
		{"", "T4", "", "", "", "GPU-1", true},
		{"NVIDIA A100-SXM4-80GB-LONGER", "", "", "", "NVIDIA A100-SXM4-80GB", "GPU-1", false},
		// By UUID: whole UUIDs in any case, never a part of one.
		{"", "", "GPU-1,gpu-2", "", "Tesla T4", "GPU-2", true},
		{"", "", "GPU-1", "", "Tesla T4", "GPU-12", false},
		{"", "", "", "GPU-1", "Tesla T4", "gpu-1", false},
		{"", "", "", "GPU-1", "Tesla T4", "GPU-12", true},
		{"", "", "GPU-1", "GPU-1", "Tesla T4", "GPU-1", false}, // avoiding wins
		{"A100", "", "GPU-1", "", "Tesla T4", "GPU-1", false},  // and the model still counts
	} {
		r := Request{Models: tc.models, AvoidModels: tc.avoid, UUIDs: tc.uuids, AvoidUUIDs: tc.avoidUUIDs}
		c := Card{GPU: contract.GPU{Model: tc.model, UUID: tc.uuid}}
		if got := r.admits(&c); got != tc.want {
			t.Errorf("%s, card %q %s: %v, want %v", r, tc.model, tc.uuid, got, tc.want)
		}
	}
}

// modelCards is one node of 80 GiB cards of the given models, with usedGiB
// used on each (one pod where used) and NUMA nodes numa (-1: unknown).
func modelCards(models []string, usedGiB, numa []int64) []Card {
	cs := numaCards(80, usedGiB, numa)
	for i := range cs {
		cs[i].Model = models[i]
	}
	return cs
}

// TestChooseModels: a pod that names card models gets only cards of them,
// by its policy among those; a node without enough says which models it
// has; and numaCompact never swaps in a card of a model the pod refuses,
// however alike it is.
func TestChooseModels(t *testing.T) {
	const a100, h100, t4 = "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "Tesla T4"
	mixed := []string{a100, h100, a100, h100, a100, h100, a100, h100}
	twoSockets := []int64{0, 0, 0, 0, 1, 1, 1, 1}
	for _, tc := range []struct {
		name    string
		models  []string
		used    []int64
		numa    []int64
		req     Request
		policy  Policy
		want    []int
		wantErr string
	}{
		{"any model: the tightest card", mixed, []int64{10, 40, 0, 0, 0, 0, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 1}, BestFit, []int{1}, ""},
		{"A100 only: the tightest A100", mixed, []int64{10, 40, 0, 0, 0, 0, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 1, Models: "a100"}, BestFit, []int{0}, ""},
		{"not H100: as A100 only", mixed, []int64{10, 40, 0, 0, 0, 0, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 1, AvoidModels: "H100"}, BestFit, []int{0}, ""},
		{"spread among A100s", mixed, []int64{10, 0, 30, 0, 20, 0, 40, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 2, Models: "A100"}, Spread, []int{0, 4}, ""},
		{"binpack among H100s", mixed, []int64{70, 40, 70, 50, 0, 0, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 1, Models: "H100"}, Binpack, []int{3}, ""},
		// Best-fit's tightest cards are 0 and 4, on two sockets; card 7 is
		// alike to both (70 GiB free), so a pod of any model gets 4 and 7 on
		// socket 1, but 7 is an H100 and a pod of A100s keeps 0 and 4.
		{"compaction swaps in an alike card", []string{a100, a100, h100, h100, a100, h100, a100, h100}, []int64{10, 0, 0, 0, 10, 0, 0, 10}, twoSockets, Request{MemMiB: 70 * gib, Cards: 2}, BestFit, []int{4, 7}, ""},
		{"compaction keeps to the models", []string{a100, a100, h100, h100, a100, h100, a100, h100}, []int64{10, 0, 0, 0, 10, 0, 0, 10}, twoSockets, Request{MemMiB: 70 * gib, Cards: 2, Models: "A100"}, BestFit, []int{0, 4}, ""},
		{"no such model", mixed, make([]int64, 8), twoSockets, Request{MemMiB: gib, Cards: 1, Models: "B200"}, BestFit, nil,
			"node has 0 healthy GPU cards of model B200 < 1 asked (its models: 4 NVIDIA A100-SXM4-80GB, 4 NVIDIA H100 80GB HBM3)"},
		{"too few of the model", []string{a100, t4, t4, t4, t4, t4, t4, t4}, make([]int64, 8), twoSockets, Request{MemMiB: gib, Cards: 2, AvoidModels: "T4"}, BestFit, nil,
			"node has 1 healthy GPU cards of not T4 < 2 asked (its models: 1 NVIDIA A100-SXM4-80GB, 7 Tesla T4)"},
		{"enough of the model, too full", mixed, []int64{79, 0, 79, 0, 79, 0, 79, 0}, twoSockets, Request{MemMiB: 2 * gib, Cards: 1, Models: "A100"}, BestFit, nil,
			"largest free card 1024 MiB < 2048 MiB asked"},
		{"multi-card too full lists the model's cards", mixed, []int64{79, 0, 79, 0, 0, 0, 79, 0}, twoSockets, Request{MemMiB: 2 * gib, Cards: 2, Models: "A100"}, BestFit, nil,
			"node has 1 cards with 2048 MiB free < 2 asked (free MiB per card: 0:1024 2:1024 4:81920 6:1024)"},
		{"one card by UUID", mixed, []int64{10, 40, 0, 0, 0, 0, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 1, UUIDs: "c5"}, BestFit, []int{5}, ""},
		{"not the tightest card", mixed, []int64{10, 40, 0, 0, 0, 0, 0, 0}, twoSockets, Request{MemMiB: 20 * gib, Cards: 1, AvoidUUIDs: "C1"}, BestFit, []int{0}, ""},
		{"no such card", mixed, make([]int64, 8), twoSockets, Request{MemMiB: gib, Cards: 1, UUIDs: "GPU-elsewhere"}, BestFit, nil,
			"node has 0 healthy GPU cards of card GPU-elsewhere < 1 asked (its cards: c0, c1, c2, c3, c4, c5, c6, c7)"},
		{"a model and not a card", []string{a100, t4, t4, t4, t4, t4, t4, t4}, make([]int64, 8), twoSockets, Request{MemMiB: gib, Cards: 1, Models: "A100", AvoidUUIDs: "c0"}, BestFit, nil,
			"node has 0 healthy GPU cards of model A100, not card c0 < 1 asked (its models: 1 NVIDIA A100-SXM4-80GB, 7 Tesla T4; its cards: c0, c1, c2, c3, c4, c5, c6, c7)"},
		{"bound to one NUMA node and a model", mixed, []int64{0, 0, 0, 0, 0, 0, 0, 0}, twoSockets, Request{MemMiB: gib, Cards: 3, SameNUMA: true, Models: "A100"}, BestFit, nil,
			"no NUMA node has 3 cards with 1024 MiB free, and zz.io/gpu-numa-bind asks for one (2 on NUMA node 0, 2 on NUMA node 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := modelCards(tc.models, tc.used, tc.numa)
			var h *Headroom
			if tc.policy == Binpack {
				h = NewHeadroom(NewMix(map[Request]int{{MemMiB: 20 * gib, Cards: 1}: 3, {MemMiB: 40 * gib, Cards: 1}: 1}), [][]Card{cs})
			}
			got, ok := chooseAsFitSays(t, cs, tc.req, tc.policy, h, tc.wantErr)
			if !ok {
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Choose = %v, want %v", got, tc.want)
			}
			for _, i := range got {
				if !tc.req.admits(&cs[i]) {
					t.Errorf("card %d is a %s, which %s refuses", i, cs[i].Model, tc.req)
				}
			}
		})
	}
}

// TestStreamShapeIgnoresModels: a pod's models, like its NUMA binding, do
// not make another shape in binpack's mix.
func TestStreamShapeIgnoresModels(t *testing.T) {
	s := NewStream(10)
	for i, r := range []Request{
		{MemMiB: 4 * gib, Cards: 1},
		{MemMiB: 4 * gib, Cards: 1, Models: "A100"},
		{MemMiB: 4 * gib, Cards: 1, AvoidModels: "T4", SameNUMA: true},
		{MemMiB: 4 * gib, Cards: 1, UUIDs: "GPU-1", AvoidUUIDs: "GPU-2"},
	} {
		s.Observe(types.UID(fmt.Sprint("uid-", i)), r)
	}
	if got := s.Mix().Shapes; len(got) != 1 || got[0].Request != (Request{MemMiB: 4 * gib, Cards: 1}) {
		t.Fatalf("mix shapes %v, want one of 4 GiB on 1 card", got)
	}
}

func TestRequestStringNamesModels(t *testing.T) {
	r := Request{MemMiB: 4096, Cards: 2, Models: "A100,H100", AvoidModels: "PCIE", UUIDs: "GPU-1,GPU-2", AvoidUUIDs: "GPU-3"}
	if got, want := r.String(), "4096 MiB on each of 2 cards, model A100 or H100, not PCIE, card GPU-1 or GPU-2, not card GPU-3"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestSetMemTotal: every container asking for GPU memory gets
// zz.io/gpu-mem-total = gpu-mem × cards in limits and requests, over any
// value it wrote; others and malformed requests are left alone.
func TestSetMemTotal(t *testing.T) {
	q := resource.MustParse
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: q("1Gi")}}}},
		Containers: []corev1.Container{
			{Name: "two", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: q("3000Mi"), contract.ResourceGPU: q("2"),
				contract.ResourceGPUMemTotal: q("1Mi")}}}, // understated: replaced
			{Name: "requests-only", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{contract.ResourceGPUMem: q("4Gi"), contract.ResourceGPU: q("4")}}},
			{Name: "cpu", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("1")}}},
			{Name: "bytes", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPUMem: q("4")}}},
		},
	}}
	SetMemTotal(pod)
	want := map[string]string{"init": "1Gi", "two": "6000Mi", "requests-only": "16Gi", "cpu": "", "bytes": ""}
	for _, c := range Containers(pod) {
		l, inLimits := c.Resources.Limits[contract.ResourceGPUMemTotal]
		r, inRequests := c.Resources.Requests[contract.ResourceGPUMemTotal]
		switch w := want[c.Name]; {
		case w == "" && (inLimits || inRequests):
			t.Errorf("container %s got a total %v/%v; it asks for no valid GPU memory", c.Name, l, r)
		case w != "" && (l.String() != w || r.String() != w):
			t.Errorf("container %s: total %s in limits, %s in requests; want %s", c.Name, l.String(), r.String(), w)
		}
	}
}

package extender

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestShapeMetrics: the collector exports, per shape of the recent stream,
// its share, the pods of it the nodes could still take and the free memory
// it cannot use, labelled so that PromQL can join them.
func TestShapeMetrics(t *testing.T) {
	l := gpushare.NewLedger()
	l.SetNode(gpuNode("a", 16384, 16384))
	// Two 12 GiB pods leave two 4 GiB holes: no room for a third.
	for _, p := range []string{"p1", "p2"} {
		pod := gpuPod(p, "12Gi", 1)
		pod.Spec.NodeName = "a"
		l.Stream().ObservePod(pod)
		req, err := gpushare.PodRequest(pod)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Reserve("a", types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, pod.UID, req, gpushare.BestFit, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	small := gpuPod("p3", "1Gi", 1)
	l.Stream().ObservePod(small)
	want := `
# HELP zz_gpu_shape_share Share of the recent GPU requests (the last 1,000 pods) that ask for this shape: memory_bytes on each of cards cards.
# TYPE zz_gpu_shape_share gauge
zz_gpu_shape_share{cards="1",memory_bytes="1073741824",shape="1024 MiB on 1 card"} 0.3333333333333333
zz_gpu_shape_share{cards="1",memory_bytes="12884901888",shape="12288 MiB on 1 card"} 0.6666666666666666
# HELP zz_gpu_shape_room_pods More pods of this shape the GPU nodes could take, each node counted alone; 0: the next one stays Pending.
# TYPE zz_gpu_shape_room_pods gauge
zz_gpu_shape_room_pods{cards="1",memory_bytes="1073741824",shape="1024 MiB on 1 card"} 8
zz_gpu_shape_room_pods{cards="1",memory_bytes="12884901888",shape="12288 MiB on 1 card"} 0
# HELP zz_gpu_shape_unusable_memory_bytes Free GPU memory no pod of this shape can use: on cards with less free than it asks, or on nodes with fewer such cards than it needs.
# TYPE zz_gpu_shape_unusable_memory_bytes gauge
zz_gpu_shape_unusable_memory_bytes{cards="1",memory_bytes="1073741824",shape="1024 MiB on 1 card"} 0
zz_gpu_shape_unusable_memory_bytes{cards="1",memory_bytes="12884901888",shape="12288 MiB on 1 card"} 8.589934592e+09
`
	err := testutil.CollectAndCompare(&gpuCollector{ledger: l}, strings.NewReader(want), "zz_gpu_shape_share", "zz_gpu_shape_room_pods", "zz_gpu_shape_unusable_memory_bytes")
	if err != nil {
		t.Error(err)
	}
}

// numaNode is gpuNode with each card's NUMA node (-1: unpublished).
func numaNode(name string, mib int64, numa ...int64) *corev1.Node {
	n := gpuNode(name)
	inv := &contract.NodeGPUInventory{Version: contract.InventoryVersion}
	for i, d := range numa {
		g := contract.GPU{Index: i, UUID: fmt.Sprintf("GPU-%s-%d", name, i), Model: "T4", MemoryMiB: mib, Healthy: true}
		if d >= 0 {
			g.NUMANode = &d
		}
		inv.Cards = append(inv.Cards, g)
	}
	v, _ := inv.Encode()
	n.Annotations[contract.AnnotationNodeGPUInventory] = v
	return n
}

// TestMultiCardNUMAMetrics: zz_gpu_multi_card_pods counts the pods on several
// cards by whether their cards share a NUMA node; one-card pods are not
// counted.
func TestMultiCardNUMAMetrics(t *testing.T) {
	l := gpushare.NewLedger()
	l.SetNode(numaNode("alternate", 16384, 0, 1, 0, 1)) // card i on NUMA node i%2
	l.SetNode(numaNode("unknown", 16384, -1, -1))
	l.SetNode(numaNode("socket", 16384, 0, 0))
	reserve := func(node, name string, mib int64, cards int) []int {
		t.Helper()
		a, err := l.Reserve(node, types.NamespacedName{Namespace: "ns", Name: name}, types.UID(name), gpushare.Request{MemMiB: mib, Cards: cards}, gpushare.BestFit, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return a.Indexes
	}
	reserve("alternate", "one-card", 12288, 1)  // card 0
	reserve("alternate", "one-card2", 12288, 1) // card 1
	// The tightest pair (cards 0 and 1, 4 GiB free) and the next (2 and 3)
	// each sit on both NUMA nodes, with no alike card to swap in.
	if got := reserve("alternate", "tight", 4096, 2); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("tight pair: cards %v", got)
	}
	reserve("alternate", "rest", 12288, 2)
	reserve("unknown", "blind", 1024, 2)
	reserve("socket", "together", 1024, 2)
	want := `
# HELP zz_gpu_multi_card_pods Pods holding memory on several GPU cards, by whether those cards are on one NUMA node (one), span several (several), or include a card of unknown NUMA node (unknown).
# TYPE zz_gpu_multi_card_pods gauge
zz_gpu_multi_card_pods{numa="one"} 1
zz_gpu_multi_card_pods{numa="several"} 2
zz_gpu_multi_card_pods{numa="unknown"} 1
`
	if err := testutil.CollectAndCompare(&gpuCollector{ledger: l}, strings.NewReader(want), "zz_gpu_multi_card_pods"); err != nil {
		t.Error(err)
	}
}

package extender

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/prometheus/client_golang/prometheus/testutil"

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

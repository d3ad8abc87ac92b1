package gpushare

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

// BenchmarkScores is the extender's GPU prioritize over 1,000 nodes of 8
// cards, a quarter used, with a stream of MaxShapes request shapes.
func BenchmarkScores(b *testing.B) {
	l := NewLedger()
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprint("node-", i)
		// Each node its own card UUIDs: a UUID two nodes list takes no pod.
		inv := contract.NodeGPUInventory{Version: contract.InventoryVersion}
		for c := range 8 {
			inv.Cards = append(inv.Cards, contract.GPU{Index: c, UUID: fmt.Sprint("GPU-", i, "-", c), MemoryMiB: 40960, Healthy: true})
		}
		raw, err := inv.Encode()
		if err != nil {
			b.Fatal(err)
		}
		l.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: names[i], Annotations: map[string]string{contract.AnnotationNodeGPUInventory: raw}},
			Status: corev1.NodeStatus{Capacity: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("128")}}})
		for c := range i % 3 {
			uid := types.UID(fmt.Sprint(i, "-", c))
			if _, err := l.Reserve(names[i], types.NamespacedName{Name: string(uid)}, uid, Request{MemMiB: int64(1000 * (c + i%7 + 1)), Cards: 1}, BestFit, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range MaxShapes {
		l.Stream().Observe(types.UID(fmt.Sprint("s", i)), Request{MemMiB: int64(1024 * (i + 1)), Cards: 1 + i%4})
	}
	for _, req := range []Request{{MemMiB: 8192, Cards: 1}, {MemMiB: 8192, Cards: 4}} {
		for _, policy := range []Policy{Binpack, BestFit} {
			b.Run(fmt.Sprintf("%s/cards=%d", policy, req.Cards), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					l.Scores(names, req, policy)
				}
			})
		}
	}
}

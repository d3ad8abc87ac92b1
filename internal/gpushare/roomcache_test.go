package gpushare

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

// TestRoomCacheEqualsRecount drives a ledger through random node and pod
// changes (inventories replaced, broken and deleted, pods reserved,
// released and expired) under a mix that keeps changing, more shapes than
// the cache keeps, and checks after every step that the cached headroom is
// exactly the recount over every known node.
func TestRoomCacheEqualsRecount(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			l := NewLedger()
			var pool []Request
			for i := range 2 * maxCachedShapes {
				pool = append(pool, Request{MemMiB: int64(512 * (1 + i%40)), Cards: 1 + i/40%4})
			}
			nodes := []string{"n0", "n1", "n2", "n3", "n4", "n5"}
			var live []types.UID
			now := time.Unix(1e9, 0)
			for step := range 1500 {
				name := nodes[rng.IntN(len(nodes))]
				switch op := rng.IntN(10); {
				case op < 2:
					cards := randomCards(rng)
					node := gpuNode(t, name, cards...)
					// 2–5 sharing slots per card, so slots run out too.
					slots := int64((2 + rng.IntN(4)) * len(cards))
					node.Status.Capacity = corev1.ResourceList{contract.ResourceGPU: *resource.NewQuantity(slots, resource.DecimalSI)}
					if rng.IntN(8) == 0 {
						node.Annotations[contract.AnnotationNodeGPUInventory] = "{broken"
					}
					l.SetNode(node)
				case op < 3:
					l.DeleteNode(name)
				case op < 7:
					uid := types.UID(fmt.Sprint("p", step))
					req := pool[rng.IntN(len(pool))]
					if _, err := l.Reserve(name, types.NamespacedName{Name: string(uid)}, uid, req, Binpack, now); err == nil {
						live = append(live, uid)
					}
				case op < 9 && len(live) > 0:
					i := rng.IntN(len(live))
					l.DeletePod(live[i])
					live = slices.Delete(live, i, i+1)
				default:
					now = now.Add(time.Minute)
					l.Expire(now, 3*time.Minute)
				}
				counts := map[Request]int{}
				for range 1 + rng.IntN(MaxShapes) {
					counts[pool[rng.IntN(len(pool))]] += 1 + rng.IntN(5)
				}
				if err := cacheAgrees(l, NewMix(counts)); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				if len(l.room.sums) > maxCachedShapes+MaxShapes {
					t.Fatalf("step %d: the cache sums %d shapes, more than %d", step, len(l.room.sums), maxCachedShapes+MaxShapes)
				}
			}
		})
	}
}

func randomCards(rng *rand.Rand) []int64 {
	sizes := []int64{16384, 24576, 40960, 81920}
	cs := make([]int64, 1+rng.IntN(8))
	for i := range cs {
		cs[i] = sizes[rng.IntN(len(sizes))]
	}
	return cs
}

// TestRoomCacheConcurrent scores (read lock, the cache's own lock) while
// pods are reserved and released (write lock); -race checks the locking,
// and the cache must still equal the recount afterwards.
func TestRoomCacheConcurrent(t *testing.T) {
	l := NewLedger()
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprint("n", i))
		l.SetNode(gpuNode(t, names[i], 40960, 40960, 81920, 16384))
	}
	for i := range 30 {
		l.Stream().Observe(types.UID(fmt.Sprint("s", i)), Request{MemMiB: int64(1024 * (1 + i%12)), Cards: 1 + i%3})
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				if g%2 == 0 {
					l.Scores(names, Request{MemMiB: 4096, Cards: 1 + i%2}, Binpack)
					continue
				}
				uid := types.UID(fmt.Sprint(g, "-", i))
				if _, err := l.Reserve(names[i%len(names)], types.NamespacedName{Name: string(uid)}, uid, Request{MemMiB: 2048, Cards: 1}, Binpack, time.Now()); err == nil && i%3 == 0 {
					l.DeletePod(uid)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if err := cacheAgrees(l, l.Stream().Mix()); err != nil {
		t.Fatal(err)
	}
}

// cacheAgrees compares l's cached headroom for mix with NewHeadroom's
// recount over every node l knows.
func cacheAgrees(l *Ledger, mix *Mix) error {
	l.mu.RLock()
	got := l.room.headroom(mix, l.nodes)
	var all [][]Card
	for _, n := range l.nodes {
		if n.known && n.err == nil {
			all = append(all, n.cards)
		}
	}
	l.mu.RUnlock()
	want := NewHeadroom(mix, all)
	if !slices.Equal(got.Room, want.Room) || got.FreeMiB != want.FreeMiB || got.Horizon != want.Horizon || !slices.Equal(got.phi, want.phi) {
		return fmt.Errorf("cached headroom %+v, recount %+v", got, want)
	}
	return nil
}

// TestRoomCacheForgetsDeletedNodes: a ledger that never prices binpack
// (every call bestfit) must not keep the nodes it has deleted.
func TestRoomCacheForgetsDeletedNodes(t *testing.T) {
	l := NewLedger()
	for i := range 500 {
		name := fmt.Sprint("n", i)
		l.SetNode(gpuNode(t, name, 16384, 16384))
		uid := types.UID(fmt.Sprint("p", i))
		if _, err := l.Reserve(name, types.NamespacedName{Name: string(uid)}, uid, Request{MemMiB: 1024, Cards: 1}, BestFit, time.Now()); err != nil {
			t.Fatal(err)
		}
		l.Scores([]string{name}, Request{MemMiB: 1024, Cards: 1}, BestFit)
		l.DeleteNode(name) // the pod keeps it until it goes
		l.DeletePod(uid)
	}
	if len(l.nodes) != 0 || len(l.room.dirty) != 0 {
		t.Fatalf("after every node and pod went: %d nodes, %d dirty in the room cache", len(l.nodes), len(l.room.dirty))
	}
}

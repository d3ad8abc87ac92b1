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

// TestLedgerRandomOps drives a ledger with random reservations, binds,
// deletions, reservations that never bind, and the passing of time, and
// checks after every step what no sequence may break: no card holds more
// memory or pods than it has, what each card holds is exactly what the
// bound pods and live reservations hold there, and a ledger rebuilt from
// the nodes and the bound pods alone (an extender restart) charges every
// card as the running one does once its unbound reservations lapse.
// Seeded: a failure names its seed and step.
func TestLedgerRandomOps(t *testing.T) {
	nodes := []*corev1.Node{gpuNode(t, "a", 16000, 16000), gpuNode(t, "b", 40000), gpuNode(t, "c", 8000, 8000, 8000, 8000)}
	nodes[0].Status.Capacity = corev1.ResourceList{contract.ResourceGPU: resource.MustParse("6")} // 3 slots a card
	sizes := []int64{1000, 2000, 4000, 8000, 15000, 16000}
	policies := []Policy{Binpack, BestFit, Spread}
	for seed := uint64(1); seed <= 25; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		now := tNow
		l := NewLedger()
		l.Now = func() time.Time { return now }
		for _, n := range nodes {
			l.SetNode(n)
		}
		bound := map[types.UID]*corev1.Pod{}
		pending := map[types.UID]reservation{} // reserved, not bound
		for step := range 300 {
			where := fmt.Sprintf("seed %d step %d", seed, step)
			switch op := r.IntN(10); {
			case op < 5: // the scheduler asks for a node; the bind may never come
				uid := types.UID(fmt.Sprintf("p%d-%d", seed, step))
				node := nodes[r.IntN(len(nodes))].Name
				req := Request{MemMiB: sizes[r.IntN(len(sizes))], Cards: 1 + r.IntN(2)*r.IntN(2)}
				a, err := l.Reserve(node, types.NamespacedName{Namespace: "ns", Name: string(uid)}, uid, req, policies[r.IntN(len(policies))], now)
				if err != nil {
					continue
				}
				pod := podWith(string(uid), node, asking(req.MemMiB, req.Cards), a)
				if r.IntN(4) == 0 {
					pending[uid] = reservation{node, *a}
					continue
				}
				pod.Status.Phase = corev1.PodRunning
				if err := l.SetPod(pod); err != nil {
					t.Fatalf("%s: the bound pod's own assignment refused: %v", where, err)
				}
				bound[uid] = pod
			case op < 8 && len(bound) > 0: // a pod goes away
				uids := sortedUIDs(bound)
				uid := uids[r.IntN(len(uids))]
				l.DeletePod(uid)
				delete(bound, uid)
			default: // time passes: unbound reservations lapse
				now = now.Add(time.Duration(1+r.IntN(90)) * time.Second)
				l.Expire(now, DefaultAssumeTTL)
				for uid, p := range pending {
					if now.Sub(p.a.AssumeTime) > DefaultAssumeTTL {
						delete(pending, uid)
					}
				}
			}
			checkCards(t, where, l, nodes, bound, pending)
		}
		// An extender restart: nodes and bound pods only.
		rebuilt := NewLedger()
		rebuilt.Now = func() time.Time { return now }
		for _, n := range nodes {
			rebuilt.SetNode(n)
		}
		for _, uid := range sortedUIDs(bound) {
			if err := rebuilt.SetPod(bound[uid]); err != nil {
				t.Fatalf("seed %d: rebuild refused %s: %v", seed, uid, err)
			}
		}
		now = now.Add(DefaultAssumeTTL + time.Minute)
		l.Expire(now, DefaultAssumeTTL)
		checkCards(t, fmt.Sprintf("seed %d rebuilt", seed), rebuilt, nodes, bound, nil)
		checkCards(t, fmt.Sprintf("seed %d after the reservations lapsed", seed), l, nodes, bound, nil)
	}
}

type reservation struct {
	node string
	a    Assignment
}

func sortedUIDs(m map[types.UID]*corev1.Pod) []types.UID {
	out := make([]types.UID, 0, len(m))
	for uid := range m {
		out = append(out, uid)
	}
	slices.Sort(out)
	return out
}

// checkCards compares every card of l with what bound and pending hold on
// it, and with its size and slots.
func checkCards(t *testing.T, where string, l *Ledger, nodes []*corev1.Node, bound map[types.UID]*corev1.Pod, pending map[types.UID]reservation) {
	t.Helper()
	type key struct {
		node  string
		index int
	}
	mem, pods := map[key]int64{}, map[key]int{}
	charge := func(node string, a Assignment) {
		for _, i := range a.Indexes {
			mem[key{node, i}] += a.MemMiB
			pods[key{node, i}]++
		}
	}
	for _, p := range bound {
		a, err := PodAssignment(p)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		charge(p.Spec.NodeName, *a)
	}
	for _, p := range pending {
		charge(p.node, p.a)
	}
	for _, n := range nodes {
		cards, err := l.Cards(n.Name)
		if err != nil {
			t.Fatalf("%s: node %s: %v", where, n.Name, err)
		}
		for _, c := range cards {
			k := key{n.Name, c.Index}
			switch {
			case c.UsedMiB > c.MemoryMiB:
				t.Fatalf("%s: node %s card %d holds %d MiB of %d", where, n.Name, c.Index, c.UsedMiB, c.MemoryMiB)
			case c.Slots > 0 && c.Pods > c.Slots:
				t.Fatalf("%s: node %s card %d holds %d pods of %d slots", where, n.Name, c.Index, c.Pods, c.Slots)
			case c.UsedMiB != mem[k] || c.Pods != pods[k]:
				t.Fatalf("%s: node %s card %d charges %d MiB / %d pods, the pods hold %d MiB / %d", where, n.Name, c.Index, c.UsedMiB, c.Pods, mem[k], pods[k])
			}
		}
	}
}

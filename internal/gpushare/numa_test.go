package gpushare

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/zzcloud/zz/internal/contract"
)

// numaCards builds cards of memGiB each with usedGiB[i] used on NUMA node
// numa[i] (-1: unknown), 16 slots, one pod per GiB-used card.
func numaCards(memGiB int64, usedGiB []int64, numa []int64) []Card {
	cs := make([]Card, len(usedGiB))
	for i := range cs {
		cs[i] = Card{GPU: contract.GPU{Index: i, UUID: fmt.Sprint("c", i), MemoryMiB: memGiB * gib, Healthy: true}, UsedMiB: usedGiB[i] * gib, Slots: 16}
		if usedGiB[i] > 0 {
			cs[i].Pods = 1
		}
		if numa[i] >= 0 {
			n := numa[i]
			cs[i].NUMANode = &n
		}
	}
	return cs
}

func TestChooseKeepsMultiCardPodsOnOneNUMANode(t *testing.T) {
	twoSockets := []int64{0, 0, 0, 0, 1, 1, 1, 1}
	for _, tc := range []struct {
		name   string
		used   []int64
		numa   []int64
		sick   []int
		req    Request
		policy Policy
		want   []int
	}{
		{"the lowest empty cards straddle the sockets: the pod moves to socket 1",
			[]int64{48, 48, 48, 0, 0, 0, 0, 0}, twoSockets, nil, Request{MemMiB: 40 * gib, Cards: 2}, BestFit, []int{4, 5}},
		{"binpack alike",
			[]int64{48, 48, 48, 0, 0, 0, 0, 0}, twoSockets, nil, Request{MemMiB: 40 * gib, Cards: 2}, Binpack, []int{4, 5}},
		{"spread alike",
			[]int64{48, 48, 48, 0, 0, 0, 0, 0}, twoSockets, nil, Request{MemMiB: 40 * gib, Cards: 2}, Spread, []int{4, 5}},
		{"already on one socket: unchanged",
			[]int64{48, 48, 0, 0, 0, 0, 0, 0}, twoSockets, nil, Request{MemMiB: 40 * gib, Cards: 2}, BestFit, []int{2, 3}},
		{"no socket has four alike cards: the packing's choice stands",
			[]int64{48, 48, 0, 0, 48, 48, 0, 0}, twoSockets, nil, Request{MemMiB: 40 * gib, Cards: 4}, BestFit, []int{2, 3, 6, 7}},
		{"a card's NUMA node unknown: index order",
			[]int64{48, 48, 48, 0, 0, 0, 0, 0}, []int64{0, 0, 0, 0, 1, 1, 1, -1}, nil, Request{MemMiB: 40 * gib, Cards: 2}, BestFit, []int{3, 4}},
		{"one NUMA node: index order",
			[]int64{48, 48, 48, 0, 0, 0, 0, 0}, []int64{0, 0, 0, 0, 0, 0, 0, 0}, nil, Request{MemMiB: 40 * gib, Cards: 2}, BestFit, []int{3, 4}},
		{"never a card the packing can tell apart: the tight pair stays split",
			// Cards 2 and 5 have 20 GiB free, the tightest fit for 16 GiB;
			// the emptier cards of socket 0 would cost the packing.
			[]int64{0, 0, 60, 0, 0, 60, 0, 0}, twoSockets, nil, Request{MemMiB: 16 * gib, Cards: 2}, BestFit, []int{2, 5}},
		{"an unhealthy alike card is no way out",
			[]int64{48, 48, 48, 0, 0, 0, 0, 0}, twoSockets, []int{5, 6, 7}, Request{MemMiB: 40 * gib, Cards: 2}, BestFit, []int{3, 4}},
		{"the tightest NUMA node of those that fit: socket 1's two, not socket 2's four",
			[]int64{48, 0, 0, 0, 0, 0, 0, 48}, []int64{0, 0, 1, 1, 2, 2, 2, 2}, nil, Request{MemMiB: 40 * gib, Cards: 2}, BestFit, []int{2, 3}},
		{"the tight pair straddles the sockets and nothing is alike to it: unchanged",
			// 40 GiB fits the two 48-free cards tightest, one on each socket.
			[]int64{32, 0, 0, 0, 32, 0, 0, 0}, []int64{0, 0, 0, 1, 1, 1, 1, 1}, nil, Request{MemMiB: 40 * gib, Cards: 2}, BestFit, []int{0, 4}},
		{"mixed classes that one socket holds: the empty card swapped for one beside the tight pair",
			[]int64{0, 0, 0, 32, 32, 0, 0, 0}, []int64{0, 0, 0, 1, 1, 1, 1, 1}, nil, Request{MemMiB: 40 * gib, Cards: 3}, BestFit, []int{3, 4, 5}},
		{"one card: untouched",
			[]int64{48, 48, 48, 0, 0, 0, 0, 0}, twoSockets, nil, Request{MemMiB: 40 * gib, Cards: 1}, BestFit, []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := numaCards(80, tc.used, tc.numa)
			for _, i := range tc.sick {
				cs[i].Healthy = false
			}
			var h *Headroom
			if tc.policy == Binpack {
				h = NewHeadroom(NewMix(map[Request]int{tc.req: 3, {MemMiB: 4 * gib, Cards: 1}: 5}), [][]Card{cs})
			}
			got, err := Choose(cs, tc.req, tc.policy, h)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Choose = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNUMACompactCostsThePackingNothing: on random nodes, whatever the
// policy, the cards Choose returns are alike, one for one, to the ones the
// policy chose (so every score, the headroom and the books are the same) and
// span no more NUMA nodes.
func TestNUMACompactCostsThePackingNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	moved := 0
	for range 3000 {
		n := 2 + r.IntN(10)
		used, numa := make([]int64, n), make([]int64, n)
		domains := 1 + r.IntN(4)
		for i := range used {
			used[i] = []int64{0, 0, 0, 8, 16, 40}[r.IntN(6)]
			numa[i] = int64(i * domains / n)
		}
		cs := numaCards(80, used, numa)
		if r.IntN(4) == 0 {
			cs[r.IntN(n)].Healthy = false
		}
		req := Request{MemMiB: int64(1+r.IntN(40)) * gib, Cards: 1 + r.IntN(min(n, 4))}
		for _, policy := range []Policy{Binpack, BestFit, Spread} {
			h := NewHeadroom(NewMix(map[Request]int{req: 2, {MemMiB: 8 * gib, Cards: 2}: 1}), [][]Card{cs})
			raw, _, _, err := choose(cs, req, policy, h)
			if err != nil {
				continue
			}
			got, err := Choose(cs, req, policy, h)
			if err != nil {
				t.Fatal(err)
			}
			kinds := func(set []int) []alike {
				var out []alike
				for _, i := range set {
					out = append(out, alikeOf(&cs[i]))
				}
				slices.SortFunc(out, func(a, b alike) int {
					return int(sign(a.mem-b.mem)*4 + sign(a.free-b.free)*2 + sign(int64(a.slots-b.slots)))
				})
				return out
			}
			spans := func(set []int) int {
				seen := map[int64]bool{}
				for _, i := range set {
					seen[*cs[i].NUMANode] = true
				}
				return len(seen)
			}
			if !slices.Equal(kinds(got), kinds(raw)) {
				t.Fatalf("%s %s: chose %v, compacted to %v: not alike", policy, req, raw, got)
			}
			if spans(got) > spans(raw) {
				t.Fatalf("%s %s: %v spans %d NUMA nodes, the policy's %v %d", policy, req, got, spans(got), raw, spans(raw))
			}
			if len(slices.Compact(slices.Clone(got))) != req.Cards {
				t.Fatalf("%s %s: got %v", policy, req, got)
			}
			for _, i := range got {
				if !cs[i].Healthy || cs[i].FreeMiB() < req.MemMiB {
					t.Fatalf("%s %s: card %d cannot hold it", policy, req, i)
				}
			}
			if spans(got) < spans(raw) {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Fatal("no choice was ever moved to fewer NUMA nodes: the test no longer tests numaCompact")
	}
	t.Logf("%d choices moved to fewer NUMA nodes", moved)
}

// numaCluster is simCluster with NUMA nodes as servers have them: 8-card
// nodes four cards a socket, 4-card nodes two, the 2-card nodes one each.
func numaCluster() [][]Card {
	nodes := simCluster()
	for _, cs := range nodes {
		for i := range cs {
			n := int64(i / max(1, len(cs)/2))
			cs[i].NUMANode = &n
		}
	}
	return nodes
}

// numaCounter counts the multi-card pods placed and those whose cards span
// more than one NUMA node.
type numaCounter struct {
	*extenderPlacer
	nodes         [][]Card
	multi, across int
}

func (c *numaCounter) place(nodes [][]Card, req Request) (placed, bool) {
	p, ok := c.extenderPlacer.place(nodes, req)
	if ok && req.Cards > 1 {
		c.multi++
		for _, i := range p.idx[1:] {
			if *nodes[p.node][i].NUMANode != *nodes[p.node][p.idx[0]].NUMANode {
				c.across++
				break
			}
		}
	}
	return p, ok
}

// TestPackingNUMA replays the packing families on numaCluster with binpack
// placing on the cards it chose and on those numaCompact swaps in. Where pods
// only arrive, the memory placed before the first refusal must be the same
// (the swaps are among cards no score can tell apart, so the two clusters stay
// the same up to which card is which); under churn the alike cards' pods
// leave at different times, so a trace may go either way, and those are
// logged. It logs how many multi-card pods span two NUMA nodes each way
// (extender/README.md, NUMA; ZZ_PACKING_SEEDS seeds, default 10).
func TestPackingNUMA(t *testing.T) {
	seeds := envInt(t, "ZZ_PACKING_SEEDS", packingSeeds)
	if raceOn {
		seeds = 2
	}
	var tab strings.Builder
	tab.WriteString("| family | multi-card pods placed | across NUMA nodes, policy's cards | after numaCompact |\n|---|---|---|---|\n")
	var rawAcross, across, diverged int
	for _, fam := range families {
		var multi, ra, ca int
		for s := range uint64(seeds) {
			tr := fam.gen(s)
			raw := &numaCounter{extenderPlacer: newExtender(Binpack, s)}
			raw.rawCards = true
			compact := &numaCounter{extenderPlacer: newExtender(Binpack, s)}
			a, b := replayOn(t, numaCluster(), tr, raw), replayOn(t, numaCluster(), tr, compact)
			switch departs := slices.ContainsFunc(tr, func(ev event) bool { return ev.Depart >= 0 }); {
			case a != b && !departs:
				t.Errorf("%s seed %d: %d MiB placed on the policy's cards, %d after numaCompact", fam.name, s, a, b)
			case a != b:
				// Alike cards hold different pods, which leave at different
				// times: the futures differ, either way.
				diverged++
				t.Logf("%s seed %d: %d MiB placed on the policy's cards, %d after numaCompact (%+.4f)", fam.name, s, a, b, float64(b-a)/float64(a))
			}
			multi += compact.multi
			ra += raw.across
			ca += compact.across
		}
		rawAcross += ra
		across += ca
		fmt.Fprintf(&tab, "| %s | %d | %d | %d |\n", fam.name, multi, ra, ca)
	}
	if across > rawAcross {
		t.Errorf("numaCompact put %d multi-card pods across NUMA nodes, the policy's cards %d", across, rawAcross)
	}
	t.Logf("binpack on simCluster with NUMA nodes, seeds 0–%d (%d churn traces placed differently):\n%s", seeds-1, diverged, tab.String())
}

// chooseAsFitSays runs Choose and checks it agrees with Fit, and with
// NodeCost where the node is refused: wantErr is the exact refusal ("" for
// none). ok is false when the node was refused as wanted.
func chooseAsFitSays(t *testing.T, cs []Card, req Request, policy Policy, h *Headroom, wantErr string) (got []int, ok bool) {
	t.Helper()
	got, err := Choose(cs, req, policy, h)
	if fitErr := Fit(cs, req); (fitErr == nil) != (err == nil) {
		t.Fatalf("Fit %v, Choose %v", fitErr, err)
	}
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Fatalf("err %v, want %q", err, wantErr)
		}
		if _, cerr := NodeCost(cs, req, policy, h); cerr == nil {
			t.Fatal("NodeCost scored a node Fit refuses")
		}
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return got, true
}

// TestSameNUMA: a pod bound to one NUMA node (zz.io/gpu-numa-bind) gets the
// policy's choice on the NUMA node where it costs least, or a reason naming
// what each NUMA node has; a card of unknown node serves any.
func TestSameNUMA(t *testing.T) {
	twoSockets := []int64{0, 0, 0, 0, 1, 1, 1, 1}
	// Cards 0, 1 and 4 have 32 GiB free: the tightest three for 30 GiB,
	// across both sockets, and no alike card lets numaCompact fix that.
	tight := []int64{48, 48, 0, 0, 48, 0, 0, 0}
	for _, tc := range []struct {
		name    string
		used    []int64
		numa    []int64
		req     Request
		policy  Policy
		want    []int
		wantErr string
	}{
		{"not bound: the tightest cards, across sockets", tight, twoSockets, Request{MemMiB: 30 * gib, Cards: 3}, BestFit, []int{0, 1, 4}, ""},
		{"bound: socket 0, where two tight cards are", tight, twoSockets, Request{MemMiB: 30 * gib, Cards: 3, SameNUMA: true}, BestFit, []int{0, 1, 2}, ""},
		// Binpack on socket 0 takes what its headroom prefers within its band
		// there; socket 1's best (0.625 of its cards left) is outside the
		// band of socket 0's tightest (0.225), so it is not weighed.
		{"bound, binpack: socket 0", tight, twoSockets, Request{MemMiB: 30 * gib, Cards: 3, SameNUMA: true}, Binpack, []int{0, 2, 3}, ""},
		{"bound, spread: socket 1's three empty cards", tight, twoSockets, Request{MemMiB: 30 * gib, Cards: 3, SameNUMA: true}, Spread, []int{5, 6, 7}, ""},
		{"bound, no socket has room", []int64{48, 48, 0, 0, 48, 48, 48, 0}, twoSockets, Request{MemMiB: 40 * gib, Cards: 3, SameNUMA: true}, BestFit, nil,
			"no NUMA node has 3 cards with 40960 MiB free, and zz.io/gpu-numa-bind asks for one (2 on NUMA node 0, 1 on NUMA node 1)"},
		{"bound, more cards than a socket has", make([]int64, 8), twoSockets, Request{MemMiB: gib, Cards: 5, SameNUMA: true}, BestFit, nil,
			"no NUMA node has 5 cards with 1024 MiB free, and zz.io/gpu-numa-bind asks for one (4 on NUMA node 0, 4 on NUMA node 1)"},
		{"bound, a card of unknown node serves either socket", []int64{0, 0, 48, 48, 0, 48, 48, 0}, []int64{0, 0, 0, 0, 1, 1, 1, -1}, Request{MemMiB: 40 * gib, Cards: 3, SameNUMA: true}, BestFit, []int{0, 1, 7}, ""},
		{"bound, no NUMA node known: one node", tight, []int64{-1, -1, -1, -1, -1, -1, -1, -1}, Request{MemMiB: 30 * gib, Cards: 3, SameNUMA: true}, BestFit, []int{0, 1, 4}, ""},
		{"bound, one card: as not bound", tight, twoSockets, Request{MemMiB: 30 * gib, Cards: 1, SameNUMA: true}, BestFit, []int{0}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := numaCards(80, tc.used, tc.numa)
			var h *Headroom
			if tc.policy == Binpack {
				h = NewHeadroom(NewMix(map[Request]int{{MemMiB: 30 * gib, Cards: 3}: 3, {MemMiB: 4 * gib, Cards: 1}: 5}), [][]Card{cs})
			}
			got, ok := chooseAsFitSays(t, cs, tc.req, tc.policy, h, tc.wantErr)
			if !ok {
				return
			}
			if slices.Sort(got); !slices.Equal(got, tc.want) {
				t.Errorf("Choose = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSameNUMATwoCards: a 2-card pod bound to one NUMA node does not
// straddle the sockets (the tests bound 1- and 3-card pods only: a
// mutation audit).
func TestSameNUMATwoCards(t *testing.T) {
	twoSockets := []int64{0, 0, 0, 0, 1, 1, 1, 1}
	cs := numaCards(80, []int64{48, 0, 0, 0, 48, 0, 0, 0}, twoSockets)
	got, err := Choose(cs, Request{MemMiB: 30 * gib, Cards: 2, SameNUMA: true}, BestFit, nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("Choose = %v, want [0 1] (one NUMA node)", got)
	}
}

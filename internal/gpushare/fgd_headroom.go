package gpushare

import (
	"math"
	"sync"
)

// Binpack, headroom-aware best-fit. FGD (fgd.go) asks of a placement how much
// free memory it leaves that the coming request shapes cannot use; on the
// packing families that is a weak guide (BenchmarkPacking): what ends a
// packing is the first request that finds no room, typically a whole card or
// a pod on four cards arriving when the cluster is ~90% full. Binpack
// therefore watches, for every shape of the recent stream (Mix), the
// cluster's headroom: how many more pods of that shape its nodes could still
// take (each node counted alone), and how soon at the stream's pace the
// cluster will be full (Horizon, arrivals). A shape is scarce when its room
// is small against the pods of it expected before then; a placement costs
//
//	ΔΦ,  Φ = Σ_m exp(−scarcity · room_m / (w_m · Horizon))
//
// the growth of that scarcity potential, so a 4 GiB pod goes to a 16 GiB
// card rather than open the last empty 80 GiB one, a pod on two cards spares
// the node that still has four whole cards, and no shape's room runs out
// while others have plenty. Best-fit's order stays the frame: ΔΦ decides
// among placements whose share of the chosen cards left free is within
// headBand of the tightest, and Left breaks ties. With no Mix (nothing seen
// yet) binpack is best-fit. All of it is a pure function of the cards (the
// ledger) and the Mix (the stream).

// scarcity scales room against expected demand in Φ; headBand is how far
// from the tightest fit binpack looks. Chosen on the packing families, seeds
// 0–9 (0.25–0.7 and bands 0.1–0.5 and ∞ tried), and checked on seeds 10–19
// (extender/README.md, GPU packing).
const (
	scarcity = 0.35
	headBand = 0.25
)

// Headroom is what binpack knows beyond one node: the recent request mix, the
// cluster's room for each of its shapes, and how many arrivals at the mix's
// pace fill the cluster's free memory.
type Headroom struct {
	Mix     *Mix
	Room    []float64 // per shape of Mix: pods of it the nodes could take
	FreeMiB float64
	Horizon float64
	phi     []float64 // per shape: its term of Φ as the cluster is
}

// NewHeadroom measures the headroom of nodes (every node the scheduler may
// place on, not only the ones being scored) for mix. A nil mix gives a
// Headroom that knows nothing: binpack is then best-fit.
func NewHeadroom(mix *Mix, nodes [][]Card) *Headroom {
	h := newHeadroom(mix)
	for _, cs := range nodes {
		h.add(cs)
	}
	return h.done()
}

func newHeadroom(mix *Mix) *headroomSum {
	h := &headroomSum{Headroom: &Headroom{Mix: mix}}
	if h.knows() {
		h.Room = make([]float64, len(mix.Shapes))
	}
	return h
}

// headroomSum adds nodes up into a Headroom.
type headroomSum struct {
	*Headroom
	r nodeRoom
}

func (h *headroomSum) add(cards []Card) {
	if !h.knows() {
		return
	}
	h.r.set(cards)
	for m, sh := range h.Mix.Shapes {
		h.Room[m] += float64(h.r.pods(sh.Request))
	}
	for _, f := range h.r.free {
		h.FreeMiB += float64(f)
	}
}

func (h *headroomSum) done() *Headroom {
	if !h.knows() {
		return h.Headroom
	}
	var mean float64
	for _, sh := range h.Mix.Shapes {
		mean += sh.Weight * float64(sh.MemMiB) * float64(sh.Cards)
	}
	h.Horizon = max(1, h.FreeMiB/mean)
	for m := range h.Mix.Shapes {
		h.phi = append(h.phi, h.potential(m, h.Room[m]))
	}
	return h.Headroom
}

func (h *Headroom) knows() bool { return h != nil && h.Mix != nil && len(h.Mix.Shapes) > 0 }

// mix is h's Mix, or nil.
func (h *Headroom) mix() *Mix {
	if h == nil {
		return nil
	}
	return h.Mix
}

// potential is shape m's term of Φ with room pods of room.
func (h *Headroom) potential(m int, room float64) float64 {
	return math.Exp(-scarcity * room / (h.Mix.Shapes[m].Weight * h.Horizon))
}

// nodeRoom is one node's free MiB and free sharing slots per card.
type nodeRoom struct {
	free  []int64
	slots []int
	per   []int // scratch
}

func (r *nodeRoom) set(cards []Card) {
	r.free, r.slots, r.per = r.free[:0], r.slots[:0], r.per[:0]
	for i := range cards {
		var f int64
		if cards[i].Healthy {
			f = cards[i].FreeMiB()
		}
		s := math.MaxInt32
		if cards[i].Slots > 0 {
			s = max(0, cards[i].Slots-cards[i].Pods)
		}
		r.free, r.slots, r.per = append(r.free, f), append(r.slots, s), append(r.per, 0)
	}
}

// piecesOn is how many pods of mib MiB card i could take alone.
func (r *nodeRoom) piecesOn(i int, mib int64) int {
	return min(int(r.free[i]/mib), r.slots[i])
}

// pods is how many pods of req the node could take: each card holds
// ⌊free/MemMiB⌋ of them at most (and no more than its free slots), and a pod
// needs req.Cards distinct cards, so t pods fit when Σ_c min(per_c, t) ≥
// req.Cards·t.
func (r *nodeRoom) pods(req Request) int {
	var total int
	for i := range r.free {
		r.per[i] = r.piecesOn(i, req.MemMiB)
		total += r.per[i]
	}
	if req.Cards <= 1 {
		return total
	}
	lo, hi := 0, total/req.Cards
	for lo < hi {
		t := (lo + hi + 1) / 2
		var s int
		for _, p := range r.per {
			s += min(p, t)
		}
		if s >= req.Cards*t {
			lo = t
		} else {
			hi = t - 1
		}
	}
	return lo
}

// headBase prices a change to some of one node's cards by the growth of Φ.
// The extender prices every node for every pod, so bases are pooled.
type headBase struct {
	h      *Headroom
	room   nodeRoom // the node as it is
	after  nodeRoom // scratch: the node after a placement
	before []int    // per shape: the node's room as it is, -1 until needed
}

var headBases = sync.Pool{New: func() any { return new(headBase) }}

// newHeadBase returns a pooled base for cards; release gives it back.
func newHeadBase(cards []Card, h *Headroom) *headBase {
	b := headBases.Get().(*headBase)
	b.h = h
	b.room.set(cards)
	b.after.set(cards)
	b.before = b.before[:0]
	for range h.Mix.Shapes {
		b.before = append(b.before, -1)
	}
	return b
}

func (b *headBase) release() {
	b.h = nil
	headBases.Put(b)
}

// delta is the growth of Φ when the cards at set are left with after[j]
// free MiB and one slot fewer each.
func (b *headBase) delta(set []int, after []int64) float64 {
	copy(b.after.free, b.room.free)
	copy(b.after.slots, b.room.slots)
	for j, i := range set {
		b.after.free[i] = after[j]
		b.after.slots[i]--
	}
	var sum float64
	for m, sh := range b.h.Mix.Shapes {
		// Only the changed cards' pieces change: one card a pod, the
		// room falls by as many; on several, it may fall only if some
		// changed card loses a piece.
		var lost int
		for _, i := range set {
			lost += b.room.piecesOn(i, sh.MemMiB) - b.after.piecesOn(i, sh.MemMiB)
		}
		if sh.Cards > 1 && lost > 0 {
			if b.before[m] < 0 {
				b.before[m] = b.room.pods(sh.Request)
			}
			lost = b.before[m] - b.after.pods(sh.Request)
		}
		if lost == 0 {
			continue
		}
		sum += b.h.potential(m, b.h.Room[m]-float64(lost)) - b.h.phi[m]
	}
	return sum
}

package gpushare

import "sync"

// roomCache keeps binpack's headroom summed over the ledger's nodes, so a
// prioritize call prices only the nodes it scores instead of recounting
// every node's room for every shape of the stream (BenchmarkScores: most of
// a call at 1,000 nodes). Each counted node remembers what it added to the
// sums; a change to a node's cards marks it dirty, and the next headroom
// takes its old share out and counts it again. A shape new to the stream is
// counted over every node once. The sums are integers, so a cached Headroom
// equals NewHeadroom over the same cards exactly (TestRoomCacheEqualsRecount).
//
// Writes happen under the ledger's write lock (markDirty) or under its read
// lock plus mu (refresh): a read-locked Scores and a Reserve never overlap,
// and concurrent Scores calls take turns on mu.
type roomCache struct {
	mu      sync.Mutex
	sums    map[Request]int // per cached shape: pods of it the counted nodes could take
	freeMiB int64           // free MiB of the counted nodes
	dirty   map[*node]struct{}
	scratch nodeRoom
}

// nodeRooms is what one counted node added to the roomCache's sums.
type nodeRooms struct {
	counted bool
	free    int64
	pods    map[Request]int
}

// maxCachedShapes bounds the shapes a roomCache sums: past it, the shapes
// the current mix no longer has are dropped.
const maxCachedShapes = 4 * MaxShapes

func newRoomCache() *roomCache {
	return &roomCache{sums: map[Request]int{}, dirty: map[*node]struct{}{}}
}

// markDirty records that n's cards, or whether it counts, changed. The
// caller holds the ledger's write lock.
func (c *roomCache) markDirty(n *node) { c.dirty[n] = struct{}{} }

// forget is called when n leaves the ledger's nodes. A node the sums never
// counted has nothing to take out, so it need not stay dirty: without this,
// a ledger that never prices binpack (bestfit clusters) would keep every
// deleted node. A counted one stays until the next headroom uncounts it.
func (c *roomCache) forget(n *node) {
	if !n.rooms.counted {
		delete(c.dirty, n)
	}
}

// headroom is the Headroom of every node the ledger knows, for mix. The
// caller holds the ledger's lock (read or write) and passes its nodes.
func (c *roomCache) headroom(mix *Mix, nodes map[string]*node) *Headroom {
	h := newHeadroom(mix)
	if !h.knows() {
		return h.done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.dirty {
		c.uncount(n)
		if n.known && n.err == nil {
			c.count(n)
		}
	}
	clear(c.dirty)
	for _, sh := range mix.Shapes {
		if _, ok := c.sums[sh.Request]; !ok {
			c.addShape(sh.Request, nodes)
		}
	}
	if len(c.sums) > maxCachedShapes {
		c.prune(mix, nodes)
	}
	for m, sh := range mix.Shapes {
		h.Room[m] = float64(c.sums[sh.Request])
	}
	h.FreeMiB = float64(c.freeMiB)
	return h.done()
}

// count adds n's room for every cached shape to the sums.
func (c *roomCache) count(n *node) {
	r := &c.scratch
	r.set(n.cards)
	if n.rooms.pods == nil {
		n.rooms.pods = make(map[Request]int, len(c.sums))
	}
	for req := range c.sums {
		p := r.pods(req)
		n.rooms.pods[req] = p
		c.sums[req] += p
	}
	n.rooms.free = 0
	for _, f := range r.free {
		n.rooms.free += f
	}
	c.freeMiB += n.rooms.free
	n.rooms.counted = true
}

// uncount takes what n added out of the sums.
func (c *roomCache) uncount(n *node) {
	if !n.rooms.counted {
		return
	}
	for req, p := range n.rooms.pods {
		c.sums[req] -= p
	}
	clear(n.rooms.pods)
	c.freeMiB -= n.rooms.free
	n.rooms.free, n.rooms.counted = 0, false
}

// addShape starts summing req: every counted node's room for it. Nodes are
// counted once they are known with a readable inventory and not dirty, so
// the counted ones are exactly those among nodes.
func (c *roomCache) addShape(req Request, nodes map[string]*node) {
	var sum int
	for _, n := range nodes {
		if !n.rooms.counted {
			continue
		}
		c.scratch.set(n.cards)
		p := c.scratch.pods(req)
		n.rooms.pods[req] = p
		sum += p
	}
	c.sums[req] = sum
}

// prune drops the cached shapes mix does not have.
func (c *roomCache) prune(mix *Mix, nodes map[string]*node) {
	keep := make(map[Request]bool, len(mix.Shapes))
	for _, sh := range mix.Shapes {
		keep[sh.Request] = true
	}
	for req := range c.sums {
		if !keep[req] {
			delete(c.sums, req)
		}
	}
	for _, n := range nodes {
		for req := range n.rooms.pods {
			if !keep[req] {
				delete(n.rooms.pods, req)
			}
		}
	}
}

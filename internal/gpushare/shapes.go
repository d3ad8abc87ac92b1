package gpushare

// ShapeRoom is what the GPU nodes can still take of one request shape of the
// recent stream: what binpack weighs, exported so that an admin sees
// fragmentation before pods pend on it (the extender's
// zz_gpu_shape_* metrics).
type ShapeRoom struct {
	Request
	// Share is the shape's share of the recent stream (Mix).
	Share float64 `json:"share"`
	// Pods is how many more pods of the shape the nodes could take, each
	// node counted alone: binpack's room. 0 means the next one pends.
	Pods int `json:"roomPods"`
	// UnusableMiB is the free memory no pod of the shape can use: on cards
	// with less free (or no free slot: nodeRoom counts such a card's free
	// as 0) than it asks, or on nodes with fewer such cards than it needs
	// (Frag's F_m, summed over nodes).
	UnusableMiB int64 `json:"unusableMiB"`
}

// ShapeRooms is the room of every shape of the recent stream, in Mix order
// (by size, then cards); nil before any GPU request was seen. It counts the
// nodes binpack counts: known, with a readable inventory.
func (l *Ledger) ShapeRooms() []ShapeRoom {
	mix := l.stream.Mix()
	if len(mix.Shapes) == 0 {
		return nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	h := l.room.headroom(mix, l.nodes)
	out := make([]ShapeRoom, len(mix.Shapes))
	for m, sh := range mix.Shapes {
		out[m] = ShapeRoom{Request: sh.Request, Share: sh.Weight, Pods: int(h.Room[m])}
	}
	var r nodeRoom
	for _, n := range l.nodes {
		if !n.known || n.err != nil {
			continue
		}
		r.set(n.cards)
		for m := range out {
			out[m].UnusableMiB += stranded(r.free, out[m].Request)
		}
	}
	return out
}

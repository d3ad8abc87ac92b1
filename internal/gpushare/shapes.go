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

// ShapeRooms is the room of every shape of the recent stream, in Shapes
// order (by size, then cards, a whole-card shape after the shared one of its
// size); nil before any GPU request was seen. It counts the nodes binpack
// counts: known, with a readable inventory. A whole-card shape's room is
// the pods of it the empty cards up to its memory could take (Room), its
// unusable free memory all the rest (wholeStranded).
func (l *Ledger) ShapeRooms() []ShapeRoom {
	shapes := l.stream.Shapes()
	if len(shapes.Shapes) == 0 {
		return nil
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]ShapeRoom, len(shapes.Shapes))
	for m, sh := range shapes.Shapes {
		out[m] = ShapeRoom{Request: sh.Request, Share: sh.Weight}
	}
	var r nodeRoom
	for _, n := range l.nodes {
		if !n.known || n.err != nil {
			continue
		}
		r.set(n.cards)
		for m := range out {
			req := out[m].Request
			if req.Whole {
				out[m].Pods += Room(n.cards, req)
				out[m].UnusableMiB += wholeStranded(n.cards, req)
				continue
			}
			out[m].Pods += r.pods(req)
			out[m].UnusableMiB += stranded(r.free, req)
		}
	}
	return out
}

// wholeStranded is the free memory of cards no pod of whole-card request r
// can take: cards holding a pod, larger than it asks, or left over when a
// size has fewer empty cards than it needs.
func wholeStranded(cards []Card, r Request) int64 {
	var free int64
	for i := range cards {
		if cards[i].Healthy {
			free += cards[i].FreeMiB()
		}
	}
	eachSize(cards, r, func(s Request) bool {
		free -= int64(Room(cards, s)*s.Cards) * s.MemMiB
		return true
	})
	return free
}

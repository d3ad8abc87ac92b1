package gpushare

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Stream sizes: the requests binpack's Mix is measured from, and the most
// shapes it keeps (the most frequent; rarer ones are left out of the Mix).
const (
	DefaultStreamSize = 1000
	MaxShapes         = 24
)

// Stream is the recent stream of GPU requests: the shapes of the last Size
// pods seen, each pod once in its life however often it is updated. It is
// fed from the pod informer, so after a restart it starts again from the
// pods the informer lists (the live ones, pending or running) and then
// follows new arrivals. Safe for concurrent use; it has its own lock, never
// held with the ledger's.
type Stream struct {
	mu     sync.Mutex
	ring   []Request
	next   int
	counts map[Request]int // by shape, whole-card requests apart
	seen   map[types.UID]struct{}
	mix    *Mix // cached; nil after a change
	shapes *Mix // cached; nil after a change
}

// NewStream returns an empty stream of the last size requests.
func NewStream(size int) *Stream {
	return &Stream{ring: make([]Request, 0, max(1, size)), counts: map[Request]int{}, seen: map[types.UID]struct{}{}}
}

// ObservePod records a pod's GPU request the first time it sees the pod.
// Pods asking for no GPU memory, or asking wrongly, are not requests.
func (s *Stream) ObservePod(pod *corev1.Pod) {
	s.mu.Lock()
	_, ok := s.seen[pod.UID]
	s.mu.Unlock()
	if ok {
		return
	}
	if req, err := PodRequest(pod); err == nil {
		s.Observe(pod.UID, req)
	}
}

// Observe records one request, once per uid.
func (s *Stream) Observe(uid types.UID, req Request) {
	// A shape is memory × cards, and whether the cards are whole (Shapes);
	// binpack's Mix counts a whole-card request as its most.
	req.SameNUMA, req.Models, req.AvoidModels, req.UUIDs, req.AvoidUUIDs = false, "", "", "", ""
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[uid]; ok {
		return
	}
	s.seen[uid] = struct{}{}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, req)
	} else {
		old := s.ring[s.next]
		if s.counts[old]--; s.counts[old] == 0 {
			delete(s.counts, old)
		}
		s.ring[s.next] = req
		s.next = (s.next + 1) % len(s.ring)
	}
	s.counts[req]++
	s.mix, s.shapes = nil, nil
}

// Forget drops a deleted pod from the pods seen (its request stays in the
// stream until newer ones push it out).
func (s *Stream) Forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, uid)
}

// Mix is the distribution of the stream's MaxShapes most frequent shapes.
// The returned Mix is shared and must not be changed.
func (s *Stream) Mix() *Mix {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mix == nil {
		// Binpack weighs what a request may take: a whole-card one, any
		// card up to its memory, as that much on each of its cards.
		merged := make(map[Request]int, len(s.counts))
		for r, n := range s.counts {
			r.Whole = false
			merged[r] += n
		}
		s.mix = NewMix(topShapes(merged, MaxShapes))
	}
	return s.mix
}

func topShapes(counts map[Request]int, n int) map[Request]int {
	if len(counts) <= n {
		return counts
	}
	shapes := make([]Request, 0, len(counts))
	for r := range counts {
		shapes = append(shapes, r)
	}
	slices.SortFunc(shapes, func(a, b Request) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return compareRequest(a, b)
	})
	top := make(map[Request]int, n)
	for _, r := range shapes[:n] {
		top[r] = counts[r]
	}
	return top
}

// Shapes is the distribution of the stream's MaxShapes most frequent
// shapes as pods asked for them: a whole-card request is its own shape
// (Whole), which kubectl zz gpu --shapes and the zz_gpu_shape_* metrics
// judge as such. The returned Mix is shared and must not be changed.
func (s *Stream) Shapes() *Mix {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shapes == nil {
		s.shapes = NewMix(topShapes(s.counts, MaxShapes))
	}
	return s.shapes
}

// Stream is the recent request stream binpack measures its Mix from.
func (l *Ledger) Stream() *Stream { return l.stream }

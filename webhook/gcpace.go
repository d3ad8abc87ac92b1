package webhook

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// QuietGCPercent is the garbage collector's GOGC while no large review is in
// flight. An ordinary review allocates about 13 KB and keeps none of it, and
// the webhook's live heap is a few MiB (the namespace cache, the policy), so
// at the runtime's GOGC of 100 a collection comes every few hundred reviews
// and its assists are the handler's p99 (BenchmarkMutate/plain: p99 about
// 280 µs at 100, 140 µs at 400, p50 unchanged). At 400 the heap of ordinary
// reviews grows to five times the live heap, tens of MiB at most, and the
// soft memory limit (serve.SetMemoryLimit) still caps it. A large review
// (SmallBodyBytes or more: allocates about 27 times its size) puts GOGC back
// to what it was until the last large one is answered, so a burst of big pods
// is collected as tightly as before (TestWebhookBurst).
const QuietGCPercent = 400

// gcPace is process-wide, like GOGC: every handler's large reviews count.
var gcPace struct {
	sync.Mutex
	on          bool
	large       int // large reviews in flight
	quiet, busy int
}

// paceGC sets GOGC to quiet while no large review is in flight. A GOGC set
// by hand wins, and quiet ≤ 0 leaves the runtime alone.
func paceGC(quiet int) {
	if quiet <= 0 || os.Getenv("GOGC") != "" {
		return
	}
	gcPace.Lock()
	defer gcPace.Unlock()
	if !gcPace.on {
		gcPace.on, gcPace.busy = true, gcPercent()
	}
	gcPace.quiet = quiet
	if gcPace.large == 0 {
		debug.SetGCPercent(quiet)
	}
}

// gcPercent reads GOGC as it is in force, changing nothing.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// largeReview counts a large review in flight until the returned function
// is called; the first one in restores GOGC, the last one out raises it.
func largeReview() (done func()) {
	gcPace.Lock()
	defer gcPace.Unlock()
	gcPace.large++
	if gcPace.large == 1 && gcPace.on {
		debug.SetGCPercent(gcPace.busy)
	}
	return func() {
		gcPace.Lock()
		defer gcPace.Unlock()
		gcPace.large--
		if gcPace.large == 0 && gcPace.on {
			debug.SetGCPercent(gcPace.quiet)
		}
	}
}

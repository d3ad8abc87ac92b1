package extender

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultHungAfter is how long a decision verb may be in flight, or the
// GPU ledger's lock go untaken, before /healthz fails: 2.5 times the
// gpu/filter entry's httpTimeout (2 s), where a call takes milliseconds.
const DefaultHungAfter = 5 * time.Second

// Watchdog makes /healthz fail while the extender is hung, so the kubelet's
// liveness probe restarts it: a decision verb (filter, prioritize,
// preempt) in flight for longer than HungAfter, or the ledger's lock not
// taken for that long. A chaos audit saw a frozen extender hold
// kube-scheduler's one scheduling loop the whole httpTimeout per GPU pod,
// slowing every app on zz-scheduler, while /healthz said ok. Bind is left
// out: it writes to the apiserver, bounded by its own timeout, and runs
// outside the scheduling loop.
type Watchdog struct {
	HungAfter time.Duration
	Now       func() time.Time

	mu    sync.Mutex
	next  uint64
	calls map[uint64]watchedCall
	// locked is when the probe last took the ledger's lock (zero: no probe
	// runs); probing is when the probe started waiting for it.
	locked, probing time.Time
}

type watchedCall struct {
	verb  string
	start time.Time
}

func (w *Watchdog) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Begin records a call of verb; the returned func ends it.
func (w *Watchdog) Begin(verb string) (end func()) {
	if w == nil {
		return func() {}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.calls == nil {
		w.calls = map[uint64]watchedCall{}
	}
	w.next++
	id := w.next
	w.calls[id] = watchedCall{verb: verb, start: w.now()}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.calls, id)
	}
}

// ProbeLock takes and releases the ledger's lock by lock (a read of it)
// every period until ctx ends, recording when it got it.
func (w *Watchdog) ProbeLock(ctx context.Context, lock func(), period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		w.probeLock(lock)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Watchdog) probeLock(lock func()) {
	w.mu.Lock()
	w.probing = w.now()
	w.mu.Unlock()
	lock()
	w.mu.Lock()
	w.locked = w.now()
	w.mu.Unlock()
}

// Healthy is nil while no decision verb has been in flight and the ledger's
// lock has not been waited for longer than HungAfter; else what is hung.
func (w *Watchdog) Healthy() error {
	if w == nil || w.HungAfter <= 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	var oldest watchedCall
	for _, c := range w.calls {
		if oldest.start.IsZero() || c.start.Before(oldest.start) {
			oldest = c
		}
	}
	if !oldest.start.IsZero() && now.Sub(oldest.start) > w.HungAfter {
		return fmt.Errorf("hung: a %s call has been in flight for %s (over --hung-after %s, where one takes milliseconds); %d calls in flight",
			oldest.verb, now.Sub(oldest.start).Round(time.Second), w.HungAfter, len(w.calls))
	}
	if w.probing.After(w.locked) && now.Sub(w.probing) > w.HungAfter {
		return fmt.Errorf("hung: the GPU ledger's lock has been held for over %s (--hung-after %s)",
			now.Sub(w.probing).Round(time.Second), w.HungAfter)
	}
	return nil
}

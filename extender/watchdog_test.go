package extender

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestWatchdogHungVerb: /healthz fails while a decision verb has been in
// flight longer than HungAfter (a chaos audit's frozen extender held the
// scheduling loop 10 s per GPU pod while /healthz said ok), and answers ok
// once it returns. A bind in flight as long does not count.
func TestWatchdogHungVerb(t *testing.T) {
	clock := &stepClock{t: time.Date(2026, 12, 6, 22, 41, 0, 0, time.UTC)}
	release := make(chan struct{})
	h := NewHandler(nil, nil, func() error { <-release; return errors.New("caches not synced") }, NewMetrics())
	h.Watchdog = &Watchdog{HungAfter: DefaultHungAfter, Now: clock.Now}
	health := func() (int, string) {
		rec := httptest.NewRecorder()
		h.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	var wg sync.WaitGroup
	for _, path := range []string{"/gpu/bind", "/gpu/filter"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader("{}")))
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.Watchdog.mu.Lock()
		n := len(h.Watchdog.calls)
		h.Watchdog.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls watched, want the filter alone", n)
		}
		time.Sleep(time.Millisecond)
	}
	if code, body := health(); code != http.StatusOK {
		t.Fatalf("a call just started: /healthz %d %s", code, body)
	}
	clock.Add(DefaultHungAfter + time.Second)
	if code, body := health(); code != http.StatusInternalServerError || !strings.Contains(body, "a filter call has been in flight for 6s") {
		t.Errorf("a filter in flight for 6s: /healthz %d %q, want 500 naming it", code, body)
	}
	// Not ready either: a probe of /readyz alone saw a hung extender ready.
	rec := httptest.NewRecorder()
	h.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "a filter call has been in flight for 6s") {
		t.Errorf("a filter in flight for 6s: /readyz %d %q, want 503 naming it", rec.Code, rec.Body.String())
	}
	close(release)
	wg.Wait()
	if code, body := health(); code != http.StatusOK {
		t.Errorf("after the call returned: /healthz %d %s", code, body)
	}
}

// TestWatchdogLedgerLock: /healthz fails while the ledger's lock has been
// waited for longer than HungAfter, whether or not a verb is in flight.
func TestWatchdogLedgerLock(t *testing.T) {
	clock := &stepClock{t: time.Date(2026, 12, 6, 22, 41, 0, 0, time.UTC)}
	w := &Watchdog{HungAfter: DefaultHungAfter, Now: clock.Now}
	w.probeLock(func() {})
	clock.Add(time.Minute) // probes taken every second are recorded; none ran
	if err := w.Healthy(); err != nil {
		t.Fatalf("lock taken at the last probe: %v", err)
	}
	held := make(chan struct{})
	done := make(chan struct{})
	go func() { w.probeLock(func() { <-held }); close(done) }()
	for {
		w.mu.Lock()
		waiting := w.probing.After(w.locked)
		w.mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	clock.Add(4 * time.Second)
	if err := w.Healthy(); err != nil {
		t.Errorf("lock waited for 4s: %v", err)
	}
	clock.Add(2 * time.Second)
	if err := w.Healthy(); err == nil || !strings.Contains(err.Error(), "the GPU ledger's lock has been held for over 6s") {
		t.Errorf("lock waited for 6s: %v, want hung", err)
	}
	close(held)
	<-done
	if err := w.Healthy(); err != nil {
		t.Errorf("lock taken again: %v", err)
	}
}

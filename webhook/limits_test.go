package webhook

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// bigPod is a pod whose review is about size bytes: one container with many
// environment variables, the way a pod gets big in practice.
func bigPod(size int) *corev1.Pod {
	pod := testPod()
	for i := range size / 100 {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env,
			corev1.EnvVar{Name: fmt.Sprintf("VAR_%06d", i), Value: strings.Repeat("x", 76)})
	}
	return pod
}

// chunked hides a body's length, as a client sending chunked encoding does.
type chunked struct{ io.Reader }

func TestReviewLimits(t *testing.T) {
	small := DefaultLimits
	small.MaxBodyBytes, small.SmallBodyBytes, small.MaxLargeBytes = 1<<20, 64<<10, 2<<20
	good := reviewBody(t, "shop", podResource, admissionv1.Create, testPod())
	big := reviewBody(t, "shop", podResource, admissionv1.Create, bigPod(900<<10))
	tests := []struct {
		name string
		body io.Reader
		code int
		want string
	}{
		{"ordinary pod", bytes.NewReader(good), 200, `"allowed":true`},
		{"big pod under the cap", bytes.NewReader(big), 200, `"allowed":true`},
		{"declared over the cap", bytes.NewReader(make([]byte, 1<<20+1)), 413, "reads at most 1048576: split the pod"},
		{"chunked over the cap", chunked{bytes.NewReader(make([]byte, 1<<20+1))}, 413, "request body too large"},
		{"chunked under the cap", chunked{bytes.NewReader(good)}, 200, `"allowed":true`},
		{"shorter than declared", io.LimitReader(bytes.NewReader(good), 10), 400, "cannot read the review"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, examplePolicy(t))
			h.Limits = small
			req := httptest.NewRequest(http.MethodPost, "/mutate-pods", tt.body)
			if tt.name == "shorter than declared" {
				req.ContentLength = int64(len(good))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("HTTP %d %.300q, want %d containing %q", rec.Code, rec.Body, tt.code, tt.want)
			}
		})
	}
}

// TestBigReviewsDoNotQueueSmallOnes fills the large lane and checks an
// ordinary pod is still answered at once, and that a big review waiting
// longer than QueueWait gets 429.
func TestBigReviewsDoNotQueueSmallOnes(t *testing.T) {
	h := NewHandler(Handler{Policy: newTestHandler(t, examplePolicy(t)).Policy, NamespaceLabels: newTestHandler(t, nil).NamespaceLabels,
		Ready: func() (string, error) { return "", nil }, OwnNamespace: ownNamespace, Metrics: NewMetrics(),
		Limits: Limits{MaxBodyBytes: 1 << 20, SmallBodyBytes: 64 << 10, MaxSmallInFlight: 4, MaxLargeBytes: 1 << 20, QueueWait: 200 * time.Millisecond}})
	// A big review whose body trickles in holds the whole large lane.
	pr, pw := io.Pipe()
	held := httptest.NewRequest(http.MethodPost, "/mutate-pods", pr)
	held.ContentLength = 900 << 10
	var wg sync.WaitGroup
	wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), held) })
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	rec := post(h, reviewBody(t, "shop", podResource, admissionv1.Create, testPod()), "application/json")
	if rec.Code != 200 || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("an ordinary pod behind a big one: HTTP %d after %s", rec.Code, time.Since(start))
	}
	rec = post(h, reviewBody(t, "shop", podResource, admissionv1.Create, bigPod(300<<10)), "application/json")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a second big review while the lane is full: HTTP %d %q", rec.Code, rec.Body)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	wg.Wait()
}

// TestMetricsOnTheirOwnPort keeps /metrics off the serving port.
func TestMetricsOnTheirOwnPort(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	for _, tt := range []struct {
		handler http.Handler
		path    string
		code    int
	}{
		{h, "/metrics", 404}, {h, "/healthz", 200}, {h, "/readyz", 200},
		{h.HealthHandler(), "/metrics", 200}, {h.HealthHandler(), "/healthz", 200}, {h.HealthHandler(), "/readyz", 200},
		{h.HealthHandler(), "/mutate-pods", 404},
	} {
		rec := httptest.NewRecorder()
		tt.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != tt.code {
			t.Errorf("GET %s: HTTP %d, want %d", tt.path, rec.Code, tt.code)
		}
	}
}

// TestBigReviewCost reports what one review near the apiserver's 3 MiB cap
// allocates, which sizes MaxLargeBytes (README: webhook serving limits).
func TestBigReviewCost(t *testing.T) {
	h := newTestHandler(t, examplePolicy(t))
	body := reviewBody(t, "shop", podResource, admissionv1.Create, bigPod(3<<20))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec := post(h, body, "application/json")
	runtime.ReadMemStats(&after)
	if rec.Code != 200 {
		t.Fatalf("HTTP %d %.300q", rec.Code, rec.Body)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d KiB review allocates %d KiB (%.1f times its size)", len(body)>>10, alloc>>10, float64(alloc)/float64(len(body)))
}

// TestGCPaceFollowsLargeReviews: GOGC is QuietGCPercent while only ordinary
// reviews come, back to the runtime's from the first large review admitted
// until the last one is answered, and left alone when GOGC is set by hand.
func TestGCPaceFollowsLargeReviews(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	reset := func() {
		gcPace.Lock()
		gcPace.on, gcPace.large = false, 0
		gcPace.Unlock()
	}
	reset()
	defer reset()
	t.Setenv("GOGC", "")
	h := newTestHandler(t, examplePolicy(t))
	if got := gcPercent(); got != QuietGCPercent {
		t.Fatalf("GOGC %d with no review in flight, want %d", got, QuietGCPercent)
	}
	// Admins see it on /metrics (the Go collector's runtime metric).
	rec := httptest.NewRecorder()
	h.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := fmt.Sprintf("go_gc_gogc_percent %d\n", QuietGCPercent); !strings.Contains(rec.Body.String(), want) {
		t.Errorf("/metrics has no %q", want)
	}
	waitFor := func(want int, what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); gcPercent() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("GOGC %d %s, want %d", gcPercent(), what, want)
			}
		}
	}
	// Two big reviews whose bodies trickle in, answered one after the other.
	var writers []*io.PipeWriter
	var wg sync.WaitGroup
	for range 2 {
		pr, pw := io.Pipe()
		held := httptest.NewRequest(http.MethodPost, "/mutate-pods", pr)
		held.ContentLength = 900 << 10
		writers = append(writers, pw)
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), held) })
	}
	waitFor(100, "while big reviews are in flight")
	if rec := post(h, reviewBody(t, "shop", podResource, admissionv1.Create, testPod()), "application/json"); rec.Code != 200 {
		t.Fatalf("an ordinary review: HTTP %d", rec.Code)
	}
	if got := gcPercent(); got != 100 {
		t.Fatalf("GOGC %d after an ordinary review beside big ones, want 100", got)
	}
	writers[0].CloseWithError(io.ErrUnexpectedEOF)
	time.Sleep(20 * time.Millisecond)
	if got := gcPercent(); got != 100 {
		t.Fatalf("GOGC %d while one big review is still in flight, want 100", got)
	}
	writers[1].CloseWithError(io.ErrUnexpectedEOF)
	wg.Wait()
	waitFor(QuietGCPercent, "once the big reviews are answered")

	// A GOGC set by hand wins.
	reset()
	debug.SetGCPercent(50)
	t.Setenv("GOGC", "50")
	newTestHandler(t, examplePolicy(t))
	if got := gcPercent(); got != 50 {
		t.Fatalf("GOGC %d with GOGC=50 set by hand, want 50", got)
	}
}

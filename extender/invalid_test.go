package extender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestInvalidPodIsNoExtenderError: a pod whose GPU request cannot be read
// (a typo in zz.io/gpu-policy) is refused on every node with the reason,
// unresolvable, so kube-scheduler keeps it Pending with that message
// instead of a SchedulerError retried for ever; it counts as
// result="invalid", not "error" (ZZExtenderErrors paged the platform for
// one tenant's typo, an SRE audit), and is logged at V(2) once per pod
// however often kube-scheduler asks.
func TestInvalidPodIsNoExtenderError(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("t4", 15360), gpuNode("a100", 40960)})
	var mu sync.Mutex
	var lines []string
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{Verbosity: 2})
	typo := gpuPod("typo", "1Gi", 1)
	typo.Annotations = map[string]string{contract.AnnotationGPUPolicy: "bestfitt"}
	other := typo.DeepCopy()
	other.Name, other.UID = "typo2", "uid-typo2"
	filter := func(p *corev1.Pod) extenderv1.ExtenderFilterResult {
		t.Helper()
		b, err := json.Marshal(extenderv1.ExtenderArgs{Pod: p, NodeNames: names("t4", "a100")})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/gpu/filter", bytes.NewReader(b))
		req = req.WithContext(klog.NewContext(req.Context(), logger))
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		var res extenderv1.ExtenderFilterResult
		if rec.Code != http.StatusOK {
			t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	for range 3 {
		res := filter(typo)
		want := `annotation zz.io/gpu-policy: GPU policy "bestfitt" is unknown; use "binpack", "bestfit" or "spread"`
		if res.Error != "" || len(*res.NodeNames) != 0 || res.FailedAndUnresolvableNodes["t4"] != want || res.FailedAndUnresolvableNodes["a100"] != want {
			t.Fatalf("filter of an invalid pod: %+v", res)
		}
	}
	filter(other)
	requests := e.handler.Metrics.Requests
	if inv, errs := testutil.ToFloat64(requests.WithLabelValues("filter", "invalid")), testutil.ToFloat64(requests.WithLabelValues("filter", "error")); inv != 4 || errs != 0 {
		t.Errorf("zz_extender_requests_total{verb=filter}: invalid %v, error %v; want 4, 0", inv, errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 || !strings.Contains(lines[0], `"pod"={"name"="typo" "namespace"="ns"}`) || !strings.Contains(lines[0], `bestfitt`) ||
		!strings.Contains(lines[1], `"typo2"`) {
		t.Errorf("logged %q, want one line per pod", lines)
	}
}

// TestRecentUIDs: the set of pods logged is bounded; the oldest goes first.
func TestRecentUIDs(t *testing.T) {
	r := newRecentUIDs(3)
	for i := range 3 {
		if !r.add(types.UID(fmt.Sprint(i))) {
			t.Fatalf("%d not new", i)
		}
	}
	if r.add("0") || r.add("2") {
		t.Fatal("a UID remembered was new again")
	}
	if !r.add("3") || !r.add("0") || r.add("2") || len(r.seen) != 3 {
		t.Fatalf("after the ring turned: seen %v", r.seen)
	}
}

func TestReadyGauge(t *testing.T) {
	var err error
	g := ReadyGauge(func() error { return err })
	if v := testutil.ToFloat64(g); v != 1 {
		t.Errorf("ready: %v", v)
	}
	err = fmt.Errorf("informer caches have not synced yet")
	if v := testutil.ToFloat64(g); v != 0 {
		t.Errorf("not synced: %v", v)
	}

	// As /readyz: synced caches do not make a hung extender ready.
	err = nil
	clock := &stepClock{t: time.Date(2026, 12, 7, 16, 50, 0, 0, time.UTC)}
	w := &Watchdog{HungAfter: DefaultHungAfter, Now: clock.Now}
	g = ReadyGauge(ReadyUnlessHung(w, func() error { return err }))
	end := w.Begin("filter")
	if v := testutil.ToFloat64(g); v != 1 {
		t.Errorf("a verb in flight for no time: %v", v)
	}
	clock.Add(DefaultHungAfter + time.Second)
	if v := testutil.ToFloat64(g); v != 0 {
		t.Errorf("a verb hung: %v", v)
	}
	end()
	if v := testutil.ToFloat64(g); v != 1 {
		t.Errorf("the hung verb answered: %v", v)
	}
	if v := testutil.ToFloat64(ReadyGauge(ReadyUnlessHung(nil, func() error { return err }))); v != 1 {
		t.Errorf("no watchdog (--hung-after 0): %v", v)
	}
}

// TestAbandonedCallIsNoSuccess: a call kube-scheduler gave up on before the
// answer (its httpTimeout passed, counting the time the call waited unread:
// a throttled or paused extender) failed for the pod, so it is counted
// result="timeout", not "ok": an SRE audit paused the extender, saw the GPU
// filter fail with "context deadline exceeded" and every call counted ok.
func TestAbandonedCallIsNoSuccess(t *testing.T) {
	e := newEnv(t, []*corev1.Node{gpuNode("t4", 15360)})
	b, err := json.Marshal(extenderv1.ExtenderArgs{Pod: gpuPod("p", "1Gi", 1), NodeNames: names("t4")})
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []bool{false, true} {
		ctx, cancel := context.WithCancel(t.Context())
		if gone {
			cancel() // the client's connection closed: net/http cancels the request's context
		}
		for _, path := range []string{"/gpu/filter", "/balance/prioritize"} {
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(b))
			e.handler.ServeHTTP(httptest.NewRecorder(), req)
		}
		cancel()
	}
	requests := e.handler.Metrics.Requests
	for _, verb := range []string{"filter", "prioritize_balance"} {
		if ok, timeout := testutil.ToFloat64(requests.WithLabelValues(verb, "ok")), testutil.ToFloat64(requests.WithLabelValues(verb, "timeout")); ok != 1 || timeout != 1 {
			t.Errorf("zz_extender_requests_total{verb=%s}: ok %v, timeout %v; want 1, 1", verb, ok, timeout)
		}
	}

	// Through a real server: the call arrives with the client's hang-up
	// already queued behind it (what a paused extender reads on resuming),
	// and net/http must be watching the connection when the call ends.
	srv := httptest.NewUnstartedServer(e.handler)
	gate := make(chan struct{})
	srv.Listener = gatedListener{srv.Listener, gate}
	srv.Start()
	defer srv.Close()
	defer close(gate) // first: Close waits for the server's Accept
	for i := range 5 {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /gpu/filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s\n", len(b)+1, b)
		_ = conn.Close()
		gate <- struct{}{} // the server accepts the connection only now
		waitFor(t, func() bool {
			return testutil.ToFloat64(requests.WithLabelValues("filter", "ok"))+testutil.ToFloat64(requests.WithLabelValues("filter", "timeout")) == float64(3+i)
		})
	}
	// Best effort: net/http's reader must run before the call ends, which
	// yielding makes likely, not certain (4 or 5 of 5 here; before, never:
	// it started only once the handler had returned).
	if timeout := testutil.ToFloat64(requests.WithLabelValues("filter", "timeout")) - 1; timeout < 2 {
		t.Errorf("5 filter calls whose client had hung up: %v counted timeout, want most", timeout)
	}
}

// gatedListener accepts a connection each time its gate lets one through.
type gatedListener struct {
	net.Listener
	gate chan struct{}
}

func (l gatedListener) Accept() (net.Conn, error) {
	<-l.gate
	return l.Listener.Accept()
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

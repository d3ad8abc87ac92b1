package extender

import (
	"bytes"
	"encoding/json"
	"fmt"
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

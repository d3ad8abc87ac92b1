package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

// TestStandingLinesSampled: a LimitRange that raises every pod's CPU
// request, and a workload whose pods the policy refuses (its ReplicaSet
// retries), are standing states, not events: an SRE audit saw a line per
// pod at the default verbosity (20 pods, 20 lines; one refused Deployment,
// 12 lines in 30 s). One line per LimitRange, and per refused workload, in
// each logLinesEvery, the rest counted in its next line; every clamp is
// still counted in the metric, and another workload still gets its line.
func TestStandingLinesSampled(t *testing.T) {
	p, err := inject.Parse([]byte(benchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, p)
	var logs logLines
	send := func(body []byte) []string {
		req := httptest.NewRequest(http.MethodPost, "/mutate-pods", bytes.NewReader(body))
		req = req.WithContext(klog.NewContext(req.Context(), logs.logger(0)))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), req)
		return logs.take()
	}
	count := func(lines []string, msg string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, msg) {
				n++
			}
		}
		return n
	}
	refused := func(generateName string) []byte {
		pod := testPod()
		pod.GenerateName = generateName
		pod.Labels[contract.LabelPool] = "no-such-pool"
		return createReview(t, "shop", pod)
	}
	var clampLines, refusedLines []string
	for range 5 {
		clampLines = append(clampLines, send(createReview(t, "shop-quota", overcommitPod()))...)
		refusedLines = append(refusedLines, send(refused("crit-7d9c8f6b5-"))...)
	}
	if n := count(clampLines, "Raised a CPU request"); n != 1 {
		t.Errorf("5 pods raised to one LimitRange: %d lines, want 1:\n%s", n, strings.Join(clampLines, "\n"))
	}
	if got := testutil.ToFloat64(h.Metrics.Clamps.WithLabelValues(inject.ConstraintMin)); got != 5 {
		t.Errorf("%v clamps counted, want every one of the 5", got)
	}
	if n := count(refusedLines, "Refused a pod"); n != 1 || !strings.Contains(refusedLines[0], `"name"="crit-7d9c8f6b5-"`) {
		t.Errorf("5 pods of one workload refused: %d lines, want 1 naming it:\n%s", n, strings.Join(refusedLines, "\n"))
	}
	if lines := send(refused("other-5c4b-")); count(lines, "Refused a pod") != 1 {
		t.Errorf("another workload refused: %q, want its line", lines)
	}
}

// TestKeyedSampler: one event per key per interval, the others counted
// into that key's next line; keys apart; expired keys forgotten when full.
func TestKeyedSampler(t *testing.T) {
	s := newKeyedSampler(time.Minute, 2)
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		key     string
		at      time.Duration
		ok      bool
		dropped int
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"a", 2 * time.Second, false, 0},
		{"b", 3 * time.Second, true, 0},
		{"a", time.Minute, true, 2},
		// Full (a and b): c finds no room until b's interval ends, and is
		// logged every time meanwhile (a line too many, never one lost).
		{"c", time.Minute + time.Second, true, 0},
		{"c", time.Minute + 2*time.Second, true, 0},
		{"c", time.Minute + 4*time.Second, true, 0},
		{"c", time.Minute + 5*time.Second, false, 0},
	} {
		ok, dropped := s.allow(tc.key, t0.Add(tc.at))
		if ok != tc.ok || dropped != tc.dropped {
			t.Errorf("%s at %s: %v, %d; want %v, %d", tc.key, tc.at, ok, dropped, tc.ok, tc.dropped)
		}
	}
}

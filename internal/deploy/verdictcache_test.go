package deploy

import (
	"bytes"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clienttesting "k8s.io/client-go/testing"
)

// TestVerdictsKeptBetweenRuns: a second run (a new judge, as each kubectl
// zz list or status is) given the verdicts the first saved asks no dry run
// nor record read of objects unchanged since, and says the same drift;
// an object changed since, or a verdict older than VerdictTTL, is judged
// again (a scale audit: list -A asked five requests an app at every run).
func TestVerdictsKeptBetweenRuns(t *testing.T) {
	var on atomic.Bool
	c, _ := startedApp(t, armed(&on, onDryRun("patch", "services", storedBy)))
	on.Store(true)
	asked := func() (n int) {
		for _, a := range c.Actions() {
			if p, ok := a.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) > 0 {
				n++
			}
			if a.GetVerb() == "get" && a.GetResource().Resource == "secrets" {
				n++
			}
		}
		return n
	}
	run := func(j *DriftJudge) []string {
		t.Helper()
		all, err := Statuses(t.Context(), c, live{c, j}, ns, "shop")
		if err != nil || len(all) != 1 {
			t.Fatalf("status: %v, %d apps", err, len(all))
		}
		return all[0].Drift
	}
	spoofApply(t, c) // drift only a judgement by content sees
	first := NewDriftJudge()
	before := asked()
	drift := run(first)
	if asked() == before || len(drift) == 0 {
		t.Fatalf("the first run asked nothing (%d) or saw no drift: %q", asked()-before, drift)
	}
	var saved bytes.Buffer
	if err := first.Save(&saved, time.Now()); err != nil {
		t.Fatal(err)
	}
	second := NewDriftJudge()
	second.Load(bytes.NewReader(saved.Bytes()), time.Now())
	before = asked()
	if again := run(second); !slices.Equal(again, drift) || asked() != before {
		t.Errorf("the second run asked %d more, drift %q (first %q)", asked()-before, again, drift)
	}
	// Older than the TTL: judged again.
	stale := NewDriftJudge()
	stale.Load(bytes.NewReader(saved.Bytes()), time.Now().Add(VerdictTTL))
	before = asked()
	if again := run(stale); !slices.Equal(again, drift) || asked() == before {
		t.Errorf("a verdict past its TTL was taken: asked %d more, drift %q", asked()-before, again)
	}
	// The Service changed since: judged again.
	svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Labels["team"] = "a"
	if _, err := c.CoreV1().Services(ns).Update(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	changed := NewDriftJudge()
	changed.Load(bytes.NewReader(saved.Bytes()), time.Now())
	before = asked()
	run(changed)
	if asked() == before {
		t.Error("a Service changed since the saved verdict was not judged again")
	}
	// What is not a verdict file is no error, and gives nothing.
	empty := NewDriftJudge()
	empty.Load(strings.NewReader(`{"version": 99, "verdicts": [{"key": "x"}]}`), time.Now())
	empty.Load(strings.NewReader("not json"), time.Now())
	if len(empty.stored) != 0 {
		t.Errorf("a file of another version gave %d verdicts", len(empty.stored))
	}
	// A run that reads another namespace keeps this one's verdicts in
	// what it saves.
	other := NewDriftJudge()
	other.Load(bytes.NewReader(saved.Bytes()), time.Now())
	other.forget(nil, nil)
	var resaved bytes.Buffer
	if err := other.Save(&resaved, time.Now()); err != nil {
		t.Fatal(err)
	}
	again := NewDriftJudge()
	again.Load(bytes.NewReader(resaved.Bytes()), time.Now())
	if len(again.stored) != len(second.stored) || len(again.stored) == 0 {
		t.Errorf("a run of another namespace saved %d verdicts of %d", len(again.stored), len(second.stored))
	}
}

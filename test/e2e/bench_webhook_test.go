package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
)

// TestBenchWebhook creates 1,000 pods through the apiserver in a namespace
// the webhook mutates and in one it does not (the configuration's
// namespaceSelector skips it), alternating, and reports the latency of a
// create and the throughput of each, and their ratio. Pods name a scheduler
// that does not run, so nothing but admission and storage is measured. Run
// with ZZ_BENCH=1; figures go to the test log.
func TestBenchWebhook(t *testing.T) {
	if os.Getenv("ZZ_BENCH") != "1" {
		t.Skip("set ZZ_BENCH=1 to run the webhook benchmark")
	}
	w := startWebhook(t, fmt.Sprintf(webhookPolicy, "bench", "0.5"))
	with := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	without := cluster.Namespace(t, nil)
	cfg := *cluster.Config
	cfg.QPS, cfg.Burst = 2000, 2000
	client, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 30*time.Second, "the apiserver to call the webhook", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, with, appPod("probe", "1"))
		if err != nil {
			return false, err.Error(), nil
		}
		return envOf(pod.Spec.Containers[0])[contract.EnvNumCPUs] == "1", "", nil
	})
	const pods, workers = 1000, 8
	results := map[string][]benchRun{}
	for round := range 3 {
		for _, ns := range []string{without, with} {
			r := createBenchPods(t, client, ns, pods, workers)
			if round > 0 { // the first round warms caches and connections
				results[ns] = append(results[ns], r)
			}
			t.Logf("round %d %s: %s", round+1, map[bool]string{true: "with   ", false: "without"}[ns == with], r)
		}
	}
	wi, wo := merge(results[with]), merge(results[without])
	t.Logf("RESULT webhook through the apiserver: %d pod creates x2 rounds, %d workers: with webhook %s; without %s; throughput ratio %.2f, p99 ratio %.2f",
		pods, workers, wi, wo, wi.rate/wo.rate, float64(wi.p(99))/float64(wo.p(99)))
	// The webhook's own view: reviews served and their mean time in the handler.
	for line := range strings.Lines(w.metrics(t)) {
		if strings.HasPrefix(line, "zz_webhook_admission_duration_seconds_sum") || strings.HasPrefix(line, "zz_webhook_admission_duration_seconds_count") {
			t.Logf("webhook metric %s", strings.TrimSpace(line))
		}
	}
}

type benchRun struct {
	lat  []time.Duration
	rate float64 // creates per second
}

func (r benchRun) p(q int) time.Duration { return r.lat[len(r.lat)*q/100] }

func (r benchRun) String() string {
	return fmt.Sprintf("%.0f creates/s, p50 %v, p99 %v", r.rate, r.p(50).Round(100*time.Microsecond), r.p(99).Round(100*time.Microsecond))
}

func merge(runs []benchRun) benchRun {
	var out benchRun
	for _, r := range runs {
		out.lat = append(out.lat, r.lat...)
		out.rate += r.rate / float64(len(runs))
	}
	slices.Sort(out.lat)
	return out
}

// createBenchPods creates n unschedulable pods with the given concurrency, then
// deletes them.
func createBenchPods(t *testing.T, client kubernetes.Interface, ns string, n, workers int) benchRun {
	t.Helper()
	pod := appPod("bench", "1500m")
	pod.Spec.SchedulerName = "zz-bench-nobody"
	lat := make([]time.Duration, n)
	jobs := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				t0 := time.Now()
				if _, err := client.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	if err := client.CoreV1().Pods(ns).DeleteCollection(t.Context(), metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	return benchRun{lat: lat, rate: float64(n) / elapsed.Seconds()}
}

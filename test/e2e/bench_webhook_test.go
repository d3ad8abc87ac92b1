package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/test/e2e/framework"
)

// TestBenchWebhook creates 1,000 pods through the apiserver in a namespace
// the webhook mutates, in one that a no-op webhook (an HTTPS server in a
// process of its own that decodes the review and allows it unchanged,
// registered the same way: test/e2e/baselinewebhook) serves,
// in one the same server serves with a one-operation JSON patch (a label), and
// in one no webhook sees, in turn, and reports the latency of a create and
// the throughput of each, and the zz webhook's ratios to the no-op one (the
// cost of zz's decision beyond the price of any webhook) and to the one-op
// one (beyond the price of any webhook that changes the pod); and, as a fifth
// mode, the same change made by a MutatingAdmissionPolicy in the apiserver
// (bench_webhook_map_test.go), the cost of the change without any webhook.
// Pods name a scheduler that does not run and ask for no sidecar (one review
// each), so nothing but admission and storage is measured. Run with ZZ_BENCH=1; figures
// go to the test log.
func TestBenchWebhook(t *testing.T) {
	if os.Getenv("ZZ_BENCH") != "1" {
		t.Skip("set ZZ_BENCH=1 to run the webhook benchmark")
	}
	w := startWebhook(t, fmt.Sprintf(webhookPolicy, "bench", "0.5"))
	with := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	noop := cluster.Namespace(t, map[string]string{benchNoopLabel: "enabled"})
	patch := cluster.Namespace(t, map[string]string{benchPatchLabel: "enabled"})
	without := cluster.Namespace(t, nil)
	inCEL := cluster.Namespace(t, map[string]string{benchMAPLabel: "enabled"})
	startBenchMAP(t)
	noopProc := startNoopWebhook(t, benchNoopLabel, nil)
	patchProc := startNoopWebhook(t, benchPatchLabel, []byte(`[{"op":"add","path":"/metadata/labels/zz-bench~1patched","value":"1"}]`))
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
	cluster.WaitFor(t, 30*time.Second, "the apiserver to call the no-op webhook", func(ctx context.Context) (bool, string, error) {
		_, err := dryRunPod(ctx, noop, appPod("probe", "1"))
		return err == nil, fmt.Sprint(err), nil
	})
	cluster.WaitFor(t, 30*time.Second, "the apiserver to call the one-patch webhook", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, patch, appPod("probe", "1"))
		if err != nil {
			return false, err.Error(), nil
		}
		return pod.Labels["zz-bench/patched"] == "1", "not patched yet", nil
	})
	sameMutation(t, with, inCEL)
	// ZZ_BENCH_WORKERS=1 measures one client, as the first figure
	// was: latency then is the path's own, not a queue on a busy machine.
	const pods = 1000
	workers := envInt(t, "ZZ_BENCH_WORKERS", 8)
	// CPU per create, of every process that does the work: the apiserver,
	// etcd, the zz webhook, this test (the client) and the two baseline
	// webhooks. On a shared machine latency measures the queue; CPU per
	// create does not.
	pids := []int{clusterPid(t, "kube-apiserver"), clusterPid(t, "etcd"), w.proc.Pid(), os.Getpid(), noopProc.Pid(), patchProc.Pid()}
	results := map[string][]benchRun{}
	names := map[string]string{with: "zz     ", noop: "no-op  ", patch: "one-op ", without: "without", inCEL: "cel    "}
	rounds := envInt(t, "ZZ_BENCH_ROUNDS", 3)
	// ZZ_BENCH_PPROF=DIR: the apiserver's CPU profile over the first 2 s of
	// each mode's creates, one file a mode and round (go tool pprof -diff_base).
	profDir := os.Getenv("ZZ_BENCH_PPROF")
	for round := range rounds {
		for _, ns := range []string{without, noop, patch, with, inCEL} {
			var prof sync.WaitGroup
			if profDir != "" && round > 0 {
				file := filepath.Join(profDir, fmt.Sprintf("apiserver-%s-%d.pprof", strings.TrimSpace(names[ns]), round+1))
				prof.Go(func() { apiserverProfile(t, client, file, 2) })
			}
			r := createBenchPods(t, client, ns, pods, workers, pids)
			prof.Wait()
			if round > 0 { // the first round warms caches and connections
				results[ns] = append(results[ns], r)
			}
			t.Logf("round %d %s: %s", round+1, names[ns], r)
		}
	}
	wi, wn, wp, wo := merge(results[with]), merge(results[noop]), merge(results[patch]), merge(results[without])
	t.Logf("RESULT webhook through the apiserver: %d pod creates x%d rounds, %d workers: zz webhook %s; no-op webhook %s; one-op patch webhook %s; no webhook %s",
		pods, rounds-1, workers, wi, wn, wp, wo)
	t.Logf("RESULT zz vs no-op webhook: p50 ratio %.2f, p99 ratio %.2f, throughput ratio %.2f, CPU per create ratio %.2f; zz vs no webhook: p50 ratio %.2f, throughput ratio %.2f, CPU per create ratio %.2f",
		ratio(wi.p(50), wn.p(50)), ratio(wi.p(99), wn.p(99)), wi.rate/wn.rate, wi.cpu/wn.cpu, ratio(wi.p(50), wo.p(50)), wi.rate/wo.rate, wi.cpu/wo.cpu)
	// Any webhook that changes a pod makes the apiserver encode it, apply the
	// patch and decode it again; the one-op webhook pays that and nothing else.
	t.Logf("RESULT zz vs one-op patch webhook: p50 ratio %.2f, p99 ratio %.2f, throughput ratio %.2f, CPU per create ratio %.2f; one-op vs no-op: p50 ratio %.2f, CPU per create ratio %.2f",
		ratio(wi.p(50), wp.p(50)), ratio(wi.p(99), wp.p(99)), wi.rate/wp.rate, wi.cpu/wp.cpu, ratio(wp.p(50), wn.p(50)), wp.cpu/wn.cpu)
	// The same mutation as a MutatingAdmissionPolicy: CEL in the apiserver,
	// no round trip.
	wc := merge(results[inCEL])
	t.Logf("RESULT MutatingAdmissionPolicy doing zz's mutation %s; vs no-op webhook: p50 ratio %.2f, p99 ratio %.2f, throughput ratio %.2f, CPU per create ratio %.2f; vs zz webhook: p50 ratio %.2f, CPU per create ratio %.2f",
		wc, ratio(wc.p(50), wn.p(50)), ratio(wc.p(99), wn.p(99)), wc.rate/wn.rate, wc.cpu/wn.cpu, ratio(wc.p(50), wi.p(50)), wc.cpu/wi.cpu)
	// The webhook's own view: reviews served and their mean time in the handler.
	for line := range strings.Lines(w.metrics(t)) {
		if strings.HasPrefix(line, "zz_webhook_admission_duration_seconds_sum") || strings.HasPrefix(line, "zz_webhook_admission_duration_seconds_count") {
			t.Logf("webhook metric %s", strings.TrimSpace(line))
		}
	}
	// Its memory after thousands of ordinary reviews (GOGC paced: 400 while no
	// big review is in flight), against the Deployment's request and limit.
	t.Logf("RESULT zz webhook memory after the benchmark: RSS %d MiB, peak %d MiB",
		procStatus(t, w.proc.Pid(), "VmRSS")>>20, procStatus(t, w.proc.Pid(), "VmHWM")>>20)
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// apiserverProfile writes the apiserver's CPU profile over the next seconds
// to file (the apiserver serves /debug/pprof to its admin by default).
func apiserverProfile(t *testing.T, client kubernetes.Interface, file string, seconds int) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
		Param("seconds", strconv.Itoa(seconds)).DoRaw(t.Context())
	if err == nil {
		err = os.WriteFile(file, raw, 0o644)
	}
	if err != nil {
		t.Errorf("apiserver profile %s: %v", file, err)
	}
}

// benchNoopLabel and benchPatchLabel opt a namespace in to the no-op and the
// one-op patch webhook.
const (
	benchNoopLabel  = "zz-bench/noop-webhook"
	benchPatchLabel = "zz-bench/patch-webhook"
)

// startNoopWebhook serves a webhook that allows every review, unchanged or
// with the same JSON patch, over TLS on 127.0.0.1 in a process of its own
// (test/e2e/baselinewebhook), as zz-webhook is served, and registers it for
// namespaces labelled label, with the zz webhook's registration settings.
func startNoopWebhook(t *testing.T, label string, patch []byte) *framework.Process {
	t.Helper()
	dir := t.TempDir()
	caPEM := writeServingCert(t, dir)
	addr := fmt.Sprintf("127.0.0.1:%d", framework.FreePort(t))
	args := []string{"--listen", addr, "--cert", filepath.Join(dir, "tls.crt"), "--key", filepath.Join(dir, "tls.key")}
	if patch != nil {
		args = append(args, "--patch", string(patch))
	}
	proc := cluster.Start(t, "baselinewebhook-"+strings.TrimPrefix(label, "zz-bench/"), cluster.GoBuild(t, "./test/e2e/baselinewebhook"), args...)
	base := "https://" + addr
	cluster.WaitHTTP(t, proc, base+"/healthz", 30*time.Second)
	name := "zz-bench-" + strings.ReplaceAll(strings.TrimPrefix(label, "zz-bench/"), "-", "") + "-" + strings.ToLower(strconv.FormatInt(time.Now().UnixNano(), 36))
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    strings.TrimPrefix(label, "zz-bench/") + ".bench.zz.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(base + "/mutate-pods"), CABundle: caPEM},
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			TimeoutSeconds:          ptr.To[int32](5),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{label: "enabled"}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"pods"}, Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
			}},
		}},
	}
	api := cluster.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := api.Create(t.Context(), cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.WithoutCancel(t.Context())
	t.Cleanup(func() { _ = api.Delete(ctx, name, metav1.DeleteOptions{}) })
	return proc
}

type benchRun struct {
	lat  []time.Duration
	rate float64 // creates per second
	cpu  float64 // CPU seconds per create, of the processes measured
	// by is cpu per process: apiserver, etcd, zz webhook, this test, the
	// no-op and the one-op webhook.
	by []float64
}

func (r benchRun) p(q int) time.Duration { return r.lat[len(r.lat)*q/100] }

func (r benchRun) String() string {
	return fmt.Sprintf("%.0f creates/s, p50 %v, p99 %v, CPU %.2f ms per create (apiserver %.2f, etcd %.2f, zz webhook %.2f, test %.2f, baseline webhooks %.2f)",
		r.rate, r.p(50).Round(100*time.Microsecond), r.p(99).Round(100*time.Microsecond), r.cpu*1000, r.by[0]*1000, r.by[1]*1000, r.by[2]*1000, r.by[3]*1000, (r.by[4]+r.by[5])*1000)
}

func merge(runs []benchRun) benchRun {
	var out benchRun
	for _, r := range runs {
		out.lat = append(out.lat, r.lat...)
		out.rate += r.rate / float64(len(runs))
		out.cpu += r.cpu / float64(len(runs))
		if out.by == nil {
			out.by = make([]float64, len(r.by))
		}
		for i := range r.by {
			out.by[i] += r.by[i] / float64(len(runs))
		}
	}
	slices.Sort(out.lat)
	return out
}

// clusterPid is the process ID of one of the cluster's components.
func clusterPid(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cluster.StateDir, "pids", name+".pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatalf("%s.pid: %v", name, err)
	}
	return pid
}

func cpuOf(t *testing.T, pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		out[i] = procCPUSeconds(t, pid)
	}
	return out
}

// createBenchPods creates n unschedulable pods with the given concurrency, then
// deletes them; cpu is what the processes pids used per create.
// webhookBenchPod is the pod the benchmark creates: no sidecar (one review each)
// and a scheduler that does not run.
func webhookBenchPod() *corev1.Pod {
	pod := appPod("bench", "1500m")
	pod.Annotations = nil
	pod.Spec.SchedulerName = "zz-bench-nobody"
	return pod
}

func createBenchPods(t *testing.T, client kubernetes.Interface, ns string, n, workers int, pids []int) benchRun {
	t.Helper()
	pod := webhookBenchPod()
	lat := make([]time.Duration, n)
	jobs := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuOf(t, pids)
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
	elapsed, cpu1 := time.Since(start), cpuOf(t, pids)
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	if err := client.CoreV1().Pods(ns).DeleteCollection(t.Context(), metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	r := benchRun{lat: lat, rate: float64(n) / elapsed.Seconds(), by: make([]float64, len(pids))}
	for i := range pids {
		r.by[i] = (cpu1[i] - cpu0[i]) / float64(n)
		r.cpu += r.by[i]
	}
	return r
}

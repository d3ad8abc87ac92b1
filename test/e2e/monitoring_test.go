package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// promScrape is one scrape for hack/tools/promcheck: the target labels the
// components/monitoring PodMonitors give, and the body as served.
type promScrape struct {
	Target      map[string]string `json:"target"`
	HonorLabels bool              `json:"honorLabels"`
	At          float64           `json:"at"`
	Body        string            `json:"body"`
}

// TestMonitoring proves manifests/components/monitoring against the real
// servers: the device plugin on a real kubelet (two pods of two apps, one
// using more GPU memory than it asked for, a pod on two cards, then a card
// lost to an XID), the
// extender behind the zz-scheduler that placed them, the webhook admitting
// pods, and the apiserver failing to call it through a configuration whose
// caBundle does not verify its certificate. Their /metrics are scraped several times, and hack/tools/promcheck
// evaluates every alert of the PrometheusRule and every query of the Grafana
// dashboard with Prometheus's PromQL engine over those scrapes: each selector
// must match scraped series, each dashboard query must return data, and
// exactly the over-request, unhealthy-card and no-room alerts fire (two
// pods of a shape no node can hold stay Pending).
func TestMonitoring(t *testing.T) {
	ctx := t.Context()
	promcheck := filepath.Join(t.TempDir(), "promcheck")
	build := exec.CommandContext(ctx, "go", "build", "-o", promcheck, ".")
	build.Dir = filepath.Join(cluster.Root, "hack", "tools", "promcheck")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build hack/tools/promcheck: %v\n%s", err, out)
	}

	n := startDPNode(t, "mon-gpu")
	z := startZZScheduler(t)
	w := startWebhook(t, fmt.Sprintf(webhookPolicy, "mon", "0.5"))
	injected := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	ns := cluster.Namespace(t, nil)

	// Two apps' pods, placed by zz-scheduler and the extender.
	infer := n.gpuPodFor(ns, "infer", 8192, 1, nil)
	train := n.gpuPodFor(ns, "train", 4096, 1, nil)
	infer.Labels[contract.LabelApp], train.Labels[contract.LabelApp] = "infer", "train"
	createPods(t, []*corev1.Pod{infer, train})
	byCard := map[string]string{}
	for i, spec := range []struct {
		name    string
		usedMiB int
	}{{"infer", 9000}, {"train", 1000}} {
		p := waitPodPhase(t, ns, spec.name, corev1.PodRunning, 90*time.Second)
		uuid := p.Annotations[contract.AnnotationGPUUUIDs]
		pid := 6000 + i
		cg := "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + strings.ReplaceAll(string(p.UID), "-", "_") + ".slice/cri-containerd-x.scope\n"
		if err := os.MkdirAll(filepath.Join(n.procRoot, strconv.Itoa(pid)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.procRoot, strconv.Itoa(pid), "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
		if byCard[uuid] != "" {
			byCard[uuid] += ","
		}
		byCard[uuid] += fmt.Sprintf(`{"pid":%d,"usedMiB":%d}`, pid, spec.usedMiB)
	}
	for uuid, procs := range byCard {
		n.mock(t, "PUT", "/processes?uuid="+uuid, "["+procs+"]")
	}
	// A pod on two cards: counted in zz_gpu_multi_card_pods by how its
	// cards sit (the mock's NUMA nodes are published, so not "unknown").
	pair := n.gpuPodFor(ns, "pair", 1024, 2, nil)
	createPods(t, []*corev1.Pod{pair})
	waitPodPhase(t, ns, pair.Name, corev1.PodRunning, 90*time.Second)
	// Two pods of a shape no node has room for (1 GiB on each of 64 cards):
	// they stay Pending, and its room in the extender's metrics is 0.
	wide := []*corev1.Pod{n.gpuPodFor(ns, "wide-0", 1024, 64, nil), n.gpuPodFor(ns, "wide-1", 1024, 64, nil)}
	createPods(t, wide)
	noRoom := regexp.MustCompile(`(?m)^zz_gpu_shape_room_pods\{cards="64",memory_bytes="1073741824",shape="[^"]*"\} 0$`)
	cluster.WaitFor(t, 20*time.Second, "the 64-card shape in the extender's metrics", func(context.Context) (bool, string, error) {
		return noRoom.MatchString(scrape(t, z.url("/metrics"))), "", nil
	})
	// kubectl zz gpu --shapes shows the same from the pods and nodes alone:
	// no room for the wide shape, room for infer's.
	shapes, err := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), "--kubeconfig", cluster.Kubeconfig, "gpu", "--shapes").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^1Gi +64 +\d+% +0 +\S+$`).Match(shapes) || !regexp.MustCompile(`(?m)^8Gi +1 +\d+% +[1-9]\d* +`).Match(shapes) {
		t.Errorf("kubectl zz gpu --shapes: %v\n%s", err, shapes)
	}

	// The extender reads the scheduler's leader Lease every 10 s: its
	// gauge (ZZExtenderDown's selector) appears once the test's
	// zz-scheduler leads and the extender has read it (a CI run scraped
	// only in the seconds before).
	cluster.WaitFor(t, 60*time.Second, "the extender's zz_extender_leading", func(context.Context) (bool, string, error) {
		return strings.Contains(scrape(t, z.url("/metrics")), "\nzz_extender_leading "), "", nil
	})
	var scrapes []promScrape
	start := time.Now()
	take := func(job, ns, pod string, honor bool, body string) {
		target := map[string]string{"job": job, "namespace": ns, "pod": pod, "instance": pod + ":metrics", "node": n.Node}
		scrapes = append(scrapes, promScrape{Target: target, HonorLabels: honor, At: time.Since(start).Seconds(), Body: body})
	}
	scrapeAll := func() {
		take("zz-system/zz-extender", "zz-system", "zz-scheduler-0", false, scrape(t, z.url("/metrics")))
		take("zz-system/zz-webhook", "zz-system", "zz-webhook-0", false, w.metrics(t))
		take("zz-device-plugin/zz-device-plugin", "zz-device-plugin", "zz-device-plugin-0", true, scrape(t, n.url("/metrics")))
	}
	for i := range 3 {
		for j := range 3 {
			if _, err := dryRunPod(ctx, injected, appPod(fmt.Sprintf("web-%d-%d", i, j), "1")); err != nil {
				t.Fatal(err)
			}
		}
		// The usage sampler (1 s) has seen the processes.
		time.Sleep(1500 * time.Millisecond)
		scrapeAll()
	}
	multi := regexp.MustCompile(`(?m)^zz_gpu_multi_card_pods\{numa="(one|several)"\} 1$`)
	if ext := scrapes[len(scrapes)-3].Body; !multi.MatchString(ext) || strings.Contains(ext, `zz_gpu_multi_card_pods{numa="unknown"} 1`) {
		t.Errorf("the extender does not count the two-card pod by its cards' NUMA nodes:\n%s", regexp.MustCompile(`(?m)^zz_gpu_multi_card_pods.*$`).FindAllString(ext, -1))
	}
	if !strings.Contains(scrapes[len(scrapes)-1].Body, `zz_gpu_pod_memory_over_request{app="infer"`) {
		t.Fatalf("the device plugin does not report infer's use yet:\n%s", scrapes[len(scrapes)-1].Body)
	}
	// A card lost to an XID: the last device-plugin scrape shows it
	// unhealthy (it recovers after --xid-recover-after).
	lost := n.inv.Cards[7].UUID
	n.mock(t, "POST", "/xid?uuid="+lost+"&xid=79", "")
	// The healthy series' own line: card 7's memory and utilization lines
	// also end in `uuid="…"} 0`, so two separate Contains let a scrape from
	// before the XID through, and the alert then had nothing to fire on.
	unhealthy := regexp.MustCompile(`(?m)^zz_gpu_card_healthy\{index="7",model="[^"]*",uuid="` + regexp.QuoteMeta(lost) + `"\} 0$`)
	cluster.WaitFor(t, 20*time.Second, "card 7 unhealthy in /metrics", func(context.Context) (bool, string, error) {
		body := scrape(t, n.url("/metrics"))
		if unhealthy.MatchString(body) {
			take("zz-device-plugin/zz-device-plugin", "zz-device-plugin", "zz-device-plugin-0", true, body)
			return true, "", nil
		}
		return false, "", nil
	})

	// The apiserver calling a webhook whose certificate its caBundle does
	// not verify (a second configuration, for a namespace of its own): the
	// pod is refused, the webhook never sees the review, and only the
	// apiserver's own metrics count it (ZZWebhookUnreachable).
	untrusted := map[string]string{"e2e.zz.io/untrusted-ca": strconv.FormatInt(time.Now().UnixNano(), 36)}
	w.registerAs(t, "zz-webhook-untrusted-"+untrusted["e2e.zz.io/untrusted-ca"], writeServingCert(t, t.TempDir()), untrusted)
	if _, err := dryRunPod(ctx, cluster.Namespace(t, untrusted), appPod("untrusted", "1")); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("a pod through a webhook configuration whose caBundle does not verify the webhook: %v, want the apiserver's x509 error", err)
	}
	take("apiserver", "default", "kube-apiserver", false, apiserverWebhookMetrics(t))
	dir := t.TempDir()
	b, err := json.Marshal(scrapes)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scrapes.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The PrometheusRule as kustomize renders it.
	rule, err := cluster.Kubectl(ctx, "kustomize", filepath.Join(cluster.Root, "manifests", "components", "monitoring"))
	if err != nil {
		t.Fatal(err)
	}
	var ruleDoc string
	for _, d := range strings.Split(rule, "\n---\n") {
		if strings.Contains(d, "kind: PrometheusRule") {
			ruleDoc = d
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(ruleDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, promcheck, "-rules", filepath.Join(dir, "rules.yaml"),
		"-dashboard", filepath.Join(cluster.Root, "manifests", "components", "monitoring", "dashboard.json"),
		"-scrapes", filepath.Join(dir, "scrapes.json"), "-firing", "ZZGPUPodOverRequest,ZZGPUCardUnhealthy,ZZGPUShapeNoRoom")
	out, err := cmd.CombinedOutput()
	t.Logf("promcheck over %d scrapes:\n%s", len(scrapes), out)
	if err != nil {
		t.Fatalf("promcheck: %v", err)
	}
}

// apiserverWebhookMetrics is the apiserver's /metrics, only its admission
// webhook families (as a scrape config keeping apiserver_admission_webhook_.*
// would store them: the rest is thousands of series no rule of zz reads).
func apiserverWebhookMetrics(t *testing.T) string {
	t.Helper()
	raw, err := cluster.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for line := range strings.Lines(string(raw)) {
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, "apiserver_admission_webhook_") {
			keep = append(keep, line)
		}
	}
	if len(keep) == 0 {
		t.Fatal("the apiserver's /metrics has no apiserver_admission_webhook_ family")
	}
	return strings.Join(keep, "")
}

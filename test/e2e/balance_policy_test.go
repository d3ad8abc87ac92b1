package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// balancePolicy routes every pool's pods to zz-scheduler, as the shipped
// policy does.
const balancePolicy = `cluster: e2e
largestGPUCard: 80Gi
defaultPool: general
pools:
  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 0.5, scheduler: zz-scheduler}
  critical: {nodeSelector: {zz.io/pool: critical}, critical: true, namespaces: [critical-apps], scheduler: zz-scheduler}
`

// TestBalanceByPolicy: with the policy's per-pool scheduler, a kubectl zz
// deploy web app in an opted-in namespace goes to zz-scheduler and through the
// balance extender; with the extender killed its pods still schedule (the
// balance extender is ignorable), and kubectl zz check says it does not
// answer (stopped, then killed); a DaemonSet's pods keep the default
// scheduler and no pool, so they reach every node.
func TestBalanceByPolicy(t *testing.T) {
	z := startZZScheduler(t)
	w := startWebhook(t, balancePolicy, "--scheduler-lease-grace", "2s")
	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	cluster.WaitFor(t, 30*time.Second, "the apiserver to call the webhook", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, ns, appPod("probe", "1"))
		if err != nil {
			return false, err.Error(), nil
		}
		return pod.Spec.SchedulerName == contract.SchedulerName, "schedulerName " + pod.Spec.SchedulerName, nil
	})

	before := metricValue(t, z.url("/metrics"), `zz_extender_requests_total{result="ok",verb="prioritize_balance"}`)
	out, errOut, err := zz(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "90s")
	if err != nil {
		t.Fatalf("kubectl zz deploy: %v\n%s\n%s", err, out, errOut)
	}
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 2, 60*time.Second)
	for _, p := range pods {
		if p.Spec.SchedulerName != contract.SchedulerName || p.Spec.NodeSelector[contract.LabelPool] != "general" {
			t.Errorf("pod %s: scheduler %q, node selector %v; want zz-scheduler in pool general", p.Name, p.Spec.SchedulerName, p.Spec.NodeSelector)
		}
		if !scheduledBy(t, ns, p.Name, contract.SchedulerName) {
			t.Errorf("pod %s has no Scheduled event from zz-scheduler", p.Name)
		}
	}
	if after := metricValue(t, z.url("/metrics"), `zz_extender_requests_total{result="ok",verb="prioritize_balance"}`); after < before+float64(len(pods)) {
		t.Errorf("balance prioritize calls went from %v to %v for %d pods; want one per pod at least", before, after, len(pods))
	}

	t.Run("extender down, pods still schedule", func(t *testing.T) {
		// The balance extender is ignorable: down, pods schedule
		// unbalanced and only kubectl zz check's probe of the URL the
		// published configuration names says so (an incident drill saw
		// check green with it SIGSTOPped or killed).
		line, readyz := "extender "+z.url("")+": ", z.url("/readyz")+": "
		if out, errOut, _ := zz(t, "", "check"); !strings.Contains(out, "✓ "+line+"answers at /readyz") {
			t.Errorf("kubectl zz check with the extender up:\n%s%s", out, errOut)
		}
		pid := z.extender.Pid()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		out, errOut, _ := zz(t, "", "check")
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "✗ "+line+readyz+"no answer in 2s: the extender is hung or stopped: ") ||
			!strings.Contains(out, "they schedule, unbalanced, and nothing else says so") {
			t.Errorf("kubectl zz check with the extender stopped (SIGSTOP):\n%s%s", out, errOut)
		}
		z.extender.Kill()
		out, errOut, err := zz(t, "", "check")
		addr := strings.TrimPrefix(z.url(""), "http://")
		if err == nil || !strings.Contains(out, "✗ "+line+readyz+"dial tcp "+addr+": connect: connection refused: ") ||
			!strings.Contains(out, "start the zz-extender listening at "+addr+" again") {
			t.Errorf("kubectl zz check with the extender killed (exit %v):\n%s%s", err, out, errOut)
		}
		if _, err := cluster.Kubectl(t.Context(), "-n", ns, "scale", "deployment", "shop", "--replicas=4"); err != nil {
			t.Fatal(err)
		}
		cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 4, 90*time.Second)
	})

	t.Run("DaemonSet pods are left alone, off reserved pools", func(t *testing.T) { daemonSetLeftAlone(t, ns) })
	t.Run("zz-scheduler down, pods go to the default scheduler", func(t *testing.T) { schedulerDown(t, z, w, ns) })
}

// schedulerDown: with every zz-scheduler replica gone (killed, as a crash:
// its lease is not released), the webhook leaves the pods the policy routes
// there to the default scheduler once the lease lapses, telling the client
// why, so an app still scales; when a zz-scheduler leads again, pods go to
// it again.
func schedulerDown(t *testing.T, z *zzScheduler, w *zzWebhook, ns string) {
	ctx := t.Context()
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", w.health)
	const up = `zz_webhook_scheduler_up{scheduler="zz-scheduler"}`
	if v := metricValue(t, metrics, up); v != 1 {
		t.Errorf("%s = %v while zz-scheduler leads; want 1", up, v)
	}
	routedTo := func(want string) func(ctx context.Context) (bool, string, error) {
		return func(ctx context.Context) (bool, string, error) {
			pod, err := dryRunPod(ctx, ns, appPod("probe", "1"))
			if err != nil {
				return false, err.Error(), nil
			}
			return pod.Spec.SchedulerName == want, "schedulerName " + pod.Spec.SchedulerName, nil
		}
	}
	z.scheduler.Kill()
	// A pod created before the webhook notices is routed to zz-scheduler
	// and waits for it; status says so once no scheduler has tried it.
	if _, err := cluster.Kubectl(ctx, "-n", ns, "scale", "deployment", "shop", "--replicas=5"); err != nil {
		t.Fatal(err)
	}
	// Its lease lapses after its 15 s duration and the test's 2 s grace.
	cluster.WaitFor(t, 60*time.Second, "the webhook to leave pods to the default scheduler", routedTo(corev1.DefaultSchedulerName))
	cluster.WaitFor(t, 60*time.Second, "kubectl zz status to say no scheduler tried the pod", func(ctx context.Context) (bool, string, error) {
		out, errOut, _ := zz(t, ns, "status", "shop")
		return strings.Contains(out, `Pending: not scheduled yet: no scheduler has tried it in over 30s; is scheduler "zz-scheduler" running? (kubectl zz check)`) &&
			strings.Contains(out, "deleting this pod has it replaced there"), out + errOut, nil
	})
	stuck, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop", FieldSelector: "spec.nodeName="})
	if err != nil || len(stuck.Items) != 1 || stuck.Items[0].Spec.SchedulerName != contract.SchedulerName {
		t.Fatalf("pods of shop on no node: %v, %v; want the one routed to zz-scheduler", err, stuck)
	}
	// The admin's view: kubectl zz check lists the pods zz-scheduler left untried.
	if out, _, _ := zz(t, "", "check"); !strings.Contains(out, "pods routed to zz-scheduler: ") || !strings.Contains(out, "had no verdict from it in over 30s (") {
		t.Errorf("kubectl zz check while a pod waits for zz-scheduler:\n%s", out)
	}
	if err := cluster.Client.CoreV1().Pods(ns).Delete(ctx, stuck.Items[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	run := exec.CommandContext(ctx, cluster.Bin("kubectl"), "--kubeconfig", cluster.Kubeconfig, "-n", ns,
		"run", "probe", "--image", "registry.local/probe:1", "--dry-run=server", "-o", "name")
	out, err := run.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Warning: zz-scheduler cannot schedule now (lease zz-system/zz-scheduler held by") ||
		!strings.Contains(string(out), "this pod is left to default-scheduler, so it is not balanced") {
		t.Errorf("kubectl run while zz-scheduler is down: %v\n%s", err, out)
	}
	// A GPU pod stays on zz-scheduler (no other gives cards), and hears
	// that it waits for it.
	run = exec.CommandContext(ctx, cluster.Bin("kubectl"), "--kubeconfig", cluster.Kubeconfig, "-n", ns,
		"run", "probe-gpu", "--image", "registry.local/probe:1", "--dry-run=server", "-o", "name",
		"--overrides", `{"spec":{"containers":[{"name":"probe-gpu","image":"registry.local/probe:1","resources":{"limits":{"zz.io/gpu-mem":"1Gi"}}}]}}`)
	out, err = run.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Warning: zz-scheduler cannot schedule now (lease zz-system/zz-scheduler held by") ||
		!strings.Contains(string(out), "this GPU pod waits Pending until it is back") {
		t.Errorf("kubectl run of a GPU pod while zz-scheduler is down: %v\n%s", err, out)
	}
	if v := metricValue(t, metrics, up); v != 0 {
		t.Errorf("%s = %v while zz-scheduler is down; want 0", up, v)
	}
	if r := w.get(t, "/readyz"); !strings.Contains(r, "zz-scheduler down (lease zz-system/zz-scheduler held by") {
		t.Errorf("/readyz while zz-scheduler is down: %q", r)
	}
	// The app scales without it: the new pods run, on the default scheduler.
	if _, err := cluster.Kubectl(ctx, "-n", ns, "scale", "deployment", "shop", "--replicas=6"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 6, 90*time.Second) {
		if p.Spec.SchedulerName == corev1.DefaultSchedulerName {
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d of the shop pods scaled while zz-scheduler was down went to the default scheduler; want the stuck one's replacement and the sixth", n)
	}
	// The app's owner hears of it, where the warning went to the ReplicaSet
	// controller: the webhook marked those pods.
	if out, errOut, err := zz(t, ns, "status", "shop"); err != nil || !strings.Contains(out, fmt.Sprintf("%d pods of shop run unbalanced (", n)) ||
		!strings.Contains(out, "zz-scheduler could not schedule when they were created, so the zz webhook left them to default-scheduler") {
		t.Errorf("kubectl zz status with pods left to the default scheduler: %v\n%s%s", err, out, errOut)
	}

	startZZScheduler(t)
	cluster.WaitFor(t, 60*time.Second, "the webhook to route pods to zz-scheduler again", routedTo(contract.SchedulerName))
	if v := metricValue(t, metrics, up); v != 1 {
		t.Errorf("%s = %v once zz-scheduler leads again; want 1", up, v)
	}
}

func daemonSetLeftAlone(t *testing.T, ns string) {
	labels := map[string]string{"app": "node-agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "node-agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To[int64](0),
				NodeSelector:                  map[string]string{"type": "kwok"},
				Containers:                    []corev1.Container{{Name: "agent", Image: "registry.local/agent:1"}},
			}},
		},
	}
	if _, err := cluster.Client.AppsV1().DaemonSets(ns).Create(t.Context(), ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every node's pod but the critical pool's (reserved to critical-apps:
	// that one is kept off it and waits).
	critical, err := cluster.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: contract.LabelPool + "=critical"})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	cluster.WaitFor(t, 90*time.Second, "the DaemonSet's pods on every pool's nodes but the reserved one's", func(ctx context.Context) (bool, string, error) {
		d, err := cluster.Client.AppsV1().DaemonSets(ns).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=node-agent"})
		if err != nil {
			return false, "", err
		}
		pods = pods[:0]
		for _, p := range l.Items {
			if p.Spec.NodeName != "" {
				pods = append(pods, p)
			}
		}
		want := int(d.Status.DesiredNumberScheduled) - len(critical.Items)
		return want > 0 && len(pods) == want && len(l.Items) == want+len(critical.Items), fmt.Sprintf("%d of %d pods bound, %d in all", len(pods), want, len(l.Items)), nil
	})
	pools := map[string]bool{}
	for _, p := range pods {
		if p.Spec.SchedulerName != corev1.DefaultSchedulerName || p.Spec.NodeSelector[contract.LabelPool] != "" {
			t.Errorf("DaemonSet pod %s: scheduler %q, node selector %v; want them untouched", p.Name, p.Spec.SchedulerName, p.Spec.NodeSelector)
		}
		node, err := cluster.Client.CoreV1().Nodes().Get(t.Context(), p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pools[node.Labels[contract.LabelPool]] = true
	}
	if !pools["general"] || len(pools) < 2 || pools["critical"] {
		t.Errorf("DaemonSet pods reached pools %v; want general and the others but critical", pools)
	}
}

// scheduledBy reports whether the pod's Scheduled event comes from sched.
func scheduledBy(t *testing.T, ns, pod, sched string) bool {
	t.Helper()
	evs, err := cluster.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{
		FieldSelector: "involvedObject.name=" + pod + ",reason=Scheduled"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Source.Component == sched || e.ReportingController == sched {
			return true
		}
	}
	return false
}

// metricValue reads one sample (name with its labels, as /metrics prints
// them) from a Prometheus text endpoint; 0 when absent.
func metricValue(t *testing.T, url, sample string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(scrape(t, url)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

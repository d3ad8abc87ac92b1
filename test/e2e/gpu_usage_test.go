package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestGPUUsageKubelet: under the shipped admission policies, with the
// device plugin running on its DaemonSet pod's token, two GPU pods placed by
// zz-scheduler run on a real kubelet; their processes (the mock NVML's running processes, mapped to
// the pods by a fake host /proc) use less than one requested and more than
// the other. The device plugin publishes each pod's use in its
// zz.io/gpu-mem-used annotation, writes nothing more while the use holds,
// and the real kubectl-zz binary shows requested vs used per pod and per
// app, flagging the pod over its request.
func TestGPUUsageKubelet(t *testing.T) {
	ctx := t.Context()
	n := startDPNode(t, "gpu-usage", "--usage-annotation-interval", "1s")
	n.underPolicies(t)
	startZZScheduler(t)
	ns := cluster.Namespace(t, nil)

	type gpuPod struct {
		name, app string
		reqMiB    int64
		pid       int
		usedMiB   int64
		over      bool
	}
	pods := []gpuPod{
		{name: "under", app: "vision", reqMiB: 8192, pid: 5001, usedMiB: 3000},
		{name: "over", app: "llm", reqMiB: 4096, pid: 5002, usedMiB: 6000, over: true},
	}
	var objs []*corev1.Pod
	for _, p := range pods {
		pod := n.gpuPodFor(ns, p.name, p.reqMiB, 1, nil)
		pod.Labels[contract.LabelApp] = p.app
		objs = append(objs, pod)
	}
	createPods(t, objs)

	// Each pod's processes: a cgroup naming its pod in the fake /proc, and
	// the card's NVML process list (one PUT per card, so gather them).
	byCard := map[string][]string{}
	uuidOf := map[string]string{}
	for _, p := range pods {
		pod := waitPodPhase(t, ns, p.name, corev1.PodRunning, 90*time.Second)
		n.checkCards(t, pod)
		a, err := gpushare.PodAssignment(pod)
		if err != nil {
			t.Fatal(err)
		}
		uuidOf[p.name] = a.UUIDs[0]
		dir := filepath.Join(n.procRoot, strconv.Itoa(p.pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cg := fmt.Sprintf("12:memory:/kubepods/burstable/pod%s/0123abcd\n", pod.UID)
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
		byCard[a.UUIDs[0]] = append(byCard[a.UUIDs[0]], fmt.Sprintf(`{"pid":%d,"usedMiB":%d}`, p.pid, p.usedMiB))
	}
	for uuid, procs := range byCard {
		n.mock(t, "PUT", "/processes?uuid="+uuid, "["+strings.Join(procs, ",")+"]")
	}

	start := time.Now()
	for _, p := range pods {
		want := fmt.Sprintf("%s=%d", uuidOf[p.name], p.usedMiB)
		cluster.WaitFor(t, 30*time.Second, "pod "+p.name+" publishes its use", func(ctx context.Context) (bool, string, error) {
			pod, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, p.name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			got := pod.Annotations[contract.AnnotationGPUMemUsed]
			return got == want, fmt.Sprintf("%s=%q, want %q", contract.AnnotationGPUMemUsed, got, want), nil
		})
	}
	t.Logf("both pods' use published %v after their processes started", time.Since(start).Round(10*time.Millisecond))

	// Steady use: samples every second, no write.
	writes := func(result string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^zz_gpu_pod_usage_annotation_writes_total\{result="` + result + `"\} (\S+)$`).FindStringSubmatch(scrape(t, n.url("/metrics")))
		if m == nil {
			t.Fatalf("/metrics lacks zz_gpu_pod_usage_annotation_writes_total{result=%q}", result)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := writes("ok")
	time.Sleep(5 * time.Second)
	if after := writes("ok"); after != before {
		t.Errorf("%v annotation writes in 5 samples of a steady use; want none", after-before)
	}
	for _, p := range pods {
		pod, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, p.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := pod.Annotations[contract.AnnotationGPUMemUsed], fmt.Sprintf("%s=%d", uuidOf[p.name], p.usedMiB); got != want {
			t.Errorf("pod %s: %s=%q after 5 s of steady use, want %q", p.name, contract.AnnotationGPUMemUsed, got, want)
		}
	}
	// Every write passed the policies with the DaemonSet's rights.
	if refused := writes("error"); refused != 0 {
		t.Errorf("%v annotation writes failed under the policies; see %s", refused, n.plugin.LogPath)
	}
	t.Logf("%v annotation writes in all for %d pods; none in 5 s of steady use", before, len(pods))

	// kubectl zz gpu --pods, the real binary.
	bin := cluster.GoBuild(t, "./plugins/kubectl-zz")
	zzGPUAs := func(kubeconfig string, args ...string) []string {
		t.Helper()
		var stderr strings.Builder
		cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig, "gpu"}, args...)...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl zz gpu %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
		t.Logf("kubectl zz gpu %s:\n%s%s", strings.Join(args, " "), out, stderr.String())
		return lines
	}
	zzGPU := func(args ...string) []string { t.Helper(); return zzGPUAs(cluster.Kubeconfig, args...) }
	index := func(name string) string {
		for _, c := range n.inv.Cards {
			if c.UUID == uuidOf[name] {
				return strconv.Itoa(c.Index)
			}
		}
		t.Fatalf("card %s of %s not in the inventory", uuidOf[name], name)
		return ""
	}
	want := []string{
		"POD APP NODE CARD REQUESTED USED OVER",
		"over llm " + n.Node + " " + index("over") + " 4Gi 6000Mi true",
		"under vision " + n.Node + " " + index("under") + " 8Gi 3000Mi false",
		"",
		"APP PODS REQUESTED USED OVER",
		"llm 1 4Gi 6000Mi 1",
		"vision 1 8Gi 3000Mi 0",
	}
	if got := zzGPU("--pods", "-n", ns); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kubectl zz gpu --pods:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A developer with the edit role in the namespace, who may not list
	// nodes, sees the same pods (read from their annotations).
	dev := roleTenant(t, ns, "dev", "edit")
	if got := zzGPUAs(dev.kubeconfig, "--pods", "-n", ns); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("kubectl zz gpu --pods as an edit user of %s:\n%s\nwant\n%s", ns, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got := zzGPU("--pods", "-A", "-l", contract.LabelApp+"=llm")
	if len(got) != 5 || got[1] != ns+" over llm "+n.Node+" "+index("over")+" 4Gi 6000Mi true" {
		t.Errorf("kubectl zz gpu --pods -A -l %s=llm:\n%s", contract.LabelApp, strings.Join(got, "\n"))
	}
	// The card table's wide columns: what each pod requested and uses.
	wide := strings.Join(zzGPU(n.Node, "-o", "wide"), "\n")
	for _, p := range pods {
		cell := fmt.Sprintf("%s/%s:%s/%dMi", ns, p.name, map[int64]string{8192: "8Gi", 4096: "4Gi"}[p.reqMiB], p.usedMiB)
		if !strings.Contains(wide, cell) {
			t.Errorf("kubectl zz gpu -o wide lacks %q", cell)
		}
	}
}

// underPolicies installs the shipped admission policies and runs the node's
// device plugin again with the token of a DaemonSet-like pod of its
// ServiceAccount bound to the node (as the kubelet mounts it), so every
// write it makes (inventory, Allocate's mark, the pods' used memory) passes
// the policies with the rights it has in a real cluster.
func (n *dpNode) underPolicies(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	for _, f := range []string{"manifests/deviceplugin/namespace.yaml", "manifests/deviceplugin/rbac.yaml"} {
		if out, err := cluster.Kubectl(ctx, "apply", "--server-side", "--field-manager", "zz-e2e", "-f", filepath.Join(cluster.Root, f)); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	installPolicies(t)
	dsPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "zz-device-plugin-" + n.Node, Namespace: "zz-device-plugin"},
		Spec: corev1.PodSpec{ServiceAccountName: "zz-device-plugin", NodeName: n.Node, TerminationGracePeriodSeconds: new(int64),
			Tolerations: []corev1.Toleration{{Key: n.Taint.Key, Operator: corev1.TolerationOpExists}},
			Containers:  []corev1.Container{{Name: "zz-device-plugin", Image: "registry.local/zz-device-plugin:e2e"}}}}
	dsPod, err := cluster.Client.CoreV1().Pods(dsPod.Namespace).Create(ctx, dsPod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Pods(dsPod.Namespace).Delete(context.WithoutCancel(ctx), dsPod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	})
	id := identityWithToken(t, "zz-device-plugin", token(t, dsPod.Namespace, "zz-device-plugin", dsPod))
	n.plugin.Stop(t)
	n.plugin = cluster.Start(t, "zz-device-plugin-"+n.Node+"-sa", cluster.GoBuild(t, "./deviceplugin/cmd/zz-device-plugin"),
		slices.Concat(n.pluginArgs, []string{"--kubeconfig", id.kubeconfig})...) // the last --kubeconfig wins
	cluster.WaitHTTP(t, n.plugin, n.url("/readyz"), 60*time.Second)
	n.waitGPUs(t, 8*dpSlots, 60*time.Second)
}

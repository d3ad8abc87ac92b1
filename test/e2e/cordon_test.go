package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/gpushare"
)

// TestGPUCordon: an admin cordons one of a node's two cards with the real
// kubectl zz; a new GPU pod goes on the other card and the next one waits,
// saying why; a tenant (namespace edit) can neither cordon nor uncordon;
// once the admin uncordons the card, the waiting pod runs on it within
// seconds (the extender asks kube-scheduler to retry it).
func TestGPUCordon(t *testing.T) {
	ctx := t.Context()
	node, model := "cordon-gpu", "ZZ-E2E-Cordon-40GB"
	taintedGPUNode(t, node, model)
	startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	tenant := editTenant(t, ns)
	bin := cluster.GoBuild(t, "./plugins/kubectl-zz")
	zz := func(kubeconfig string, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := zz(cluster.Kubeconfig, "gpu", "cordon", node, "0"); err != nil || !strings.Contains(out, "node/"+node+" card 0 (GPU-"+node+"-0) cordoned") {
		t.Fatalf("kubectl zz gpu cordon: %v\n%s", err, out)
	}
	if out, err := zz(cluster.Kubeconfig, "gpu", node); err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), node+" 0 "+model+" 40Gi 0Mi 0 (cordoned) 0") {
		t.Fatalf("kubectl zz gpu %s does not show card 0 cordoned: %v\n%s", node, err, out)
	}
	for _, verb := range []string{"cordon", "uncordon"} {
		if out, err := zz(tenant.kubeconfig, "gpu", verb, node, "0", "1"); err == nil || !strings.Contains(out, "forbidden") {
			t.Fatalf("the tenant ran kubectl zz gpu %s: %v\n%s", verb, err, out)
		}
	}

	create := func(name string) {
		t.Helper()
		p := ofModel(newGPUPod(ns, name, "40Gi"), model)
		p.Labels["app"] = name
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	onCard := func(p corev1.Pod, card int) {
		t.Helper()
		if a, err := gpushare.PodAssignment(&p); err != nil || !slices.Equal(a.Indexes, []int{card}) {
			t.Fatalf("pod %s got %v (%v), want card %d", p.Name, a, err, card)
		}
	}
	create("first")
	onCard(cluster.RunningPods(t, ns, "app=first", 1, 60*time.Second)[0], 1)
	create("second")
	podEvent(t, ns, "second", "FailedScheduling", "card 0 (GPU-"+node+"-0) unhealthy: "+gpushare.CordonReason)

	start := time.Now()
	if out, err := zz(cluster.Kubeconfig, "gpu", "uncordon", node, "GPU-"+node+"-0"); err != nil || !strings.Contains(out, "uncordoned") {
		t.Fatalf("kubectl zz gpu uncordon: %v\n%s", err, out)
	}
	cluster.WaitFor(t, 30*time.Second, "the waiting pod to be bound once the card is uncordoned", func(ctx context.Context) (bool, string, error) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "second", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return p.Spec.NodeName != "", fmt.Sprint(p.Status.Conditions), nil
	})
	onCard(cluster.RunningPods(t, ns, "app=second", 1, 60*time.Second)[0], 0)
	t.Logf("the waiting pod was bound %s after the card was uncordoned", time.Since(start).Round(100*time.Millisecond))
}

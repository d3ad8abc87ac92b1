package e2e

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestDeployOvercommitMeetsLimitRange: in a namespace whose LimitRange
// wants min cpu 300m per container, an app of cpu 500m in the 0.5 pool
// deploys, and its pod's request is 300m: the webhook raised limit × 0.5
// (250m) to the LimitRange's min. Before, the LimitRanger (which validates
// after the mutating webhooks) refused every such pod ("minimum cpu usage
// per Container is 300m, but request is 250m": an incident audit). The
// raise is counted in zz_webhook_cpu_request_clamps_total.
func TestDeployOvercommitMeetsLimitRange(t *testing.T) {
	w := startWebhook(t, fmt.Sprintf(webhookPolicy, "e2e-lr", "0.5"))
	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "minimum"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Min: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}}}}}
	if _, err := cluster.Client.CoreV1().LimitRanges(ns).Create(t.Context(), lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe := appPod("probe", "500m")
	probe.Annotations = nil // no log-agent sidecar: its limit of 100m is under the min
	cluster.WaitFor(t, 30*time.Second, "the webhook to see the LimitRange", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, ns, probe.DeepCopy())
		if err != nil {
			return false, err.Error(), nil
		}
		return cpuRequest(pod.Spec.Containers[0]) == "300m", "request " + cpuRequest(pod.Spec.Containers[0]), nil
	})
	if out, errOut, err := zz(t, ns, "deploy", "--name", "minapp", "--type", "web", "--image", "registry.local/web:1",
		"--set", "spec.cpu=500m", "--set", "spec.pool=general", "--set", "spec.replicas=1", "--timeout", "2m"); err != nil {
		t.Fatalf("deploy of cpu 500m in pool general (0.5) beside a LimitRange of min cpu 300m: %v\n%s%s", err, out, errOut)
	}
	for _, p := range cluster.RunningPods(t, ns, contract.LabelApp+"=minapp", 1, 60*time.Second) {
		if got := cpuRequest(p.Spec.Containers[0]); got != "300m" {
			t.Errorf("pod %s: CPU request %s, want 300m (limit 500m × 0.5 raised to the LimitRange's min)", p.Name, got)
		}
	}
	if m := w.metrics(t); !regexp.MustCompile(`(?m)^zz_webhook_cpu_request_clamps_total\{constraint="min"\} [1-9]`).MatchString(m) {
		t.Errorf("zz_webhook_cpu_request_clamps_total{constraint=\"min\"} not counted:\n%s", regexp.MustCompile(`(?m)^zz_webhook_cpu.*$`).FindAllString(m, -1))
	}
}

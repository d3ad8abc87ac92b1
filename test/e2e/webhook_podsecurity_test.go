package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestWebhookPodSecurity: with lxcfs on, a pod of a namespace enforcing
// Pod Security baseline is admitted without lxcfs's hostPath volumes, while
// one of a namespace at the default level gets them. The apiserver runs
// Pod Security admission after the mutating webhooks, on the mutated pod:
// the same pod with lxcfs's volumes is refused there (what happened to
// every pod of such a namespace before the webhook read its level).
func TestWebhookPodSecurity(t *testing.T) {
	startWebhook(t, fmt.Sprintf(webhookPolicy, "e2e-psa", "0.5")+"lxcfs: {enabled: true}\n")
	open := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	baseline := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled, contract.LabelPodSecurityEnforce: "baseline"})
	lxcfs := func(pod *corev1.Pod) int {
		n := 0
		for _, v := range pod.Spec.Volumes {
			if v.HostPath != nil && strings.HasPrefix(v.Name, contract.VolumeLxcfsPrefix) {
				n++
			}
		}
		return n
	}
	var mutated *corev1.Pod
	cluster.WaitFor(t, 30*time.Second, "the apiserver to call the webhook", func(ctx context.Context) (bool, string, error) {
		pod, err := dryRunPod(ctx, open, appPod("probe", "1"))
		if err != nil {
			return false, err.Error(), nil
		}
		mutated = pod
		return lxcfs(pod) > 0, "containers " + containerNames(pod), nil
	})
	pod, err := dryRunPod(t.Context(), baseline, appPod("shop", "1"))
	if err != nil {
		t.Fatalf("a pod of a namespace enforcing baseline is refused: %v", err)
	}
	if n := lxcfs(pod); n > 0 || envOf(pod.Spec.Containers[0])[contract.EnvNumCPUs] != "1" {
		t.Errorf("in namespace %s (baseline): %d lxcfs volumes, NUM_CPUS %q; want none, and the rest of the mutation", baseline, n, envOf(pod.Spec.Containers[0])[contract.EnvNumCPUs])
	}
	// What the webhook would have sent: Pod Security refuses it.
	mutated.Namespace, mutated.ResourceVersion, mutated.UID, mutated.Name = baseline, "", "", ""
	if _, err := dryRunPod(t.Context(), baseline, mutated); err == nil || !strings.Contains(err.Error(), `violates PodSecurity "baseline`) || !strings.Contains(err.Error(), "hostPath") {
		t.Errorf("the pod with lxcfs's volumes in namespace %s (baseline): %v; want Pod Security's refusal of hostPath volumes", baseline, err)
	}
}

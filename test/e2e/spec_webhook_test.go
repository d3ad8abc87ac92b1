package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/zzcloud/zz/internal/contract"
)

// TestDeployJavaGetsJVMFlags: a type: java app deployed with kubectl zz
// carries zz.io/type=java, so the real webhook's per-type policy gives its
// pods -XX:ActiveProcessorCount.
func TestDeployJavaGetsJVMFlags(t *testing.T) {
	startWebhook(t, "largestGPUCard: 80Gi\njava: {labels: {zz.io/type: java}}\n")
	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	spec := cartSpec(t, "1.0", "")
	out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--set", "spec.type=java", "--set", "spec.cpu=2", "--set", "spec.replicas=1", "--timeout", "90s")
	if err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	for _, p := range cluster.RunningPods(t, ns, contract.LabelApp+"=cart", 1, 60*time.Second) {
		env := envOf(p.Spec.Containers[0])
		if !strings.Contains(env[contract.EnvJavaOptions], "-XX:ActiveProcessorCount=2") || p.Labels[contract.LabelType] != "java" {
			t.Errorf("pod %s: labels %v, env %v; want %s with -XX:ActiveProcessorCount=2", p.Name, p.Labels, env, contract.EnvJavaOptions)
		}
	}
}

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/zzcloud/zz/internal/contract"
)

// TestDeployJavaGetsJVMFlags: a type: java app deployed with kubectl zz
// carries zz.io/type=java, so the real webhook's per-type policy gives its
// pods -XX:ActiveProcessorCount. Its 3 minute startup probe bounds deploy's
// wait: a shorter --timeout is warned of, none waits for 2 batches of it.
func TestDeployJavaGetsJVMFlags(t *testing.T) {
	startWebhook(t, "largestGPUCard: 80Gi\njava: {labels: {zz.io/type: java}}\n")
	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	spec := cartSpec(t, "1.0", "")
	out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--set", "spec.type=java", "--set", "spec.cpu=2", "--set", "spec.replicas=1", "--timeout", "90s")
	if err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	// java's startup probe allows 3 minutes: a --timeout under it is
	// warned of, and without one the wait covers it, batch by batch.
	if want := "Warning: --timeout 1m30s is shorter than the 3m a new pod of cart may take to start"; !strings.Contains(errOut, want) {
		t.Errorf("deploy --timeout 90s of a java app: stderr lacks %q\n%s", want, errOut)
	}
	out, errOut, err = zz(t, ns, "deploy", "-f", cartSpec(t, "1.1", ""), "--set", "spec.type=java", "--set", "spec.cpu=2", "--set", "spec.replicas=2")
	if want := "waiting up to 11m: a new pod of cart may take 3m to start by its startup probes (spec.startupTimeout), its rollout starts 2 batches of pods one after another"; err != nil || !strings.Contains(errOut, want) {
		t.Fatalf("deploy of a java app without --timeout: %v, want %q on stderr\n%s%s", err, want, out, errOut)
	}
	for _, p := range cluster.RunningPods(t, ns, contract.LabelApp+"=cart", 2, 60*time.Second) {
		env := envOf(p.Spec.Containers[0])
		if !strings.Contains(env[contract.EnvJavaOptions], "-XX:ActiveProcessorCount=2") || p.Labels[contract.LabelType] != "java" {
			t.Errorf("pod %s: labels %v, env %v; want %s with -XX:ActiveProcessorCount=2", p.Name, p.Labels, env, contract.EnvJavaOptions)
		}
	}
}

package e2e

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/render"
)

// TestDeployHealthCommand: a worker with spec.healthCommand is deployed
// with the command as its readiness, liveness and startup probes, as the
// apiserver keeps them (kwok runs no probe: it marks the pods ready, so
// that the rollout waits on the probe is the unit tests'); a second deploy
// that changes the command names it in its change cause, and one that
// sets healthPath beside it is refused before anything is applied.
func TestDeployHealthCommand(t *testing.T) {
	ctx := t.Context()
	ns := cluster.Namespace(t, nil)
	spec := specFile(t, `apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: worker
  image: registry.local/indexer:2.1
  replicas: 1
  cpu: 100m
  memory: 64Mi
  healthCommand: [/app/healthcheck, --max-age=60s]
  startupTimeout: 1m
  healthTimeout: 5s
`)
	if out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--timeout", "60s"); err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/app/healthcheck", "--max-age=60s"}
	c := d.Spec.Template.Spec.Containers[0]
	for _, p := range []struct {
		name      string
		probe     *corev1.Probe
		threshold int32
	}{{"readiness", c.ReadinessProbe, 3}, {"liveness", c.LivenessProbe, 3}, {"startup", c.StartupProbe, 12}} { // startup: a minute of 5 s tries
		if p.probe == nil || p.probe.Exec == nil || !slices.Equal(p.probe.Exec.Command, want) || p.probe.TimeoutSeconds != 5 || p.probe.FailureThreshold != p.threshold {
			t.Errorf("%s probe %+v; want exec %q, timing out at 5s, failing after %d tries", p.name, p.probe, want, p.threshold)
		}
	}
	if c.Name != render.ContainerName || len(c.Ports) != 0 {
		t.Errorf("container %s with ports %v, want the app's with none", c.Name, c.Ports)
	}

	out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--set", "spec.healthCommand=[/app/healthcheck, --max-age=90s]", "--timeout", "60s")
	if err != nil {
		t.Fatalf("deploy of another command: %v\n%s%s", err, out, errOut)
	}
	if h := history(t, ns); len(h) != 2 || !strings.Contains(h[len(h)-1].ChangeCause, "(healthCommand)") {
		t.Errorf("history %+v, want a second revision whose change cause names healthCommand", h)
	}

	out, errOut, err = zz(t, ns, "deploy", "-f", spec, "--set", "spec.healthPath=/health", "--timeout", "60s")
	if wantErr := "spec.healthPath: is set beside spec.healthCommand, which replaces the HTTP check"; err == nil || !strings.Contains(errOut+err.Error(), wantErr) {
		t.Errorf("deploy with healthPath beside healthCommand: %v, want it refused with %q\n%s%s", err, wantErr, out, errOut)
	}
	if h := history(t, ns); len(h) != 2 {
		t.Errorf("history has %d revisions after a refused deploy, want 2", len(h))
	}
}

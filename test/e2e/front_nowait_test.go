package e2e

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFrontWithoutWait: a deploy --wait=false that puts an auth proxy in
// front of a running app (front: true) leaves the Service on the app's
// port and says so, since nothing waits for the pods that have the proxy's;
// status says the Service waits for the rollout, not that the app drifted;
// once the rollout is complete, the same deploy again moves it, and status
// is Ready without drift.
func TestFrontWithoutWait(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	plain := shopSpec(t, "1.0", "one", 8080, "")
	if out, errOut, err := zz(t, ns, "deploy", "-f", plain, "--timeout", "60s"); err != nil {
		t.Fatalf("deploy v1: %v\n%s%s", err, out, errOut)
	}
	front := specFile(t, `apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: web
  image: registry.local/shop:1.0
  replicas: 2
  cpu: 100m
  memory: 64Mi
  port: 8080
  env: {MODE: one}
  configFiles: {app.conf: "mode=one"}
  sidecars:
  - {name: auth, image: "registry.local/oauth2-proxy:7.7", args: [--upstream=http://127.0.0.1:8080], ports: [{name: auth, port: 4180, front: true}]}
`)
	out, errOut, err := zz(t, ns, "deploy", "-f", front, "--wait=false")
	if err != nil || !strings.Contains(out, "deployed as revision 2") ||
		!strings.Contains(errOut, "service shop stays on port http for now: its traffic moves to port auth, which only the new pods have") {
		t.Fatalf("deploy with front --wait=false: %v\n%s%s", err, out, errOut)
	}
	target := func() string {
		t.Helper()
		svc, err := cluster.Client.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Spec.Ports[0].TargetPort.String()
	}
	if got := target(); got != "http" {
		t.Errorf("the Service targets %s after deploy --wait=false, want http", got)
	}
	out, errOut, err = zz(t, ns, "status", "shop")
	if err != nil || strings.Contains(out, "drifted") || !strings.Contains(out, "shop waits to move to its latest revision:") ||
		!strings.Contains(out, "service shop still sends the app's traffic to port http: revision 2 moves it to port auth") {
		t.Errorf("status after deploy --wait=false: %v\n%s%s", err, out, errOut)
	}
	t.Logf("status:\n%s", out)
	cluster.WaitForRollout(t, ns, "shop", 60*time.Second)
	out, errOut, err = zz(t, ns, "deploy", "-f", front, "--timeout", "60s")
	if err != nil || !strings.Contains(out, "deployed as revision 3") {
		t.Fatalf("the same deploy once the rollout completed: %v\n%s%s", err, out, errOut)
	}
	if got := target(); got != "auth" {
		t.Errorf("the Service targets %s after the deploy that waited, want auth", got)
	}
	statusReady(t, ns, "shop", "once the Service moved")
}

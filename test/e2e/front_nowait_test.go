package e2e

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFrontWithoutWait: a deploy --wait=false that puts an auth proxy in
// front of a running app (front: true) is refused before anything is
// applied, naming the deploy that waits: nothing would move the Service to
// the proxy's port once the new pods are ready, so the proxy would stay
// bypassed (review 17a). The deploy that waits then moves it, and status is
// Ready without drift.
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
	if err == nil || !strings.Contains(errOut, "kubectl zz deploy without --wait=false: service shop moves to port auth, which only the new pods have, once they are ready; --wait=false cannot move it without an outage") ||
		!strings.Contains(errOut, "nothing was applied") {
		t.Fatalf("deploy with front --wait=false: %v, want it refused\n%s%s", err, out, errOut)
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
		t.Errorf("the Service targets %s after the refused deploy, want http", got)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Errorf("the refused deploy left %d containers in the pod template, want the app's 1", n)
	}
	statusReady(t, ns, "shop", "after the refused deploy")
	out, errOut, err = zz(t, ns, "deploy", "-f", front, "--timeout", "60s")
	if err != nil || !strings.Contains(out, "deployed as revision 2") {
		t.Fatalf("the deploy that waits: %v\n%s%s", err, out, errOut)
	}
	if got := target(); got != "auth" {
		t.Errorf("the Service targets %s after the deploy that waited, want auth", got)
	}
	statusReady(t, ns, "shop", "once the Service moved")
}

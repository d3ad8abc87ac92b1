package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDeployMinReadySeconds: a deploy with spec.minReadySeconds renders it
// on the Deployment, says the soak while it waits, and records its
// revision only once the pods have stayed ready that long: kwok marks them
// ready at once, so the wait lasts at least the soak, and the revision's
// time is at least that after the last pod became ready. A new version
// whose pod crashes within its soak (its status written as the kubelet
// writes a crash loop: kwok never fails a container) fails the deploy,
// naming the crash, and --rollback-on-failure restores revision 1 (an
// incident audit: a version that crashed 3 s after its readiness was
// recorded as a good revision, and the flag never fired).
func TestDeployMinReadySeconds(t *testing.T) {
	const soak = 5 * time.Second
	ctx := t.Context()
	ns := cluster.Namespace(t, nil)
	spec := specFile(t, `apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: web
  image: registry.local/shop:1.0
  replicas: 2
  cpu: 100m
  memory: 64Mi
  minReadySeconds: 5
`)
	start := time.Now()
	out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--timeout", "2m")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	// The controller counts the soak from the Ready condition's time, which
	// the API keeps in whole seconds, cut down: up to 1 s of it may lie
	// before the readiness (CI saw 4.24 s).
	if took < soak-time.Second {
		t.Errorf("deploy took %s, less than minReadySeconds %s less the 1 s the API's times cut\n%s", took, soak, errOut)
	}
	if !strings.Contains(errOut, "(minReadySeconds 5)") {
		t.Errorf("progress does not say the soak:\n%s", errOut)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.MinReadySeconds != 5 || d.Status.AvailableReplicas != 2 {
		t.Errorf("deployment minReadySeconds %d, %d available; want 5, 2", d.Spec.MinReadySeconds, d.Status.AvailableReplicas)
	}
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "zz.io/app=shop"})
	if err != nil {
		t.Fatal(err)
	}
	var readyAt time.Time
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && c.LastTransitionTime.After(readyAt) {
				readyAt = c.LastTransitionTime.Time
			}
		}
	}
	if readyAt.IsZero() {
		t.Fatalf("no ready pod of shop: %+v", pods.Items)
	}
	if h := history(t, ns); len(h) != 1 {
		t.Fatalf("history has %d revisions, want 1", len(h))
	}
	// The record is written once the wait is over (its time in history is
	// the deploy's start). Both times are the apiserver's whole seconds,
	// each cut down: the record's is at least the last readiness's plus
	// the soak.
	rec, err := cluster.Client.CoreV1().Secrets(ns).Get(ctx, "zz.shop.r1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if at := rec.CreationTimestamp.Time; at.Before(readyAt.Add(soak)) {
		t.Errorf("revision 1 recorded at %s, within %s of the last pod's readiness at %s", at.Format(time.RFC3339), soak, readyAt.Format(time.RFC3339))
	}

	crashInSoak(t, ns, spec)
}

// crashInSoak deploys registry.local/shop:2.0 with a 30 s soak and
// --rollback-on-failure, and writes a crash loop into its first pod once
// that is ready.
func crashInSoak(t *testing.T, ns, spec string) {
	ctx := t.Context()
	type result struct {
		errOut string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		_, errOut, err := zz(t, ns, "deploy", "-f", spec, "--set", "spec.image=registry.local/shop:2.0", "--set", "spec.version=2.0",
			"--set", "spec.minReadySeconds=30", "--timeout", "15s", "--rollback-on-failure")
		done <- result{errOut, err}
	}()
	var crashed string
	for deadline := time.Now().Add(30 * time.Second); crashed == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "zz.io/app=shop,zz.io/version=2.0"})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			for _, c := range p.Status.Conditions {
				if c.Type != corev1.PodReady || c.Status != corev1.ConditionTrue {
					continue
				}
				now := metav1.Now()
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
					{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: now},
					{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: now}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: p.Spec.Containers[0].Image, RestartCount: 1,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container=app"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", StartedAt: now, FinishedAt: now}}}}
				if _, err := cluster.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err == nil {
					crashed = p.Name
				}
				break
			}
			if crashed != "" {
				break
			}
		}
	}
	r := <-done
	if crashed == "" {
		t.Fatalf("no pod of 2.0 became ready to crash: %v\n%s", r.err, r.errOut)
	}
	if want := "pod " + crashed + ": CrashLoopBackOff: container app exited with code 2 (Error)"; r.err == nil || !strings.Contains(r.err.Error(), want) {
		t.Fatalf("deploy whose pod crashed in its soak: %v, want it failed with %q\n%s", r.err, want, r.errOut)
	}
	if !strings.Contains(r.errOut+r.err.Error(), "rolled back to revision 1 (1.0)") {
		t.Errorf("--rollback-on-failure did not restore revision 1:\n%s%v", r.errOut, r.err)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.local/shop:1.0" || d.Spec.MinReadySeconds != 5 {
		t.Errorf("after the rollback: image %s, minReadySeconds %d; want revision 1's registry.local/shop:1.0, 5", img, d.Spec.MinReadySeconds)
	}
	if h := history(t, ns); len(h) != 1 {
		t.Errorf("history has %d revisions after the failed deploy, want 1", len(h))
	}
}

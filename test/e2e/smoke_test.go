package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/test/e2e/framework"
)

// TestSmoke proves the control plane works end to end: the scheduler places a
// Deployment's pods on kwok nodes, kube-controller-manager rolls it forward
// and back, and kwok serves logs through the apiserver.
func TestSmoke(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	ctx := t.Context()
	labels := map[string]string{"app": "smoke"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.local/smoke:v1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
					}},
				}}},
			},
		},
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}

	pods := cluster.RunningPods(t, ns, "app=smoke", 3, 60*time.Second)
	nodes, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fake := map[string]bool{}
	for _, n := range nodes.Items {
		fake[n.Name] = n.Annotations["kwok.x-k8s.io/node"] == "fake"
	}
	// Without a renewed Lease the node-lifecycle controller marks kwok nodes
	// NotReady after 40 s and taints them: every later test would flake.
	for name := range fake {
		if _, err := cluster.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("node %s has no lease: %v", name, err)
		}
	}
	for _, p := range pods {
		if !fake[p.Spec.NodeName] {
			t.Errorf("pod %s runs on %q, not on a kwok node", p.Name, p.Spec.NodeName)
		}
	}
	cluster.WaitForRollout(t, ns, "smoke", 60*time.Second)

	t.Run("image change then rollout undo", func(t *testing.T) {
		setImage(t, ns, "smoke", "registry.local/smoke:v2")
		d := cluster.WaitForRollout(t, ns, "smoke", 60*time.Second)
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "registry.local/smoke:v2" {
			t.Fatalf("image after update = %s", got)
		}
		for _, p := range cluster.RunningPods(t, ns, "app=smoke", 3, 60*time.Second) {
			if img := p.Spec.Containers[0].Image; img != "registry.local/smoke:v2" {
				t.Errorf("pod %s runs %s after the update, want v2", p.Name, img)
			}
		}
		if _, err := cluster.Kubectl(ctx, "-n", ns, "rollout", "undo", "deployment/smoke"); err != nil {
			t.Fatal(err)
		}
		cluster.WaitFor(t, 60*time.Second, "rollout undo to v1", func(ctx context.Context) (bool, string, error) {
			d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "smoke", metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			img := d.Spec.Template.Spec.Containers[0].Image
			return img == "registry.local/smoke:v1" && framework.RolloutComplete(d), img + ", " + framework.RolloutStatus(d), nil
		})
		for _, p := range cluster.RunningPods(t, ns, "app=smoke", 3, 60*time.Second) {
			if img := p.Spec.Containers[0].Image; img != "registry.local/smoke:v1" {
				t.Errorf("pod %s runs %s after undo, want v1", p.Name, img)
			}
		}
	})

	t.Run("kubectl logs of a fake pod", func(t *testing.T) {
		pod := cluster.RunningPods(t, ns, "app=smoke", 3, 60*time.Second)[0]
		out, err := cluster.Kubectl(ctx, "-n", ns, "logs", pod.Name, "-c", "app")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 20 || lines[0] != "zz test log line 1" {
			t.Fatalf("kubectl logs returned %d lines starting %q; want the 20 lines of %s", len(lines), lines[0], cluster.PodLogFile())
		}
	})
}

func setImage(t *testing.T, ns, name, image string) {
	t.Helper()
	ctx := t.Context()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = image
	if _, err := cluster.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

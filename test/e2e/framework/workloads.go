package framework

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/deploy"
)

// WaitForRollout waits until a Deployment's latest spec is fully rolled out:
// observed, every replica updated and available, no old replica left. It is
// the condition kubectl rollout status uses.
func (c *Cluster) WaitForRollout(t testing.TB, ns, name string, timeout time.Duration) *appsv1.Deployment {
	t.Helper()
	var dep *appsv1.Deployment
	c.WaitFor(t, timeout, fmt.Sprintf("rollout of deployment %s/%s", ns, name), func(ctx context.Context) (bool, string, error) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		dep = d
		return RolloutComplete(d), RolloutStatus(d), nil
	})
	return dep
}

// RolloutComplete reports whether d's current generation is fully rolled out,
// by the rule kubectl zz deploy waits on.
func RolloutComplete(d *appsv1.Deployment) bool {
	return deploy.RolloutStatus(d).Complete
}

// RolloutStatus is a one-line progress summary of a Deployment.
func RolloutStatus(d *appsv1.Deployment) string {
	s := d.Status
	return fmt.Sprintf("generation %d observed %d: %d replicas, %d updated, %d ready, %d available",
		d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
}

// RunningPods waits until exactly n pods match selector in ns, all Running on
// a node, and returns them.
func (c *Cluster) RunningPods(t testing.TB, ns, selector string, n int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	c.WaitFor(t, timeout, fmt.Sprintf("%d running pods %q in %s", n, selector, ns), func(ctx context.Context) (bool, string, error) {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, "", err
		}
		pods = pods[:0]
		running := 0
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			pods = append(pods, p)
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		return running == n && len(pods) == n, fmt.Sprintf("%d pods, %d running", len(pods), running), nil
	})
	return pods
}

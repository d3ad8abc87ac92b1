package framework

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Quota creates the ResourceQuota name in ns with hard, and waits until the
// quota controller has counted what ns already holds: each resource of used
// at its value. Until then the quota admits nothing it has not counted, so a
// test that went on at once would meet a refusal of the controller's lag,
// not of the quota. The quota is deleted when t ends.
func (c *Cluster) Quota(t testing.TB, ns, name string, hard, used corev1.ResourceList) {
	t.Helper()
	ctx := t.Context()
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	if _, err := c.Client.CoreV1().ResourceQuotas(ns).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().ResourceQuotas(ns).Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
	})
	c.WaitFor(t, 60*time.Second, "the quota controller to count what namespace "+ns+" holds", func(ctx context.Context) (bool, string, error) {
		q, err := c.Client.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		for r, want := range used {
			got, ok := q.Status.Used[r]
			if !ok || got.Cmp(want) != 0 {
				return false, fmt.Sprintf("used %v, want %v", q.Status.Used, used), nil
			}
		}
		return true, "", nil
	})
}

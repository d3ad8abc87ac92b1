package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestGPUWaiterRunsWhenMemoryFrees: a GPU pod that waits for memory runs
// within seconds of a pod on its card going, round after round.
// kube-scheduler retries it on the deletion, but its informer may deliver
// the deletion before the extender's does, and the retry is then refused
// on the memory still counted; before the extender asked for a retry
// itself (Requeuer), nothing retried the pod until kube-scheduler's
// periodic flush: 1 round in 7 waited 320 s. Each round lets the waiter's
// backoff run out first (as in a cluster where it waited a while), which
// is when kube-scheduler's retry is immediate. The waiter picks its node
// with a nodeSelector in one round of two and by GPU model in the other:
// kube-scheduler requeues an extender's refusal on any event, whichever
// plugin refused the other nodes.
func TestGPUWaiterRunsWhenMemoryFrees(t *testing.T) {
	ctx := t.Context()
	node, model := "requeue-gpu", "ZZ-E2E-Requeue-40GB"
	taintedGPUNode(t, node, model)
	z := startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	pod := func(name string, bySelector bool) *corev1.Pod {
		p := ofModel(newGPUPod(ns, name, "40Gi"), model)
		if bySelector {
			p = onNode(newGPUPod(ns, name, "40Gi"), node)
		}
		p.Labels["app"] = name
		return p
	}
	create := func(p *corev1.Pod) {
		t.Helper()
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(name string) {
		t.Helper()
		if err := cluster.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	// Two pods fill both cards; each round a third waits, one of the two
	// goes, the waiter takes its card and is the next round's filler.
	create(pod("fill-a", false))
	create(pod("fill-b", false))
	cluster.RunningPods(t, ns, "app=fill-a", 1, 60*time.Second)
	cluster.RunningPods(t, ns, "app=fill-b", 1, 60*time.Second)
	fillers := []string{"fill-a", "fill-b"}
	var took []string
	for round := range 6 {
		waiter := fmt.Sprintf("wait-%d", round)
		create(pod(waiter, round%2 == 1))
		waitUnschedulable(t, ns, waiter)
		// kube-scheduler's backoff tops out at 10 s.
		time.Sleep(11 * time.Second)
		start := time.Now()
		gone(fillers[0])
		cluster.WaitFor(t, 30*time.Second, waiter+" to be bound after a card was freed (kube-scheduler's periodic flush would take 5 minutes)",
			func(ctx context.Context) (bool, string, error) {
				p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, waiter, metav1.GetOptions{})
				if err != nil {
					return false, "", err
				}
				return p.Spec.NodeName == node, fmt.Sprint(p.Status.Conditions), nil
			})
		took = append(took, time.Since(start).Round(100*time.Millisecond).String())
		fillers = append(fillers[1:], waiter)
	}
	t.Logf("each waiter bound after a card was freed in %s; %s", strings.Join(took, ", "),
		grepLines(scrape(t, z.url("/metrics")), "zz_extender_requeues_total{"))
}

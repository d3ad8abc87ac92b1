package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Frozen-extender sizes: frozenGPUPods GPU pods queued ahead of
// frozenPlainPods plain ones. kube-scheduler tries each GPU pod once (one
// filter call, held the GPU entry's whole httpTimeout) before the plain pods,
// which it queued later; each plain pod then costs the balance entry's
// 500ms. With the 10s entry that bound GPU pods too, the plain pods cannot
// all be bound before 6 x 10s = 60s; frozenPlainBound leaves the short
// filter entry (6 x 2s, then 10 x 0.5s) room for a loaded machine.
const (
	frozenGPUPods    = 6
	frozenPlainPods  = 10
	frozenPlainBound = 45 * time.Second
)

// TestExtenderFrozen freezes the extender (SIGSTOP: a stuck process, a
// throttled container) while GPU pods and plain zz-scheduler pods wait: the
// plain pods must still be scheduled, since only the GPU entry's filter,
// prioritize and preempt calls hold kube-scheduler's one scheduling loop,
// each at most its httpTimeout. Once the extender runs again (SIGCONT) every
// GPU pod binds, with cards within their memory.
func TestExtenderFrozen(t *testing.T) {
	z := startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	pid := z.extender.Pid()

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("freeze the extender: %v", err)
	}
	// Stop (SIGTERM) cannot end a stopped process: thaw it first, whatever
	// the test's outcome.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })

	var gpuPods []*corev1.Pod
	for i := range frozenGPUPods {
		gpuPods = append(gpuPods, newGPUPod(ns, fmt.Sprintf("gpu-%d", i), "4Gi"))
	}
	createPods(t, gpuPods)
	// The GPU pods first in the queue, as a burst that arrived a moment before.
	time.Sleep(time.Second)
	var plain []*corev1.Pod
	for i := range frozenPlainPods {
		plain = append(plain, plainPod(ns, fmt.Sprintf("plain-%d", i)))
	}
	start := time.Now()
	createPods(t, plain)
	cluster.WaitFor(t, frozenPlainBound, fmt.Sprintf("%d plain pods bound while the extender is frozen", frozenPlainPods), func(ctx context.Context) (bool, string, error) {
		bound, total, err := boundCount(ctx, ns, "app=plain")
		if err != nil {
			return false, "", err
		}
		return bound == frozenPlainPods, fmt.Sprintf("%d of %d bound after %s", bound, total, time.Since(start).Round(time.Second)), nil
	})
	t.Logf("%d plain pods bound %s after their creation, the extender frozen", frozenPlainPods, time.Since(start).Round(100*time.Millisecond))
	// Nothing chooses a GPU pod's cards while the extender is frozen, so
	// none may be bound (the default binder would bind it with no cards).
	if bound, _, err := boundCount(t.Context(), ns, "app=gpu"); err != nil || bound != 0 {
		t.Fatalf("%d GPU pods bound while the extender was frozen (err %v), want 0", bound, err)
	}
	// cardUse reads every bound zz-scheduler pod as a GPU pod.
	if err := cluster.Client.CoreV1().Pods(ns).DeleteCollection(t.Context(), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)},
		metav1.ListOptions{LabelSelector: "app=plain"}); err != nil {
		t.Fatal(err)
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatalf("thaw the extender: %v", err)
	}
	cluster.WaitFor(t, 2*time.Minute, "every GPU pod bound once the extender runs again", func(ctx context.Context) (bool, string, error) {
		bound, _, err := boundCount(ctx, ns, "app=gpu")
		if err != nil {
			return false, "", err
		}
		l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=plain"})
		if err != nil {
			return false, "", err
		}
		return bound == frozenGPUPods && len(l.Items) == 0, fmt.Sprintf("%d of %d GPU pods bound, %d plain pods left", bound, frozenGPUPods, len(l.Items)), nil
	})
	if _, bound := cardUse(t); bound < frozenGPUPods {
		t.Fatalf("%d GPU pods bound with their cards, want %d", bound, frozenGPUPods)
	}
	for _, p := range gpuPods {
		got, err := cluster.Client.CoreV1().Pods(ns).Get(t.Context(), p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gpushare.PodAssignment(got); err != nil {
			t.Errorf("GPU pod %s bound without its cards: %v", p.Name, err)
		}
	}
	deleteAllPods(t, ns)
}

// plainPod is a zz-scheduler pod that asks for no GPU: only the balance
// entry (ignorable) scores it.
func plainPod(ns, name string) *corev1.Pod {
	req := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "plain"}},
		Spec: corev1.PodSpec{
			SchedulerName:                 contract.SchedulerName,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "app", Image: "registry.local/app:1",
				Resources: corev1.ResourceRequirements{Requests: req, Limits: req}}},
		},
	}
}

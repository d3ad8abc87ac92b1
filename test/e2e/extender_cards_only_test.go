package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// cardsOnlyRefusal is what gpu/bind says of a pod asking for zz.io/gpu
// without zz.io/gpu-mem (extender cardsUnfiltered); kube-scheduler hands it
// on to the user.
var cardsOnlyRefusal = fmt.Sprintf("without gpu/filter, and no card is chosen for it; recreate it with %s", contract.ResourceGPUMem)

// TestCardsOnlyRefusedAtBind: a pod asking for zz.io/gpu cards without
// zz.io/gpu-mem, where neither the webhook (the namespace lacks its
// zz.io/injection label) nor the admission policies (not installed) refuse
// it, is placed by kube-scheduler on zz.io/gpu slots alone and sent to
// gpu/bind, which refuses it: it stays Pending, unbound and with no card
// choice, the bind's reason reaches the user on the pod's FailedScheduling
// event and PodScheduled condition, and a proper GPU pod created after it
// still gets its cards. Unit TestNoCardResource covers the bind's answer;
// this covers what the real kube-scheduler does with it.
func TestCardsOnlyRefusedAtBind(t *testing.T) {
	ctx := t.Context()
	if on, err := policiesEnforced(ctx); err != nil || on {
		t.Fatalf("the admission policies are installed (%v, %v): they would refuse the pod at creation, so its bind could not be tested", on, err)
	}
	z := startZZScheduler(t)
	ns := cluster.Namespace(t, nil) // no zz.io/injection label: the webhook does not serve it
	cardsOnly := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cards-only", Namespace: ns},
		Spec: corev1.PodSpec{
			SchedulerName:                 contract.SchedulerName,
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "cuda", Image: "registry.local/cuda:12",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("1")}}}},
		},
	}
	createPods(t, []*corev1.Pod{cardsOnly})

	// kube-scheduler reports a failed bind as a SchedulerError: on the event
	// and on the PodScheduled condition, with the extender's text.
	cluster.WaitFor(t, 60*time.Second, "the bind's refusal on the pod's FailedScheduling event", func(ctx context.Context) (bool, string, error) {
		evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=cards-only,reason=FailedScheduling"})
		if err != nil || len(evs.Items) == 0 {
			return false, "no event yet", err
		}
		for _, ev := range evs.Items {
			if strings.Contains(ev.Message, cardsOnlyRefusal) {
				t.Logf("FailedScheduling: %s", ev.Message)
				return true, "", nil
			}
		}
		return false, evs.Items[0].Message, nil
	})
	cluster.WaitFor(t, 30*time.Second, "the bind's refusal on the pod's PodScheduled condition", func(ctx context.Context) (bool, string, error) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, cardsOnly.Name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				ok := c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonSchedulerError && strings.Contains(c.Message, cardsOnlyRefusal)
				return ok, fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message), nil
			}
		}
		return false, "no PodScheduled condition", nil
	})

	// A proper GPU pod created after it gets its cards: the refusal holds
	// up neither the queue nor the ledger.
	good := newGPUPod(ns, "proper", "4Gi")
	createPods(t, []*corev1.Pod{good})
	running := cluster.RunningPods(t, ns, "app=gpu", 1, 60*time.Second)
	a, err := gpushare.PodAssignment(&running[0])
	if err != nil || len(a.UUIDs) != 1 || a.MemMiB != 4096 {
		t.Fatalf("the proper GPU pod runs without its card choice of 4096 MiB: %+v, %v", a, err)
	}
	// Its own card, not the cluster's total: pods of an earlier test may
	// still be leaving other cards (a namespace is deleted in the
	// background), which made a cluster-wide sum flaky under load.
	if got := z.allocatedMetric(t)[a.UUIDs[0]]; got < 4096 {
		t.Errorf("the extender holds %d MiB on card %s, want at least the proper pod's 4096", got, a.UUIDs[0])
	}

	// kube-scheduler tries the refused pod again (a bind error sends it to
	// the back-off queue, 1 s first): its event records a second refusal
	// (an event series of 2, written at once), so what follows is after
	// a retry, not only after the first bind.
	cluster.WaitFor(t, 60*time.Second, "kube-scheduler's second try of the refused pod", func(ctx context.Context) (bool, string, error) {
		evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=cards-only,reason=FailedScheduling"})
		if err != nil {
			return false, "", err
		}
		for _, ev := range evs.Items {
			if strings.Contains(ev.Message, cardsOnlyRefusal) && (ev.Count >= 2 || ev.Series != nil && ev.Series.Count >= 2) {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d FailedScheduling events, none a series of 2 or more", len(evs.Items)), nil
	})
	// Still unbound, with no card choice, so no kubelet calls the device
	// plugin's Allocate for it.
	p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, cardsOnly.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "" || p.Status.Phase != corev1.PodPending {
		t.Errorf("the pod asking for zz.io/gpu without zz.io/gpu-mem was bound to %q (phase %s); gpu/bind must refuse it", p.Spec.NodeName, p.Status.Phase)
	}
	for k := range gpushare.ClearAssignment() {
		if v, ok := p.Annotations[k]; ok {
			t.Errorf("the refused pod carries %s=%q; no card may be chosen for it", k, v)
		}
	}
}

// TestFitAgreesWithRefusals: where no webhook serves the namespace, a pod
// asking for zz.io/gpu-mem without zz.io/gpu is refused by the extender's
// filter on every node, and kubectl zz gpu --fit pod/NAME says so with the
// same reason; a pod asking for nvidia.com/gpu beside zz.io/gpu-mem waits
// for a resource no node offers, and --fit says that. Both were told they
// fit on every GPU node (a GPU audit), where README promises --fit judges
// a pod as the extender does, with its FailedScheduling reason.
func TestFitAgreesWithRefusals(t *testing.T) {
	startZZScheduler(t)
	ns := cluster.Namespace(t, nil) // no zz.io/injection label: the webhook does not serve it
	pod := func(name string, limits corev1.ResourceList) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.PodSpec{SchedulerName: contract.SchedulerName, TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []corev1.Container{{Name: "cuda", Image: "registry.local/cuda:12", Resources: corev1.ResourceRequirements{Limits: limits}}}},
		}
		gpushare.SetMemTotal(p)
		return p
	}
	createPods(t, []*corev1.Pod{
		pod("mem-only", corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("4Gi")}),
		pod("nvidia-too", corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("4Gi"), contract.ResourceGPU: resource.MustParse("1"),
			"nvidia.com/gpu": resource.MustParse("1")}),
	})
	for name, want := range map[string]string{"mem-only": gpushare.ErrNoCardResource.Error(), "nvidia-too": "Insufficient nvidia.com/gpu"} {
		cluster.WaitFor(t, 60*time.Second, name+"'s FailedScheduling event", func(ctx context.Context) (bool, string, error) {
			evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",reason=FailedScheduling"})
			if err != nil || len(evs.Items) == 0 {
				return false, "no event yet", err
			}
			return strings.Contains(evs.Items[0].Message, want), evs.Items[0].Message, nil
		})
	}

	out, errOut, err := zz(t, ns, "gpu", "--fit", "pod/mem-only", "-o", "json")
	var fits struct {
		Items []gpushare.NodeFit `json:"items"`
	}
	if err != nil || json.Unmarshal([]byte(out), &fits) != nil || len(fits.Items) == 0 {
		t.Fatalf("gpu --fit pod/mem-only: %v\n%s%s", err, out, errOut)
	}
	for _, f := range fits.Items {
		if f.Fits || f.Reason != gpushare.ErrNoCardResource.Error() {
			t.Errorf("gpu --fit pod/mem-only on node %s: fits %v, reason %q; want the extender's refusal %q", f.Node, f.Fits, f.Reason, gpushare.ErrNoCardResource)
		}
	}
	if !strings.Contains(errOut, fmt.Sprintf("fits 0 of %d GPU nodes now", len(fits.Items))) {
		t.Errorf("gpu --fit pod/mem-only's summary: %s", errOut)
	}
	if _, errOut, err := zz(t, ns, "gpu", "--fit", "pod/nvidia-too"); err != nil || !strings.Contains(errOut, "but it asks for nvidia.com/gpu beside zz.io/gpu-mem") {
		t.Errorf("gpu --fit pod/nvidia-too: %v\n%s", err, errOut)
	}
}

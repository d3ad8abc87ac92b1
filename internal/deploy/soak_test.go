package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/syncbuf"
)

// readyPod is a pod of shop whose Ready condition turned status at since.
func readyPod(name string, status corev1.ConditionStatus, since time.Time) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{contract.LabelApp: "shop"}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(since)}}},
	}
}

// TestSoakLeft: how long until the ready pods have all stayed ready for
// minReadySeconds, by their Ready conditions' transition times.
func TestSoakLeft(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	deleting := readyPod("gone", corev1.ConditionTrue, now)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	for _, tt := range []struct {
		name string
		pods []corev1.Pod
		want time.Duration
	}{
		{"none", nil, 0},
		{"one ready 2s ago", []corev1.Pod{readyPod("a", corev1.ConditionTrue, ago(2*time.Second))}, 8 * time.Second},
		{"the last to become ready counts", []corev1.Pod{readyPod("a", corev1.ConditionTrue, ago(9*time.Second)), readyPod("b", corev1.ConditionTrue, ago(3*time.Second))}, 7 * time.Second},
		{"ready long ago: soaked", []corev1.Pod{readyPod("old", corev1.ConditionTrue, ago(time.Hour))}, 0},
		{"not ready: its soak has not begun", []corev1.Pod{readyPod("crash", corev1.ConditionFalse, ago(time.Second))}, 0},
		{"a transition ahead of the clock: just now", []corev1.Pod{readyPod("a", corev1.ConditionTrue, now.Add(time.Minute))}, 10 * time.Second},
		{"a pod going away", []corev1.Pod{deleting}, 0},
	} {
		if got := SoakLeft(tt.pods, 10*time.Second, now); got != tt.want {
			t.Errorf("%s: %s left, want %s", tt.name, got, tt.want)
		}
	}
}

// TestSoakJudgement: with minReadySeconds, pods that are ready but not yet
// available (the Deployment's own count) leave the rollout incomplete, and
// the progress says the soak; a Deployment without it reads as before.
func TestSoakJudgement(t *testing.T) {
	d := func(minReady, want, ready, avail int32, observed bool) *appsv1.Deployment {
		gen := int64(2)
		if !observed {
			gen = 3
		}
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(want), MinReadySeconds: minReady},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: want, UpdatedReplicas: want, ReadyReplicas: ready, AvailableReplicas: avail}}
	}
	for _, tt := range []struct {
		name     string
		d        *appsv1.Deployment
		left     time.Duration
		complete bool
		want     string
	}{
		{"all ready, soaking", d(10, 3, 3, 0, true), 8 * time.Second, false, "3/3 ready, 3/3 updated, 3 total, available in 8s (minReadySeconds 10)"},
		{"a part of a second left reads as a second", d(10, 3, 3, 2, true), 200 * time.Millisecond, false, "3/3 ready, 3/3 updated, 3 total, available in 1s (minReadySeconds 10)"},
		{"all ready, the soak over by the pods, not yet by the controller", d(10, 3, 3, 1, true), 0, false, "3/3 ready, 3/3 updated, 3 total, 1/3 available (minReadySeconds 10)"},
		{"some ready, soaking", d(10, 3, 2, 1, true), 5 * time.Second, false, "2/3 ready, 3/3 updated, 3 total, 1/3 available (minReadySeconds 10)"},
		{"soaked", d(10, 3, 3, 3, true), 0, true, "3/3 ready, 3/3 updated, 3 total"},
		{"a crash in the soak: none ready", d(10, 3, 0, 0, true), 0, false, "0/3 ready, 3/3 updated, 3 total"},
		{"no minReadySeconds", d(0, 3, 3, 2, true), 0, false, "3/3 ready, 3/3 updated, 3 total"},
		{"not observed", d(10, 3, 3, 0, false), 0, false, "3/3 ready, 3 total, new spec not yet seen by the Deployment controller"},
	} {
		st := RolloutStatus(tt.d)
		st.SoakLeft = tt.left
		if st.Complete != tt.complete || st.String() != tt.want {
			t.Errorf("%s: complete %v, %q; want %v, %q", tt.name, st.Complete, st, tt.complete, tt.want)
		}
	}
}

// TestSoakBeforeRecord: a deploy with minReadySeconds whose pods are ready
// but not yet available waits, says the soak, and records its revision
// only once they are available; one whose pod crashes in the soak fails
// as any crash does, naming it, and --rollback-on-failure restores the
// revision before (an incident audit: a version that crashed 3 s after
// its readiness was recorded as good, and the flag never fired).
func TestSoakBeforeRecord(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	const soak = "  minReadySeconds: 10\n"
	deployOK(t, c, spec(t, "reg/shop:1", soak), 0)
	if got := deployment(t, c, "shop").Spec.MinReadySeconds; got != 10 {
		t.Fatalf("minReadySeconds applied %d, want 10", got)
	}

	ctl.setSoaking("reg/shop:2", true)
	pod := readyPod("shop-2-a", corev1.ConditionTrue, opts().Now().Add(-4*time.Second))
	if _, err := c.CoreV1().Pods(ns).Create(t.Context(), &pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var progress syncbuf.Buffer
	o := opts()
	o.Timeout, o.Progress = 10*time.Second, &progress
	type result struct {
		rev int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", soak)})
		if res == nil {
			res = &Result{}
		}
		done <- result{res.Revision, err}
	}()
	waitFor(t, "the soak on the progress line", func() bool {
		return strings.Contains(progress.String(), "2/2 ready, 2/2 updated, 2 total, available in 6s (minReadySeconds 10)")
	})
	if hist, err := History(t.Context(), c, ns, "shop"); err != nil || len(hist) != 1 {
		t.Fatalf("revisions while the pods soak: %d, %v; want 1", len(hist), err)
	}
	ctl.setSoaking("reg/shop:2", false)
	if r := <-done; r.err != nil || r.rev != 2 {
		t.Fatalf("deploy once available: revision %d, %v", r.rev, r.err)
	}

	ctl.setSoaking("reg/shop:3", true)
	crash := readyPod("shop-3-a", corev1.ConditionFalse, opts().Now().Add(-time.Second))
	crash.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 1,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}}}
	if _, err := c.CoreV1().Pods(ns).Create(t.Context(), &crash, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	o = opts()
	o.Timeout = 300 * time.Millisecond
	_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:3", soak), RollbackOnFailure: true})
	if !errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), "not available after 300ms: 2/2 ready, 0 available; a new pod counts once it has stayed ready for spec.minReadySeconds (10s)") ||
		!strings.Contains(err.Error(), "pod shop-3-a: CrashLoopBackOff: container app exited with code 2 (Error)") {
		t.Fatalf("deploy whose pod crashed in its soak: %v", err)
	}
	if img := image(t, c); img != "reg/shop:2" {
		t.Fatalf("image after --rollback-on-failure: %s, want revision 2's reg/shop:2", img)
	}
}

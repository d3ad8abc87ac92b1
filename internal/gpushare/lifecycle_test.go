package gpushare

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

func TestWaitingForAllocate(t *testing.T) {
	gpu, mem := string(contract.ResourceGPU), string(contract.ResourceGPUMem)
	waiting := func(mut func(p *corev1.Pod)) *corev1.Pod {
		p := gpuPod("w", mem, "1Gi", gpu, "1")
		p.Spec.NodeName, p.Status.Phase = "n1", corev1.PodPending
		if mut != nil {
			mut(p)
		}
		return p
	}
	now := metav1.Now()
	tests := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"pending gpu pod", waiting(nil), true},
		{"broken assignment still waits", waiting(func(p *corev1.Pod) { p.Annotations = map[string]string{contract.AnnotationGPUIndexes: "x"} }), true},
		{"other node", waiting(func(p *corev1.Pod) { p.Spec.NodeName = "n2" }), false},
		{"running", waiting(func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }), false},
		{"failed", waiting(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), false},
		{"succeeded", waiting(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), false},
		{"deleting", waiting(func(p *corev1.Pod) { p.DeletionTimestamp = &now }), false},
		{"allocated", waiting(func(p *corev1.Pod) { p.Annotations = MarkAllocated() }), false},
		{"no zz.io/gpu", waiting(func(p *corev1.Pod) { delete(p.Spec.Containers[0].Resources.Limits, contract.ResourceGPU) }), false},
		{"zz.io/gpu in an init container's requests", waiting(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: p.Spec.Containers[0].Resources.Limits}}}
			p.Spec.Containers[0].Resources.Limits = nil
		}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WaitingForAllocate(tt.pod, "n1"); got != tt.want {
				t.Fatalf("WaitingForAllocate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKubeletOrder(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	w := func(arrival uint64, created, assumed time.Duration, exact bool) Waiting {
		p := gpuPod("p")
		p.CreationTimestamp = metav1.NewTime(t0.Add(created))
		var a *Assignment
		if assumed >= 0 {
			a = &Assignment{AssumeTime: t0.Add(assumed)}
		}
		return Waiting{Pod: p, Assignment: a, Arrival: arrival, Exact: exact}
	}
	tests := []struct {
		name string
		x, y Waiting
		want int
	}{
		{"arrival first", w(1, time.Hour, time.Hour, false), w(2, 0, 0, true), -1},
		{"then creation", w(0, 0, time.Hour, false), w(0, time.Second, 0, true), -1},
		{"then exact cards", w(0, 0, time.Hour, true), w(0, 0, 0, false), -1},
		{"then assume time", w(0, 0, time.Second, false), w(0, 0, 2*time.Second, false), -1},
		{"no assignment sorts before an assume time", w(0, 0, -1, false), w(0, 0, 0, false), -1},
		{"alike", w(3, 0, time.Second, false), w(3, 0, time.Second, false), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KubeletOrder(tt.x, tt.y); got != tt.want {
				t.Fatalf("KubeletOrder = %d, want %d", got, tt.want)
			}
			if got := KubeletOrder(tt.y, tt.x); got != -tt.want {
				t.Fatalf("reversed = %d, want %d", got, -tt.want)
			}
		})
	}
}

func TestDefaultCardsAndAsksGPU(t *testing.T) {
	mem := string(contract.ResourceGPUMem)
	p := gpuPod("a", mem, "1Gi")
	p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
	if AsksGPU(p) {
		t.Fatal("a pod with only gpu-mem asks for zz.io/gpu")
	}
	DefaultCards(p)
	if q, ok := Quantity(&p.Spec.Containers[0], contract.ResourceGPU); !ok || q.Value() != 1 || !AsksGPU(p) {
		t.Fatalf("no default card: %v", p.Spec.Containers[0].Resources)
	}
	if _, ok := Quantity(&p.Spec.InitContainers[0], contract.ResourceGPU); ok {
		t.Fatal("a container without gpu-mem got a card")
	}
	two := gpuPod("b", mem, "1Gi", string(contract.ResourceGPU), "2")
	DefaultCards(two)
	if q, _ := Quantity(&two.Spec.Containers[0], contract.ResourceGPU); q.Value() != 2 {
		t.Fatalf("an explicit card count was overwritten: %v", q)
	}
}

func TestClearAssignmentCoversAnnotations(t *testing.T) {
	a := &Assignment{Indexes: []int{0}, UUIDs: []string{"GPU-0"}, MemMiB: 1, AssumeTime: time.Unix(1, 0), NodeName: "gpu-1"}
	clear := ClearAssignment()
	for k := range a.Annotations() {
		if v, ok := clear[k]; !ok || v != nil {
			t.Errorf("ClearAssignment leaves %s", k)
		}
	}
	if len(clear) != len(a.Annotations()) {
		t.Errorf("ClearAssignment deletes %d keys, the assignment has %d", len(clear), len(a.Annotations()))
	}
}

// A card the device plugin reports down takes no pod, and the filter reason
// names it and why.
func TestUnhealthyCardNamedInFitReason(t *testing.T) {
	cards := []Card{
		{GPU: contract.GPU{Index: 0, UUID: "GPU-0", MemoryMiB: 16000, Healthy: false, Reason: "XID 48: down until the card is reset"}},
	}
	err := Fit(cards, Request{MemMiB: 1000, Cards: 1})
	if err == nil || !strings.Contains(err.Error(), "card 0 (GPU-0) unhealthy: XID 48") {
		t.Fatalf("Fit = %v", err)
	}
	cards = append(cards, Card{GPU: contract.GPU{Index: 1, UUID: "GPU-1", MemoryMiB: 16000, Healthy: true}})
	got, err := Choose(cards, Request{MemMiB: 1000, Cards: 1}, Binpack, nil)
	if err != nil || len(got) != 1 || cards[got[0]].UUID != "GPU-1" {
		t.Fatalf("Choose = %v, %v; want the healthy card", got, err)
	}
}

func TestCheckAssumeTime(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	pod := func(created, scheduled time.Duration, status corev1.ConditionStatus) *corev1.Pod {
		p := &corev1.Pod{}
		if created != 0 {
			p.CreationTimestamp = metav1.NewTime(t0.Add(created))
		}
		if scheduled != 0 {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: status, LastTransitionTime: metav1.NewTime(t0.Add(scheduled))}}
		}
		return p
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		assume  time.Duration
		wantErr string
	}{
		{"assumed between creation and binding", pod(-time.Second, time.Second, corev1.ConditionTrue), 0, ""},
		{"pending for an hour, then assumed and bound", pod(-time.Hour, time.Second, corev1.ConditionTrue), 0, ""},
		{"extender clock a little ahead of the apiserver's", pod(-time.Hour, time.Second, corev1.ConditionTrue), 50 * time.Second, ""},
		{"an hour after the binding", pod(-time.Hour, time.Second, corev1.ConditionTrue), time.Hour, "is 59m59s after the pod was created and scheduled"},
		{"unschedulable condition is no binding", pod(-time.Hour, time.Second, corev1.ConditionFalse), 10 * time.Minute, "after the pod was created"},
		{"created with a node name: creation is the reference", pod(time.Second, 0, ""), 0, ""},
		{"created with a node name, assume time in its future", pod(time.Second, 0, ""), 2 * time.Hour, "after the pod was created"},
		{"no stamps: not judged", pod(0, 0, ""), 48 * time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAssumeTime(tt.pod, &Assignment{AssumeTime: t0.Add(tt.assume)})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInconsistent)) {
				t.Fatalf("CheckAssumeTime = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

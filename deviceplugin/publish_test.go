package deviceplugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/deviceplugin/mocknvml"
	"github.com/zzcloud/zz/internal/contract"
)

// TestPlanPublish: which pods get their used-memory annotation written, for
// one pod "p" (4096 MiB requested on GPU-0 and, when two, GPU-1).
func TestPlanPublish(t *testing.T) {
	now := t0.Add(time.Hour)
	policy := PublishPolicy{MinInterval: 30 * time.Second, MinChangeMiB: 64, Refresh: 10 * time.Minute}
	usage := func(used ...int64) Usage {
		var u Usage
		for i, mib := range used {
			u.Pods = append(u.Pods, PodUsage{Namespace: "ns", Name: "p", UID: "p", CardUUID: []string{"GPU-0", "GPU-1"}[i], CardIndex: i, RequestedMiB: 4096, UsedMiB: mib})
		}
		return u
	}
	annotated := func(value string) podOpt {
		return func(p *corev1.Pod) { p.Annotations[contract.AnnotationGPUMemUsed] = value }
	}
	tests := []struct {
		name   string
		pod    *corev1.Pod
		usage  Usage
		lastAt time.Duration // before now; 0: never written by this process
		want   string        // the value written, "<delete>", or "" for no write
	}{
		{name: "first sample, no process yet: 0 is written", pod: assigned("p", 0, true, "GPU-0"), usage: usage(0), want: "GPU-0=0"},
		{name: "first sample", pod: assigned("p", 0, true, "GPU-0"), usage: usage(1000), want: "GPU-0=1000"},
		{name: "unchanged", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=1000")), usage: usage(1000), want: ""},
		{name: "moved by less than 64 MiB", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=1000")), usage: usage(1063), lastAt: time.Minute, want: ""},
		{name: "moved by 64 MiB", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=1000")), usage: usage(1064), lastAt: time.Minute, want: "GPU-0=1064"},
		{name: "moved by 64 MiB, written 10s ago: wait", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=1000")), usage: usage(3000), lastAt: 10 * time.Second, want: ""},
		{name: "a small move over the request", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=4090")), usage: usage(4100), lastAt: time.Minute, want: "GPU-0=4100"},
		{name: "a small move back under the request", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=4100")), usage: usage(4090), lastAt: time.Minute, want: "GPU-0=4090"},
		{name: "a small move, stale for 10 minutes", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=1000")), usage: usage(1010), lastAt: 10 * time.Minute, want: "GPU-0=1010"},
		{name: "a small move after a restart (never written here)", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=1000")), usage: usage(1010), want: "GPU-0=1010"},
		{name: "a second card appears", pod: with(assigned("p", 0, true, "GPU-0", "GPU-1"), annotated("GPU-0=1000")), usage: usage(1000, 1), lastAt: time.Minute, want: "GPU-0=1000,GPU-1=1"},
		{name: "unreadable annotation", pod: with(assigned("p", 0, true, "GPU-0"), annotated("lots")), usage: usage(1000), lastAt: time.Minute, want: "GPU-0=1000"},
		{name: "no card any more: removed", pod: with(assigned("p", 0, true), annotated("GPU-0=1000")), usage: Usage{}, lastAt: time.Minute, want: "<delete>"},
		{name: "no card, no annotation", pod: assigned("p", 0, true), usage: Usage{}, want: ""},
		{name: "a finished pod keeps its last value", pod: with(assigned("p", 0, true, "GPU-0"), annotated("GPU-0=1000"), phase(corev1.PodSucceeded)), usage: usage(0), want: ""},
		{name: "a pod of another node", pod: with(assigned("p", 0, true, "GPU-0"), func(p *corev1.Pod) { p.Spec.NodeName = "n2" }), usage: usage(1000), want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last := map[types.UID]time.Time{}
			if tt.lastAt > 0 {
				last["p"] = now.Add(-tt.lastAt)
			}
			plan := PlanPublish("n1", []*corev1.Pod{tt.pod}, tt.usage, last, now, policy)
			got := ""
			if len(plan) > 1 {
				t.Fatalf("%d writes for one pod", len(plan))
			}
			if len(plan) == 1 {
				if got = "<delete>"; plan[0].Value != nil {
					got = *plan[0].Value
				}
			}
			if got != tt.want {
				t.Fatalf("wrote %q, want %q", got, tt.want)
			}
		})
	}
}

// fakeAnnotator applies the monitor's writes to the pods it lists, as the
// API server would, and counts them.
type fakeAnnotator struct {
	mu     sync.Mutex
	pods   []*corev1.Pod
	writes int
	fail   error
}

func (f *fakeAnnotator) list() ([]*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*corev1.Pod, len(f.pods))
	for i, p := range f.pods {
		out[i] = p.DeepCopy()
	}
	return out, nil
}

func (f *fakeAnnotator) annotate(_ context.Context, pod *corev1.Pod, value *string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for _, p := range f.pods {
		if p.UID == pod.UID {
			f.writes++
			if value == nil {
				delete(p.Annotations, contract.AnnotationGPUMemUsed)
			} else {
				p.Annotations[contract.AnnotationGPUMemUsed] = *value
			}
		}
	}
	return nil
}

// TestUsageMonitorPublishes runs the monitor's loop step (sample, then
// publish) on the DGX A100 mock, with a fake clock: a write storm of
// samples makes few writes, failed writes are retried, and the write
// counter shows both.
func TestUsageMonitorPublishes(t *testing.T) {
	lib, cards := dgxA100(t)
	uuid := cards[3].UUID
	pod := assigned("train", 0, true, uuid)
	const uid = "1f9e5c2a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
	pod.UID = uid
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "300"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "300", "cgroup"), []byte("12:memory:/kubepods/burstable/pod"+uid+"/c1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	api := &fakeAnnotator{pods: []*corev1.Pod{pod}}
	now := t0
	m := &UsageMonitor{Lib: lib, Plugin: NewPlugin("n1", cards, 4, nil, nil), ProcRoot: proc, Interval: time.Second, Pods: api.list,
		Node: "n1", Annotate: api.annotate, Publish: DefaultPublishPolicy(30 * time.Second), Now: func() time.Time { return now }}
	ctx := context.Background()
	step := func(usedMiB uint64) {
		if err := lib.SetProcesses(uuid, []mocknvml.Process{{PID: 300, UsedMiB: usedMiB}}); err != nil {
			t.Fatal(err)
		}
		m.publish(ctx, m.Sample(ctx))
	}
	value := func() string {
		p, _ := api.list()
		return p[0].Annotations[contract.AnnotationGPUMemUsed]
	}

	step(1000)
	if value() != uuid+"=1000" || api.writes != 1 {
		t.Fatalf("first sample: %q after %d writes", value(), api.writes)
	}
	// Ten minutes of samples every second, the use jittering by 200 MiB:
	// one write per 30s at most, not 600.
	for i := range 600 {
		now = now.Add(time.Second)
		step(1000 + uint64(i%2)*200)
	}
	if api.writes > 1+600/30 || api.writes < 2 {
		t.Fatalf("%d writes in 600 samples; the policy allows 1 per 30s", api.writes)
	}
	// Steady use: no writes at all.
	before := api.writes
	for range 100 {
		now = now.Add(time.Second)
		step(1000)
	}
	if api.writes > before+1 || value() != uuid+"=1000" {
		t.Fatalf("steady use: %d more writes, value %q", api.writes-before, value())
	}

	// The API server refuses: counted, retried at the next sample.
	api.fail = errors.New("the server is down")
	now = now.Add(time.Minute)
	step(5000)
	api.fail = nil
	step(5000)
	if value() != uuid+"=5000" {
		t.Fatalf("after a failed write: %q", value())
	}
	want := fmt.Sprintf(`
# HELP zz_gpu_pod_usage_annotation_writes_total Writes of the pods' zz.io/gpu-mem-used annotation, by result (ok, error).
# TYPE zz_gpu_pod_usage_annotation_writes_total counter
zz_gpu_pod_usage_annotation_writes_total{result="error"} 1
zz_gpu_pod_usage_annotation_writes_total{result="ok"} %d
`, api.writes)
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "zz_gpu_pod_usage_annotation_writes_total"); err != nil {
		t.Error(err)
	}
}

// TestAnnotateUsed: the write is a JSON merge patch of the one annotation,
// with the pod's UID as precondition; nil removes the key.
func TestAnnotateUsed(t *testing.T) {
	pod := assigned("p", 0, true, "GPU-0")
	pod.Annotations["other"] = "kept"
	client := fake.NewClientset(pod)
	var patches []string
	client.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		if p.GetPatchType() != types.MergePatchType {
			t.Errorf("patch type %s, want a JSON merge patch", p.GetPatchType())
		}
		patches = append(patches, string(p.GetPatch()))
		return false, nil, nil
	})
	annotate := AnnotateUsed(client)
	value := "GPU-0=9000"
	for _, v := range []*string{&value, nil} {
		if err := annotate(t.Context(), pod, v); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		`{"metadata":{"annotations":{"zz.io/gpu-mem-used":"GPU-0=9000"},"uid":"p"}}`,
		`{"metadata":{"annotations":{"zz.io/gpu-mem-used":null},"uid":"p"}}`,
	}
	if strings.Join(patches, "\n") != strings.Join(want, "\n") {
		t.Fatalf("patches:\n%s\nwant\n%s", strings.Join(patches, "\n"), strings.Join(want, "\n"))
	}
	got, err := client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Annotations[contract.AnnotationGPUMemUsed]; ok || got.Annotations["other"] != "kept" || got.Annotations[contract.AnnotationGPUIndexes] == "" {
		t.Fatalf("annotations after set and remove: %v", got.Annotations)
	}
}

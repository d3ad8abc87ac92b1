package deviceplugin

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

var t0 = time.Unix(1_700_000_000, 0)

type podOpt func(*corev1.Pod)

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func deleting() podOpt {
	return func(p *corev1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }
}
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

// created stamps what the apiserver records: creation at t0+c and, when s is
// not 0, the PodScheduled transition (the Binding) at t0+s.
func created(c, s time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.CreationTimestamp = metav1.NewTime(t0.Add(c))
		if s != 0 {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled,
				Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(s))})
		}
	}
}

func assigned(name string, assume time.Duration, allocated bool, uuids ...string) *corev1.Pod {
	idx := make([]int, len(uuids))
	a := &gpushare.Assignment{Indexes: idx, UUIDs: uuids, MemMiB: 4096, AssumeTime: t0.Add(assume), Assigned: allocated}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Annotations: a.Annotations()},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{contract.ResourceGPU: *resource.NewQuantity(int64(len(uuids)), resource.DecimalSI),
				contract.ResourceGPUMem: resource.MustParse("4Gi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
}

func with(p *corev1.Pod, opts ...podOpt) *corev1.Pod {
	for _, o := range opts {
		o(p)
	}
	return p
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		pods    []*corev1.Pod
		slots   []string
		want    string
		wantErr string
	}{
		{name: "the one waiting pod", pods: []*corev1.Pod{assigned("a", 0, false, "GPU-0")},
			slots: []string{SlotID("GPU-0", 3)}, want: "a"},
		{name: "oldest assume time first", pods: []*corev1.Pod{assigned("new", 2*time.Second, false, "GPU-0"), assigned("old", time.Second, false, "GPU-1")},
			slots: []string{SlotID("GPU-5", 0)}, want: "old"},
		{name: "exact cards beat age", pods: []*corev1.Pod{assigned("old", time.Second, false, "GPU-0"), assigned("mine", 2*time.Second, false, "GPU-1")},
			slots: []string{SlotID("GPU-1", 7)}, want: "mine"},
		{name: "two pods of equal size, same card, different times", pods: []*corev1.Pod{assigned("b", 2*time.Second, false, "GPU-0"), assigned("a", time.Second, false, "GPU-0")},
			slots: []string{SlotID("GPU-0", 1)}, want: "a"},
		{name: "tie is ambiguous", pods: []*corev1.Pod{assigned("a", time.Second, false, "GPU-0"), assigned("b", time.Second, false, "GPU-0")},
			slots: []string{SlotID("GPU-0", 1)}, wantErr: "same assume time; refusing to guess"},
		{name: "already allocated pods are skipped", pods: []*corev1.Pod{assigned("done", 0, true, "GPU-0"), assigned("next", time.Second, false, "GPU-0")},
			slots: []string{SlotID("GPU-0", 0)}, want: "next"},
		{name: "deleted and finished pods are skipped", pods: []*corev1.Pod{
			with(assigned("gone", 0, false, "GPU-0"), deleting()), with(assigned("done", 0, false, "GPU-0"), phase(corev1.PodSucceeded)),
			assigned("live", time.Hour, false, "GPU-0")},
			slots: []string{SlotID("GPU-0", 0)}, want: "live"},
		{name: "other nodes are skipped", pods: []*corev1.Pod{with(assigned("far", 0, false, "GPU-0"), onNode("n2"))},
			slots: []string{SlotID("GPU-0", 0)}, wantErr: "none is bound to n1"},
		{name: "card count must match", pods: []*corev1.Pod{assigned("two", 0, false, "GPU-0", "GPU-1")},
			slots: []string{SlotID("GPU-0", 0)}, wantErr: "with 1 card(s)"},
		{name: "multi-card pod", pods: []*corev1.Pod{assigned("one", 0, false, "GPU-0"), assigned("two", time.Second, false, "GPU-0", "GPU-1")},
			slots: []string{SlotID("GPU-1", 0), SlotID("GPU-0", 2)}, want: "two"},
		{name: "pod without assignment is not a candidate", pods: []*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Spec: corev1.PodSpec{NodeName: "n1"}}},
			slots: []string{SlotID("GPU-0", 0)}, wantErr: "no pod on this node waits"},
		{name: "foreign device id", slots: []string{"nvidia0"}, wantErr: "is not a zz slot"},
		// The extender's clock is not this node's: assume times are compared
		// with each other and with the apiserver's stamps on the pod, never
		// with this node's clock, so hours of skew either way change nothing.
		{name: "clock skew: assume times far ahead of this node's clock", pods: []*corev1.Pod{
			with(assigned("later", 49*time.Hour, false, "GPU-0"), created(49*time.Hour-time.Second, 49*time.Hour+time.Second)),
			with(assigned("sooner", 48*time.Hour, false, "GPU-0"), created(48*time.Hour-time.Second, 48*time.Hour+time.Second))},
			slots: []string{SlotID("GPU-0", 0)}, want: "sooner"},
		{name: "clock skew: assume times long before this node's clock", pods: []*corev1.Pod{
			with(assigned("later", -47*time.Hour, false, "GPU-0"), created(-48*time.Hour, -47*time.Hour+time.Second)),
			with(assigned("sooner", -48*time.Hour, false, "GPU-0"), created(-49*time.Hour, -48*time.Hour+time.Second))},
			slots: []string{SlotID("GPU-0", 0)}, want: "sooner"},
		// An assume time later than the apiserver's stamps is forged (the
		// ledger refuses it too): served, the pod would run on memory the
		// ledger counts nowhere.
		{name: "assume time an hour after the pod was scheduled: not a candidate", pods: []*corev1.Pod{
			with(assigned("forged", time.Hour, false, "GPU-0"), created(-time.Minute, time.Second))},
			slots: []string{SlotID("GPU-0", 0)}, wantErr: "none is bound to n1"},
		{name: "next to a real pod, the forged one is not chosen", pods: []*corev1.Pod{
			with(assigned("forged", time.Hour, false, "GPU-0"), created(-time.Minute, 0)),
			with(assigned("real", 0, false, "GPU-0"), created(-time.Minute, time.Second))},
			slots: []string{SlotID("GPU-0", 0)}, want: "real"},
		{name: "extender clock ahead of the apiserver's by less than the skew allowed", pods: []*corev1.Pod{
			with(assigned("ok", 30*time.Second, false, "GPU-0"), created(-time.Minute, time.Second))},
			slots: []string{SlotID("GPU-0", 0)}, want: "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod, a, err := Match(tt.pods, "n1", tt.slots, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pod.Name != tt.want || a == nil || a.Assigned {
				t.Fatalf("matched %s (%+v), want %s", pod.Name, a, tt.want)
			}
		})
	}
	if _, _, err := Match(nil, "n1", []string{SlotID("GPU-0", 0)}, nil); !errors.Is(err, ErrNoWaitingPod) {
		t.Fatalf("err = %v, want ErrNoWaitingPod", err)
	}
}

// TestEnv: the limit, the frameworks' knobs at the smallest share of the
// pod's cards (none for a whole card), the MPS limits.
func TestEnv(t *testing.T) {
	a := &gpushare.Assignment{UUIDs: []string{"GPU-a", "GPU-b"}, MemMiB: 4096}
	env := Env(a, map[string]int64{"GPU-a": 40960, "GPU-b": 15360}, false)
	// 4096 of 40960 is 0.1 of the larger card: 0.085 of it.
	if env[contract.EnvGPUMemLimitMiB] != "4096" || env[contract.EnvXLAMemFraction] != "0.085" || env[contract.EnvTFAllowGrowth] != "true" || len(env) != 3 {
		t.Fatalf("env = %v", env)
	}
	for _, tt := range []struct {
		mem, card    int64
		xla, tfGrows string
	}{
		{mem: 40960, card: 40960},                               // a whole card: the frameworks' defaults fit
		{mem: 32768, card: 40960, xla: "0.68", tfGrows: "true"}, // 0.8: JAX's own 75% and the context were over it
		{mem: 20480, card: 40960, xla: "0.425", tfGrows: "true"},
		{mem: 256, card: 81920, xla: "0.0026", tfGrows: "true"}, // 213 MiB, where 0.01 was 819
	} {
		env := Env(&gpushare.Assignment{UUIDs: []string{"GPU-a"}, MemMiB: tt.mem}, map[string]int64{"GPU-a": tt.card}, false)
		if env[contract.EnvXLAMemFraction] != tt.xla || env[contract.EnvTFAllowGrowth] != tt.tfGrows {
			t.Errorf("%d of %d MiB: env = %v, want XLA fraction %q, TF growth %q", tt.mem, tt.card, env, tt.xla, tt.tfGrows)
		}
	}
	env = Env(a, map[string]int64{"GPU-a": 40960, "GPU-b": 15360}, true)
	if env[contract.EnvMPSPinnedMemLimit] != "0=4096M,1=4096M" || env[contract.EnvMPSThreadPercentage] != "10" {
		t.Fatalf("mps env = %v", env)
	}
}

func TestSlotIDs(t *testing.T) {
	id := SlotID("GPU-7f3c", 12)
	if uuid, err := CardOf(id); err != nil || uuid != "GPU-7f3c" {
		t.Fatalf("CardOf(%q) = %q, %v", id, uuid, err)
	}
	if _, err := CardOf("::3"); err == nil {
		t.Fatal("empty uuid accepted")
	}
}

func TestUnidentifiable(t *testing.T) {
	gpuPod := func(p *corev1.Pod, created time.Duration) *corev1.Pod {
		p.CreationTimestamp = metav1.NewTime(t0.Add(created))
		p.Status.Phase = corev1.PodPending
		p.Spec.Containers = []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("1"), contract.ResourceGPUMem: resource.MustParse("4Gi")}}}}
		return p
	}
	bare := func(name string, created time.Duration) *corev1.Pod {
		p := gpuPod(assigned(name, 0, false, "GPU-0"), created)
		p.Annotations = nil
		return p
	}
	broken := gpuPod(assigned("broken", 0, false, "GPU-0"), 0)
	broken.Annotations[contract.AnnotationGPUMemMiB] = "-1"
	forged := gpuPod(assigned("forged", 0, false, "GPU-0"), 0)
	forged.Annotations[contract.AnnotationGPUMemMiB] = "40000" // the pod asks for 4Gi
	future := with(gpuPod(assigned("future", time.Hour, false, "GPU-0"), 0), created(0, time.Second))
	tests := []struct {
		name string
		pods []*corev1.Pod
		skip map[types.UID]bool
		want string
	}{
		{"oldest waiting pod has no assignment", []*corev1.Pod{gpuPod(assigned("ok", 0, false, "GPU-0"), time.Second), bare("bare", 0)}, nil, "bare"},
		{"oldest waiting pod has a broken one", []*corev1.Pod{gpuPod(assigned("ok", 0, false, "GPU-0"), time.Second), broken}, nil, "broken"},
		{"oldest waiting pod's assignment does not agree with it", []*corev1.Pod{gpuPod(assigned("ok", 0, false, "GPU-0"), time.Second), forged}, nil, "forged"},
		{"oldest waiting pod's assume time is after its scheduling", []*corev1.Pod{gpuPod(assigned("ok", 0, false, "GPU-0"), time.Second), future}, nil, "future"},
		{"oldest is fine: match as usual", []*corev1.Pod{gpuPod(assigned("ok", 0, false, "GPU-0"), 0), bare("bare", time.Second)}, nil, ""},
		{"allocated pods are not waiting", []*corev1.Pod{gpuPod(assigned("done", 0, true, "GPU-0"), 0), gpuPod(assigned("ok", 0, false, "GPU-0"), time.Second)}, nil, ""},
		{"already refused", []*corev1.Pod{bare("bare", 0), gpuPod(assigned("ok", 0, false, "GPU-0"), time.Second)}, map[types.UID]bool{"bare": true}, ""},
		{"running or failed pods are not waiting", []*corev1.Pod{with(bare("run", 0), phase(corev1.PodRunning)), with(bare("failed", 0), phase(corev1.PodFailed))}, nil, ""},
		{"pods without zz.io/gpu are not this plugin's", []*corev1.Pod{with(bare("cpu", 0), func(p *corev1.Pod) { p.Spec.Containers = nil })}, nil, ""},
		{"other nodes", []*corev1.Pod{with(bare("elsewhere", 0), onNode("n2"))}, nil, ""},
		{"deleted", []*corev1.Pod{with(bare("deleted", 0), deleting())}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := Unidentifiable(tt.pods, "n1", tt.skip, nil)
			name := ""
			if got != nil {
				name = got.Name
				if why == nil {
					t.Fatal("a refused pod without a reason")
				}
			}
			if name != tt.want {
				t.Fatalf("got %q (%v), want %q", name, why, tt.want)
			}
		})
	}
}

// Pods created in the same second (creation times have 1s resolution) are
// ordered by arrival on the node, as the kubelet admits them.
func TestUnidentifiableArrivalOrder(t *testing.T) {
	mk := func(name string, valid bool) *corev1.Pod {
		p := assigned(name, 0, false, "GPU-0")
		p.CreationTimestamp = metav1.NewTime(t0)
		p.Status.Phase = corev1.PodPending
		p.Spec.Containers = []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{contract.ResourceGPU: resource.MustParse("1"), contract.ResourceGPUMem: resource.MustParse("4Gi")}}}}
		if !valid {
			p.Annotations = nil
		}
		return p
	}
	var arr Arrivals
	arr.Synced()
	pods := []*corev1.Pod{mk("a-valid", true), mk("z-bare", false)}
	arr.Saw("z-bare")
	arr.Saw("a-valid")
	arr.Saw("z-bare") // an update: keeps its place
	if got, _ := Unidentifiable(pods, "n1", nil, arr.Of); got == nil || got.Name != "z-bare" {
		t.Fatalf("z-bare reached the node first: got %v", got)
	}
	arr.Forget("z-bare")
	arr.Saw("z-bare")
	if got, _ := Unidentifiable(pods, "n1", nil, arr.Of); got != nil {
		t.Fatalf("a-valid is first now: got %s", got.Name)
	}
}

// The kubelet admits pods in the order they reach the node, which need not
// be the extender's assume order (binds finish out of order).
func TestMatchArrivalOrder(t *testing.T) {
	early := assigned("assumed-first", time.Second, false, "GPU-0")
	late := assigned("bound-first", 2*time.Second, false, "GPU-0")
	var arr Arrivals
	arr.Saw("already-there") // before the first list ends: 0
	arr.Synced()
	if arr.Of("already-there") != 0 || arr.Of("never-seen") <= arr.Of("already-there") {
		t.Fatalf("first list %d, never seen %d", arr.Of("already-there"), arr.Of("never-seen"))
	}
	for _, obj := range []any{late, early} {
		if _, err := arr.Transform(obj); err != nil {
			t.Fatal(err)
		}
	}
	pods := []*corev1.Pod{early, late}
	slot := []string{SlotID("GPU-0", 0)}
	if p, _, err := Match(pods, "n1", slot, arr.Of); err != nil || p.Name != "bound-first" {
		t.Fatalf("got %v, %v; want the pod that reached the node first", p, err)
	}
	if ids := Preferred(pods, "n1", slot, nil, 1, arr.Of); len(ids) != 1 {
		t.Fatalf("preferred %v", ids)
	}
	// Pods of the informer's first list (arrival 0) fall back to assume time.
	if p, _, err := Match(pods, "n1", slot, nil); err != nil || p.Name != "assumed-first" {
		t.Fatalf("got %v, %v; want the oldest assume time", p, err)
	}
	twin := assigned("twin", time.Second, false, "GPU-0")
	if _, _, err := Match([]*corev1.Pod{early, twin}, "n1", slot, nil); err == nil || !strings.Contains(err.Error(), "refusing to guess") {
		t.Fatalf("same arrival and assume time: %v", err)
	}
	arr.Saw(twin.UID)
	if p, _, err := Match([]*corev1.Pod{early, twin}, "n1", slot, arr.Of); err != nil || p.Name != "assumed-first" {
		t.Fatalf("arrival tells twins apart: %v %v", p, err)
	}
}

// Match, Preferred and Unidentifiable select with the same predicate: a
// Failed pod is nobody's next allocation, for any of them.
func TestOneWaitingPredicate(t *testing.T) {
	failed := with(assigned("failed", 0, false, "GPU-0"), phase(corev1.PodFailed))
	next := assigned("next", time.Second, false, "GPU-1")
	pods := []*corev1.Pod{failed, next}
	if p, _, err := Match(pods, "n1", []string{SlotID("GPU-9", 0)}, nil); err != nil || p.Name != "next" {
		t.Fatalf("Match = %v, %v", p, err)
	}
	avail := []string{SlotID("GPU-0", 0), SlotID("GPU-1", 0)}
	if ids := Preferred(pods, "n1", avail, nil, 1, nil); len(ids) != 1 || ids[0] != SlotID("GPU-1", 0) {
		t.Fatalf("Preferred = %v, want the slot of next's card", ids)
	}
	failed.Annotations = nil
	if p, _ := Unidentifiable(pods, "n1", nil, nil); p != nil {
		t.Fatalf("Unidentifiable = %s; a Failed pod waits for nothing", p.Name)
	}
}

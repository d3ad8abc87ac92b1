package deviceplugin

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"github.com/zzcloud/zz/deviceplugin/mocknvml"
	"github.com/zzcloud/zz/internal/contract"
)

func TestPodUIDFromCgroup(t *testing.T) {
	const uid = "0f9e5c2a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
	tests := []struct {
		name, content string
		want          types.UID
	}{
		{"cgroup v1, cgroupfs driver, burstable", "12:memory:/kubepods/burstable/pod" + uid + "/8e1f2c\n11:cpu,cpuacct:/kubepods/burstable/pod" + uid + "/8e1f2c\n", uid},
		{"cgroup v1, cgroupfs driver, guaranteed", "4:devices:/kubepods/pod" + uid + "/abc\n", uid},
		{"cgroup v2, systemd driver, containerd", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice/cri-containerd-5d1e.scope\n", uid},
		{"cgroup v2, systemd driver, CRI-O", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice/crio-77aa.scope", uid},
		{"docker's nesting", "9:pids:/docker/1234/kubepods/besteffort/pod" + uid + "/ffee\n", uid},
		{"host process", "0::/system.slice/sshd.service\n", ""},
		{"kubepods without a pod (the QoS cgroup)", "0::/kubepods.slice/kubepods-burstable.slice\n", ""},
		{"a pod-like name outside kubepods", "0::/user.slice/pod" + uid + "\n", ""},
		{"garbage", "not a cgroup file", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PodUIDFromCgroup(tt.content)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("got %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestComputeUsage(t *testing.T) {
	cards := []Card{{GPU: gpuOf(0, "GPU-0")}, {GPU: gpuOf(1, "GPU-1")}}
	a := assigned("a", 0, true, "GPU-0") // 4096 MiB on GPU-0
	b := assigned("b", 0, true, "GPU-0") // shares GPU-0
	two := assigned("two", 0, true, "GPU-0", "GPU-1")
	stray := with(assigned("stray", 0, false), func(p *corev1.Pod) { p.Annotations = nil })
	done := with(assigned("done", 0, true, "GPU-1"), phase(corev1.PodSucceeded))
	pids := map[uint32]types.UID{1: "a", 2: "a", 3: "b", 4: "stray", 5: "gone", 6: "two", 7: "two"}
	podOf := func(pid uint32) (types.UID, bool) { u, ok := pids[pid]; return u, ok }
	procs := map[string][]Process{
		"GPU-0": {{1, 3000}, {2, 2000}, {3, 1000}, {4, 500}, {5, 700}, {6, 100}, {99, 50}},
		"GPU-1": {{7, 4096}},
		"GPU-9": {{1, 1}}, // a card this plugin does not serve
	}
	u := ComputeUsage(cards, procs, podOf, []*corev1.Pod{a, b, two, stray, done})
	var got []string
	for _, p := range u.Pods {
		got = append(got, p.Name+"@"+strconv.Itoa(p.CardIndex)+":"+strconv.FormatInt(p.UsedMiB, 10)+"/"+strconv.FormatInt(p.RequestedMiB, 10)+"/"+strconv.FormatBool(p.Over()))
	}
	want := "a@0:5000/4096/true b@0:1000/4096/false stray@0:500/0/true two@0:100/4096/false two@1:4096/4096/false"
	if strings.Join(got, " ") != want {
		t.Fatalf("usage\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	// pid 5 (pod not on this node) and 99 (no pod) are nobody's.
	if u.Unattributed["GPU-0"] != 750 || u.Unattributed["GPU-1"] != 0 {
		t.Fatalf("unattributed %v", u.Unattributed)
	}
}

func TestComputeUsageMalformedAssignment(t *testing.T) {
	cards := []Card{{GPU: gpuOf(0, "GPU-0")}}
	bad := assigned("bad", 0, true, "GPU-0")
	bad.Annotations["zz.io/gpu-mem-mib"] = "lots"
	u := ComputeUsage(cards, map[string][]Process{"GPU-0": {{1, 10}}}, func(uint32) (types.UID, bool) { return "bad", true }, []*corev1.Pod{bad})
	if len(u.Pods) != 1 || u.Pods[0].RequestedMiB != 0 || !u.Pods[0].Over() {
		t.Fatalf("a pod with a malformed assignment that uses a card must show as over a request of 0: %+v", u.Pods)
	}
}

// TestUsageMonitor runs the monitor on the DGX A100 mock with a fake /proc:
// metrics per pod and card, and one event per crossing of the request.
func TestUsageMonitor(t *testing.T) {
	lib, cards := dgxA100(t)
	uuid := cards[2].UUID
	pod := assigned("infer", 0, true, uuid)
	pod.Annotations["zz.io/gpu-indexes"] = "2"
	const uid = "0f9e5c2a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
	pod.UID = uid
	proc := t.TempDir()
	writeCgroup := func(pid int, content string) {
		if err := os.MkdirAll(filepath.Join(proc, strconv.Itoa(pid)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, strconv.Itoa(pid), "cgroup"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCgroup(100, "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"+strings.ReplaceAll(uid, "-", "_")+".slice/cri-containerd-1.scope\n")
	writeCgroup(200, "0::/system.slice/xorg.service\n")
	rec := record.NewFakeRecorder(10)
	m := &UsageMonitor{Lib: lib, Plugin: NewPlugin("n1", cards, 4, nil, nil), ProcRoot: proc, Recorder: rec, Interval: time.Hour,
		Pods: func() ([]*corev1.Pod, error) { return []*corev1.Pod{pod}, nil }}

	set := func(procs ...mocknvml.Process) {
		if err := lib.SetProcesses(uuid, procs); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	set(mocknvml.Process{PID: 100, UsedMiB: 1000}, mocknvml.Process{PID: 200, UsedMiB: 300})
	m.Sample(ctx)
	const labels = `namespace="ns",pod="infer",uuid="`
	expect := func(metrics string) {
		t.Helper()
		if err := testutil.CollectAndCompare(m, strings.NewReader(metrics), "zz_gpu_pod_memory_used_bytes", "zz_gpu_pod_memory_over_request"); err != nil {
			t.Fatal(err)
		}
	}
	expect(`
# HELP zz_gpu_pod_memory_over_request 1 when the pod uses more GPU memory on the card than it requested.
# TYPE zz_gpu_pod_memory_over_request gauge
zz_gpu_pod_memory_over_request{app="",index="2",` + labels + uuid + `"} 0
# HELP zz_gpu_pod_memory_used_bytes GPU memory the pod's processes use on the card (NVML running processes mapped to the pod by cgroup).
# TYPE zz_gpu_pod_memory_used_bytes gauge
zz_gpu_pod_memory_used_bytes{app="",index="2",` + labels + uuid + `"} 1.048576e+09
`)
	if got := gauge(t, m, "zz_gpu_card_memory_unattributed_bytes", uuid); got != 300<<20 {
		t.Fatalf("unattributed %v, want 300", got)
	}
	if len(rec.Events) != 0 {
		t.Fatalf("event while under the request: %v", <-rec.Events)
	}

	set(mocknvml.Process{PID: 100, UsedMiB: 5000})
	m.Sample(ctx)
	m.Sample(ctx) // still over: no second event
	if len(rec.Events) != 1 {
		t.Fatalf("%d events for one crossing, want 1", len(rec.Events))
	}
	if e := <-rec.Events; !strings.Contains(e, "Warning "+contract.ReasonGPUMemoryOverRequest) || !strings.Contains(e, "5000 MiB") || !strings.Contains(e, "4096 MiB") {
		t.Fatalf("event %q", e)
	}
	set(mocknvml.Process{PID: 100, UsedMiB: 10})
	m.Sample(ctx)
	set(mocknvml.Process{PID: 100, UsedMiB: 4097})
	m.Sample(ctx) // over again: a new crossing, a new event
	if len(rec.Events) != 1 {
		t.Fatalf("%d events for the second crossing, want 1", len(rec.Events))
	}

	// A lost card: no processes, no crash, the pod still shows its request.
	if err := lib.SetLost(uuid, true); err != nil {
		t.Fatal(err)
	}
	u := m.Sample(ctx)
	if len(u.Pods) != 1 || u.Pods[0].UsedMiB != 0 || u.Pods[0].RequestedMiB != 4096 {
		t.Fatalf("lost card: %+v", u.Pods)
	}
}

// gauge gathers c and returns the value of the series name{uuid=uuid}.
func gauge(t *testing.T, c prometheus.Collector, name, uuid string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "uuid" && l.GetValue() == uuid {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{uuid=%q}", name, uuid)
	return 0
}

func gpuOf(index int, uuid string) contract.GPU {
	return contract.GPU{Index: index, UUID: uuid, Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, Healthy: true}
}

// TestCardCollector reads each card's memory, use and health from NVML (the
// DGX A100 mock): a lost card reports what it still can.
func TestCardCollector(t *testing.T) {
	lib, cards := dgxA100(t)
	p := NewPlugin("n1", cards, 4, nil, nil)
	c := &CardCollector{Lib: lib, Plugin: p}
	u1, u5 := cards[1].UUID, cards[5].UUID
	if err := lib.SetUtilization(u1, 40); err != nil {
		t.Fatal(err)
	}
	if err := lib.SetProcesses(u1, []mocknvml.Process{{PID: 1, UsedMiB: 3000}}); err != nil {
		t.Fatal(err)
	}
	if err := lib.SetLost(u5, true); err != nil {
		t.Fatal(err)
	}
	p.SetHealth(u5, false, "lost")
	for _, tt := range []struct {
		name, uuid string
		want       float64
	}{
		{"zz_gpu_card_memory_capacity_bytes", u1, 40960 << 20},
		{"zz_gpu_card_memory_used_bytes", u1, 3000 << 20},
		{"zz_gpu_card_utilization_ratio", u1, 0.4},
		{"zz_gpu_card_healthy", u1, 1},
		{"zz_gpu_card_healthy", u5, 0},
		{"zz_gpu_card_memory_capacity_bytes", u5, 40960 << 20},
	} {
		if got := gauge(t, c, tt.name, tt.uuid); got != tt.want {
			t.Errorf("%s{uuid=%s} = %v, want %v", tt.name, tt.uuid, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(c, "zz_gpu_card_memory_used_bytes"); n != 7 {
		t.Errorf("%d used-memory series, want 7 (the lost card has none)", n)
	}
}

// dgxA100 is the mock DGX A100 machine of node n1 and its discovered cards.
func dgxA100(t *testing.T) (*mocknvml.Server, []Card) {
	t.Helper()
	lib, err := mocknvml.New("dgxa100", "n1")
	if err != nil {
		t.Fatal(err)
	}
	cards, err := Discover(lib)
	if err != nil {
		t.Fatal(err)
	}
	return lib, cards
}

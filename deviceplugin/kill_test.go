package deviceplugin

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"github.com/zzcloud/zz/deviceplugin/mocknvml"
	"github.com/zzcloud/zz/internal/contract"
)

// TestPlanKills: only a pod with a zz assignment, over its request on a
// card for the whole grace, loses processes there: the largest first, until
// the rest fits.
func TestPlanKills(t *testing.T) {
	cards := []Card{{GPU: gpuOf(0, "GPU-0")}, {GPU: gpuOf(1, "GPU-1")}}
	// Each assigned pod gets 4096 MiB (assigned()).
	pods := []*corev1.Pod{
		assigned("big", 0, true, "GPU-0"),   // one large process and a small one
		assigned("many", 0, true, "GPU-0"),  // five alike
		assigned("under", 0, true, "GPU-1"), // within its request
		assigned("elsewhere", 0, true, "GPU-1"),
		with(assigned("foreign", 0, false), func(p *corev1.Pod) { p.Annotations = nil }), // no zz assignment
	}
	pids := map[uint32]types.UID{1: "big", 2: "big", 11: "many", 12: "many", 13: "many", 14: "many", 15: "many", 21: "under", 31: "elsewhere", 41: "foreign", 42: "foreign"}
	podOf := func(pid uint32) (types.UID, bool) { u, ok := pids[pid]; return u, ok }
	procs := map[string][]Process{
		"GPU-0": {{2, 500}, {1, 6000}, {15, 1000}, {13, 1000}, {11, 1000}, {12, 1000}, {14, 1000}, {31, 700}, {41, 9000}, {99, 30000}},
		"GPU-1": {{21, 4000}, {42, 9000}},
	}
	u := ComputeUsage(cards, procs, podOf, pods)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	const grace = 30 * time.Second
	since := func(d time.Duration, keys ...string) map[usageKey]time.Time {
		m := map[usageKey]time.Time{}
		for _, k := range keys {
			name, uuid, _ := strings.Cut(k, "@")
			m[usageKey{types.UID(name), uuid}] = now.Add(-d)
		}
		return m
	}
	all := []string{"big@GPU-0", "many@GPU-0", "under@GPU-1", "elsewhere@GPU-0", "foreign@GPU-0", "foreign@GPU-1"}
	tests := []struct {
		name      string
		overSince map[usageKey]time.Time
		want      string
	}{
		{"over for less than the grace", since(grace-time.Second, all...), ""},
		{"over for the grace", since(grace, all...),
			// big: 6500 > 4096, the 6000 MiB process goes and 500 is left.
			// many: 5000 > 4096, one 1000 MiB process (the lowest PID of the alike) goes.
			// elsewhere: a zz pod on a card it was not given: request 0 there.
			// foreign (no assignment) and pid 99 (no pod): never.
			"big:1 elsewhere:31 many:11"},
		{"never seen over", nil, ""},
		{"only one pod over long enough", since(time.Hour, "many@GPU-0"), "many:11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, k := range PlanKills(u, tt.overSince, now, grace) {
				got = append(got, k.Pod.Name+":"+strconv.Itoa(int(k.PID)))
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("kills %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
	// Many processes alike: as many go as it takes.
	u = ComputeUsage(cards, map[string][]Process{"GPU-0": {{11, 2000}, {12, 2000}, {13, 2000}, {14, 2000}}}, podOf, pods)
	if ks := PlanKills(u, since(grace, "many@GPU-0"), now, grace); len(ks) != 2 || ks[0].PID != 11 || ks[1].PID != 12 {
		t.Fatalf("8000 MiB of 2000 MiB processes against 4096: %+v", ks)
	}
}

// TestUsageMonitorKills: with OverRequestKill the monitor warns at the
// first sample over, kills once the pod has stayed over for the grace, says
// so on the pod and counts it; a kill that fails is counted, not announced.
func TestUsageMonitorKills(t *testing.T) {
	lib, cards := dgxA100(t)
	uuid := cards[2].UUID
	pod := assigned("infer", 0, true, uuid)
	pod.Annotations["zz.io/gpu-indexes"] = "2"
	pod.UID = "0f9e5c2a-1b2c-4d3e-8f90-a1b2c3d4e5f6"
	proc := t.TempDir()
	writeCgroup(t, proc, 100, pod.UID)
	rec := record.NewFakeRecorder(10)
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	type call struct {
		pid uint32
		uid types.UID
	}
	var calls []call
	var killErr error
	m := &UsageMonitor{Lib: lib, Plugin: NewPlugin("n1", cards, 4, nil, nil), ProcRoot: proc, Recorder: rec, Interval: 15 * time.Second,
		Pods: func() ([]*corev1.Pod, error) { return []*corev1.Pod{pod}, nil }, Now: func() time.Time { return now },
		OverRequest: OverRequestKill, Grace: 30 * time.Second,
		Kill: func(pid uint32, uid types.UID) error { calls = append(calls, call{pid, uid}); return killErr }}
	if err := lib.SetProcesses(uuid, []mocknvml.Process{{PID: 100, UsedMiB: 5000}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m.Sample(ctx)
	now = now.Add(29 * time.Second)
	m.Sample(ctx)
	if len(calls) != 0 || len(rec.Events) != 1 {
		t.Fatalf("within the grace: kills %v, %d events (want the over-request warning only)", calls, len(rec.Events))
	}
	<-rec.Events
	now = now.Add(time.Second)
	m.Sample(ctx)
	if len(calls) != 1 || calls[0] != (call{100, pod.UID}) {
		t.Fatalf("after the grace: kills %v, want pid 100 of the pod", calls)
	}
	if e := <-rec.Events; !strings.Contains(e, "Warning "+contract.ReasonGPUMemoryOverRequestKilled) || !strings.Contains(e, "killed process 100") ||
		!strings.Contains(e, "5000 MiB") || !strings.Contains(e, "4096 MiB") || !strings.Contains(e, "30s") {
		t.Fatalf("kill event %q", e)
	}
	// NVML still lists the process a moment after: it is not killed (nor
	// announced) again within the grace.
	now = now.Add(time.Second)
	m.Sample(ctx)
	if len(calls) != 1 || len(rec.Events) != 0 {
		t.Fatalf("the same process again within the grace: %d kills, %d events", len(calls), len(rec.Events))
	}
	killErr = errors.New("no such process")
	now = now.Add(30 * time.Second)
	m.Sample(ctx)
	if len(calls) != 2 || len(rec.Events) != 0 {
		t.Fatalf("a failed kill: %d calls, %d events (want no event)", len(calls), len(rec.Events))
	}
	if err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP zz_gpu_over_request_kills_total Processes of pods over their GPU memory request killed (--over-request=kill), by result (ok, error).
# TYPE zz_gpu_over_request_kills_total counter
zz_gpu_over_request_kills_total{result="error"} 1
zz_gpu_over_request_kills_total{result="ok"} 1
`), "zz_gpu_over_request_kills_total"); err != nil {
		t.Fatal(err)
	}
	// Back under: the grace starts again at the next crossing.
	if err := lib.SetProcesses(uuid, []mocknvml.Process{{PID: 100, UsedMiB: 10}}); err != nil {
		t.Fatal(err)
	}
	m.Sample(ctx)
	if err := lib.SetProcesses(uuid, []mocknvml.Process{{PID: 100, UsedMiB: 5000}}); err != nil {
		t.Fatal(err)
	}
	m.Sample(ctx)
	if len(calls) != 2 {
		t.Fatalf("killed at a new crossing before its grace: %v", calls)
	}
	// OverRequestEvent never kills.
	m.OverRequest = OverRequestEvent
	now = now.Add(time.Hour)
	m.Sample(ctx)
	if len(calls) != 2 {
		t.Fatalf("event mode killed: %v", calls)
	}
}

func writeCgroup(t *testing.T, proc string, pid int, uid types.UID) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(proc, strconv.Itoa(pid)), 0o755); err != nil {
		t.Fatal(err)
	}
	content := "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + strings.ReplaceAll(string(uid), "-", "_") + ".slice/cri-containerd-1.scope\n"
	if err := os.WriteFile(filepath.Join(proc, strconv.Itoa(pid), "cgroup"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKillProcess kills a real process, and leaves it alone when the /proc
// it is judged by no longer puts it in the pod.
func TestKillProcess(t *testing.T) {
	const uid = types.UID("0f9e5c2a-1b2c-4d3e-8f90-a1b2c3d4e5f6")
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	pid := cmd.Process.Pid
	proc := t.TempDir() // stands for the host's /proc: the test says which pod the PID is in
	kill := KillProcess(proc)

	writeCgroup(t, proc, pid, "11111111-2222-3333-4444-555555555555")
	if err := kill(uint32(pid), uid); err == nil || !strings.Contains(err.Error(), "no longer runs in pod") {
		t.Fatalf("kill of a process in another pod: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("the process of another pod was killed: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	writeCgroup(t, proc, pid, uid)
	if err := kill(uint32(pid), uid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("the process ended with %v, want SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process was not killed")
	}
	// Gone: pidfd_open fails, nothing else is signalled.
	if err := kill(uint32(pid), uid); err == nil {
		t.Fatal("kill of a reaped process succeeded")
	}
}

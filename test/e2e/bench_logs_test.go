package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zzcloud/zz/internal/contract"
)

// TestBenchLogs measures kubectl zz logs against stern on the same cluster
// in the same run, following every pod of a 200-pod app: lines per second
// written to stdout after a burst is appended to every container's log, and
// the follower's peak RSS (VmHWM). Each tool runs alone, alternately, twice.
// Run with ZZ_BENCH=1 after hack/build-tools.sh stern; figures go to the log.
func TestBenchLogs(t *testing.T) {
	if os.Getenv("ZZ_BENCH") != "1" {
		t.Skip("set ZZ_BENCH=1 to run the logs benchmark")
	}
	stern := cluster.Bin("stern")
	if _, err := os.Stat(stern); err != nil {
		t.Skipf("no stern (%v): run hack/build-tools.sh stern", err)
	}
	zzBin := cluster.GoBuild(t, "./plugins/kubectl-zz")
	const pods, burst = 200, 2000
	ns := cluster.Namespace(t, nil)
	logsApp(t, cluster.Client, ns, "bench", pods, "app")
	cluster.RunningPods(t, ns, contract.LabelApp+"=bench", pods, 120*time.Second)

	tools := map[string][]string{
		"zz":    {zzBin, "logs", "bench", "--kubeconfig", cluster.Kubeconfig, "-n", ns, "--tail", "0", "-o", "raw"},
		"stern": {stern, "--kubeconfig", cluster.Kubeconfig, "-n", ns, "-l", contract.LabelApp + "=bench", "--tail", "0", "-o", "raw", "--max-log-requests", "1000", "--color", "never"},
	}
	rates, rss := map[string][]float64{}, map[string][]float64{}
	for round := range 2 {
		for _, name := range []string{"zz", "stern"} {
			r := followBench(t, tools[name], pods, burst, fmt.Sprintf("%s-%d-", name, round))
			rates[name] = append(rates[name], r.linesPerSec)
			rss[name] = append(rss[name], r.peakRSSMiB)
			t.Logf("round %d: %-5s attach %5.1fs, %8.0f lines/s, RSS attached %5.1f MiB, peak %5.1f MiB",
				round+1, name, r.attach.Seconds(), r.linesPerSec, r.attachedRSSMiB, r.peakRSSMiB)
		}
	}
	zr, sr := mean(rates["zz"]), mean(rates["stern"])
	zm, sm := mean(rss["zz"]), mean(rss["stern"])
	t.Logf("RESULT logs: %d pods, burst of %d lines each: zz %.0f lines/s vs stern %.0f lines/s (ratio %.2f); peak RSS zz %.1f MiB vs stern %.1f MiB (ratio %.2f); mean of 2 rounds",
		pods, burst, zr, sr, zr/sr, zm, sm, zm/sm)
}

type benchResult struct {
	attach      time.Duration
	linesPerSec float64
	// attachedRSSMiB is the resident set once every stream is open (binary,
	// clients, informer, streams); peakRSSMiB the most it reached (VmHWM).
	attachedRSSMiB float64
	peakRSSMiB     float64
}

// followBench starts one follower, waits until all pods are attached, appends
// a burst to the shared kwok log and times until every pod's copy of it is on
// the follower's stdout.
func followBench(t *testing.T, argv []string, pods, burst int, prefix string) benchResult {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	var syncs, lines atomic.Int64
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, prefix):
				lines.Add(1)
			case strings.HasPrefix(l, "sync"+prefix):
				syncs.Add(1)
			}
		}
	}()
	start := time.Now()
	file := cluster.PodLogFile()
	cluster.WaitFor(t, 180*time.Second, fmt.Sprintf("%s attached to %d pods", argv[0], pods), func(ctx context.Context) (bool, string, error) {
		syncs.Store(0)
		appendLog(t, file, "sync"+prefix, 0, 1)
		time.Sleep(500 * time.Millisecond)
		n := syncs.Load()
		return n == int64(pods), fmt.Sprintf("%d of %d pods attached", n, pods), nil
	})
	attach := time.Since(start)
	attachedRSS := procStatusMiB(t, cmd.Process.Pid, "VmRSS:")
	lines.Store(0)
	t0 := time.Now()
	appendLog(t, file, prefix, 0, burst)
	want := int64(pods * burst)
	cluster.WaitFor(t, 300*time.Second, fmt.Sprintf("%d lines from %s", want, argv[0]), func(ctx context.Context) (bool, string, error) {
		n := lines.Load()
		return n >= want, fmt.Sprintf("%d of %d lines", n, want), nil
	})
	elapsed := time.Since(t0)
	return benchResult{attach: attach, linesPerSec: float64(want) / elapsed.Seconds(),
		attachedRSSMiB: attachedRSS, peakRSSMiB: procStatusMiB(t, cmd.Process.Pid, "VmHWM:")}
}

// procStatusMiB reads a kB field of /proc/PID/status (VmHWM: the peak
// resident set; VmRSS: the current one), in MiB.
func procStatusMiB(t *testing.T, pid int, field string) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zzcloud/zz/internal/contract"
)

// TestBenchLogs measures kubectl zz logs against stern on the same cluster
// in the same run, following every pod of a 200-pod app: lines per second
// written to stdout after a burst is appended to every container's log, and
// the follower's peak RSS (VmHWM), with its anonymous (heap, stacks) and
// file-backed (the mapped binary) parts sampled during the run. Each tool runs
// alone, alternately, ZZ_BENCH_ROUNDS times (default 3).
//
// kubectl-zz is built as the Makefile builds it and as hack/build-tools.sh
// builds stern: CGO_ENABLED=0 -trimpath -ldflags "-s -w". The mapped binary
// is a large part of both RSS figures, so building one with cgo and debug
// information (a plain go build) would not compare like with like.
// ZZ_BENCH_EXTRA="name=/path/to/kubectl-zz,..." adds other kubectl-zz
// binaries (an older commit, another build) to the same rounds.
//
// How much of a binary counts as resident depends on how its file sits in the
// page cache, not only on what the process touches: this kernel maps whole
// large folios, so the same kubectl-zz binary shows 31 MiB of RssFile when
// its pages were read in by its own faults and 45 MiB after a sequential read
// of the file (cat) filled the cache with large folios. Before every run, both
// tools' binaries are therefore put in the same state: ZZ_BENCH_PAGECACHE=
// evict (the default) drops the file's pages from the page cache
// (posix_fadvise DONTNEED), so the process faults in what it touches; read
// does that and then reads the whole file (the most each can map: about its
// size); keep leaves the cache as it is (a freshly built file is cached as
// written).
// Run with ZZ_BENCH=1 after hack/build-tools.sh stern; figures go to the log.
func TestBenchLogs(t *testing.T) {
	if os.Getenv("ZZ_BENCH") != "1" {
		t.Skip("set ZZ_BENCH=1 to run the logs benchmark")
	}
	stern := cluster.Bin("stern")
	if _, err := os.Stat(stern); err != nil {
		t.Skipf("no stern (%v): run hack/build-tools.sh stern", err)
	}
	rounds := 3
	if v := os.Getenv("ZZ_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("ZZ_BENCH_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	pagecache := os.Getenv("ZZ_BENCH_PAGECACHE")
	switch pagecache {
	case "":
		pagecache = "evict"
	case "evict", "read", "keep":
	default:
		t.Fatalf("ZZ_BENCH_PAGECACHE=%q: want evict, read or keep", pagecache)
	}
	zzBin := releaseBuild(t, "./plugins/kubectl-zz")
	const pods, burst = 200, 2000
	ns := cluster.Namespace(t, nil)
	logsApp(t, cluster.Client, ns, "bench", pods, "app")
	cluster.RunningPods(t, ns, contract.LabelApp+"=bench", pods, 120*time.Second)

	zzArgs := []string{"logs", "bench", "--kubeconfig", cluster.Kubeconfig, "-n", ns, "--tail", "0", "-o", "raw"}
	tools := map[string][]string{
		"zz":    append([]string{zzBin}, zzArgs...),
		"stern": {stern, "--kubeconfig", cluster.Kubeconfig, "-n", ns, "-l", contract.LabelApp + "=bench", "--tail", "0", "-o", "raw", "--max-log-requests", "1000", "--color", "never"},
	}
	order := []string{"zz", "stern"}
	if extra := os.Getenv("ZZ_BENCH_EXTRA"); extra != "" {
		for _, kv := range strings.Split(extra, ",") {
			name, bin, ok := strings.Cut(kv, "=")
			if !ok || tools[name] != nil {
				t.Fatalf("ZZ_BENCH_EXTRA: %q is not a new name=path", kv)
			}
			tools[name] = append([]string{bin}, zzArgs...)
			order = append(order, name)
		}
	}
	results := map[string][]benchResult{}
	for round := range rounds {
		for _, name := range order {
			setPageCache(t, tools[name][0], pagecache)
			r := followBench(t, tools[name], pods, burst, fmt.Sprintf("%s-%d-", name, round))
			results[name] = append(results[name], r)
			t.Logf("round %d: %-8s attach %5.1fs, %8.0f lines/s, CPU %4.1f s per million lines, RSS attached %5.1f MiB, peak %5.1f MiB (anon %5.1f, file %5.1f)",
				round+1, name, r.attach.Seconds(), r.linesPerSec, r.cpuPerMLine, r.attachedRSSMiB, r.peakRSSMiB, r.peakAnonMiB, r.peakFileMiB)
		}
		for _, name := range order {
			if name == "stern" {
				continue
			}
			z, s := results[name][round], results["stern"][round]
			t.Logf("round %d: %s/stern lines/s ratio %.2f, CPU per line ratio %.2f, peak RSS ratio %.2f (anon %.2f, file %.2f)", round+1, name,
				z.linesPerSec/s.linesPerSec, z.cpuPerMLine/s.cpuPerMLine, z.peakRSSMiB/s.peakRSSMiB, z.peakAnonMiB/s.peakAnonMiB, z.peakFileMiB/s.peakFileMiB)
		}
	}
	field := func(name string, f func(benchResult) float64) float64 {
		var v []float64
		for _, r := range results[name] {
			v = append(v, f(r))
		}
		return mean(v)
	}
	rate := func(r benchResult) float64 { return r.linesPerSec }
	peak := func(r benchResult) float64 { return r.peakRSSMiB }
	anon := func(r benchResult) float64 { return r.peakAnonMiB }
	file := func(r benchResult) float64 { return r.peakFileMiB }
	cpu := func(r benchResult) float64 { return r.cpuPerMLine }
	sr, sm := field("stern", rate), field("stern", peak)
	for _, name := range order {
		if name == "stern" {
			continue
		}
		zr, zm := field(name, rate), field(name, peak)
		t.Logf("RESULT logs %s: %d pods, burst of %d lines each: %s %.0f lines/s vs stern %.0f lines/s (ratio %.2f); CPU %.1f vs %.1f s per million lines (ratio %.2f); peak RSS %s %.1f MiB vs stern %.1f MiB (ratio %.2f; anon %.1f vs %.1f, file %.1f vs %.1f); mean of %d rounds, page cache %s",
			name, pods, burst, name, zr, sr, zr/sr, field(name, cpu), field("stern", cpu), field(name, cpu)/field("stern", cpu), name, zm, sm, zm/sm, field(name, anon), field("stern", anon), field(name, file), field("stern", file), rounds, pagecache)
	}
}

// setPageCache puts a binary's file in the page cache state the benchmark
// asks for (see TestBenchLogs); no process maps it at that point.
func setPageCache(t *testing.T, path, mode string) {
	t.Helper()
	if mode == "keep" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil { // a freshly built file may still be dirty, and DONTNEED keeps dirty pages
		t.Fatal(err)
	}
	const fadvDontNeed = 4 // POSIX_FADV_DONTNEED
	if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); errno != 0 {
		t.Fatalf("fadvise %s: %v", path, errno)
	}
	if mode == "read" {
		if _, err := io.Copy(io.Discard, f); err != nil {
			t.Fatal(err)
		}
	}
}

// releaseBuild builds a command as the Makefile does (static, stripped, no
// paths), into the test's temporary folder.
func releaseBuild(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = cluster.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	return out
}

type benchResult struct {
	attach      time.Duration
	linesPerSec float64
	// attachedRSSMiB is the resident set once every stream is open (binary,
	// clients, informer, streams); peakRSSMiB the most it reached (VmHWM).
	attachedRSSMiB float64
	peakRSSMiB     float64
	// peakAnonMiB and peakFileMiB are the most RssAnon (heap, stacks) and
	// RssFile (the mapped binary) reached, sampled every 20ms.
	peakAnonMiB, peakFileMiB float64
	// cpuPerMLine is the follower's CPU time (user+system) during the burst,
	// in seconds per million lines: what it costs, less sensitive than
	// lines/s to other load on the machine.
	cpuPerMLine float64
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
	sampled := make(chan [2]float64, 1)
	stopSampling := make(chan struct{})
	go func() {
		var peak [2]float64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if anon, file, ok := procAnonFileMiB(cmd.Process.Pid); ok {
				peak[0], peak[1] = max(peak[0], anon), max(peak[1], file)
			}
			select {
			case <-stopSampling:
				sampled <- peak
				return
			case <-tick.C:
			}
		}
	}()
	var syncs, lines atomic.Int64
	// The reader notes when the burst's last line arrived: the wait below
	// polls every 200ms, too coarse for a burst of a few seconds.
	var want, doneAt atomic.Int64
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, prefix):
				if n := lines.Add(1); n == want.Load() {
					doneAt.Store(time.Now().UnixNano())
				}
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
	total := int64(pods * burst)
	want.Store(total)
	cpu0 := procCPUSeconds(t, cmd.Process.Pid)
	t0 := time.Now()
	appendLog(t, file, prefix, 0, burst)
	cluster.WaitFor(t, 300*time.Second, fmt.Sprintf("%d lines from %s", total, argv[0]), func(ctx context.Context) (bool, string, error) {
		n := lines.Load()
		return n >= total && doneAt.Load() != 0, fmt.Sprintf("%d of %d lines", n, total), nil
	})
	elapsed := time.Unix(0, doneAt.Load()).Sub(t0)
	cpu := procCPUSeconds(t, cmd.Process.Pid) - cpu0
	close(stopSampling)
	peak := <-sampled
	return benchResult{attach: attach, linesPerSec: float64(total) / elapsed.Seconds(),
		attachedRSSMiB: attachedRSS, peakRSSMiB: procStatusMiB(t, cmd.Process.Pid, "VmHWM:"),
		peakAnonMiB: peak[0], peakFileMiB: peak[1], cpuPerMLine: cpu / float64(total) * 1e6}
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

// procAnonFileMiB reads RssAnon and RssFile of /proc/PID/status, in MiB.
func procAnonFileMiB(pid int) (anon, file float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	var n int
	for _, l := range strings.Split(string(b), "\n") {
		for field, v := range map[string]*float64{"RssAnon:": &anon, "RssFile:": &file} {
			if rest, found := strings.CutPrefix(l, field); found {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				if err != nil {
					return 0, 0, false
				}
				*v = kb / 1024
				n++
			}
		}
	}
	return anon, file, n == 2
}

// procCPUSeconds is the user+system CPU time of a process so far.
func procCPUSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, "(...)", which may hold spaces:
	// state is the first, utime and stime the 12th and 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks
}

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAddonSupervisor: hack/ starts its zz servers (make demo's
// zz-scheduler, extender, webhook) under hack/supervise.sh, which starts one
// again when it exits, as a kubelet would: an apiserver outage over ~10 s
// ends zz-scheduler (leader election lost), and an incident audit saw it
// stay down for good. A zz-scheduler killed is back within the backoff,
// under a new PID in its PID file; with its hold file it stays down until
// the file goes; cluster-down stops the supervisor and the server, at once.
// The server here is a copy of sleep named zz-scheduler, in a cluster folder
// of its own.
func TestAddonSupervisor(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	out := t.TempDir()
	state := filepath.Join(out, "cluster", "sup")
	pids := filepath.Join(state, "pids")
	for _, d := range []string{pids, filepath.Join(state, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(out, "zz-scheduler")
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "ZZ_CLUSTER=sup", "ZZ_OUTPUT="+out)
	hack := func(script string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "bash", "-c", script)
		cmd.Dir, cmd.Env = cluster.Root, env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, b)
		}
		return string(b)
	}
	// pid is the first field of a PID file, and whether it runs exe.
	pid := func(name, exe string) (int, bool) {
		b, err := os.ReadFile(filepath.Join(pids, name+".pid"))
		if err != nil {
			return 0, false
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		n, _ := strconv.Atoi(f[0])
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", n))
		return n, err == nil && (exe == "" || got == exe)
	}
	hack("source hack/lib.sh && start_addon zz-scheduler " + bin + " 300")
	sup, _ := pid("zz-scheduler-supervisor", "")
	t.Cleanup(func() {
		// Whatever failed, nothing is left running.
		if n, ok := pid("zz-scheduler-supervisor", ""); ok && n == sup {
			_ = syscall.Kill(sup, syscall.SIGKILL)
		}
		if n, ok := pid("zz-scheduler", bin); ok {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	})
	logText := func() string {
		b, _ := os.ReadFile(filepath.Join(state, "logs", "zz-scheduler.log"))
		return string(b)
	}
	first, ok := pid("zz-scheduler", bin)
	if !ok {
		t.Fatalf("zz-scheduler does not run after start_addon; its log:\n%s", logText())
	}
	// back waits for zz-scheduler to run under a PID other than old.
	back := func(old int, within time.Duration) int {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if n, ok := pid("zz-scheduler", bin); ok && n != old {
				return n
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("zz-scheduler not started again in %s; its log:\n%s", within, logText())
		return 0
	}

	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := back(first, 5*time.Second)
	for _, want := range []string{"hack/supervise.sh: zz-scheduler exited with status 137 after ",
		"s; starting it again in 1s (keep it down: touch " + filepath.Join(pids, "zz-scheduler.hold") + ")"} {
		if !strings.Contains(logText(), want) {
			t.Errorf("the log does not say the restart (%q):\n%s", want, logText())
		}
	}

	// Held: killed, it stays down until the hold file goes.
	hold := filepath.Join(pids, "zz-scheduler.hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(second, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if n, ok := pid("zz-scheduler", bin); ok {
		t.Fatalf("zz-scheduler runs again (pid %d) while %s exists:\n%s", n, hold, logText())
	}
	if !strings.Contains(logText(), "zz-scheduler is held ("+hold+" exists): not starting it until that file is removed") {
		t.Errorf("the log does not say it is held:\n%s", logText())
	}
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	third := back(second, 3*time.Second)

	// start_addon again (make demo run twice) leaves the running one alone.
	hack("source hack/lib.sh && start_addon zz-scheduler " + bin + " 300")
	if n, _ := pid("zz-scheduler", bin); n != third {
		t.Errorf("a second start_addon replaced zz-scheduler %d with %d", third, n)
	}
	if n, _ := pid("zz-scheduler-supervisor", ""); n != sup {
		t.Errorf("a second start_addon started another supervisor: %d, was %d", n, sup)
	}

	start := time.Now()
	down := hack("hack/cluster-down.sh")
	if d := time.Since(start); d > 5*time.Second || strings.Contains(down, "ignored SIGTERM") {
		t.Errorf("cluster-down took %s:\n%s", d, down)
	}
	for _, p := range []int{sup, third} {
		if err := syscall.Kill(p, 0); err == nil {
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p)); exe == bin || strings.HasSuffix(exe, "bash") {
				t.Errorf("pid %d (%s) still runs after cluster-down:\n%s", p, exe, down)
			}
		}
	}
}

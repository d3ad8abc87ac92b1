package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zzcloud/zz/internal/contract"
)

// TestLogsCrashLoop: a container in CrashLoopBackOff, written as a kubelet
// writes it (its last run's containerID in lastState.terminated), is not
// left out: kubectl zz logs prints that last run, following or not, as
// kubectl logs does, and names the crash loop on stderr; --previous reads
// the run before it.
func TestLogsCrashLoop(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	logsApp(t, cluster.Client, ns, "crash", 1, "app")
	pod := cluster.RunningPods(t, ns, contract.LabelApp+"=crash", 1, 60*time.Second)[0]
	crashLoop(t, cluster.Client, &pod)
	last, prev := ns+"-last-", ns+"-prev-"
	appendLog(t, cluster.PodLogFile(), last, 0, 3)
	appendLog(t, cluster.PodPreviousLogFile(), prev, 0, 2)
	src := cluster.Name + "/" + pod.Name + "/app"
	note := "note: context " + cluster.Name + ": pod " + ns + "/" + pod.Name + ": CrashLoopBackOff: container app exited with code 1 (Error), restarted 3 times"

	for _, tc := range []struct {
		name   string
		args   []string
		follow bool
		prefix string // the run's lines
		n      int
		stderr []string
	}{
		{name: "no follow", args: []string{"--no-follow"}, prefix: last, n: 3, stderr: []string{note}},
		{name: "follow", follow: true, prefix: last, n: 3, stderr: []string{note, "+ " + pod.Name + "/app\n- " + pod.Name + "/app\n"}},
		{name: "previous", args: []string{"--previous"}, prefix: prev, n: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--kubeconfig", cluster.Kubeconfig, "-n", ns, "crash", "-o", "json"}, tc.args...)
			cluster.WaitFor(t, 30*time.Second, "the crash-looping container's run in the output", func(context.Context) (bool, string, error) {
				f := startLogs(t, args...)
				if !tc.follow {
					select {
					case err := <-f.done:
						if err != nil {
							return false, "", fmt.Errorf("kubectl zz logs %s: %w\nstderr: %s", strings.Join(args, " "), err, f.errOut.String())
						}
					case <-time.After(15 * time.Second):
						f.cancel()
						return false, "", fmt.Errorf("kubectl zz logs %s did not end", strings.Join(args, " "))
					}
				} else {
					defer f.stop(t)
					time.Sleep(2 * time.Second)
				}
				counts := jsonCounts(t, f.out.String(), tc.prefix)
				if len(counts) != 1 || exactlyOnce(counts[src], tc.prefix, tc.n) != "" {
					return false, fmt.Sprintf("read %v; stderr %q", counts, f.errOut.String()), nil
				}
				for _, want := range tc.stderr {
					if !strings.Contains(f.errOut.String(), want) {
						return false, fmt.Sprintf("stderr %q lacks %q", f.errOut.String(), want), nil
					}
				}
				return true, "", nil
			})
		})
	}
}

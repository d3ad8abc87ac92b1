package deviceplugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"
)

// KillProcess returns a function that sends SIGKILL to pid if it still
// runs in the pod uid, as procRoot/<pid>/cgroup says. The process is first
// pinned with a pidfd: NVML listed the PID a moment ago, and by now it may
// have exited and the number gone to another process; with the pidfd held
// the process it names cannot change, so the cgroup read after it is the
// cgroup of the process signalled. procRoot must be the /proc of the
// plugin's own PID namespace, the host's (the DaemonSet runs with hostPID).
func KillProcess(procRoot string) func(pid uint32, uid types.UID) error {
	return func(pid uint32, uid types.UID) error {
		fd, err := unix.PidfdOpen(int(pid), 0)
		if err != nil {
			return fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		defer unix.Close(fd)
		b, err := os.ReadFile(filepath.Join(procRoot, strconv.FormatUint(uint64(pid), 10), "cgroup"))
		if err != nil {
			return fmt.Errorf("process %d: %w", pid, err)
		}
		if got, ok := PodUIDFromCgroup(string(b)); !ok || got != uid {
			return fmt.Errorf("process %d no longer runs in pod %s (its cgroup names %q): left alone", pid, uid, got)
		}
		if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
		return nil
	}
}

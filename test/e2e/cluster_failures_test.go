package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestClusterUpFailures checks that a broken start names its cause and the
// log to read, and leaves no process behind. Each case runs cluster-up on its
// own ports and state folder, with binaries linked from the real build.
func TestClusterUpFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, bin string, portBase int)
		want  []string
	}{{
		name: "port taken",
		setup: func(t *testing.T, bin string, portBase int) {
			linkBinaries(t, bin)
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(portBase+443))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		},
		want: []string{"error: port " + strconv.Itoa(18100+443) + " (APISERVER_PORT) is taken by", "ZZ_PORT_BASE"},
	}, {
		name: "etcd missing",
		setup: func(t *testing.T, bin string, _ int) {
			linkBinaries(t, bin, "etcd")
		},
		want: []string{"error: etcd binary", "/etcd is missing; run hack/build-tools.sh"},
	}, {
		name: "apiserver does not come up",
		setup: func(t *testing.T, bin string, _ int) {
			linkBinaries(t, bin, "kube-apiserver")
			script := "#!/bin/sh\necho 'E1123 fake apiserver: cannot reach etcd' >&2\nexit 1\n"
			if err := os.WriteFile(filepath.Join(bin, "kube-apiserver"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		},
		want: []string{"error: kube-apiserver exited during start-up", "its log: ", "/logs/kube-apiserver.log",
			"E1123 fake apiserver: cannot reach etcd"},
	}}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			bin := filepath.Join(out, "bin")
			if err := os.MkdirAll(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			portBase := 18100 + 100*i
			tt.setup(t, bin, portBase)
			cmd := exec.CommandContext(t.Context(), filepath.Join(cluster.Root, "hack", "cluster-up.sh"))
			cmd.Env = append(os.Environ(), "ZZ_OUTPUT="+out, "ZZ_BIN="+bin, "ZZ_SKIP_BUILD=1",
				"ZZ_CLUSTER=fail", "ZZ_PORT_BASE="+strconv.Itoa(portBase))
			stderr, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("cluster-up succeeded; want a failure. Output:\n%s", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(stderr), w) {
					t.Errorf("output lacks %q:\n%s", w, stderr)
				}
			}
			if n := strings.Count(string(stderr), "error: "); n != 1 {
				t.Errorf("want exactly one error line, got %d:\n%s", n, stderr)
			}
			if procs := processesUnder(out); len(procs) > 0 {
				t.Errorf("processes left running from %s: %v", out, procs)
			}
		})
	}
}

// linkBinaries links every built test-cluster binary into dir, except skip.
func linkBinaries(t *testing.T, dir string, skip ...string) {
	t.Helper()
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"} {
		if slices.Contains(skip, name) {
			continue
		}
		if err := os.Symlink(cluster.Bin(name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// processesUnder lists PIDs whose command line mentions dir.
func processesUnder(dir string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) && !strings.Contains(string(cmdline), "cluster-up.sh") {
			pids = append(pids, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return pids
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs make demo's script end to end on a cluster of its own (other
// ports, torn down at the end): the README's first command must work.
func TestDemo(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), filepath.Join(cluster.Root, "hack", "demo.sh"))
	cmd.Env = append(os.Environ(), "ZZ_CLUSTER=demo-e2e", "ZZ_PORT_BASE=24000", "ZZ_SKIP_BUILD=1")
	t.Cleanup(func() {
		down := exec.Command(filepath.Join(cluster.Root, "hack", "cluster-down.sh"))
		down.Env = append(os.Environ(), "ZZ_CLUSTER=demo-e2e", "ZZ_PORT_BASE=24000")
		_ = down.Run()
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/demo.sh: %v\n%s", err, out)
	}
	// The shipped policy routes every pool's pods to zz-scheduler: the web
	// app's to be balanced, the GPU app's to get cards.
	_, table, _ := strings.Cut(string(out), "\nPOD ")
	table, _, _ = strings.Cut(table, "\n\n")
	rows := strings.Split(table, "\n")[1:]
	if len(rows) != 7 {
		t.Errorf("the demo's pod table has %d rows, want 3 shop and 4 infer pods:\n%s", len(rows), table)
	}
	for _, row := range rows {
		if f := strings.Fields(row); len(f) < 3 || f[2] != "zz-scheduler" {
			t.Errorf("pod not scheduled by zz-scheduler: %q", row)
		}
	}
	for _, want := range []string{
		"shop 1.0.0 deployed as revision 1",
		"infer 2.1.0 deployed as revision 1",
		"/app zz test log line", // kubectl zz logs followed the apps' pods
		// The GPU pods stay where the extender packed them.
		"Pods never moved, and why:\n  4  its GPU memory is placed card by card by the zz extender",
		"shop rolled back, recorded as revision 3",
		"shop runs registry.local/shop:1.0.0",
		"cluster demo-e2e stopped",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

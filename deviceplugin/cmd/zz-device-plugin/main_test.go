package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMockNVMLOnlyWithTag builds the binary as the release does (no tags) and
// as the tests do (-tags zzmock): the mock machines (package mocknvml and
// go-nvml's mock DGX servers) are linked into the second only, and the first
// refuses --nvml mock:<machine> with a clear error.
func TestMockNVMLOnlyWithTag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	for _, tc := range []struct {
		name, tags string
		wantMock   bool
	}{
		{"release", "", false},
		{"tests", "zzmock", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "zz-device-plugin")
			build := exec.Command("go", "build", "-tags", tc.tags, "-o", bin, ".")
			build.Env = append(os.Environ(), "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build -tags %q: %v\n%s", tc.tags, err, out)
			}
			nm, err := exec.Command("go", "tool", "nm", bin).Output()
			if err != nil {
				t.Fatalf("go tool nm: %v", err)
			}
			var mock int
			for _, line := range strings.Split(string(nm), "\n") {
				if strings.Contains(line, "deviceplugin/mocknvml.") || strings.Contains(line, "go-nvml/pkg/nvml/mock") {
					mock++
				}
			}
			if (mock > 0) != tc.wantMock {
				t.Errorf("-tags %q: %d mock NVML symbols, want them: %v", tc.tags, mock, tc.wantMock)
			}

			help, _ := exec.Command(bin, "--help").CombinedOutput()
			if got := bytes.Contains(help, []byte("mock:dgxa100")); got != tc.wantMock {
				t.Errorf("-tags %q: --help offers mock:dgxa100: %v, want %v\n%s", tc.tags, got, tc.wantMock, help)
			}
			if tc.wantMock {
				return
			}
			out, err := exec.Command(bin, "--nvml", "mock:dgxa100", "--node-name", "n1", "--health-address", "127.0.0.1:0").CombinedOutput()
			if err == nil || !strings.Contains(string(out), "built without mock NVML; build with -tags zzmock") {
				t.Errorf("--nvml mock:dgxa100 without the tag: err %v, output %q", err, out)
			}
		})
	}
}

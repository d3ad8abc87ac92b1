package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKrewInstall installs kubectl-zz as a developer does, with the real krew
// (built from hack/tools/krew) and the cluster's kubectl: make release for
// this platform, then "kubectl krew install --manifest --archive" into an
// empty KREW_ROOT, offline. kubectl then finds the plugin on PATH, runs it,
// lists it, and completes its commands through kubectl_complete-zz. It needs
// no cluster.
func TestKrewInstall(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the test builds the linux/amd64 archive")
	}
	tmp := t.TempDir()
	version := strings.TrimSpace(mustRun(t, filepath.Join(cluster.Root, "hack", "version.sh")))
	commit := strings.TrimSpace(mustRun(t, "git", "-C", cluster.Root, "rev-parse", "--short", "HEAD"))

	// make release, for this platform only, twice: the same commit must give
	// the same archive, so the same manifest.
	release := func(dir string) (manifest, archive string) {
		manifest = filepath.Join(dir, "zz.yaml")
		mustRun(t, "make", "-s", "-C", cluster.Root, "release", "VERSION="+version,
			"RELEASE_PLATFORMS=linux/amd64", "RELEASE_DIR="+dir, "KREW_MANIFEST="+manifest)
		return manifest, filepath.Join(dir, "kubectl-zz_"+version+"_linux_amd64.tar.gz")
	}
	manifest, archive := release(filepath.Join(tmp, "release"))
	again, _ := release(filepath.Join(tmp, "again"))
	m1, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if m2, _ := os.ReadFile(again); !bytes.Equal(m1, m2) {
		t.Errorf("two releases of the same commit differ:\n%s\n---\n%s", m1, m2)
	}
	var plugin struct {
		Spec struct{ Version string } `json:"spec"`
	}
	if err := yaml.Unmarshal(m1, &plugin); err != nil || plugin.Spec.Version != version {
		t.Fatalf("manifest version %q, want %q (%v)", plugin.Spec.Version, version, err)
	}

	// PATH holds krew's bin, kubectl and kubectl-krew, and the system: not
	// _output/bin, whose own kubectl-zz would shadow the installed one.
	tools := filepath.Join(tmp, "tools")
	if err := os.Mkdir(tools, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"kubectl", "kubectl-krew"} {
		if _, err := os.Stat(cluster.Bin(b)); err != nil {
			t.Fatalf("%v: run hack/build-tools.sh", err)
		}
		if err := os.Symlink(cluster.Bin(b), filepath.Join(tools, b)); err != nil {
			t.Fatal(err)
		}
	}
	krewRoot := filepath.Join(tmp, "krew")
	krewBin := filepath.Join(krewRoot, "bin")
	// KREW_NO_UPGRADE_CHECK: krew would ask GitHub for its latest release.
	env := []string{"PATH=" + krewBin + ":" + tools + ":/usr/bin:/bin", "HOME=" + tmp,
		"KREW_ROOT=" + krewRoot, "KREW_NO_UPGRADE_CHECK=1"}
	kubectl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), filepath.Join(tools, "kubectl"), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// krew checks the archive against the manifest's sha256.
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(tmp, "bad.tar.gz")
	if err := os.WriteFile(bad, append(data, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl("krew", "install", "--manifest="+manifest, "--archive="+bad); err == nil || !strings.Contains(out, "sha256") {
		t.Fatalf("krew installed an archive whose sha256 differs from the manifest's (%v):\n%s", err, out)
	}

	if out, err := kubectl("krew", "install", "--manifest="+manifest, "--archive="+archive); err != nil {
		t.Fatalf("krew install: %v\n%s", err, out)
	}
	out, err := kubectl("plugin", "list")
	if err != nil || !strings.Contains(out, filepath.Join(krewBin, "kubectl-zz")+"\n") {
		t.Fatalf("kubectl plugin list does not show the installed kubectl-zz (%v):\n%s", err, out)
	}
	if out, err := kubectl("krew", "list"); err != nil || !strings.Contains(out, "zz") {
		t.Errorf("kubectl krew list (%v):\n%s", err, out)
	}
	out, err = kubectl("zz", "--help")
	for _, sub := range []string{"deploy", "rollback", "logs", "gpu"} {
		if err != nil || !strings.Contains(out, sub) {
			t.Errorf("kubectl zz --help lacks %q (%v):\n%s", sub, err, out)
		}
	}
	out, err = kubectl("zz", "version", "-o", "json")
	var info struct{ GitVersion, GitCommit string }
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.GitVersion != version || info.GitCommit != commit {
		t.Errorf("kubectl zz version: %+v, want %s %s (%v):\n%s", info, version, commit, err, out)
	}

	// Completion: kubectl (1.26+) runs kubectl_complete-zz from PATH, which
	// the caveat says to link into krew's bin.
	if out, _ := kubectl("__complete", "zz", ""); strings.Contains(out, "deploy") {
		t.Fatalf("completion worked before kubectl_complete-zz was on PATH: the test proves nothing:\n%s", out)
	}
	helper := filepath.Join(krewRoot, "store", "zz", version, "kubectl_complete-zz")
	if err := os.Symlink(helper, filepath.Join(krewBin, "kubectl_complete-zz")); err != nil {
		t.Fatal(err)
	}
	out, err = kubectl("__complete", "zz", "")
	for _, sub := range []string{"deploy", "history", "rollback", "logs", "gpu", "version"} {
		if err != nil || !strings.Contains(out, "\n"+sub+"\t") && !strings.HasPrefix(out, sub+"\t") {
			t.Errorf("kubectl __complete zz '' lacks %q (%v):\n%s", sub, err, out)
		}
	}
	if out, err := kubectl("__complete", "zz", "version", "--output", ""); err != nil || !strings.Contains(out, "json\n") || !strings.Contains(out, "yaml\n") {
		t.Errorf("kubectl __complete zz version --output '' (%v):\n%s", err, out)
	}

	if out, err := kubectl("krew", "uninstall", "zz"); err != nil {
		t.Fatalf("krew uninstall: %v\n%s", err, out)
	}
	if out, _ := kubectl("plugin", "list"); strings.Contains(out, "kubectl-zz\n") {
		t.Errorf("kubectl-zz is still listed after krew uninstall:\n%s", out)
	}
}

// mustRun runs a command and returns its stdout; it fails the test on error.
func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

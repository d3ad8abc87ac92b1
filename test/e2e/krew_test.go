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
	rel := releaseTwice(t, tmp)
	k := newKrewHome(t, tmp)

	// krew checks the archive against the manifest's sha256.
	data, err := os.ReadFile(rel.archive)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(tmp, "bad.tar.gz")
	if err := os.WriteFile(bad, append(data, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := k.kubectl(t, "krew", "install", "--manifest="+rel.manifest, "--archive="+bad); err == nil || !strings.Contains(out, "checksum does not match") {
		t.Fatalf("krew installed an archive whose sha256 differs from the manifest's (%v):\n%s", err, out)
	}

	if out, err := k.kubectl(t, "krew", "install", "--manifest="+rel.manifest, "--archive="+rel.archive); err != nil {
		t.Fatalf("krew install: %v\n%s", err, out)
	}
	// kubectl plugin list exits non-zero on any warning (a shadowed plugin...).
	out, err := k.kubectl(t, "plugin", "list")
	if err != nil || !strings.Contains(out, filepath.Join(k.bin, "kubectl-zz")+"\n") {
		t.Fatalf("kubectl plugin list does not show the installed kubectl-zz (%v):\n%s", err, out)
	}
	out, err = k.kubectl(t, "zz", "--help")
	for _, sub := range []string{"deploy", "rollback", "logs", "gpu"} {
		if err != nil || !strings.Contains(out, sub) {
			t.Errorf("kubectl zz --help lacks %q (%v):\n%s", sub, err, out)
		}
	}
	out, err = k.kubectl(t, "zz", "version", "--client", "-o", "json")
	var info struct{ GitVersion, GitCommit string }
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info.GitVersion != rel.version || info.GitCommit != rel.commit {
		t.Errorf("kubectl zz version: %+v, want %s %s (%v):\n%s", info, rel.version, rel.commit, err, out)
	}

	checkCompletion(t, k, rel.version)

	// krew list and uninstall want a plugin index: a private one, a git
	// repository laid out as krew-index with the manifest in plugins/.
	index := filepath.Join(tmp, "index")
	if err := os.MkdirAll(filepath.Join(index, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(rel.manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(index, "plugins", "zz.yaml"), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	git := []string{"git", "-C", index, "-c", "user.name=zz", "-c", "user.email=zz@example.com"}
	mustRun(t, git[0], append(git[1:], "init", "-q")...)
	mustRun(t, git[0], append(git[1:], "add", ".")...)
	mustRun(t, git[0], append(git[1:], "commit", "-qm", "zz")...)
	if out, err := k.kubectl(t, "krew", "index", "add", "private", index); err != nil {
		t.Fatalf("krew index add: %v\n%s", err, out)
	}
	if out, err := k.kubectl(t, "krew", "list"); err != nil || !strings.Contains(out, "zz") {
		t.Errorf("kubectl krew list (%v):\n%s", err, out)
	}
	if out, err := k.kubectl(t, "krew", "uninstall", "zz"); err != nil {
		t.Fatalf("krew uninstall: %v\n%s", err, out)
	}
	if out, _ := k.kubectl(t, "plugin", "list"); strings.Contains(out, "kubectl-zz\n") {
		t.Errorf("kubectl-zz is still listed after krew uninstall:\n%s", out)
	}
}

type release struct{ version, commit, manifest, archive string }

// releaseTwice runs make release for linux/amd64 twice: the same commit must
// give the same archive, so the same manifest.
func releaseTwice(t *testing.T, tmp string) release {
	t.Helper()
	r := release{
		version: strings.TrimSpace(mustRun(t, filepath.Join(cluster.Root, "hack", "version.sh"))),
		commit:  strings.TrimSpace(mustRun(t, "git", "-C", cluster.Root, "rev-parse", "--short", "HEAD")),
	}
	var manifests [2][]byte
	for i, dir := range []string{"release", "again"} {
		dir = filepath.Join(tmp, dir)
		r.manifest = filepath.Join(dir, "zz.yaml")
		r.archive = filepath.Join(dir, "kubectl-zz_"+r.version+"_linux_amd64.tar.gz")
		mustRun(t, "make", "-s", "-C", cluster.Root, "release", "VERSION="+r.version,
			"RELEASE_PLATFORMS=linux/amd64", "RELEASE_DIR="+dir, "KREW_MANIFEST="+r.manifest)
		b, err := os.ReadFile(r.manifest)
		if err != nil {
			t.Fatal(err)
		}
		manifests[i] = b
	}
	if !bytes.Equal(manifests[0], manifests[1]) {
		t.Errorf("two releases of the same commit differ:\n%s\n---\n%s", manifests[0], manifests[1])
	}
	var plugin struct {
		Spec struct{ Version string } `json:"spec"`
	}
	if err := yaml.Unmarshal(manifests[1], &plugin); err != nil || plugin.Spec.Version != r.version {
		t.Fatalf("manifest version %q, want %q (%v)", plugin.Spec.Version, r.version, err)
	}
	return r
}

// krewHome is an empty KREW_ROOT and HOME, and a PATH of krew's bin, kubectl
// and kubectl-krew, and the system: not _output/bin, whose own kubectl-zz
// would shadow the installed one.
type krewHome struct {
	root, bin, tools string
	env              []string
}

func newKrewHome(t *testing.T, tmp string) *krewHome {
	t.Helper()
	k := &krewHome{root: filepath.Join(tmp, "krew"), tools: filepath.Join(tmp, "tools")}
	k.bin = filepath.Join(k.root, "bin")
	if err := os.Mkdir(k.tools, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"kubectl", "kubectl-krew"} {
		if _, err := os.Stat(cluster.Bin(b)); err != nil {
			t.Fatalf("%v: run hack/build-tools.sh", err)
		}
		if err := os.Symlink(cluster.Bin(b), filepath.Join(k.tools, b)); err != nil {
			t.Fatal(err)
		}
	}
	// KREW_NO_UPGRADE_CHECK: krew would ask GitHub for its latest release.
	k.env = []string{"PATH=" + k.bin + ":" + k.tools + ":/usr/bin:/bin", "HOME=" + tmp,
		"KREW_ROOT=" + k.root, "KREW_NO_UPGRADE_CHECK=1"}
	return k
}

// kubectl runs the cluster's kubectl in k; stdout and stderr together.
func (k *krewHome) kubectl(t *testing.T, args ...string) (string, error) {
	cmd := exec.CommandContext(t.Context(), filepath.Join(k.tools, "kubectl"), args...)
	cmd.Env = k.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkCompletion: kubectl (1.26+) completes a plugin by running
// kubectl_complete-<plugin> from PATH, which the caveat says to link into
// krew's bin.
func checkCompletion(t *testing.T, k *krewHome, version string) {
	t.Helper()
	if out, _ := k.kubectl(t, "__complete", "zz", ""); strings.Contains(out, "deploy") {
		t.Fatalf("completion worked before kubectl_complete-zz was on PATH: the test proves nothing:\n%s", out)
	}
	helper := filepath.Join(k.root, "store", "zz", version, "kubectl_complete-zz")
	if err := os.Symlink(helper, filepath.Join(k.bin, "kubectl_complete-zz")); err != nil {
		t.Fatal(err)
	}
	out, err := k.kubectl(t, "__complete", "zz", "")
	for _, sub := range []string{"deploy", "history", "rollback", "logs", "gpu", "version"} {
		if err != nil || !strings.Contains(out, "\n"+sub+"\t") && !strings.HasPrefix(out, sub+"\t") {
			t.Errorf("kubectl __complete zz '' lacks %q (%v):\n%s", sub, err, out)
		}
	}
	if out, err := k.kubectl(t, "__complete", "zz", "version", "--output", ""); err != nil || !strings.Contains(out, "json\n") || !strings.Contains(out, "yaml\n") {
		t.Errorf("kubectl __complete zz version --output '' (%v):\n%s", err, out)
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

package cli

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/deploy"
)

// TestVerdictPathPerIdentity: the drift verdicts of one cluster are kept
// apart per identity: contexts whose exec plugins differ only by their
// environment (EKS's AWS_PROFILE), and --as, get files of their own (a
// review: they shared one, so an admin read back verdicts judged with a
// weaker identity's rights); the same identity gets the same file.
func TestVerdictPathPerIdentity(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	const cfg = `apiVersion: v1
kind: Config
clusters:
- name: eks
  cluster: {server: https://eks.invalid}
users:
- name: dev
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: aws, args: [eks, get-token], interactiveMode: Never, env: [{name: AWS_PROFILE, value: dev}]}
- name: admin
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: aws, args: [eks, get-token], interactiveMode: Never, env: [{name: AWS_PROFILE, value: admin}]}
contexts:
- name: dev
  context: {cluster: eks, user: dev}
- name: admin
  context: {cluster: eks, user: admin}
current-context: dev
`
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	path := func(context, as string) string {
		f := genericclioptions.NewConfigFlags(false)
		f.KubeConfig, f.Context, f.CacheDir = ptr.To(kubeconfig), ptr.To(context), ptr.To(dir)
		if as != "" {
			f.Impersonate = ptr.To(as)
		}
		p := verdictPath(target{flags: f})
		if p == "" {
			t.Fatalf("no verdict file for context %s", context)
		}
		return p
	}
	dev, admin, asBob := path("dev", ""), path("admin", ""), path("admin", "bob")
	if dev == admin || admin == asBob || dev == asBob {
		t.Errorf("identities share a verdict file: dev %s, admin %s, admin --as bob %s", dev, admin, asBob)
	}
	if again := path("dev", ""); again != dev {
		t.Errorf("the same identity's file moved: %s, then %s", dev, again)
	}
}

// TestVerdictFileOfAnother: a verdict file that others may write is not
// read (a shared --cache-dir: another user could plant "no drift"); the
// one this user writes is, and only this user may read or write it.
func TestVerdictFileOfAnother(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zz", "drift", "v.json")
	if err := writeVerdicts(deploy.NewDriftJudge(), path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the verdict file: %v, mode %v; want 0600", err, fi.Mode())
	}
	if dir, err := os.Stat(filepath.Dir(path)); err != nil || dir.Mode().Perm() != 0o700 {
		t.Errorf("its folder: %v, mode %v; want 0700", err, dir.Mode())
	}
	if !loadVerdicts(deploy.NewDriftJudge(), path) {
		t.Error("this user's own file was not read")
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if loadVerdicts(deploy.NewDriftJudge(), path) {
		t.Error("a file others may write was read")
	}
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The release's two install assets, each checked like the overlays: the Helm
// chart (helm upgrade --install) and install.yaml (kubectl apply -f), built
// as make release builds them.

// helmBin is helm from hack/tools/helm (hack/build-tools.sh helm).
func helmBin(t *testing.T) string {
	t.Helper()
	bin := cluster.Bin("helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no helm in _output/bin (make tools builds it): %v", err)
	}
	return bin
}

// helm runs helm and returns its stdout; stderr (helm logs there, e.g. the
// chart's symlinked files) is in the error.
func helm(ctx context.Context, t *testing.T, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, helmBin(t), append([]string{"--kubeconfig", cluster.Kubeconfig}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// TestManifestsHelm installs the chart with helm and checks the installed
// objects work as the overlays' do. --take-ownership: other tests applied
// the same namespaces and RBAC with kubectl; an admin moving from the
// overlays to the chart does the same.
func TestManifestsHelm(t *testing.T) {
	chart := filepath.Join(cluster.Root, "manifests", "helm", "zz")
	// As helm install reads from this cluster: it serves
	// MutatingAdmissionPolicy (the chart renders zz-ephemeral-void where it
	// is served).
	out, err := helm(t.Context(), t, "template", "zz", chart, "--api-versions", "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy")
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	installAndCheck(t, "helm upgrade --install zz manifests/helm/zz", decodeObjects(t, out), func(ctx context.Context) (string, error) {
		return helm(ctx, t, "upgrade", "--install", "zz", chart, "--namespace", "default", "--take-ownership", "--timeout", "2m")
	})
}

// zzInstall builds hack/tools/helm's zz-install, as make release does.
func zzInstall(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zz-install")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(cluster.Root, "hack", "tools", "helm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build hack/tools/helm: %v\n%s", err, out)
	}
	return bin
}

// releaseInstallYAML writes the install.yaml of the manifests under root.
func releaseInstallYAML(t *testing.T, bin, root, version string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), bin, "-root", root, "-version", version, "-out", dir, "-chart=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zz-install: %v\n%s", err, out)
	}
	return filepath.Join(dir, "install.yaml")
}

// previousRelease extracts the manifests of the previous release: the git ref
// ZZ_PREVIOUS_RELEASE, else the newest v* tag, else the first commit that had
// manifests/overlays/default (no release is tagged yet).
func previousRelease(t *testing.T) (root, ref string) {
	t.Helper()
	git := func(args ...string) string {
		cmd := exec.CommandContext(t.Context(), "git", args...)
		cmd.Dir = cluster.Root
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	ref = os.Getenv("ZZ_PREVIOUS_RELEASE")
	if ref == "" {
		ref = git("describe", "--tags", "--abbrev=0", "--match", "v*")
	}
	if ref == "" {
		revs := strings.Fields(git("log", "--format=%H", "--reverse", "--", "manifests/overlays/default/kustomization.yaml"))
		if len(revs) == 0 {
			t.Skip("no previous release to upgrade from")
		}
		ref = revs[0]
	}
	root = t.TempDir()
	archive := exec.CommandContext(t.Context(), "bash", "-c", `git -C "$1" archive "$2" manifests | tar -x -C "$3"`, "_", cluster.Root, ref, root)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s manifests: %v\n%s", ref, err, out)
	}
	return root, ref
}

// TestManifestsInstallYAML upgrades from the previous release's install.yaml
// to this one's with kubectl apply: the apply succeeds, an app's running pods
// and its Deployment's revisions are untouched, and the result works like
// the overlays.
func TestManifestsInstallYAML(t *testing.T) {
	ctx := t.Context()
	bin := zzInstall(t)
	prevRoot, ref := previousRelease(t)
	prev := releaseInstallYAML(t, bin, prevRoot, "v0.0.1")
	// zz-install renders the previous release's manifests as make release
	// would have.
	if out, err := cluster.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-f", prev); err != nil {
		t.Fatalf("kubectl apply -f the install.yaml of %s: %v\n%s", ref, err, out)
	}
	prevObjs := decodeObjects(t, readFile(t, prev))
	t.Cleanup(func() { uninstallWorkloads(t, prevObjs) })

	// A running app, and its Deployment's revision history.
	ns := cluster.Namespace(t, nil)
	if out, err := cluster.Kubectl(ctx, "-n", ns, "create", "deployment", "app", "--image=registry.local/app:1", "--replicas=2"); err != nil {
		t.Fatal(err, out)
	}
	if out, err := cluster.Kubectl(ctx, "-n", ns, "set", "image", "deployment/app", "app=registry.local/app:2"); err != nil {
		t.Fatal(err, out)
	}
	running := func() map[string]string {
		t.Helper()
		var uids map[string]string
		cluster.WaitFor(t, 60*time.Second, "2 running pods of app", func(ctx context.Context) (bool, string, error) {
			pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=app"})
			if err != nil {
				return false, "", err
			}
			uids = map[string]string{}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && p.Spec.Containers[0].Image == "registry.local/app:2" {
					uids[p.Name] = string(p.UID)
				}
			}
			return len(uids) == 2 && len(pods.Items) == 2, "", nil
		})
		return uids
	}
	revisions := func() string {
		t.Helper()
		out, err := cluster.Kubectl(ctx, "-n", ns, "rollout", "history", "deployment/app")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	podsBefore, historyBefore := running(), revisions()

	cur := releaseInstallYAML(t, bin, cluster.Root, "v0.0.2")
	objs := decodeObjects(t, readFile(t, cur))
	first := true
	installAndCheck(t, "kubectl apply -f install.yaml (upgrade from "+ref+")", objs, func(ctx context.Context) (string, error) {
		if first {
			// A Job's template is immutable and the release changed the
			// certgen image: the documented upgrade step (README, Installing).
			if out, err := cluster.Kubectl(ctx, "-n", "zz-system", "delete", "job", "zz-webhook-certgen", "--ignore-not-found"); err != nil {
				return out, err
			}
		}
		out, err := cluster.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-f", cur)
		if first && err == nil {
			first = false
			if after := running(); !mapsEqual(after, podsBefore) {
				t.Errorf("the upgrade touched the app's pods: %v -> %v", podsBefore, after)
			}
			if h := revisions(); h != historyBefore {
				t.Errorf("the upgrade changed the app's revisions:\n%s\n->\n%s", historyBefore, h)
			}
		}
		return out, err
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

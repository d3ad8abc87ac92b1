package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManifests dry-runs every overlay under manifests/ against the real API
// server (hack/verify-manifests.sh), and checks the script catches a manifest
// the server rejects.
func TestManifests(t *testing.T) {
	run := func(dirs ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), filepath.Join(cluster.Root, "hack", "verify-manifests.sh"), dirs...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil {
		t.Fatalf("the shipped manifests are rejected: %v\n%s", err, out)
	}
	bad := t.TempDir()
	files := map[string]string{
		"kustomization.yaml": "resources: [deploy.yaml]\n",
		"deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: broken, namespace: default}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: x}]}
`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(bad, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := run(bad)
	if err == nil || !strings.Contains(out, "is rejected by the API server") || !strings.Contains(out, "selector") {
		t.Fatalf("a Deployment whose selector does not match its labels passed: %v\n%s", err, out)
	}
}

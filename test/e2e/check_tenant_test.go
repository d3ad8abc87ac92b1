package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckIgnoresTenantLookalikes: a namespace's edit user, with its own
// token, labels a Deployment and a DaemonSet of its namespace as zz's
// (app.kubernetes.io/part-of=zz), names them as zz's servers and points
// them at ConfigMaps of its own: a webhook policy, a scheduler
// configuration. The admin's kubectl zz check and version judge none of
// it: before, check showed the tenant's never-ready "extender" as a failed
// component, judged the tenant's ConfigMap as the webhook policy (telling
// the admin to edit it) and its scheduler configuration as zz-scheduler's
// (a hostile-tenant audit), and version listed them as zz's components.
func TestCheckIgnoresTenantLookalikes(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	tenant := editTenant(t, ns)
	manifest := `apiVersion: v1
kind: ConfigMap
metadata: {name: fake-policy}
data:
  policy.yaml: "pools: {}"
---
apiVersion: v1
kind: ConfigMap
metadata: {name: fake-scheduler}
data:
  cfg.yaml: "extenders: []"
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: zz-webhook, labels: {app.kubernetes.io/part-of: zz}}
spec:
  replicas: 1
  selector: {matchLabels: {app: lookalike}}
  template:
    metadata: {labels: {app: lookalike}}
    spec:
      nodeSelector: {e2e.zz.io/nowhere: "true"}
      containers:
      - name: zz-webhook
        image: registry.local/lookalike:1
        args: ["--policy-configmap=` + ns + `/fake-policy", "--config=/cfg/cfg.yaml"]
        volumeMounts: [{name: c, mountPath: /cfg}]
      volumes: [{name: c, configMap: {name: fake-scheduler}}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: gpu-device-plugin, labels: {app.kubernetes.io/part-of: zz}}
spec:
  selector: {matchLabels: {app: lookalike-dp}}
  template:
    metadata: {labels: {app: lookalike-dp}}
    spec:
      nodeSelector: {e2e.zz.io/nowhere: "true"}
      containers: [{name: p, image: registry.local/lookalike:1, args: ["--over-request=off"]}]
`
	file := filepath.Join(t.TempDir(), "lookalike.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectlAs(t.Context(), tenant, "-n", ns, "apply", "-f", file); err != nil {
		t.Fatalf("the tenant's apply: %v\n%s", err, out)
	}
	out, errOut, _ := zz(t, "", "check")
	if strings.Contains(out+errOut, ns+"/") {
		t.Errorf("kubectl zz check judged the tenant's look-alikes in %s as zz's:\n%s%s", ns, out, errOut)
	}
	out, errOut, err := zz(t, "", "version")
	if err != nil || strings.Contains(out+errOut, ns) {
		t.Errorf("kubectl zz version (%v) lists the tenant's look-alikes in %s:\n%s%s", err, ns, out, errOut)
	}
}

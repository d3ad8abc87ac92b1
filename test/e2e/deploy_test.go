package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/cli"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/syncbuf"
)

// zz runs kubectl zz in process against the test cluster and returns its
// stdout and stderr.
func zz(t *testing.T, ns string, args ...string) (string, string, error) {
	t.Helper()
	return zzRaw(t, append([]string{"--kubeconfig", cluster.Kubeconfig, "-n", ns}, args...)...)
}

func zzRaw(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := cli.NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// shopSpec writes an app spec and returns its path.
func shopSpec(t *testing.T, version, mode string, port int, pool string) string {
	t.Helper()
	spec := `apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: web
  image: registry.local/shop:` + version + `
  replicas: 2
  cpu: 100m
  memory: 64Mi
  port: ` + itoa(port) + `
  env: {MODE: ` + mode + `}
  configFiles: {app.conf: "mode=` + mode + `"}
`
	if pool != "" {
		spec += "  pool: " + pool + "\n"
	}
	return specFile(t, spec)
}

// specFile writes an app spec to a file of its own and returns its path.
func specFile(t *testing.T, spec string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zz.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func history(t *testing.T, ns string) []deploy.Revision {
	t.Helper()
	out, _, err := zz(t, ns, "history", "shop", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Items []deploy.Revision }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("history -o json: %v\n%s", err, out)
	}
	return list.Items
}

// checkApp asserts the live Deployment, Service and ConfigMap are those of
// version/mode/port, and the pods run that image.
func checkApp(t *testing.T, ns, version, mode string, port int32) {
	t.Helper()
	ctx := t.Context()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.local/shop:"+version || len(c.Env) != 1 || c.Env[0].Value != mode {
		t.Errorf("deployment runs %s with env %v, want version %s, MODE=%s", c.Image, c.Env, version, mode)
	}
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].Port != port {
		t.Errorf("service = %v, %v; want port %d", svc.Spec.Ports, err, port)
	}
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, d.Spec.Template.Spec.Volumes[0].ConfigMap.Name, metav1.GetOptions{})
	if err != nil || cm.Data["app.conf"] != "mode="+mode {
		t.Errorf("configmap = %v, %v; want mode=%s", cm.Data, err, mode)
	}
	for _, p := range cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 2, 60*time.Second) {
		if img := p.Spec.Containers[0].Image; img != "registry.local/shop:"+version {
			t.Errorf("pod %s runs %s, want version %s", p.Name, img, version)
		}
	}
}

// TestDeploy: deploy, the same spec again (nothing recorded), redeploy a
// new version, history shows 2, rollback
// restores image, env, Service and ConfigMap of revision 1 and records
// revision 3; then a deploy that never gets ready fails with the scheduler's
// reason and --rollback-on-failure restores revision 3.
func TestDeploy(t *testing.T) {
	ns := cluster.Namespace(t, nil)

	out, errOut, err := zz(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(out, "deployed as revision 1") {
		t.Fatalf("deploy v1: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "shop: 2/2 ready, 2/2 updated, 2 total") {
		t.Errorf("no final progress line on stderr:\n%s", errOut)
	}
	checkApp(t, ns, "1.0", "one", 8080)
	// The same spec again changes nothing: nothing applied, nothing recorded.
	out, errOut, err = zz(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(out, "shop 1.0 unchanged: revision 1 runs it already") || len(history(t, ns)) != 1 {
		t.Fatalf("deploy of the same spec: %v\n%s%s", err, out, errOut)
	}
	// Shell completion of app names, as the shell asks for it.
	out, _, err = zzRaw(t, "__complete", "--kubeconfig", cluster.Kubeconfig, "-n", ns, "rollback", "")
	if err != nil || !strings.HasPrefix(out, "shop\n") {
		t.Errorf("completion of rollback APP = %q, %v; want shop", out, err)
	}
	// The same through bash and the script kubectl zz completion bash
	// prints, as a user's shell runs it. Like kubectl's, the script needs the
	// bash-completion package's word splitter, not installed here: a minimal
	// one stands in (words as bash split them, no quoting), and compopt,
	// which works only inside a completion bash itself started, does nothing.
	bash := exec.CommandContext(t.Context(), "bash", "-c", `_get_comp_words_by_ref() {
  cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
}
compopt() { :; }
source <("$ZZ" completion bash)
COMP_WORDS=("$ZZ" --kubeconfig "$KC" -n "$NS" rollback "")
COMP_CWORD=6
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
__start_kubectl-zz
printf '%s\n' "${COMPREPLY[@]}"`)
	bash.Env = append(os.Environ(), "ZZ="+cluster.GoBuild(t, "./plugins/kubectl-zz"), "KC="+cluster.Kubeconfig, "NS="+ns)
	if got, err := bash.CombinedOutput(); err != nil || strings.TrimSpace(string(got)) != "shop" {
		t.Errorf("bash completion of kubectl-zz rollback APP = %q, %v; want shop", got, err)
	}

	out, errOut, err = zz(t, ns, "deploy", "-f", shopSpec(t, "2.0", "two", 9090, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(out, "deployed as revision 2") {
		t.Fatalf("deploy v2: %v\n%s%s", err, out, errOut)
	}
	checkApp(t, ns, "2.0", "two", 9090)
	if revs := history(t, ns); len(revs) != 2 || revs[0].Version != "1.0" || revs[1].Version != "2.0" {
		t.Fatalf("history after two deploys = %+v", revs)
	}

	out, errOut, err = zz(t, ns, "rollback", "shop", "--timeout", "60s")
	if err != nil || !strings.Contains(out, "recorded as revision 3") {
		t.Fatalf("rollback: %v\n%s%s", err, out, errOut)
	}
	checkApp(t, ns, "1.0", "one", 8080)
	revs := history(t, ns)
	if len(revs) != 3 || revs[2].Number != 3 || revs[2].ChangeCause != "rollback to revision 1" || revs[2].Image != "registry.local/shop:1.0" {
		t.Fatalf("history after rollback = %+v", revs)
	}

	t.Run("diff changes nothing", func(t *testing.T) {
		out, stderr, err := zz(t, ns, "deploy", "--diff", "-f", shopSpec(t, "1.0", "one", 8080, ""))
		if err != nil || out != "" || !strings.Contains(stderr, "shop: no changes in namespace "+ns) {
			t.Fatalf("diff of the running spec: %v\n%s%s", err, out, stderr)
		}
		out, _, err = zz(t, ns, "deploy", "--diff", "-f", shopSpec(t, "2.0", "two", 9090, ""))
		if !errors.Is(err, cli.ErrDiffers) { // exit 1, as kubectl diff
			t.Fatalf("diff with differences: err = %v, want cli.ErrDiffers", err)
		}
		for _, want := range []string{"--- live Deployment/shop", "-        image: registry.local/shop:1.0", "+        image: registry.local/shop:2.0",
			"--- live Service/shop", "+    port: 9090", "--- live ConfigMap/shop-config-", "+  app.conf: mode=two"} {
			if !strings.Contains(out, want) {
				t.Errorf("diff lacks %q:\n%s", want, out)
			}
		}
		checkApp(t, ns, "1.0", "one", 8080)
		if revs := history(t, ns); len(revs) != 3 {
			t.Errorf("--diff changed the history: %d revisions", len(revs))
		}
	})

	t.Run("never ready, rollback on failure", func(t *testing.T) {
		start := time.Now()
		_, errOut, err := zz(t, ns, "deploy", "-f", shopSpec(t, "3.0", "three", 8080, "nowhere"), "--timeout", "8s", "--rollback-on-failure")
		if err == nil {
			t.Fatalf("a deploy whose pods cannot be scheduled succeeded:\n%s", errOut)
		}
		for _, want := range []string{"rollout failed", "not ready after 8s", "Unschedulable", "didn't match Pod's node affinity/selector", "rolled back to revision 3"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
		if !strings.Contains(errOut, "waiting: pod shop-") {
			t.Errorf("progress never named the stuck pod:\n%s", errOut)
		}
		if took := time.Since(start); took > 40*time.Second {
			t.Errorf("failed deploy took %s with --timeout 8s", took)
		}
		checkApp(t, ns, "1.0", "one", 8080)
		if revs := history(t, ns); len(revs) != 3 {
			t.Errorf("failed deploy changed the history: %+v", revs)
		}
	})
}

// TestDeployFailsWithReason: a first deploy that never gets ready exits with
// the reason and records nothing.
func TestDeployFailsWithReason(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	// events --watch of the namespace, open before the app exists: its
	// first events come before the watch knows its objects, and are
	// printed all the same (a scale audit: none of them was).
	var watchOut syncbuf.Buffer
	watchCtx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	watchRoot := cli.NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &watchOut, ErrOut: io.Discard})
	watchRoot.SetArgs([]string{"--kubeconfig", cluster.Kubeconfig, "-n", ns, "events", "--watch"})
	watchDone := make(chan error, 1)
	go func() { watchDone <- watchRoot.ExecuteContext(watchCtx) }()
	_, errOut, err := zz(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, "nowhere"), "--timeout", "5s")
	if err == nil || !strings.Contains(err.Error(), "not ready after 5s") || !strings.Contains(err.Error(), "Unschedulable: 0/") {
		t.Fatalf("err = %v\n%s", err, errOut)
	}
	if _, _, err := zz(t, ns, "rollback", "shop"); err == nil || !strings.Contains(err.Error(), "no recorded revisions") {
		t.Fatalf("rollback of an app never deployed: %v", err)
	}
	// status says why the app it left has no revision.
	if out, _, _ := zz(t, ns, "status", "shop"); !strings.Contains(out, "<none>(drifted)") || !strings.Contains(out, "shop runs what no revision records:") ||
		!strings.Contains(out, "no revision of the app is recorded: kubectl zz deploy records one once its rollout completes") {
		t.Errorf("kubectl zz status of an app whose first deploy failed:\n%s", out)
	}
	// kubectl zz events: the scheduler's warnings about the app's pods, and
	// the Deployment's scaling, from the real control plane.
	out, _, err := zz(t, ns, "events", "shop")
	for _, want := range []string{"LAST SEEN", "ScalingReplicaSet", "deployment/shop", "FailedScheduling", "pod/shop-", "didn't match Pod's node affinity/selector"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("kubectl zz events shop lacks %q: %v\n%s", want, err, out)
		}
	}
	if out, _, err := zz(t, ns, "events", "shop", "--types", "Warning"); err != nil || strings.Contains(out, "ScalingReplicaSet") || !strings.Contains(out, "FailedScheduling") {
		t.Errorf("kubectl zz events shop --types Warning: %v\n%s", err, out)
	}
	// -A: the same warnings, each line led by its namespace.
	out, _, err = zz(t, ns, "events", "shop", "-A", "--types", "Warning")
	found := false
	for _, l := range strings.Split(out, "\n") {
		found = found || strings.HasPrefix(l, ns+" ") && strings.Contains(l, "FailedScheduling")
	}
	if err != nil || !strings.HasPrefix(out, "NAMESPACE") || !found {
		t.Errorf("kubectl zz events shop -A lacks namespace %s's FailedScheduling: %v\n%s", ns, err, out)
	}
	cluster.WaitFor(t, 30*time.Second, "events --watch to print the new app's first events", func(context.Context) (bool, string, error) {
		s := watchOut.String()
		return strings.Contains(s, "deployment/shop") && strings.Contains(s, "FailedScheduling"), s, nil
	})
	stopWatch()
	if err := <-watchDone; err != nil {
		t.Errorf("events --watch ended with %v", err)
	}
}

// TestDeployInterrupted: Ctrl-C (SIGINT) on the kubectl-zz process while a
// deploy --rollback-on-failure waits for a rollout that cannot finish: as
// helm --atomic, the last revision is restored and the process says so,
// where it used to die at once and leave the app on an unrecorded spec.
func TestDeployInterrupted(t *testing.T) {
	ctx := t.Context()
	ns := cluster.Namespace(t, nil)
	if out, errOut, err := zz(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "90s"); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	var stderr syncbuf.Buffer
	cmd := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), "--kubeconfig", cluster.Kubeconfig, "-n", ns,
		"deploy", "-f", shopSpec(t, "2.0", "two", 8080, "nowhere"), "--rollback-on-failure", "--timeout", "3m")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 60*time.Second, "the deploy to wait for an unschedulable pod", func(context.Context) (bool, string, error) {
		return strings.Contains(stderr.String(), "Unschedulable"), stderr.String(), nil
	})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := cmd.Wait()
	t.Logf("kubectl zz deploy interrupted after %s (%v):\n%s", time.Since(start).Round(time.Millisecond), err, stderr.String())
	for _, want := range []string{"interrupted while waiting for " + ns + "/shop", "rolling back shop to revision 1 (1.0)", "rolled back to revision 1 (1.0)"} {
		if err == nil || !strings.Contains(stderr.String(), want) {
			t.Errorf("the interrupted deploy's stderr lacks %q (exit: %v)", want, err)
		}
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != "registry.local/shop:1.0" {
		t.Errorf("shop after the interrupted deploy: %v %v; want registry.local/shop:1.0 restored", err, d.Spec.Template.Spec.Containers)
	}
	if out, _, _ := zz(t, ns, "status", "shop"); strings.Contains(out, "drifted") {
		t.Errorf("shop drifted after the restore:\n%s", out)
	}
}

// TestDeployNoWait: --wait=false returns once the objects are applied and
// the revision recorded, as kubectl apply does, though no pod can run; the
// app's status shows the rollout still going; a deploy that waits then
// fixes it.
func TestDeployNoWait(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	start := time.Now()
	out, errOut, err := zz(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, "nowhere"), "--wait=false", "--timeout", "10m")
	if err != nil || !strings.Contains(out, "shop 1.0 deployed as revision 1 in namespace "+ns+"; its rollout goes on (--wait=false): the same command without --wait=false waits for it (exit 1 if it fails), kubectl zz status -w shop -n "+ns+" watches it") {
		t.Fatalf("deploy --wait=false: %v\n%s\n%s", err, out, errOut)
	}
	if waited := time.Since(start); waited > time.Minute {
		t.Errorf("deploy --wait=false took %v", waited)
	}
	out, _, err = zz(t, ns, "status", "shop")
	if err != nil || !regexp.MustCompile(`(?m)^shop +1 +1\.0 +\S+ +0/2 `).MatchString(out) {
		t.Errorf("kubectl zz status after deploy --wait=false: %v\n%s", err, out)
	}
	// A pipeline re-run mid-rollout records nothing more.
	out, _, err = zz(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, "nowhere"), "--wait=false")
	if err != nil || !strings.Contains(out, "shop 1.0 unchanged: revision 1 is it already") {
		t.Errorf("the same deploy --wait=false again: %v\n%s", err, out)
	}
	if out, _, err := zz(t, ns, "deploy", "-f", shopSpec(t, "1.1", "one", 8080, ""), "--timeout", "90s"); err != nil || !strings.Contains(out, "shop 1.1 deployed as revision 2") {
		t.Fatalf("a deploy that waits, after: %v\n%s", err, out)
	}
	// The pipeline's gate: the same spec deployed waiting follows revision
	// 3's rollout, and with --rollback-on-failure returns to revision 2,
	// the one before the failing one (it re-applied revision 3 itself).
	// A pool no node carries is said at once, and in the wait's reason.
	if _, errOut, err := zz(t, ns, "deploy", "-f", shopSpec(t, "1.2", "one", 8080, "nowhere"), "--wait=false"); err != nil ||
		!strings.Contains(errOut, "warning: spec.pool nowhere: no node in context") {
		t.Fatalf("deploy 1.2 --wait=false: %v\n%s", err, errOut)
	}
	_, errOut, err = zz(t, ns, "deploy", "-f", shopSpec(t, "1.2", "one", 8080, "nowhere"), "--timeout", "15s", "--rollback-on-failure")
	if err == nil || !strings.Contains(errOut, "rolling back shop to revision 2 (1.1)") || !strings.Contains(errOut, "rolled back to revision 2 (1.1)") ||
		!strings.Contains(errOut, "spec.pool nowhere places pods only on nodes labelled zz.io/pool=nowhere") {
		t.Errorf("the same deploy waiting, with --rollback-on-failure: %v\n%s", err, errOut)
	}
	if d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err != nil || d.Spec.Template.Spec.Containers[0].Image != "registry.local/shop:1.1" {
		t.Errorf("shop after the rollback on failure: %v; want registry.local/shop:1.1 running", err)
	}
}

// TestDeployMultiContext: --context one,two deploys the same app to two
// contexts (here two namespaces of the test cluster) and reports each.
func TestDeployMultiContext(t *testing.T) {
	ns1, ns2 := cluster.Namespace(t, nil), cluster.Namespace(t, nil)
	cfg, err := clientcmd.LoadFromFile(cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	current := cfg.Contexts[cfg.CurrentContext]
	// alias reaches what one does: a second name of one cluster.
	for name, ns := range map[string]string{"one": ns1, "two": ns2, "alias": ns1} {
		c := current.DeepCopy()
		c.Namespace = ns
		cfg.Contexts[name] = c
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := zzRaw(t, "--kubeconfig", kubeconfig, "--context", "one,two",
		"deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "60s")
	if err != nil {
		t.Fatalf("multi-context deploy: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"in context one, namespace " + ns1, "in context two, namespace " + ns2} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "[one] shop: 2/2 ready") || !strings.Contains(errOut, "[two] shop: 2/2 ready") {
		t.Errorf("progress is not reported per context:\n%s", errOut)
	}
	for _, ns := range []string{ns1, ns2} {
		checkApp(t, ns, "1.0", "one", 8080)
		if revs := history(t, ns); len(revs) != 1 {
			t.Errorf("namespace %s has %d revisions, want 1", ns, len(revs))
		}
	}
	// Two names of one cluster and namespace act once, saying so: the second
	// failed on the first's lock, every run.
	out, errOut, err = zzRaw(t, "--kubeconfig", kubeconfig, "--context", "one,alias",
		"deploy", "-f", shopSpec(t, "1.1", "one", 8080, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(errOut, "contexts one and alias reach the same cluster") || strings.Count(out, "deployed as revision 2") != 1 {
		t.Errorf("deploy to one,alias: %v\n%s%s", err, out, errOut)
	}
	if out, _, err := zzRaw(t, "--kubeconfig", kubeconfig, "--context", "one,alias", "status", "shop"); err != nil || len(regexp.MustCompile(`(?m)^shop `).FindAllString(out, -1)) != 1 {
		t.Errorf("status of one,alias lists the app once: %v\n%s", err, out)
	}

	_, _, err = zzRaw(t, "--kubeconfig", kubeconfig, "--context", "one,two",
		"deploy", "-f", shopSpec(t, "2.0", "two", 8080, "nowhere"), "--timeout", "5s")
	if err == nil || !strings.Contains(err.Error(), "failed in 2 of 2 contexts") || !strings.Contains(err.Error(), "context two: rollout failed") {
		t.Fatalf("multi-context deploy that cannot be scheduled: %v", err)
	}
}

// TestRollbackFailureKeepsRunningVersion: a rollback whose pods cannot be
// created (here a ResourceQuota leaves no room for revision 1's bigger pods)
// fails with the controller's reason, re-applies the running revision and
// records nothing.
func TestRollbackFailureKeepsRunningVersion(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	for _, v := range []struct{ version, memory string }{{"1.0", "64Mi"}, {"2.0", "32Mi"}} {
		spec := strings.Replace(readFile(t, shopSpec(t, v.version, "one", 8080, "")), "memory: 64Mi", "memory: "+v.memory, 1)
		path := filepath.Join(t.TempDir(), "zz.yaml")
		if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, errOut, err := zz(t, ns, "deploy", "-f", path, "--timeout", "60s"); err != nil {
			t.Fatalf("deploy %s: %v\n%s%s", v.version, err, out, errOut)
		}
	}
	// Two 32Mi pods run; one more 64Mi pod of revision 1 does not fit.
	cluster.Quota(t, ns, "memory", corev1.ResourceList{
		corev1.ResourceLimitsMemory: resource.MustParse("100Mi"), corev1.ResourceRequestsMemory: resource.MustParse("100Mi"),
	}, corev1.ResourceList{corev1.ResourceLimitsMemory: resource.MustParse("64Mi")})

	_, errOut, err := zz(t, ns, "rollback", "shop", "--to-revision", "1", "--timeout", "8s")
	if err == nil {
		t.Fatalf("rollback into a full quota succeeded:\n%s", errOut)
	}
	t.Logf("the expected error:\n%v", err)
	for _, want := range []string{"rollback of shop to revision 1", "not ready after 8s", "exceeded quota", "rolled back to revision 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	d := cluster.WaitForRollout(t, ns, "shop", 60*time.Second)
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.local/shop:2.0" {
		t.Errorf("running image after the failed rollback = %s, want 2.0", img)
	}
	for _, p := range cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 2, 60*time.Second) {
		if img := p.Spec.Containers[0].Image; img != "registry.local/shop:2.0" {
			t.Errorf("pod %s runs %s after the failed rollback", p.Name, img)
		}
	}
	if revs := history(t, ns); len(revs) != 2 {
		t.Errorf("failed rollback was recorded: %+v", revs)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConcurrentDeploy: a deploy waits for pods that cannot be scheduled;
// a namespace developer's deploy and scale of the same app are refused at
// once by the app's lock, naming its holder, and change nothing; a restart
// by kubectl changes the template under the waiting deploy, which stops at
// once, names the other writer, records nothing, and does not roll back
// (--rollback-on-failure), which would undo the other's change. The lock
// goes with it: the developer's deploy then goes through.
func TestConcurrentDeploy(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	if out, errOut, err := zz(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "60s"); err != nil {
		t.Fatalf("deploy v1: %v\n%s%s", err, out, errOut)
	}
	// waiting starts a deploy of version that can never be ready, and
	// returns once its Deployment runs that version.
	waiting := func(version string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, _, err := zz(t, ns, "deploy", "-f", shopSpec(t, version, "stuck", 8080, "nowhere"), "--timeout", "90s", "--rollback-on-failure")
			done <- err
		}()
		cluster.WaitFor(t, 30*time.Second, "deploy of "+version+" applied", func(ctx context.Context) (bool, string, error) {
			d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			img := d.Spec.Template.Spec.Containers[0].Image
			return img == "registry.local/shop:"+version, img, nil
		})
		return done
	}
	stopped := func(done <-chan error, want string) {
		t.Helper()
		select {
		case err := <-done:
			if !errors.Is(err, deploy.ErrSuperseded) || !strings.Contains(err.Error(), want) {
				t.Fatalf("the waiting deploy: %v\nwant %q", err, want)
			}
			t.Logf("the waiting deploy stopped with: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("the waiting deploy still waits 30 s after another writer changed its Deployment")
		}
	}

	restart := func() {
		t.Helper()
		patch := `{"spec":{"template":{"metadata":{"annotations":{"` + contract.AnnotationRestartedAt + `":"` + time.Now().Format(time.RFC3339Nano) + `"}}}}}`
		if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(t.Context(), "shop", types.StrategicMergePatchType, []byte(patch),
			metav1.PatchOptions{FieldManager: "kubectl-rollout"}); err != nil {
			t.Fatal(err)
		}
	}
	dev := editTenant(t, ns)
	asDev := func(args ...string) (string, string, error) {
		return zzRaw(t, append([]string{"--kubeconfig", dev.kubeconfig, "-n", ns}, args...)...)
	}

	done := waiting("3.0")
	for _, args := range [][]string{{"deploy", "-f", shopSpec(t, "2.0", "two", 8080, ""), "--timeout", "60s"}, {"scale", "shop", "--replicas", "3"}} {
		out, errOut, err := asDev(args...)
		if !errors.Is(err, deploy.ErrLocked) || !strings.Contains(err.Error(), "shop is being changed by ") || !strings.Contains(err.Error(), " (kubectl zz deploy) since ") {
			t.Fatalf("%s beside the waiting deploy: %v\n%s%s", args[0], err, out, errOut)
		}
	}
	if d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err != nil ||
		d.Spec.Template.Spec.Containers[0].Image != "registry.local/shop:3.0" || *d.Spec.Replicas != 2 {
		t.Fatalf("a refused command changed the Deployment: %v", err)
	}
	restart()
	stopped(done, "the pod template of deployment "+ns+"/shop was changed by kubectl-rollout at ")
	// Revision 3: the superseded deploy stamped 2 on its ReplicaSet, and a
	// number a ReplicaSet claims is not used again.
	out, errOut, err := asDev("deploy", "-f", shopSpec(t, "2.0", "two", 8080, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(out, "deployed as revision 3") {
		t.Fatalf("the developer's deploy v2 once the lock was gone: %v\n%s%s", err, out, errOut)
	}
	if _, err := cluster.Client.CoordinationV1().Leases(ns).Get(t.Context(), deploy.LockName("shop"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the lock outlived its deploy: %v", err)
	}
	checkApp(t, ns, "2.0", "two", 8080)
	if revs := history(t, ns); len(revs) != 2 || revs[1].Version != "2.0" {
		t.Fatalf("history = %+v, want revisions 1.0 and 2.0", revs)
	}
	if out, _, err := zz(t, ns, "status", "shop"); err != nil || strings.Contains(out, "drifted") {
		t.Errorf("status after the second deploy recorded what runs: %v\n%s", err, out)
	}

	done = waiting("4.0")
	restart()
	stopped(done, "the pod template of deployment "+ns+"/shop was changed by kubectl-rollout at ")
	if revs := history(t, ns); len(revs) != 2 {
		t.Errorf("a superseded deploy was recorded: %+v", revs)
	}
	// A port someone adds to the app's Service is drift too.
	if _, err := cluster.Client.CoreV1().Services(ns).Patch(t.Context(), "shop", types.StrategicMergePatchType,
		[]byte(`{"spec":{"ports":[{"name":"debug","port":9999,"targetPort":9999}]}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	// What runs now is in no record, and written outside kubectl zz: status says so.
	out, _, err = zz(t, ns, "status", "shop")
	for _, want := range []string{"3(drifted)", "shop has drifted from its latest revision:", "service shop: its spec was changed by kubectl-edit at ",
		"deployment shop was applied by a kubectl zz command that recorded no revision",
		// Its 4.0 pods cannot be scheduled: the 2.0 ones serve ("(1/2 pods
		// updated)", or "(not yet seen by the Deployment controller)" just
		// after the restart).
		"its template asks for version 4.0, image registry.local/shop:4.0 (", "), not revision 3; the ready pods run 2.0",
		"deployment shop: its pod template was changed by kubectl-rollout at "} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("status lacks %q: %v\n%s", want, err, out)
		}
	}
	// The next deploy runs what it records: the annotation kubectl-rollout
	// wrote into the pod template (server-side apply would keep it) is gone;
	// --diff shows that first.
	out, _, err = zz(t, ns, "deploy", "--diff", "-f", shopSpec(t, "5.0", "five", 8080, ""))
	if !errors.Is(err, cli.ErrDiffers) || !strings.Contains(out, "-        "+contract.AnnotationRestartedAt+": ") || !strings.Contains(out, "-    port: 9999") {
		t.Errorf("deploy --diff over the drift: %v\n%s", err, out)
	}
	out, errOut, err = zz(t, ns, "deploy", "-f", shopSpec(t, "5.0", "five", 8080, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(errOut, "deployment shop: removed from its pod template what was written by kubectl-rollout at ") ||
		!strings.Contains(errOut, "service shop: removed from its spec what was written by kubectl-edit at ") {
		t.Fatalf("deploy v5 over the drift: %v\n%s%s", err, out, errOut)
	}
	if svc, err := cluster.Client.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err != nil || len(svc.Spec.Ports) != 1 || svc.Spec.ClusterIP == "" {
		t.Errorf("the Service after deploy v5: %v, %+v", err, svc.Spec)
	}
	checkApp(t, ns, "5.0", "five", 8080)
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if _, ok := d.Spec.Template.Annotations[contract.AnnotationRestartedAt]; err != nil || ok {
		t.Errorf("the pod template after deploy v5: %v, annotations %v", err, d.Spec.Template.Annotations)
	}
	if out, _, err := zz(t, ns, "status", "shop"); err != nil || strings.Contains(out, "drifted") {
		t.Errorf("status after deploy v5: %v\n%s", err, out)
	}
	underZZName(t, ns, dev, shopSpec(t, "5.0", "five", 8080, ""))
	orphanedInTwoUpdates(t, ns, dev, shopSpec(t, "5.0", "five", 8080, ""))
}

// orphanedInTwoUpdates: a namespace editor makes the Service's externalIPs
// owned by no managed-fields entry in two updates: a patch that writes
// them, then a patch of managedFields without that write's entry (the
// apiserver keeps the entries an update sends). No entry owns them, the
// rendered Service lacks them, and a dry-run create of it does not hold
// them (not a default): the next deploy of the same spec takes them back
// and says so; the one after says unchanged.
func orphanedInTwoUpdates(t *testing.T, ns string, dev identity, file string) {
	t.Helper()
	ctx := t.Context()
	if out, err := kubectlAs(ctx, dev, "-n", ns, "patch", "service", "shop", "--field-manager=tenant", "-p", `{"spec":{"externalIPs":["203.0.113.9"]}}`); err != nil {
		t.Fatalf("kubectl patch as the namespace's editor: %v\n%s", err, out)
	}
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kept := slices.DeleteFunc(svc.ManagedFields, func(e metav1.ManagedFieldsEntry) bool { return e.Manager == "tenant" })
	patch, err := json.Marshal([]map[string]any{{"op": "replace", "path": "/metadata/managedFields", "value": kept}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := kubectlAs(ctx, dev, "-n", ns, "patch", "service", "shop", "--field-manager=tenant", "--type=json", "-p", string(patch)); err != nil {
		t.Fatalf("kubectl patch of managedFields as the namespace's editor: %v\n%s", err, out)
	}
	if svc, err = cluster.Client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{}); err != nil || len(svc.Spec.ExternalIPs) == 0 {
		t.Fatalf("the Service after the two updates: %v, %+v", err, svc.Spec)
	}
	for _, e := range svc.ManagedFields {
		if strings.Contains(string(e.FieldsV1.Raw), "externalIPs") {
			t.Fatalf("externalIPs still owned by %s (%s): the apiserver did not keep the entries sent", e.Manager, e.Operation)
		}
	}
	statusShowsDrift(t, ns, "service shop: its spec was changed by a writer whose managed-fields entry is gone, outside kubectl zz: spec.externalIPs")
	out, errOut, err := zz(t, ns, "deploy", "-f", file, "--timeout", "60s")
	if err != nil || strings.Contains(out, "unchanged") ||
		!strings.Contains(errOut, "service shop: removed from its spec what was written by a writer whose managed-fields entry is gone") {
		t.Fatalf("deploy after externalIPs owned by no entry: %v\n%s%s", err, out, errOut)
	}
	if svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{}); err != nil || len(svc.Spec.ExternalIPs) != 0 || svc.Spec.ClusterIP == "" {
		t.Errorf("the Service after the deploy: %v, %+v", err, svc.Spec)
	}
	t.Logf("deploy after externalIPs owned by no entry:\n%s%s", out, errOut)
	if out, errOut, err = zz(t, ns, "deploy", "-f", file, "--timeout", "60s"); err != nil || !strings.Contains(out, "unchanged") || strings.Contains(errOut, "removed from") {
		t.Errorf("the deploy after: %v\n%s%s", err, out, errOut)
	}
	if out, _, err := zz(t, ns, "status", "shop"); err != nil || strings.Contains(out, "drifted") || strings.Contains(out, "judged by field manager name") {
		t.Errorf("status after the deploy took the orphaned externalIPs back: %v\n%s", err, out)
	}
}

// TestOrphanJudgedAtQuota: in a namespace at its ResourceQuota's object
// counts (its one LoadBalancer Service, its one Deployment: the app's own),
// the dry-run create that judges fields no managed-fields entry owns is
// refused as one object more; the judge asks a dry-run update in place of
// the live object instead, which the quota does not charge. So a tenant's
// externalIPs orphaned in two updates are still judged by content: status
// says drifted, naming them, with no note that it judged by name (the
// Deployment's pod template, whose defaults are always asked about, too),
// and the next deploy takes them back (orphanedInTwoUpdates).
func TestOrphanJudgedAtQuota(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	ctx := t.Context()
	file := specFile(t, `apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: web
  image: registry.local/shop:1.0
  replicas: 1
  cpu: 100m
  memory: 64Mi
  port: 8080
  service: {type: LoadBalancer}
`)
	if out, errOut, err := zz(t, ns, "deploy", "-f", file, "--timeout", "60s"); err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	// The quota controller counts the app's own first; until then the
	// quota admits nothing it has not counted.
	cluster.Quota(t, ns, "full", corev1.ResourceList{
		corev1.ResourceServicesLoadBalancers: resource.MustParse("1"),
		corev1.ResourceServices:              resource.MustParse("1"),
		"count/deployments.apps":             resource.MustParse("1"),
	}, corev1.ResourceList{corev1.ResourceServicesLoadBalancers: resource.MustParse("1"), "count/deployments.apps": resource.MustParse("1")})
	// The namespace is at its counts: a dry-run create of the app's
	// Service is refused (what the judge asked before), a Forbidden that
	// says "exceeded quota": the text internal/deploy's quotaRefused tells
	// it by (the admission gives no reason), pinned here on a real apiserver.
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	another := &corev1.Service{ObjectMeta: metav1.ObjectMeta{GenerateName: "shop-"}, Spec: corev1.ServiceSpec{Type: svc.Spec.Type, Selector: svc.Spec.Selector, Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, another, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota") {
		t.Fatalf("a dry-run create of a Service at the quota: %v, want refused by the quota", err)
	}
	if out, _, err := zz(t, ns, "status", "shop"); err != nil || strings.Contains(out, "drifted") || strings.Contains(out, "judged by field manager name") {
		t.Errorf("status at the quota, before any write: %v\n%s", err, out)
	}
	orphanedInTwoUpdates(t, ns, editTenant(t, ns), file)
}

// statusReady checks that kubectl zz status -o json says app is Ready and
// has not drifted from its latest revision.
func statusReady(t *testing.T, ns, app, when string) {
	t.Helper()
	out, errOut, err := zz(t, ns, "status", app, "-o", "json")
	var st struct {
		Items []struct {
			Health string
			Drift  []string
		}
	}
	if err == nil {
		err = json.Unmarshal([]byte(out), &st)
	}
	if err != nil || len(st.Items) != 1 || st.Items[0].Health != string(deploy.HealthReady) || len(st.Items[0].Drift) > 0 {
		t.Errorf("status %s: %v, want Ready without drift\n%s%s", when, err, out, errOut)
	}
}

// statusShowsDrift checks that kubectl zz status shop says the app drifted
// and names wants, judged by content (no note that it judged by name).
func statusShowsDrift(t *testing.T, ns string, wants ...string) {
	t.Helper()
	out, errOut, err := zz(t, ns, "status", "shop")
	if err != nil || !strings.Contains(out, "(drifted)") || !strings.Contains(out, "shop has drifted from its latest revision:") || strings.Contains(out, "judged by field manager name") {
		t.Errorf("status: %v\n%s%s", err, out, errOut)
		return
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("status lacks %q:\n%s", w, out)
		}
	}
	t.Logf("status:\n%s", out)
}

// underZZName: a namespace editor who writes under kubectl zz's own field
// manager name is not taken for kubectl zz (a tenant audit): kubectl patch
// --field-manager=kubectl-zz (an Update) adding the Service's externalIPs
// (CVE-2020-8554's vector) and an env var to the pod template, then a
// deploy of the same spec (file), which removes both and says so; the
// deploy after says unchanged. A server-side apply under that name
// replaces kubectl zz's apply entry: the next deploy's apply removes what
// only it owned.
func underZZName(t *testing.T, ns string, dev identity, file string) {
	t.Helper()
	ctx := t.Context()
	for _, args := range [][]string{
		{"patch", "service", "shop", "--field-manager=kubectl-zz", "-p", `{"spec":{"externalIPs":["203.0.113.7"]}}`},
		{"patch", "deployment", "shop", "--field-manager=kubectl-zz", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"MITM","value":"1"}]}]}}}}`},
	} {
		if out, err := kubectlAs(ctx, dev, append([]string{"-n", ns}, args...)...); err != nil {
			t.Fatalf("kubectl %s as the namespace's editor: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// status says so before the deploy takes them back, as the deploy
	// judges them: by content, not by the manager's name.
	statusShowsDrift(t, ns, "service shop: its spec was changed under kubectl zz's field manager name (kubectl-zz, Update) at ",
		"outside kubectl zz: spec.externalIPs", "deployment shop: its pod template was changed under kubectl zz's field manager name (kubectl-zz, Update) at ",
		`spec.template.spec.containers[name="app"].env`)
	out, _, err := zz(t, ns, "deploy", "--diff", "-f", file)
	if !errors.Is(err, cli.ErrDiffers) || !strings.Contains(out, "203.0.113.7") || !strings.Contains(out, "MITM") {
		t.Errorf("deploy --diff after writes under kubectl zz's name: %v\n%s", err, out)
	}
	out, errOut, err := zz(t, ns, "deploy", "-f", file, "--timeout", "60s")
	if err != nil || strings.Contains(out, "unchanged") ||
		!strings.Contains(errOut, "service shop: removed from its spec what was written under kubectl zz's field manager name (kubectl-zz, Update) at ") ||
		!strings.Contains(errOut, "deployment shop: removed from its pod template what was written under kubectl zz's field manager name (kubectl-zz, Update) at ") {
		t.Fatalf("deploy after writes under kubectl zz's name: %v\n%s%s", err, out, errOut)
	}
	noExternalIPs := func(when string) {
		t.Helper()
		if svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{}); err != nil || len(svc.Spec.ExternalIPs) != 0 || svc.Spec.ClusterIP == "" {
			t.Errorf("the Service %s: %v, %+v", when, err, svc.Spec)
		}
	}
	noExternalIPs("after the deploy")
	if d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{}); err != nil ||
		slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "MITM" }) {
		t.Errorf("the pod template after the deploy: %v, %+v", err, d.Spec.Template.Spec.Containers)
	}
	out, errOut, err = zz(t, ns, "deploy", "-f", file, "--timeout", "60s")
	if err != nil || !strings.Contains(out, "unchanged") || strings.Contains(errOut, "removed from") {
		t.Errorf("the deploy after: %v\n%s%s", err, out, errOut)
	}
	// A server-side apply under kubectl zz's name replaces kubectl zz's
	// apply entry: what kubectl zz renders, and externalIPs (what the
	// entry leaves out goes: the Service's ports, its labels).
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "shop", "labels": svc.Labels, "annotations": svc.Annotations},
		"spec": map[string]any{"ports": svc.Spec.Ports, "selector": svc.Spec.Selector, "externalIPs": []string{"203.0.113.8"}}})
	if err != nil {
		t.Fatal(err)
	}
	applied := filepath.Join(t.TempDir(), "svc.json")
	if err := os.WriteFile(applied, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectlAs(ctx, dev, "-n", ns, "apply", "--server-side", "--force-conflicts", "--field-manager=kubectl-zz", "-f", applied); err != nil {
		t.Fatalf("server-side apply under kubectl zz's name: %v\n%s", err, out)
	}
	statusShowsDrift(t, ns, "service shop: its spec was changed under kubectl zz's field manager name (kubectl-zz, Apply) at ",
		"spec.externalIPs, which kubectl zz's apply of revision ")
	if out, errOut, err = zz(t, ns, "deploy", "-f", file, "--timeout", "60s"); err != nil || strings.Contains(out, "unchanged") {
		t.Fatalf("deploy after an apply under kubectl zz's name: %v\n%s%s", err, out, errOut)
	}
	noExternalIPs("after an apply under kubectl zz's name and a deploy")
	t.Logf("deploy after an apply under kubectl zz's name:\n%s%s", out, errOut)
}

// TestGPUAppAnyNamespace: a GPU app deployed into a namespace the zz webhook
// does not serve is placed by zz-scheduler all the same (its pod template
// names it), with its cards chosen; it used to wait on the default
// scheduler for good ("Insufficient zz.io/gpu-mem", a GPU-user audit).
func TestGPUAppAnyNamespace(t *testing.T) {
	startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	spec := filepath.Join(t.TempDir(), "infer.yaml")
	if err := os.WriteFile(spec, []byte("apiVersion: zz.io/v1\nkind: App\nname: infer\nspec:\n  type: worker\n  image: registry.local/infer:1.0\n  replicas: 1\n  cpu: 100m\n  memory: 64Mi\n  gpuMem: 2Gi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--timeout", "90s"); err != nil {
		t.Fatalf("deploy of a GPU app in a namespace the webhook does not serve: %v\n%s%s", err, out, errOut)
	}
	for _, p := range cluster.RunningPods(t, ns, contract.LabelApp+"=infer", 1, 60*time.Second) {
		if p.Spec.SchedulerName != contract.SchedulerName || p.Annotations[contract.AnnotationGPUIndexes] == "" {
			t.Errorf("pod %s: scheduler %q, cards %q; want zz-scheduler's choice", p.Name, p.Spec.SchedulerName, p.Annotations[contract.AnnotationGPUIndexes])
		}
	}
	// An app of the GPU pool that no card holds waits for cards, and is told
	// so: the CPU nodes its pool turns away are no reason to doubt the pool
	// (a GPU audit was told "spec.pool gpu places pods only on nodes
	// labelled zz.io/pool=gpu: ... or leave spec.pool out").
	huge := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(huge, []byte("apiVersion: zz.io/v1\nkind: App\nname: huge\nspec:\n  type: worker\n  image: registry.local/infer:1.0\n  replicas: 1\n  cpu: 100m\n  memory: 64Mi\n  pool: gpu\n  gpuMem: 100Gi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := zz(t, ns, "deploy", "-f", huge, "--timeout", "15s")
	if err == nil || !strings.Contains(errOut, "never fits here, even empty") || !strings.Contains(errOut, "didn't match Pod's node affinity/selector") ||
		strings.Contains(errOut, "spec.pool") {
		t.Errorf("deploy of a GPU app no card holds: %v\n%s%s\nwant the extender's reasons and no word of spec.pool", err, out, errOut)
	}
}

// TestDeployBesideOtherTools: a GitOps controller applying kubectl zz
// deploy --dry-run's output shares every field with kubectl zz, which is
// no drift; kubectl expose copies the app's labels onto a Service kubectl
// zz never wrote, which no deploy prunes and no delete takes (a GitOps
// audit saw the app drifted for good, a copy recorded at each deploy, and
// the Service deleted).
func TestDeployBesideOtherTools(t *testing.T) {
	ctx := t.Context()
	ns := cluster.Namespace(t, nil)
	v1 := shopSpec(t, "1.0", "one", 8080, "")
	// The GitOps way: the rendered objects, applied by the controller, then
	// kubectl zz deploy records the revision.
	objs, _, err := zz(t, ns, "deploy", "-f", v1, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "objects.yaml")
	if err := os.WriteFile(file, []byte(objs), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cluster.Kubectl(ctx, "-n", ns, "apply", "--server-side", "--field-manager=argocd", "-f", file); err != nil {
		t.Fatalf("argocd's apply: %v\n%s", err, out)
	}
	if out, errOut, err := zz(t, ns, "deploy", "-f", v1, "--timeout", "60s"); err != nil || strings.Contains(errOut, "removed from") {
		t.Fatalf("deploy v1 over argocd's objects: %v\n%s%s", err, out, errOut)
	}
	if out, err := cluster.Kubectl(ctx, "-n", ns, "expose", "deployment", "shop", "--name", "shop-public", "--port", "80", "--target-port", "8080"); err != nil {
		t.Fatalf("kubectl expose: %v\n%s", err, out)
	}
	if out, _, err := zz(t, ns, "status", "shop"); err != nil || strings.Contains(out, "drifted") {
		t.Errorf("status beside argocd's apply of the same objects: %v\n%s", err, out)
	}
	out, errOut, err := zz(t, ns, "deploy", "-f", v1, "--timeout", "60s")
	if err != nil || !strings.Contains(out, "unchanged") || strings.Contains(errOut, "removed from") {
		t.Errorf("deploy of the same spec beside argocd: %v\n%s%s", err, out, errOut)
	}
	// A new config: the old ConfigMap (its name is its content's) is pruned
	// and said so; the exposed Service stays.
	out, errOut, err = zz(t, ns, "deploy", "-f", shopSpec(t, "2.0", "two", 8080, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(errOut, "pruned: this revision does not have it") || strings.Contains(errOut, "service shop-public") {
		t.Errorf("deploy v2: %v\n%s%s", err, out, errOut)
	}
	if revs := history(t, ns); len(revs) != 2 {
		t.Errorf("history = %+v, want revisions 1.0 and 2.0", revs)
	}
	if _, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop-public", metav1.GetOptions{}); err != nil {
		t.Fatalf("kubectl expose's Service after deploy v2: %v", err)
	}
	// The controller forces another image, and kubectl edit raises the
	// revision history limit: the next deploy of the same spec sets both
	// back, and says which fields and whose they were (it said nothing).
	forced := filepath.Join(t.TempDir(), "image.yaml")
	if err := os.WriteFile(forced, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shop}\nspec:\n  selector: {matchLabels: {zz.io/app: shop}}\n"+
		"  template:\n    metadata: {labels: {zz.io/app: shop}}\n    spec: {containers: [{name: app, image: registry.local/shop:9.9}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cluster.Kubectl(ctx, "-n", ns, "apply", "--server-side", "--field-manager=argocd", "--force-conflicts", "-f", forced); err != nil {
		t.Fatalf("argocd's apply of another image: %v\n%s", err, out)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(ctx, "shop", types.MergePatchType, []byte(`{"spec":{"revisionHistoryLimit":25}}`),
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = zz(t, ns, "deploy", "-f", shopSpec(t, "2.0", "two", 8080, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(errOut, `deployment shop: set back what was changed outside kubectl zz: spec.template.spec.containers[name="app"].image (changed by argocd at `) ||
		!strings.Contains(errOut, "; spec.revisionHistoryLimit (changed by kubectl-edit at ") {
		t.Errorf("deploy v2 over argocd's image and an edit: %v\n%s%s", err, out, errOut)
	}
	if d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{}); err != nil ||
		d.Spec.Template.Spec.Containers[0].Image != "registry.local/shop:2.0" || *d.Spec.RevisionHistoryLimit == 25 {
		t.Errorf("the Deployment after the deploy: %v", err)
	}
	// An HPA another tool made scales the app: --diff of the same spec
	// agrees with the deploy, which keeps the HPA's replicas.
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "shop-hpa"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](3), MaxReplicas: 5,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop"}}}
	if _, err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(ctx, "shop", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`),
		metav1.PatchOptions{FieldManager: "kube-controller-manager"}); err != nil {
		t.Fatal(err)
	}
	if out, _, err := zz(t, ns, "deploy", "--diff", "-f", shopSpec(t, "2.0", "two", 8080, "")); err != nil {
		t.Errorf("deploy --diff of the same spec under another's HPA: %v\n%s", err, out)
	}
	if err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Delete(ctx, "shop-hpa", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = zz(t, ns, "delete", "shop", "--yes")
	if err != nil || !strings.Contains(errOut, "and leave Service/shop-public: they carry the app's labels, but kubectl zz did not write them") {
		t.Errorf("delete: %v\n%s%s", err, out, errOut)
	}
	if _, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop-public", metav1.GetOptions{}); err != nil {
		t.Errorf("kubectl expose's Service after delete: %v", err)
	}

	// A Helm chart's Service of the app's name, its port named http on 80:
	// --adopt makes it the app's (server-side apply alone merged the ports
	// into two named http, which the apiserver refused).
	helm := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{contract.LabelK8sManagedBy: "Helm"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "shop"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if _, err := cluster.Client.CoreV1().Services(ns).Create(ctx, helm, metav1.CreateOptions{FieldManager: "helm"}); err != nil {
		t.Fatal(err)
	}
	// And its Deployment (kubectl zz's selector, its own container) and
	// PodDisruptionBudget, for a spec with pdb.
	helmDeploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{contract.LabelK8sManagedBy: "Helm"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "shop"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{contract.LabelApp: "shop"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "registry.local/nginx:1.27"}}}}}}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, helmDeploy, metav1.CreateOptions{FieldManager: "helm"}); err != nil {
		t.Fatal(err)
	}
	helmPDB := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{contract.LabelK8sManagedBy: "Helm"}},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "shop"}}}}
	if _, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, helmPDB, metav1.CreateOptions{FieldManager: "helm"}); err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(v1)
	if err != nil {
		t.Fatal(err)
	}
	v1 = specFile(t, string(spec)+"  pdb: true\n")
	// Its preview shows the take-over (exit 1: a change; the budget's
	// dry-run update was refused for want of a resourceVersion), where
	// without --adopt the deploy is refused (exit 2).
	out, errOut, err = zz(t, ns, "deploy", "-f", v1, "--adopt", "--diff")
	if !errors.Is(err, cli.ErrDiffers) || !strings.Contains(out, "--- live Service/shop") || !strings.Contains(out, "+    port: 8080") ||
		!strings.Contains(out, "--- live PodDisruptionBudget/shop") || !strings.Contains(out, "--- live Deployment/shop") {
		t.Errorf("deploy --adopt --diff over Helm's Service, Deployment and budget: %v\n%s%s", err, out, errOut)
	}
	if _, _, err := zz(t, ns, "deploy", "-f", v1, "--diff"); err == nil || errors.Is(err, cli.ErrDiffers) || !strings.Contains(err.Error(), "deploy --adopt takes it over") {
		t.Errorf("deploy --diff over Helm's Service without --adopt: %v", err)
	}
	// The take-over says no take-back: it named its own update, which put
	// the rendered part in place, as a writer outside kubectl zz.
	if out, errOut, err := zz(t, ns, "deploy", "-f", v1, "--adopt", "--timeout", "60s"); err != nil || strings.Contains(errOut, "removed from its") {
		t.Fatalf("deploy --adopt over Helm's objects: %v\n%s%s", err, out, errOut)
	}
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Labels[contract.LabelK8sManagedBy] != contract.ManagedBy {
		t.Errorf("the adopted Service: %v, ports %+v, labels %v", err, svc.Spec.Ports, svc.Labels)
	}
}

// TestDeploySpecFields: Secrets mounted as files are accepted by the
// apiserver as rendered (a key the Secret lacks warned before the rollout),
// and so are scratch directories beside a read-only root (emptyDirs in the
// app and init containers, one in memory at /dev/shm), a memory one larger
// than spec.memory refused by the CLI before anything is applied;
// an app deployed first with an hpa starts at hpa.min: the deploy waits for
// 3 ready pods, not the apiserver's default 1; a LoadBalancer Service gets
// its node ports, and a deploy back to ClusterIP drops them.
func TestDeploySpecFields(t *testing.T) {
	ctx := t.Context()
	ns := cluster.Namespace(t, nil)
	if _, err := cluster.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vault-tls"},
		Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	spec := specFile(t, `apiVersion: zz.io/v1
kind: App
name: vault
spec:
  type: web
  image: registry.local/vault:1.0
  cpu: 100m
  memory: 64Mi
  hpa: {min: 3, max: 6}
  initCommand: [/app/migrate, up]
  secretFiles:
  - {secret: vault-tls, mountPath: /etc/tls}
  - {secret: vault-tls, mountPath: /etc/ca, keys: [ca.crt]}
  securityContext: {runAsUser: 10001, readOnlyRootFilesystem: true}
  scratch:
  - {mountPath: /tmp, size: 1Gi}
  - {mountPath: /dev/shm, memory: true, size: 32Mi}
`)
	out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--set", "spec.scratch=[{mountPath: /tmp, size: 1Gi}, {mountPath: /dev/shm, memory: true, size: 128Mi}]", "--timeout", "30s")
	want := "spec.scratch[1].size: 128Mi is not less than spec.memory 64Mi, which a memory scratch directory's files count against: filled, it would leave the app no memory; use a smaller size, raise spec.memory"
	if err == nil || !strings.Contains(errOut, want) {
		t.Errorf("deploy of a memory scratch above spec.memory: %v, want it refused with %q\n%s%s", err, want, out, errOut)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "vault", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused spec was applied: %v", err)
	}
	out, errOut, err = zz(t, ns, "deploy", "-f", spec, "--timeout", "90s")
	if err != nil {
		t.Fatalf("deploy: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, `warning: secret "vault-tls" has no key "ca.crt" (spec.secretFiles[1])`) {
		t.Errorf("no warning for the missing key:\n%s", errOut)
	}
	if !strings.Contains(errOut, "vault: 3/3 ready") {
		t.Errorf("the first deploy did not wait for hpa.min's 3 pods:\n%s", errOut)
	}
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=vault", 3, 60*time.Second)
	got := map[string]string{}
	for _, m := range pods[0].Spec.Containers[0].VolumeMounts {
		if m.ReadOnly {
			got[m.MountPath] = m.Name
		}
	}
	vols := map[string]*corev1.SecretVolumeSource{}
	for _, v := range pods[0].Spec.Volumes {
		vols[v.Name] = v.Secret
	}
	if in := pods[0].Spec.InitContainers; len(in) != 1 || in[0].Command[0] != "/app/migrate" || len(in[0].VolumeMounts) < 2 {
		t.Errorf("init containers %+v, want initCommand's with the app's mounts", in)
	}
	tls, ca := vols[got["/etc/tls"]], vols[got["/etc/ca"]]
	if tls == nil || tls.SecretName != "vault-tls" || len(tls.Items) != 0 || ca == nil || len(ca.Items) != 1 || ca.Items[0].Key != "ca.crt" {
		t.Errorf("pod mounts %v, volumes %v; want vault-tls whole at /etc/tls and its ca.crt at /etc/ca", got, vols)
	}
	checkScratch(t, pods[0])

	service := func(set string) *corev1.Service {
		t.Helper()
		args := []string{"deploy", "-f", spec, "--timeout", "60s"}
		if set != "" {
			args = append(args, "--set", set)
		}
		if out, errOut, err := zz(t, ns, args...); err != nil {
			t.Fatalf("deploy --set %s: %v\n%s%s", set, err, out, errOut)
		}
		svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "vault", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	lb := service("spec.service={type: LoadBalancer, port: 443, externalTrafficPolicy: Local, loadBalancerSourceRanges: [10.0.0.0/8]}")
	if lb.Spec.Type != corev1.ServiceTypeLoadBalancer || lb.Spec.Ports[0].NodePort == 0 || lb.Spec.HealthCheckNodePort == 0 ||
		lb.Spec.Ports[0].Port != 443 || lb.Spec.Ports[0].TargetPort.StrVal != "http" {
		t.Errorf("service %+v: want a LoadBalancer on 443 to the container's http, with node ports", lb.Spec)
	}
	out, _, err = zz(t, ns, "status", "vault", "-o", "json")
	var st struct {
		Items []struct{ Endpoints []string }
	}
	if err == nil {
		err = json.Unmarshal([]byte(out), &st)
	}
	if err != nil || len(st.Items) != 1 || len(st.Items[0].Endpoints) == 0 || st.Items[0].Endpoints[0] != "<pending>:443" {
		t.Errorf("status endpoints: %v\n%s", err, out)
	}
	back := service("")
	if back.Spec.Type != corev1.ServiceTypeClusterIP || back.Spec.Ports[0].NodePort != 0 || back.Spec.HealthCheckNodePort != 0 || back.Spec.ClusterIP != lb.Spec.ClusterIP ||
		back.Spec.Ports[0].Port != 8080 {
		t.Errorf("service %+v: want the same ClusterIP Service on 8080 without node ports", back.Spec)
	}
}

// checkScratch: the pod carries vault's spec.scratch as emptyDirs, sized,
// /dev/shm in memory, mounted writable in the app and init containers.
func checkScratch(t *testing.T, pod corev1.Pod) {
	t.Helper()
	dirs := map[string]*corev1.EmptyDirVolumeSource{}
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir != nil {
			dirs[v.Name] = v.EmptyDir
		}
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers[0]) {
		at := map[string]*corev1.EmptyDirVolumeSource{}
		for _, m := range c.VolumeMounts {
			if d := dirs[m.Name]; d != nil && !m.ReadOnly {
				at[m.MountPath] = d
			}
		}
		tmp, shm := at["/tmp"], at["/dev/shm"]
		if len(at) != 2 || tmp == nil || tmp.Medium != "" || tmp.SizeLimit.String() != "1Gi" ||
			shm == nil || shm.Medium != corev1.StorageMediumMemory || shm.SizeLimit.String() != "32Mi" {
			t.Errorf("container %s: emptyDirs %v; want /tmp (1Gi, disk) and /dev/shm (32Mi, Memory), writable", c.Name, at)
		}
	}
	if sc := pod.Spec.Containers[0].SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("app container's security context %+v, want a read-only root", sc)
	}
}

// TestDeveloperRole: the ClusterRole manifests/developer ships, bound in one
// namespace, runs every app command there with no Forbidden and no
// unlocked warning (a docs audit built a Role from the README's list and
// could not deploy: create and the lock's Leases were missing).
func TestDeveloperRole(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(cluster.Root, "manifests", "developer")
	if out, err := cluster.Kubectl(ctx, "apply", "-k", dir); err != nil {
		t.Fatalf("kubectl apply -k %s: %v\n%s", dir, err, out)
	}
	ns := cluster.Namespace(t, nil)
	dev := roleTenant(t, ns, "dev", "zz-app-developer")
	spec := specFile(t, `apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: web
  image: registry.local/shop:1.0
  cpu: 100m
  memory: 64Mi
  pdb: true
  configFiles: {app.conf: "mode=one"}
  ingress: {host: shop.example.com}
`)
	for _, args := range [][]string{
		{"deploy", "-f", spec, "--timeout", "60s"},
		{"scale", "shop", "--replicas", "3", "--timeout", "60s"},
		{"deploy", "-f", spec, "--timeout", "60s", "--set", "spec.hpa={min: 2, max: 4}", "--set", "spec.env={MODE: two}"},
		{"status", "shop"},
		{"list"},
		{"history", "shop"},
		{"diff", "shop", "--revision", "1"},
		{"restart", "shop", "--timeout", "60s"},
		{"events", "shop"},
		{"logs", "shop", "--tail", "1", "--no-follow"},
		{"rollback", "shop", "--timeout", "60s"},
		{"deploy", "-f", spec, "--canary", "1", "--timeout", "60s"},
		{"abort", "shop", "--timeout", "60s"},
		{"delete", "shop", "--yes"},
	} {
		out, errOut, err := zzRaw(t, append([]string{"--kubeconfig", dev.kubeconfig, "-n", ns}, args...)...)
		if errors.Is(err, cli.ErrDiffers) {
			err = nil // diff's exit 1: the revisions differ
		}
		if err != nil || strings.Contains(strings.ToLower(errOut), "forbidden") || strings.Contains(errOut, "without its lock") {
			t.Errorf("kubectl zz %s as the developer: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
	}
	// --fit reads the cluster: refused with the role to ask for, which,
	// bound, lets it answer.
	if _, _, err := zzRaw(t, "--kubeconfig", dev.kubeconfig, "-n", ns, "gpu", "--fit", "1Gi"); err == nil || !strings.Contains(err.Error(), "may bind ClusterRole zz-gpu-viewer") {
		t.Errorf("gpu --fit as the developer: %v", err)
	}
	if _, err := cluster.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-gpu-viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "zz-gpu-viewer"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "dev", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.RbacV1().ClusterRoleBindings().Delete(context.Background(), ns+"-gpu-viewer", metav1.DeleteOptions{})
	})
	cluster.WaitFor(t, 30*time.Second, "gpu --fit to answer with zz-gpu-viewer bound", func(context.Context) (bool, string, error) {
		out, errOut, err := zzRaw(t, "--kubeconfig", dev.kubeconfig, "-n", ns, "gpu", "--fit", "1Gi")
		return err == nil && strings.Contains(errOut, "fits"), out + errOut, nil
	})
}

// TestInitFrom: an app deployed with kubectl apply (a Deployment, its
// Service, an HPA on CPU, a ConfigMap mounted as files) moves to kubectl
// zz: init --from writes its spec and says what it leaves, deploy --adopt
// takes the objects over, and the pods read the same files; status shows
// the app Ready, not drifted.
func TestInitFrom(t *testing.T) {
	ctx := t.Context()
	ns := cluster.Namespace(t, nil)
	c := cluster.Client
	sel := map[string]string{contract.LabelApp: "legacy"}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "legacy-cfg"},
		Data: map[string]string{"app.yaml": "level: info\n"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Labels: sel},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "registry.local/legacy:2.0",
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					Env:            []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
					Resources:      corev1.ResourceRequirements{Requests: res, Limits: res},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}},
					VolumeMounts:   []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/legacy"}}}},
				Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "legacy-cfg"}}}}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "legacy"},
			MinReplicas: ptr.To(int32(2)), MaxReplicas: 4, Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
					Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(60))}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.RunningPods(t, ns, contract.LabelApp+"=legacy", 2, 60*time.Second)

	out, errOut, err := zz(t, ns, "init", "--from", "deployment/legacy")
	if err != nil {
		t.Fatalf("init --from: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "warning: not carried over: volume cfg: ConfigMap legacy-cfg itself") {
		t.Errorf("init did not say the ConfigMap stays:\n%s", errOut)
	}
	for _, want := range []string{"type: web", "healthPath: /healthz", "cpuPercent: 60", "app.yaml: |", "configDir: /etc/legacy", "MODE: prod", "port: 80"} {
		if !strings.Contains(out, want) {
			t.Errorf("the spec has no %q:\n%s", want, out)
		}
	}
	spec := specFile(t, out)
	if out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--adopt", "--timeout", "90s"); err != nil {
		t.Fatalf("deploy --adopt: %v\n%s%s", err, out, errOut)
	}
	statusReady(t, ns, "legacy", "after the adopt")
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=legacy", 2, 60*time.Second)
	var cm string
	for _, v := range pods[0].Spec.Volumes {
		if v.ConfigMap != nil {
			cm = v.ConfigMap.Name
		}
	}
	if !strings.HasPrefix(cm, "legacy-config-") {
		t.Fatalf("the adopted pods mount ConfigMap %q; want kubectl zz's legacy-config-<hash>", cm)
	}
	got, err := c.CoreV1().ConfigMaps(ns).Get(ctx, cm, metav1.GetOptions{})
	if err != nil || got.Data["app.yaml"] != "level: info\n" {
		t.Errorf("ConfigMap %s: %v, %v; want legacy-cfg's files", cm, err, got.Data)
	}
	if svc, err := c.CoreV1().Services(ns).Get(ctx, "legacy", metav1.GetOptions{}); err != nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 {
		t.Errorf("service after the adopt: %v, %+v; want port 80 still", err, svc.Spec.Ports)
	}
	hpa, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "legacy", metav1.GetOptions{})
	// 60% of the app container's CPU (100m), as kubectl zz renders it.
	if err != nil || len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].ContainerResource == nil ||
		hpa.Spec.Metrics[0].ContainerResource.Target.AverageValue.String() != "60m" || ptr.Deref(hpa.Spec.MinReplicas, 0) != 2 {
		t.Errorf("hpa after the adopt: %v, %+v; want min 2 and 60m CPU", err, hpa.Spec)
	}
	// A second deploy of the same spec changes nothing and records nothing.
	if out, errOut, err := zz(t, ns, "deploy", "-f", spec, "--timeout", "60s"); err != nil || !strings.Contains(out+errOut, "unchanged") {
		t.Errorf("deploy again: %v\n%s%s", err, out, errOut)
	}
}

// TestDeployLatestPullsAlways: an app that moves from a version tag to
// :latest pulls at every start, as the deploy's warning promises (kubectl
// zz restart pulls the tag again): the apiserver defaults the pull policy
// by the tag only when the Deployment is created, and server-side apply
// kept IfNotPresent from 1.0 under :latest (an app-developer audit). Back
// on a version tag, the policy is the apiserver's default again.
func TestDeployLatestPullsAlways(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	policy := func() corev1.PullPolicy {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].ImagePullPolicy
	}
	for _, step := range []struct {
		version string
		want    corev1.PullPolicy
	}{{"1.0", corev1.PullIfNotPresent}, {"latest", corev1.PullAlways}, {"1.1", corev1.PullIfNotPresent}} {
		mustZZ(t, ns, "deploy", "-f", shopSpec(t, step.version, "one", 8080, ""), "--timeout", "60s")
		if got := policy(); got != step.want {
			t.Errorf("image registry.local/shop:%s: imagePullPolicy %s, want %s", step.version, got, step.want)
		}
	}
}

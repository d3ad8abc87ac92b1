package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/cli"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/syncbuf"
)

// replicasOf is the live Deployment's replicas.
func replicasOf(t *testing.T, c kubernetes.Interface, ns, name string) int32 {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

func mustZZ(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, errOut, err := zz(t, ns, args...)
	if err != nil {
		t.Fatalf("kubectl zz %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// TestDay2ScaleRestartRollback: scale and restart are revisions on the real
// cluster; history, diff and history --revision show them; a rollback to the
// first revision restores its replicas; an HPA makes scale refuse.
func TestDay2ScaleRestartRollback(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	mustZZ(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "60s")

	// --dry-run (kubectl scale's) shows the change, as a server-side dry
	// run, and records nothing.
	out, _, err := zz(t, ns, "scale", "shop", "--replicas", "4", "--dry-run=server")
	if !errors.Is(err, cli.ErrDiffers) || !strings.Contains(out, "-  replicas: 2") || !strings.Contains(out, "+  replicas: 4") {
		t.Fatalf("scale --dry-run=server: %v\n%s", err, out)
	}
	if n := replicasOf(t, cluster.Client, ns, "shop"); n != 2 || len(history(t, ns)) != 1 {
		t.Fatalf("scale --dry-run changed the app: replicas %d, %d revisions", n, len(history(t, ns)))
	}

	_, errOut, err := zz(t, ns, "scale", "shop", "--replicas", "4", "--timeout", "60s")
	if err != nil {
		t.Fatalf("scale: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "shop: 4/4 ready, 4/4 updated, 4 total") {
		t.Errorf("scale shows no deploy progress line:\n%s", errOut)
	}
	if n := replicasOf(t, cluster.Client, ns, "shop"); n != 4 {
		t.Fatalf("replicas after scale = %d", n)
	}
	cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 4, 60*time.Second)

	before := map[string]bool{}
	for _, p := range cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 4, 60*time.Second) {
		before[p.Name] = true
	}
	if out := mustZZ(t, ns, "restart", "shop", "--timeout", "60s"); !strings.Contains(out, "shop restarted, recorded as revision 3") {
		t.Fatalf("restart: %s", out)
	}
	cluster.WaitFor(t, 60*time.Second, "every pod replaced", func(ctx context.Context) (bool, string, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"})
		if err != nil {
			return false, "", err
		}
		old := 0
		for _, p := range pods.Items {
			if before[p.Name] {
				old++
			}
		}
		return old == 0 && len(pods.Items) == 4, strconv.Itoa(old) + " old pods left of " + strconv.Itoa(len(pods.Items)), nil
	})

	revs := history(t, ns)
	var causes []string
	for _, r := range revs {
		causes = append(causes, r.ChangeCause)
	}
	if got := strings.Join(causes, "|"); got != "deploy 1.0|scale to 4|restart" {
		t.Fatalf("change causes = %s", got)
	}

	// diff exits 1 with the replicas change, as diff does.
	out, _, err = zz(t, ns, "diff", "shop", "--revision", "1", "--to", "2")
	if err == nil || !strings.Contains(out, "-  replicas: 2") || !strings.Contains(out, "+  replicas: 4") {
		t.Fatalf("diff 1..2: %v\n%s", err, out)
	}
	if out, stderr, err := zz(t, ns, "diff", "shop", "--revision", "2", "--to", "2"); err != nil || out != "" || stderr != "shop: no changes in namespace "+ns+"\n" {
		t.Fatalf("diff 2..2: %v\n%s", err, out)
	}
	// The spec each revision ran from, as the user gave it: the scale's is
	// the file with 4 replicas, and diff --spec says just that.
	out = mustZZ(t, ns, "history", "shop", "--spec", "--revision", "2")
	if !strings.Contains(out, "replicas: 4") || !strings.Contains(out, "image: registry.local/shop:1.0") || strings.Contains(out, "version:") {
		t.Fatalf("history --spec --revision 2 (replicas 4, no version: the file has none):\n%s", out)
	}
	out, _, err = zz(t, ns, "diff", "shop", "--revision", "1", "--to", "2", "--spec")
	if !errors.Is(err, cli.ErrDiffers) || !strings.Contains(out, "-  replicas: 2") || !strings.Contains(out, "+  replicas: 4") || strings.Count(out, "\n+") != 2 {
		t.Fatalf("diff --spec 1..2: %v\n%s", err, out)
	}
	out = mustZZ(t, ns, "history", "shop", "--revision", "2", "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.name}={.spec.replicas} {end}")
	if !strings.Contains(out, "Deployment/shop=4") {
		t.Fatalf("history --revision 2: %s", out)
	}

	// --diff: what the rollback would change, changing nothing; exit 1 as
	// diff (the live Deployment runs revision 3: 4 replicas, restarted).
	out, _, err = zz(t, ns, "rollback", "shop", "--to-revision", "1", "--diff")
	if !errors.Is(err, cli.ErrDiffers) || !strings.Contains(out, "-  replicas: 4") || !strings.Contains(out, "+  replicas: 2") ||
		!strings.Contains(out, "-        kubectl.kubernetes.io/restartedAt:") {
		t.Fatalf("rollback --diff: %v\n%s", err, out)
	}
	if revs := history(t, ns); len(revs) != 3 || replicasOf(t, cluster.Client, ns, "shop") != 4 {
		t.Fatalf("rollback --diff changed something: %d revisions, %d replicas", len(revs), replicasOf(t, cluster.Client, ns, "shop"))
	}
	// -o: the app once rolled back, for a script to read the revision.
	out = mustZZ(t, ns, "rollback", "shop", "--to-revision", "1", "--timeout", "60s", "-o", "jsonpath={.items[0].revision} {.items[0].health} {.items[0].stable.ready}/{.items[0].stable.desired}")
	if out != "4 Ready 2/2" {
		t.Fatalf("rollback -o jsonpath: %q, want %q", out, "4 Ready 2/2")
	}
	if n := replicasOf(t, cluster.Client, ns, "shop"); n != 2 {
		t.Fatalf("replicas after rollback to revision 1 = %d, want 2", n)
	}
	cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 2, 60*time.Second)
	// The rollback recorded revision 1's spec; deployed again it changes
	// nothing on the cluster.
	spec := filepath.Join(t.TempDir(), "recorded.yaml")
	if err := os.WriteFile(spec, []byte(mustZZ(t, ns, "history", "shop", "--spec")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := zz(t, ns, "deploy", "-f", spec, "--diff"); err != nil || out != "" || stderr != "shop: no changes in namespace "+ns+"\n" {
		t.Fatalf("deploy --diff of the recorded spec: %v\n%s", err, out)
	}

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 5,
		},
	}
	if _, err := cluster.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := zz(t, ns, "scale", "shop", "--replicas", "3"); err == nil || !strings.Contains(err.Error(), "shop has a HorizontalPodAutoscaler, shop (2 to 5 replicas), that sets its replicas and that kubectl zz did not make") {
		t.Fatalf("scale with an HPA: %v", err)
	}
	if revs := history(t, ns); len(revs) != 4 {
		t.Fatalf("a refused scale was recorded: %d revisions", len(revs))
	}
}

// TestDay2Delete: delete removes the app's objects and revision records,
// keeps its volume claim (bound to a real PersistentVolume) unless
// --delete-data, and refuses without --yes off a terminal.
func TestDay2Delete(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			StorageClassName:       "zz-e2e-manual",
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + ns}},
			ClaimRef:               &corev1.ObjectReference{Namespace: ns, Name: "shop-data"},
		},
	}
	if _, err := cluster.Client.CoreV1().PersistentVolumes().Create(t.Context(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().PersistentVolumes().Delete(context.WithoutCancel(t.Context()), pv.Name, metav1.DeleteOptions{})
	})
	spec := readFile(t, shopSpec(t, "1.0", "one", 8080, "")) + "  pvc: {size: 1Gi, mountPath: /data, accessMode: ReadWriteMany, storageClass: zz-e2e-manual}\n"
	path := filepath.Join(t.TempDir(), "zz.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	mustZZ(t, ns, "deploy", "-f", path, "--timeout", "90s")
	mustZZ(t, ns, "deploy", "-f", path, "--image", "registry.local/shop:1.1", "--timeout", "90s")

	if _, _, err := zz(t, ns, "delete", "shop"); err == nil || !strings.Contains(err.Error(), "stdin is not a terminal; add --yes") {
		t.Fatalf("delete without --yes off a terminal: %v", err)
	}
	out := mustZZ(t, ns, "delete", "shop", "--dry-run")
	for _, want := range []string{"would delete Deployment/shop, Service/shop, ConfigMap/shop-config-", "Secret/zz.shop.r1, Secret/zz.shop.r2", "and keep PersistentVolumeClaim/shop-data"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if revs := history(t, ns); len(revs) != 2 {
		t.Fatalf("--dry-run deleted revisions: %d left", len(revs))
	}

	// --keep-history: the objects go, the records stay; status says the app
	// is Missing and how to bring it back, and rollback does, as revision 2
	// was (on the claim that was kept).
	if out := mustZZ(t, ns, "delete", "shop", "--yes", "--keep-history"); !strings.Contains(out, "kept revisions 1 to 2 (kubectl zz rollback shop brings revision 2 back)") {
		t.Fatalf("delete --keep-history: %s", out)
	}
	cluster.WaitFor(t, 60*time.Second, "the app's pods gone", func(ctx context.Context) (bool, string, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"})
		if err != nil {
			return false, "", err
		}
		return len(pods.Items) == 0, strconv.Itoa(len(pods.Items)) + " pods", nil
	})
	if out := mustZZ(t, ns, "status", "shop"); !strings.Contains(out, "Missing") || !strings.Contains(out, "kubectl zz rollback shop brings revision 2 back") {
		t.Fatalf("status after delete --keep-history:\n%s", out)
	}
	if out := mustZZ(t, ns, "rollback", "shop", "--timeout", "90s"); !strings.Contains(out, "revision 3") {
		t.Fatalf("rollback of the deleted app: %s", out)
	}
	cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 2, 60*time.Second)
	if d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err != nil || d.Spec.Template.Spec.Containers[0].Image != "registry.local/shop:1.1" {
		t.Fatalf("the app brought back: %v", err)
	}

	if out := mustZZ(t, ns, "delete", "shop", "--yes"); !strings.Contains(out, "shop deleted from namespace "+ns) || !strings.Contains(out, "kept PersistentVolumeClaim/shop-data") {
		t.Fatalf("delete: %s", out)
	}
	cluster.WaitFor(t, 60*time.Second, "the app's objects and pods gone", func(ctx context.Context) (bool, string, error) {
		left := []string{}
		secrets, err := cluster.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"})
		if err != nil {
			return false, "", err
		}
		for _, s := range secrets.Items {
			left = append(left, "Secret/"+s.Name)
		}
		for kind, list := range map[string]func() (int, error){
			"Deployment": func() (int, error) {
				l, err := cluster.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"Service": func() (int, error) {
				l, err := cluster.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"ConfigMap": func() (int, error) {
				l, err := cluster.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"})
				return len(l.Items), err
			},
			"Pod": func() (int, error) {
				l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
		} {
			n, err := list()
			if err != nil {
				return false, "", err
			}
			if n > 0 {
				left = append(left, strconv.Itoa(n)+" "+kind)
			}
		}
		return len(left) == 0, strings.Join(left, ", "), nil
	})
	pvc, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "shop-data", metav1.GetOptions{})
	if err != nil || pvc.Status.Phase != corev1.ClaimBound {
		t.Fatalf("the volume claim after delete: %v, %v (want kept and bound)", pvc.Status.Phase, err)
	}
	if _, _, err := zz(t, ns, "history", "shop"); err == nil || !strings.Contains(err.Error(), "no recorded revisions") {
		t.Fatalf("history after delete: %v", err)
	}
	if out := mustZZ(t, ns, "delete", "shop", "--yes", "--delete-data"); !strings.Contains(out, "(1 object)") {
		t.Fatalf("delete --delete-data: %s", out)
	}
	if _, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), "shop-data", metav1.GetOptions{}); err == nil {
		// The claim is deleted once nothing uses it (kubernetes.io/pvc-protection).
		cluster.WaitFor(t, 60*time.Second, "the claim deleted", func(ctx context.Context) (bool, string, error) {
			_, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "shop-data", metav1.GetOptions{})
			return err != nil, "still there", nil
		})
	}
}

// crashLoop writes what a kubelet writes for a container that keeps exiting
// with code 1 into pod's status (kwok plays the kubelet and never crashes a
// container by itself).
func crashLoop(t *testing.T, c kubernetes.Interface, pod *corev1.Pod) {
	t.Helper()
	p := pod.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	for i, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady || cond.Type == corev1.ContainersReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		// The kubelet keeps the crashed run's ID in containerID and in
		// lastState.terminated (kubectl logs reads that run from it).
		if cs.ContainerID == "" {
			cs.ContainerID = "kwok://" + p.Name + "-" + cs.Name
		}
		cs.Ready, cs.RestartCount = false, 3
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}}
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", StartedAt: now, FinishedAt: now,
			ContainerID: cs.ContainerID, Message: "open /etc/shop/config.yaml: no such file or directory\ngoroutine 1 [running]:"}}
	}
	if _, err := c.CoreV1().Pods(p.Namespace).UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestStatusExplainsStuckPods: a pod on its node whose containers never
// start (a volume that cannot be mounted) has no reason in its status;
// kubectl zz status says why from its latest Warning event, as kubectl
// describe pod does, instead of "phase Running on node ...".
func TestStatusExplainsStuckPods(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	mustZZ(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "60s")
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=shop", 2, 60*time.Second)
	p := pods[0].DeepCopy()
	for i, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady || cond.Type == corev1.ContainersReady {
			p.Status.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	for i := range p.Status.ContainerStatuses {
		p.Status.ContainerStatuses[i].Ready = false
		p.Status.ContainerStatuses[i].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	}
	if _, err := cluster.Client.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: p.Name + "-", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, Namespace: ns, UID: p.UID},
		Type:           corev1.EventTypeWarning, Reason: "FailedMount", Count: 3, FirstTimestamp: now, LastTimestamp: now,
		Message: `MountVolume.SetUp failed for volume "db" : secret "db" not found`, Source: corev1.EventSource{Component: "kubelet", Host: p.Spec.NodeName}}
	if _, err := cluster.Client.CoreV1().Events(ns).Create(t.Context(), ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "pod " + p.Name + `: FailedMount: MountVolume.SetUp failed for volume "db" : secret "db" not found`
	cluster.WaitFor(t, 30*time.Second, "status explaining the stuck pod", func(context.Context) (bool, string, error) {
		out, stderr, err := zz(t, ns, "status", "shop")
		if err != nil {
			return false, stderr + err.Error(), nil
		}
		return strings.Contains(out, want), out, nil
	})
}

// TestDay2Status: status and list on the real cluster: a ready app, an app
// whose pods the scheduler cannot place (its message), one with a
// crash-looping pod (exit code), -o json, and --watch printing a change.
func TestDay2Status(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	mustZZ(t, ns, "deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "60s")
	// Its own PodDisruptionBudget (maxUnavailable 1): none may go while a
	// pod crash-loops, so node drains wait for it.
	crashSpec := strings.ReplaceAll(readFile(t, shopSpec(t, "1.0", "one", 8080, "")), "shop", "crash") + "  pdb: true\n"
	path := filepath.Join(t.TempDir(), "crash.yaml")
	if err := os.WriteFile(path, []byte(crashSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	mustZZ(t, ns, "deploy", "-f", path, "--timeout", "60s")
	stuck := strings.ReplaceAll(readFile(t, shopSpec(t, "1.0", "one", 8080, "nowhere")), "shop", "stuck")
	path = filepath.Join(t.TempDir(), "stuck.yaml")
	if err := os.WriteFile(path, []byte(stuck), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := zz(t, ns, "deploy", "-f", path, "--timeout", "3s"); err == nil {
		t.Fatal("deploy of an app no node can run succeeded")
	}
	// A rollout that cannot finish: stale 1.0 runs, its 2.0 asks for a
	// pool no node is in, so the new pod stays Pending and the 1.0 pods
	// serve (an incident audit read "VERSION 2.0, READY 2/2" as 2.0
	// serving). The failed deploy leaves 2.0 applied and unrecorded.
	staleSpec := func(version, pool string) string {
		path := filepath.Join(t.TempDir(), "stale.yaml")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(readFile(t, shopSpec(t, version, "one", 8080, pool)), "shop", "stale")), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mustZZ(t, ns, "deploy", "-f", staleSpec("1.0", ""), "--timeout", "60s")
	if _, _, err := zz(t, ns, "deploy", "-f", staleSpec("2.0", "nowhere"), "--timeout", "3s"); err == nil {
		t.Fatal("deploy of a version no node can run succeeded")
	}
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=crash", 2, 60*time.Second)
	crashLoop(t, cluster.Client, &pods[0])
	// The ReplicaSet and Deployment controllers count the pod unready a
	// moment later; status reads their counts.
	cluster.WaitFor(t, 30*time.Second, "the crash Deployment at 1 ready", func(ctx context.Context) (bool, string, error) {
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "crash", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return d.Status.ReadyReplicas == 1, strconv.Itoa(int(d.Status.ReadyReplicas)) + " ready", nil
	})
	cluster.WaitFor(t, 30*time.Second, "the disruption controller to see crash's budget allow none", func(ctx context.Context) (bool, string, error) {
		b, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "crash", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return b.Status.ObservedGeneration >= b.Generation && b.Status.DisruptionsAllowed == 0 && b.Status.CurrentHealthy == 1,
			fmt.Sprintf("%+v", b.Status), nil
	})

	out := squash(mustZZ(t, ns, "status"))
	t.Logf("kubectl zz status:\n%s", out)
	for _, want := range []string{
		"crash 1 1.0 registry.local/crash:1.0 1/2 2/2 3 (", "s ago) - Degraded", // RESTARTS: 3 (Ns ago)
		"shop 1 1.0 registry.local/shop:1.0 2/2 2/2 0 - Ready",
		"stuck <none>(drifted) 1.0 registry.local/stuck:1.0 0/2 2/2 0 - Degraded", "stuck runs what no revision records:",
		"crash is Degraded:\n  pod " + pods[0].Name + ": CrashLoopBackOff: container app exited with code 1 (Error), restarted 3 times: open /etc/shop/config.yaml: no such file or directory",
		"stuck is Degraded:\n  pod stuck-",
		": Unschedulable: 0/",
		"\ncrash: PodDisruptionBudget crash allows no disruption now: node drains and kubectl zz rebalance wait for this app (1 of 2 pods ready)\n",
		// UP-TO-DATE 1/2 beside READY 2/2: the one 2.0 pod is Pending.
		"stale 1(drifted) 2.0 registry.local/stale:2.0 2/2 1/2 0 - Degraded",
		"stale has drifted from its latest revision:\n  deployment stale was applied by a kubectl zz command that recorded no revision (one under way, or one that failed or stopped); " +
			"its template asks for version 2.0, image registry.local/stale:2.0 (1/2 pods updated), not revision 1; the ready pods run 1.0\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	if out := squash(mustZZ(t, ns, "list")); !strings.Contains(out, "shop 1 1.0 2/2 2/2 - Ready") || !strings.Contains(out, "stale 1(drifted) 2.0 2/2 1/2 - Degraded") ||
		strings.Contains(out, "CrashLoopBackOff") {
		t.Errorf("list:\n%s", out)
	}
	// Every namespace: a NAMESPACE column; an edit user of one namespace
	// gets the apiserver's refusal.
	if out := squash(mustZZ(t, ns, "list", "-A")); !strings.Contains(out, "NAMESPACE APP REVISION") || !strings.Contains(out, ns+" shop 1 1.0 2/2 2/2 - Ready") {
		t.Errorf("list -A:\n%s", out)
	}
	// Apps picked by -l, or named, are read by a selector of their names
	// (zz.io/app in (...)), which the apiserver takes for every kind read:
	// the same rows, drift included, and no other app's.
	for _, args := range [][]string{{"list", "-A", "-l", contract.LabelApp + " in (shop,stale)"}, {"status", "stale", "shop"}} {
		out := squash(mustZZ(t, ns, args...))
		// By the APP column: under -A other tests' namespaces are listed
		// too, and one's name holds "stuck" (CI: teststatusexplainsstuckpods-…).
		apps := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 1 && args[0] == "list" {
				apps[f[1]] = true
			} else if len(f) > 0 {
				apps[f[0]] = true
			}
		}
		if !strings.Contains(out, "shop 1 1.0 ") || !strings.Contains(out, "stale 1(drifted) 2.0 ") || apps["crash"] || apps["stuck"] {
			t.Errorf("%s:\n%s", strings.Join(args, " "), out)
		}
	}
	tenant := editTenant(t, ns)
	if _, _, err := zzRaw(t, "--kubeconfig", tenant.kubeconfig, "-n", ns, "list", "-A"); err == nil || !strings.Contains(err.Error(), "forbidden") ||
		!strings.Contains(err.Error(), "drop -A (kubectl zz list -n "+ns+") for the namespace you may read") {
		t.Errorf("list -A as an edit user of one namespace: %v", err)
	}
	cluster.WaitFor(t, 30*time.Second, "list as an edit user of the namespace (RBAC may lag the binding)", func(context.Context) (bool, string, error) {
		out, stderr, err := zzRaw(t, "--kubeconfig", tenant.kubeconfig, "-n", ns, "list")
		if err != nil {
			return false, stderr + err.Error(), nil
		}
		return strings.Contains(squash(out), "shop 1 1.0 2/2 2/2 - Ready"), out, nil
	})
	// A view user reads no Secrets: the apps without their records, said so.
	viewer := roleTenant(t, ns, "viewer", "view")
	cluster.WaitFor(t, 30*time.Second, "status as a view user of the namespace (RBAC may lag the binding)", func(context.Context) (bool, string, error) {
		out, stderr, err := zzRaw(t, "--kubeconfig", viewer.kubeconfig, "-n", ns, "status", "shop")
		if err != nil {
			return false, stderr + err.Error(), nil
		}
		return strings.Contains(squash(out), "shop <unknown> 1.0 registry.local/shop:1.0 2/2 2/2 0 - Ready") &&
			strings.Contains(stderr, "warning: the revision records (Secrets) cannot be read by this user"), out + stderr, nil
	})
	var list struct {
		Items []struct {
			deploy.AppStatus
			Kind string
		}
	}
	out = mustZZ(t, ns, "status", "stale", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 1 || list.Items[0].Stable == nil {
		t.Fatalf("status stale -o json: %v\n%s", err, out)
	}
	if s := list.Items[0].Stable; s.Version != "2.0" || s.Ready != 2 || s.Updated != 1 || !s.RollingOut ||
		!slices.Equal(s.Serving, []deploy.VersionPods{{Version: "1.0", Pods: 2}}) {
		t.Errorf("status stale -o json: stable %+v\n%s", s, out)
	}
	list.Items = nil
	out = mustZZ(t, ns, "status", "crash", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 1 || list.Items[0].Kind != "App" ||
		list.Items[0].Health != deploy.HealthDegraded || list.Items[0].Issues[0].Reason != "CrashLoopBackOff" || list.Items[0].DeployedBy == "" ||
		!slices.Equal(list.Items[0].BlockingBudgets, []deploy.BlockingBudget{{Name: "crash", Ready: 1, Pods: 2}}) {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}

	// A canary of 1 pod next to the 2 stable ones: status shows both.
	mustZZ(t, ns, "deploy", "-f", shopSpec(t, "1.1", "one", 8080, ""), "--canary", "1", "--timeout", "60s")
	if out := squash(mustZZ(t, ns, "status", "shop")); !strings.Contains(out, "shop 2 1.0 registry.local/shop:1.0 2/2 2/2 0 1/1 Ready") {
		t.Errorf("status with a canary:\n%s", out)
	}
	if _, _, err := zz(t, ns, "scale", "shop", "--replicas", "3"); err == nil || !strings.Contains(err.Error(), "has a canary running (Deployment shop-canary)") {
		t.Errorf("scale during a canary: %v", err)
	}
	mustZZ(t, ns, "abort", "shop", "--timeout", "60s")

	// --watch prints the table, then again when something changes.
	var buf syncbuf.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	root := cli.NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &buf, ErrOut: &buf})
	root.SetArgs([]string{"--kubeconfig", cluster.Kubeconfig, "-n", ns, "status", "shop", "--watch", "--interval", "200ms"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	cluster.WaitFor(t, 30*time.Second, "the first table", func(context.Context) (bool, string, error) {
		return strings.Contains(buf.String(), "2/2"), buf.String(), nil
	})
	mustZZ(t, ns, "scale", "shop", "--replicas", "3", "--timeout", "60s")
	cluster.WaitFor(t, 30*time.Second, "the table again with 3 replicas", func(context.Context) (bool, string, error) {
		return strings.Contains(buf.String(), "3/3"), buf.String(), nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("status --watch ended with %v", err)
	}
}

// squash collapses the runs of spaces of a table into one.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
		lines[i] = indent + strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// TestDay2TwoClusters: --context a,b across two real local clusters:
// status in one table with a CLUSTER column, history of both, a rollback in
// both at once.
func TestDay2TwoClusters(t *testing.T) {
	if cluster.Kubeconfig != filepath.Join(cluster.StateDir, "kubeconfig") {
		t.Skip("the suite runs against an external cluster; this test starts a second local one beside hack's")
	}
	// hack/lib.sh's default port base when the suite's cluster was started
	// without one; the second cluster takes the 500 ports above it.
	base := 16000
	if v := os.Getenv("ZZ_PORT_BASE"); v != "" {
		var err error
		if base, err = strconv.Atoi(v); err != nil {
			t.Fatalf("ZZ_PORT_BASE=%q: %v", v, err)
		}
	}
	second := startSecondCluster(t, "day2b", strconv.Itoa(base+500))
	kubeconfig := mergeKubeconfigs(t, cluster.Kubeconfig, second.Kubeconfig)
	ns := cluster.Namespace(t, nil)
	if _, err := second.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	contexts := cluster.Name + ",day2b"
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := zzRaw(t, append([]string{"--kubeconfig", kubeconfig, "--context", contexts, "-n", ns}, args...)...)
		if err != nil {
			t.Fatalf("kubectl zz %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	run("deploy", "-f", shopSpec(t, "1.0", "one", 8080, ""), "--timeout", "90s")
	run("deploy", "-f", shopSpec(t, "2.0", "two", 8080, ""), "--timeout", "90s")

	out := run("status", "shop")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CLUSTER") ||
		!strings.HasPrefix(lines[1], cluster.Name+" ") || !strings.Contains(lines[1], "registry.local/shop:2.0") ||
		!strings.HasPrefix(lines[2], "day2b ") || !strings.Contains(lines[2], "2/2") {
		t.Fatalf("status across two clusters:\n%s", out)
	}
	out = run("history", "shop")
	if lines := strings.Split(squash(strings.TrimSpace(out)), "\n"); len(lines) != 5 || !strings.HasPrefix(lines[4], "day2b 2 2.0") {
		t.Fatalf("history across two clusters:\n%s", out)
	}
	out = run("rollback", "shop", "--timeout", "90s")
	for _, want := range []string{"recorded as revision 3 in context " + cluster.Name, "recorded as revision 3 in context day2b"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollback output lacks %q:\n%s", want, out)
		}
	}
	for name, c := range map[string]kubernetes.Interface{cluster.Name: cluster.Client, "day2b": second.Client} {
		d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil || d.Spec.Template.Spec.Containers[0].Image != "registry.local/shop:1.0" {
			t.Errorf("cluster %s after rollback: %v", name, err)
		}
	}
}

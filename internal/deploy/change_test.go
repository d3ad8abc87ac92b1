package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

func deployment(t *testing.T, c kubernetes.Interface, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Scale and restart are revisions: history shows them and a rollback
// restores the replicas and template of the revision it goes to.
func TestScaleRestartRollback(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	cfg := &ChangeConfig{Options: opts(), App: "shop"}
	res, err := Scale(ctx, c, cfg, 5)
	if err != nil || res.Revision != 2 {
		t.Fatalf("scale: %+v, %v", res, err)
	}
	d := deployment(t, c, "shop")
	if *d.Spec.Replicas != 5 || d.Spec.Template.Annotations[contract.AnnotationRestartedAt] != "" {
		t.Fatalf("after scale: replicas %d, template annotations %v", *d.Spec.Replicas, d.Spec.Template.Annotations)
	}
	// The same scale again records nothing: it runs 5 already.
	if res, err = Scale(ctx, c, cfg, 5); err != nil || res.Revision != 2 || !res.Unchanged {
		t.Fatalf("scale to the replicas it runs: %+v, %v", res, err)
	}
	if res, err = Restart(ctx, c, &ChangeConfig{Options: opts(), App: "shop"}); err != nil || res.Revision != 3 {
		t.Fatalf("restart: %+v, %v", res, err)
	}
	d = deployment(t, c, "shop")
	if *d.Spec.Replicas != 5 || d.Spec.Template.Annotations[contract.AnnotationRestartedAt] != "2026-11-23T12:00:00Z" {
		t.Fatalf("after restart: replicas %d, template annotations %v", *d.Spec.Replicas, d.Spec.Template.Annotations)
	}
	hist, err := History(ctx, c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var causes []string
	for _, r := range hist {
		causes = append(causes, r.ChangeCause)
		if r.Image != "reg/shop:1" {
			t.Errorf("revision %d image %s", r.Number, r.Image)
		}
	}
	if got := strings.Join(causes, "|"); got != "deploy 1|scale to 5|restart" {
		t.Fatalf("change causes = %s", got)
	}
	if _, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1}); err != nil {
		t.Fatal(err)
	}
	d = deployment(t, c, "shop")
	if *d.Spec.Replicas != 2 || d.Spec.Template.Annotations[contract.AnnotationRestartedAt] != "" {
		t.Fatalf("after rollback to 1: replicas %d, template annotations %v", *d.Spec.Replicas, d.Spec.Template.Annotations)
	}
}

func TestChangeRefused(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, c *fake.Clientset)
		wantErr string
	}{
		{name: "no history", setup: func(*testing.T, *fake.Clientset) {}, wantErr: "shop has no recorded revisions in namespace team-a; deploy it with kubectl zz deploy first"},
		{name: "hpa", setup: func(t *testing.T, c *fake.Clientset) {
			deployOK(t, c, spec(t, "reg/shop:1", "  hpa: {min: 2, max: 6}\n"), 0)
		}, wantErr: "shop has a HorizontalPodAutoscaler (2 to 6 replicas) that sets its replicas; change hpa.min and hpa.max in its spec"},
		{name: "hpa made by hand", setup: func(t *testing.T, c *fake.Clientset) {
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			hpa := &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Name: "shop-hpa", Namespace: ns},
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptrTo(int32(2)), MaxReplicas: 6,
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop"}},
			}
			if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), hpa, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "shop has a HorizontalPodAutoscaler, shop-hpa (2 to 6 replicas), that sets its replicas and that kubectl zz did not make; change it where it was made (kubectl edit hpa shop-hpa -n team-a)"},
		{name: "canary", setup: func(t *testing.T, c *fake.Clientset) {
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			canary := deployment(t, c, "shop").DeepCopy()
			canary.Name, canary.ResourceVersion = "shop-canary", ""
			canary.Labels[contract.LabelTrack] = contract.TrackCanary
			if _, err := c.AppsV1().Deployments(ns).Create(t.Context(), canary, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "shop has a canary running (Deployment shop-canary); promote or abort it first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			startController(t, c)
			tt.setup(t, c)
			_, err := Scale(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}, 3)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestDeleteListsRecordsByRevision: a dry run lists revision 9 before 10,
// as history does, not as the records' names sort.
func TestDeleteListsRecordsByRevision(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	for i := range 10 {
		deployOK(t, c, spec(t, fmt.Sprintf("reg/shop:%d", i+1), ""), 0)
	}
	res, err := Delete(t.Context(), c, &DeleteConfig{Namespace: ns, App: "shop", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var records []string
	for _, d := range res.Deleted {
		if strings.HasPrefix(d, "Secret/") {
			records = append(records, d)
		}
	}
	if len(records) != 10 || records[8] != "Secret/zz.shop.r9" || records[9] != "Secret/zz.shop.r10" {
		t.Fatalf("records deleted %v; want r1 to r10 in order", records)
	}
}

func TestDelete(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	withData := "  configFiles: {app.conf: one}\n  pvc: {size: 1Gi, mountPath: /data, accessMode: ReadWriteMany}\n"
	deployOK(t, c, spec(t, "reg/shop:1", withData), 0)
	deployOK(t, c, spec(t, "reg/shop:2", withData), 0)
	cart, err := appspec.Load("zz.yaml", []byte("name: cart\nspec:\n  type: web\n  image: reg/cart:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	deployOK(t, c, cart, 0)

	res, err := Delete(ctx, c, &DeleteConfig{Namespace: ns, App: "shop", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	// The config files are one ConfigMap per content (both revisions had the same).
	want := "Deployment/shop Service/shop ConfigMap/shop-config-* Secret/zz.shop.r1 Secret/zz.shop.r2"
	got := strings.Join(res.Deleted, " ")
	if i := strings.Index(got, "ConfigMap/shop-config-"); i > 0 {
		got = got[:i] + "ConfigMap/shop-config-*" + got[strings.Index(got[i:], " ")+i:]
	}
	if got != want || strings.Join(res.Kept, " ") != "PersistentVolumeClaim/shop-data" {
		t.Fatalf("dry run: deleted %s, kept %v; want %s", got, res.Kept, want)
	}
	if _, err := c.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{}); err != nil {
		t.Fatalf("dry run deleted the Deployment: %v", err)
	}

	if _, err := Delete(ctx, c, &DeleteConfig{Namespace: ns, App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if hist, err := History(ctx, c, ns, "shop"); err != nil || len(hist) != 0 {
		t.Fatalf("revisions after delete: %d, %v", len(hist), err)
	}
	for what, err := range map[string]error{
		"Deployment": get(c.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})),
		"Service":    get(c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})),
	} {
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s of shop after delete: %v", what, err)
		}
	}
	if cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"}); err != nil || len(cms.Items) != 0 {
		t.Errorf("ConfigMaps of shop after delete: %d, %v", len(cms.Items), err)
	}
	if _, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "shop-data", metav1.GetOptions{}); err != nil {
		t.Errorf("PVC deleted without --delete-data: %v", err)
	}
	if hist, _ := History(ctx, c, ns, "cart"); len(hist) != 1 {
		t.Errorf("delete of shop touched cart: %d revisions left", len(hist))
	}

	res, err = Delete(ctx, c, &DeleteConfig{Namespace: ns, App: "shop", DeleteData: true})
	if err != nil || strings.Join(res.Deleted, " ") != "PersistentVolumeClaim/shop-data" {
		t.Fatalf("--delete-data: %+v, %v", res, err)
	}
	if _, err := Delete(ctx, c, &DeleteConfig{Namespace: ns, App: "shop"}); !errors.Is(err, ErrNoRevision) || !strings.Contains(err.Error(), "no app shop in namespace team-a") {
		t.Fatalf("delete of a deleted app: %v", err)
	}
}

func get[T any](_ T, err error) error { return err }

func TestAppStatus(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	crash := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-crash", Namespace: ns, Labels: map[string]string{contract.LabelApp: "shop"}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}},
		}}},
	}
	for _, p := range []*corev1.Pod{crash, unschedulablePod()} {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := AppStatusOf(ctx, c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if st.Revision != 1 || st.DeployedBy != "alice" || st.Stable == nil || st.Stable.Image != "reg/shop:1" ||
		st.Stable.Version != "1" || st.Stable.Ready != 2 || st.Stable.Desired != 2 || st.Canary != nil || st.Health != HealthDegraded {
		t.Fatalf("status = %+v stable %+v", st, st.Stable)
	}
	var issues []string
	for _, i := range st.Issues {
		issues = append(issues, i.String())
	}
	want := "pod shop-crash: CrashLoopBackOff: container app exited with code 3 (Error), restarted 4 times|" +
		"pod shop-new-1: Unschedulable: 0/8 nodes are available: 8 node(s) didn't match Pod's node affinity/selector."
	if got := strings.Join(issues, "|"); got != want {
		t.Fatalf("issues:\n%s\nwant\n%s", got, want)
	}

	canary := deployment(t, c, "shop").DeepCopy()
	canary.Name, canary.ResourceVersion, canary.Spec.Replicas = "shop-canary", "", ptrTo(int32(1))
	canary.Labels[contract.LabelVersion] = "2"
	canary.Spec.Template.Labels[contract.LabelVersion] = "2"
	canary.Labels[contract.LabelTrack] = contract.TrackCanary
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, canary, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"shop-crash", "shop-new-1"} {
		if err := c.CoreV1().Pods(ns).Delete(ctx, p, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var apps []*AppStatus
	for range 200 { // until the controller reports the canary ready
		if apps, err = Statuses(ctx, c, Live(c), ns, ""); err != nil {
			t.Fatal(err)
		}
		if len(apps) == 1 && apps[0].Health == HealthReady {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(apps) != 1 || apps[0].Canary == nil || apps[0].Canary.Version != "2" || apps[0].Canary.Desired != 1 || apps[0].Health != HealthReady {
		t.Fatalf("list = %+v", apps[0])
	}
	if _, err := AppStatusOf(ctx, c, ns, "nope"); !errors.Is(err, ErrNoRevision) {
		t.Fatalf("status of an unknown app: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestDiffRevisions(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", "  configFiles: {app.conf: one}\n"), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	var out bytes.Buffer
	changed, err := DiffRevisions(t.Context(), c, ns, "shop", 1, 0, "", &out)
	if err != nil || !changed {
		t.Fatalf("diff 1..latest: %v, changed %t", err, changed)
	}
	for _, want := range []string{"--- revision 1 Deployment/shop", "+++ revision 2 Deployment/shop", "-      - image: reg/shop:1", "+      - image: reg/shop:2", "--- revision 1 ConfigMap/shop-config", "-  app.conf: one"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diff lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if changed, err := DiffRevisions(t.Context(), c, ns, "shop", 2, 2, "", &out); err != nil || changed || out.Len() != 0 {
		t.Fatalf("diff 2..2: %v, changed %t:\n%s", err, changed, out.String())
	}
	if _, err := DiffRevisions(t.Context(), c, ns, "shop", 9, 0, "", &out); !errors.Is(err, ErrNoRevision) {
		t.Fatalf("diff of a missing revision: %v", err)
	}
}

// TestDiffRevisionsExternal: kubectl zz diff runs KUBECTL_EXTERNAL_DIFF as
// deploy --diff does (an audit: it ignored it): revision N's objects (or
// spec) in LIVE, revision M's in MERGED, named as kubectl diff names them;
// the program's exit code says whether they differ, and its failure is an
// error.
func TestDiffRevisionsExternal(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	fail := filepath.Join(t.TempDir(), "fail.sh")
	if err := os.WriteFile(fail, []byte("#!/bin/sh\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		spec     bool
		from, to int64
		program  string
		differs  bool
		want     string // in the output, or in the error with wantErr
		wantErr  bool
	}{
		{name: "objects differ", from: 1, program: "diff -r", differs: true, want: "LIVE/apps.v1.Deployment." + ns + ".shop"},
		{name: "objects, its own format", from: 1, program: "diff -u -N", differs: true, want: "+      - image: reg/shop:2"},
		{name: "objects the same", from: 2, to: 2, program: "diff -r"},
		{name: "program fails", from: 1, program: fail, wantErr: true, want: "exit status 3"},
		{name: "missing program", from: 1, program: "no-such-diff-program", wantErr: true, want: "no-such-diff-program"},
		{name: "specs differ", spec: true, from: 1, program: "diff -r", differs: true, want: "LIVE/zz.io.v1.App." + ns + ".shop"},
		{name: "specs, its own format", spec: true, from: 1, program: "diff -u", differs: true, want: "+  image: reg/shop:2"},
		{name: "specs the same", spec: true, from: 2, program: "diff -r"},
		{name: "spec, program fails", spec: true, from: 1, program: fail, wantErr: true, want: "exit status 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			diff := DiffRevisions
			if tc.spec {
				diff = DiffSpecs
			}
			differs, err := diff(t.Context(), c, ns, "shop", tc.from, tc.to, tc.program, &out)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want one naming %q", err, tc.want)
				}
				return
			}
			if err != nil || differs != tc.differs || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("differs %v, err %v, output:\n%s\nwant differs %v and %q", differs, err, out.String(), tc.differs, tc.want)
			}
		})
	}
}

// TestAppStatusFirstDeployFailed: an app whose first deploy failed has a
// Deployment and no revision; status says why there is none.
func TestAppStatusFirstDeployFailed(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	ctl.setStuck("reg/shop:bad")
	o := opts()
	o.Timeout = 100 * time.Millisecond
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")}); !errors.Is(err, ErrRolloutFailed) {
		t.Fatalf("deploy of a stuck image: %v", err)
	}
	if d := appDrift(t, c); len(d) != 1 || !strings.Contains(d[0], "deployment shop was applied by a kubectl zz command that recorded no revision") ||
		!strings.Contains(d[0], "no revision of the app is recorded: kubectl zz deploy records one once its rollout completes") {
		t.Fatalf("drift after a failed first deploy: %q", d)
	}
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if d := appDrift(t, c); len(d) != 0 {
		t.Fatalf("drift after a deploy that completed: %q", d)
	}
}

// TestAppStatusDrift: status tells a Deployment that the latest revision
// does not describe: a failed deploy left running (its token is in no
// record), or a pod template written outside kubectl zz; a failed deploy
// rolled back runs the latest record's objects and token again.
func TestAppStatusDrift(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	driftOf := func() []string { t.Helper(); return appDrift(t, c) }
	if d := driftOf(); len(d) != 0 {
		t.Fatalf("drift right after a deploy: %q", d)
	}
	ctl.setStuck("reg/shop:bad")
	o := opts()
	o.Timeout = 100 * time.Millisecond
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", ""), RollbackOnFailure: true}); !errors.Is(err, ErrRolloutFailed) {
		t.Fatalf("deploy of a stuck image: %v", err)
	}
	if d := driftOf(); len(d) != 0 {
		t.Fatalf("drift after a failed deploy was rolled back to revision 1: %q", d)
	}
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")}); !errors.Is(err, ErrRolloutFailed) {
		t.Fatalf("deploy of a stuck image: %v", err)
	}
	// The Deployment and the Service that command applied (every object
	// carries the token of the command that applied it).
	if d := driftOf(); len(d) != 2 || !strings.Contains(d[0], "deployment shop was applied by a kubectl zz command that recorded no revision") ||
		!strings.Contains(d[0], "; its template asks for version bad, image reg/shop:bad (") || !strings.Contains(d[0], "), not revision 1; no pod of it is ready") || !strings.HasPrefix(d[1], "service shop was applied by a kubectl zz command that recorded no revision") {
		t.Fatalf("drift after a failed deploy left running: %q", d)
	}
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	if d := driftOf(); len(d) != 0 {
		t.Fatalf("drift after the next deploy: %q", d)
	}
	d := deployment(t, c, "shop")
	d.Spec.Template.Spec.Containers[0].Image = "reg/shop:hotfix"
	if _, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}
	if d := driftOf(); len(d) != 1 || !strings.Contains(d[0], "deployment shop: its pod template was changed by kubectl-set at ") {
		t.Fatalf("drift after kubectl set image: %q", d)
	}
	// Fields kubectl zz does not set stay through a server-side apply; the
	// deploy takes them out, so what runs is what the revision records.
	d = deployment(t, c, "shop")
	d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "DEBUG", Value: "1"})
	d.Spec.Template.Annotations = map[string]string{contract.AnnotationRestartedAt: "now"}
	if _, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	o = opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:3", "")}); err != nil {
		t.Fatal(err)
	}
	if d := driftOf(); len(d) != 0 {
		t.Fatalf("drift after the next deploy: %q", d)
	}
	d = deployment(t, c, "shop")
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "DEBUG" {
			t.Errorf("the env kubectl edit added survived the deploy: %v", d.Spec.Template.Spec.Containers[0].Env)
		}
	}
	if _, ok := d.Spec.Template.Annotations[contract.AnnotationRestartedAt]; ok || d.Spec.Template.Spec.Containers[0].Image != "reg/shop:3" {
		t.Errorf("template after the deploy: annotations %v, image %s", d.Spec.Template.Annotations, d.Spec.Template.Spec.Containers[0].Image)
	}
	if !strings.Contains(progress.String(), "deployment shop: removed from its pod template what was written by kubectl-edit at ") {
		t.Errorf("the deploy did not say it removed another manager's fields:\n%s", progress.String())
	}
}

// TestTakeBackOtherKinds: a field another manager adds to the spec of the
// app's Service or HPA is drift, as in its pod template, and the next
// deploy takes it out (server-side apply alone would keep it).
func TestTakeBackOtherKinds(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	app := spec(t, "reg/shop:1", "  hpa: {min: 2, max: 4, cpuPercent: 80}\n  pdb: true\n")
	deployOK(t, c, app, 0)
	driftOf := func() []string { t.Helper(); return appDrift(t, c) }
	svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "debug", Port: 9999})
	if _, err := c.CoreV1().Services(ns).Update(t.Context(), svc, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	hpa, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A field kubectl zz does not set (spec.metrics is an atomic list: the
	// apply takes it back whole by itself).
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](600)}}
	if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Update(t.Context(), hpa, metav1.UpdateOptions{FieldManager: "kubectl-patch"}); err != nil {
		t.Fatal(err)
	}
	d := driftOf()
	if len(d) != 2 || !strings.Contains(strings.Join(d, "\n"), "horizontalpodautoscaler shop: its spec was changed by kubectl-patch at ") ||
		!strings.Contains(strings.Join(d, "\n"), "service shop: its spec was changed by kubectl-edit at ") {
		t.Fatalf("drift after kubectl edit of the Service and patch of the HPA: %q", d)
	}

	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: app}); err != nil {
		t.Fatal(err)
	}
	if d := driftOf(); len(d) != 0 {
		t.Fatalf("drift after the next deploy: %q", d)
	}
	if svc, _ := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{}); len(svc.Spec.Ports) != 1 {
		t.Errorf("the port kubectl edit added survived the deploy: %+v", svc.Spec.Ports)
	}
	if hpa, _ := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(t.Context(), "shop", metav1.GetOptions{}); hpa.Spec.Behavior != nil {
		t.Errorf("the behavior kubectl patch added survived the deploy: %+v", hpa.Spec.Behavior)
	}
	for _, want := range []string{"service shop: removed from its spec what was written by kubectl-edit at ",
		"horizontalpodautoscaler shop: removed from its spec what was written by kubectl-patch at "} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("the deploy did not say %q:\n%s", want, progress.String())
		}
	}
}

// appDrift is the drift kubectl zz status reports for the app shop.
func appDrift(t *testing.T, c kubernetes.Interface) []string {
	t.Helper()
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	return st.Drift
}

// TestDeleteKeepHistory: delete --keep-history removes the objects and
// keeps the records; the app is Missing, and rollback without a revision
// brings the latest back (not the one before it, as for a running app).
func TestDeleteKeepHistory(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	res, err := Delete(ctx, c, &DeleteConfig{Namespace: ns, App: "shop", KeepHistory: true})
	if err != nil || strings.Contains(strings.Join(res.Deleted, " "), "Secret/") || !slices.Equal(res.KeptRevisions, []int64{1, 2}) {
		t.Fatalf("delete --keep-history: %+v, %v", res, err)
	}
	if err := get(c.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})); !apierrors.IsNotFound(err) {
		t.Fatalf("Deployment after delete --keep-history: %v", err)
	}
	st, err := AppStatusOf(ctx, c, ns, "shop")
	if err != nil || st.Health != HealthMissing || st.Revision != 2 {
		t.Fatalf("status of the deleted app: %+v, %v", st, err)
	}
	if _, err := Delete(ctx, c, &DeleteConfig{Namespace: ns, App: "shop", KeepHistory: true}); !errors.Is(err, ErrNoRevision) ||
		!strings.Contains(err.Error(), "only its revision records (kubectl zz rollback shop --to-revision 2 brings it back") {
		t.Fatalf("delete --keep-history again: %v", err)
	}
	r, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop"})
	if err != nil || r.Revision != 3 || image(t, c) != "reg/shop:2" {
		t.Fatalf("rollback of the deleted app: %+v, %v (want revision 2's image back as revision 3)", r, err)
	}
	if hist, _ := History(ctx, c, ns, "shop"); hist[len(hist)-1].ChangeCause != "rollback to revision 2" {
		t.Fatalf("recorded %q", hist[len(hist)-1].ChangeCause)
	}
	// Running again, rollback goes to the one before the latest: revision 2,
	// which runs already (as revision 3), so nothing is applied or recorded.
	if r, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop"}); err != nil || !r.Unchanged || r.Revision != 3 || image(t, c) != "reg/shop:2" {
		t.Fatalf("rollback of the running app to the spec it runs: %+v, %v", r, err)
	}
	if _, err := Delete(ctx, c, &DeleteConfig{Namespace: ns, App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if hist, _ := History(ctx, c, ns, "shop"); len(hist) != 0 {
		t.Fatalf("a plain delete kept %d records", len(hist))
	}
}

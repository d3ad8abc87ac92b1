package deploy

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

func TestObjectDiff(t *testing.T) {
	objs := render.Render(spec(t, "reg/shop:1", ""), render.Options{Namespace: ns, Revision: 1})
	before := objs[len(objs)-1].(*appsv1.Deployment)
	if before.Kind != "Deployment" {
		t.Fatalf("last object is %s", before.Kind)
	}
	// What the server returns: its own metadata, status, another revision.
	live := before.DeepCopy()
	live.ResourceVersion, live.Generation, live.UID = "42", 3, "u-1"
	live.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: contract.ManagedBy}}
	live.Annotations = map[string]string{contract.AnnotationDeploymentRevision: "3", contract.AnnotationApplyID: "token-of-the-last-apply"}
	live.Status.ReadyReplicas = 2
	same := before.DeepCopy()
	same.Labels[contract.LabelRevision] = "2"
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")

	d, err := objectDiff(gvk, "shop", live, same)
	if err != nil || d != "" {
		t.Fatalf("only server fields, the revision and the apply token differ, got diff %q (%v)", d, err)
	}
	changed := same.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "reg/shop:2"
	d, _ = objectDiff(gvk, "shop", live, changed)
	if !strings.HasPrefix(d, "--- live Deployment/shop\n+++ new Deployment/shop\n@@ ") ||
		!strings.Contains(d, "\n-      - image: reg/shop:1\n+      - image: reg/shop:2\n") {
		t.Fatalf("image change diff:\n%s", d)
	}
	if d, _ = objectDiff(gvk, "shop", nil, changed); !strings.Contains(d, "+  replicas: 2\n") || strings.Contains(d, "\n-") {
		t.Fatalf("creation diff:\n%s", d)
	}
	if d, _ = objectDiff(gvk, "shop", live, nil); !strings.Contains(d, "-  replicas: 2\n") || strings.Contains(d, "\n+ ") {
		t.Fatalf("deletion diff:\n%s", d)
	}
	// A sidecar's Secret env, by its Secret and key (no value to show).
	sidecar := func(entries string) runtime.Object {
		objs := render.Render(spec(t, "reg/shop:1", authSecretEnv(entries)), render.Options{Namespace: ns, Revision: 1})
		return objs[len(objs)-1]
	}
	d, _ = objectDiff(gvk, "shop", sidecar(""), sidecar("TOKEN: {secret: auth, key: token}"))
	if !strings.Contains(d, "\n+        - name: TOKEN\n+          valueFrom:\n+            secretKeyRef:\n+              key: token\n+              name: auth\n") {
		t.Fatalf("a sidecar's new secretEnv:\n%s", d)
	}
}

// TestExternalDiff: KUBECTL_EXTERNAL_DIFF runs on two folders of files named
// as kubectl diff names them; its exit code says whether anything differs.
func TestExternalDiff(t *testing.T) {
	dep := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	svc := schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	same := []objChange{{gvk: svc, ns: ns, name: "shop", before: "a: 1\n", after: "a: 1\n"}}
	changed := append(same, objChange{gvk: dep, ns: ns, name: "shop", before: "image: a:1\n", after: "image: a:2\n"})
	tests := []struct {
		name    string
		program string
		changes []objChange
		differ  bool
		want    string // in the output, or in the error when wantErr
		wantErr bool
	}{
		{name: "equal", program: "diff -u -N", changes: same},
		{name: "different", program: "diff -u -N", changes: changed, differ: true, want: "+image: a:2"},
		{name: "file names", program: "diff -r", changes: changed, differ: true, want: "/LIVE/apps.v1.Deployment.team-a.shop"},
		// As kubectl diff: a created object has no file in LIVE, a deleted one none in MERGED.
		{name: "created", program: "diff -r", changes: []objChange{{gvk: svc, ns: ns, name: "new", after: "a: 1\n"}}, differ: true, want: "/MERGED: v1.Service.team-a.new"},
		{name: "deleted", program: "diff -r", changes: []objChange{{gvk: svc, ns: ns, name: "old", before: "a: 1\n"}}, differ: true, want: "/LIVE: v1.Service.team-a.old"},
		{name: "missing program", program: "no-such-diff-program", changes: changed, wantErr: true, want: "no-such-diff-program"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			differ, err := runExternalDiff(t.Context(), tt.program, tt.changes, &out)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want one naming %q", err, tt.want)
				}
				return
			}
			if err != nil || differ != tt.differ || !strings.Contains(out.String(), tt.want) {
				t.Fatalf("differ %v, err %v, output:\n%s\nwant differ %v and %q", differ, err, out.String(), tt.differ, tt.want)
			}
		})
	}
}

// TestPairConfig: the config files ConfigMap a deploy replaces reads as one
// change from the old name to the new; two of either, or another
// ConfigMap, are left as they are.
func TestPairConfig(t *testing.T) {
	cm := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	old := objChange{gvk: cm, ns: "ns", name: "shop-config-aaaa", before: "data:\n  app.properties: |\n    a=1\n    b=2\n"}
	neu := objChange{gvk: cm, ns: "ns", name: "shop-config-bbbb", after: "data:\n  app.properties: |\n    a=1\n    b=3\n"}
	svc := objChange{gvk: schema.GroupVersionKind{Version: "v1", Kind: "Service"}, ns: "ns", name: "shop", before: "x: 1\n", after: "x: 2\n"}
	got := pairConfig([]objChange{neu, svc, old}, "shop")
	if len(got) != 2 || got[0].beforeName != "shop-config-aaaa" {
		t.Fatalf("paired: %+v", got)
	}
	d := got[0].unified()
	for _, want := range []string{"--- live ConfigMap/shop-config-aaaa", "+++ new ConfigMap/shop-config-bbbb", "-    b=2", "+    b=3", "     a=1"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	other := objChange{gvk: cm, ns: "ns", name: "shop-config-cccc", after: "y\n"}
	if got := pairConfig([]objChange{neu, other, old}, "shop"); len(got) != 3 {
		t.Errorf("two new ConfigMaps were paired: %+v", got)
	}
	foreign := objChange{gvk: cm, ns: "ns", name: "cart-config-aaaa", before: "z\n"}
	if got := pairConfig([]objChange{neu, foreign}, "shop"); len(got) != 2 {
		t.Errorf("another app's ConfigMap was paired: %+v", got)
	}
}

// TestDiffOfTakeBackStoresNothing: deploy --diff of a drifted app previews
// the take-back with a dry-run update, which stores nothing (the test
// clientset answers dry-run updates as the apiserver does): the env var is
// still there after the diff, and the deploy that follows removes it and
// says so. Before, the fake stored the dry-run update and the deploy found
// the drift already gone.
func TestDiffOfTakeBackStoresNothing(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	app := spec(t, "reg/shop:1", "")
	deployOK(t, c, app, 0)
	d := deployment(t, c, "shop")
	d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "HOTFIX", Value: "1"})
	if _, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	changed, err := Diff(t.Context(), c, &Config{Options: opts(), App: app}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !changed || !strings.Contains(out.String(), "HOTFIX") {
		t.Errorf("deploy --diff (changed %v) does not show HOTFIX going:\n%s", changed, out.String())
	}
	if !hasEnv(deployment(t, c, "shop"), "HOTFIX") {
		t.Fatal("deploy --diff removed HOTFIX from the live Deployment")
	}
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: app}); err != nil {
		t.Fatal(err)
	}
	if hasEnv(deployment(t, c, "shop"), "HOTFIX") || !strings.Contains(progress.String(), "deployment shop: removed") {
		t.Errorf("the deploy after the diff did not take HOTFIX back:\n%s", progress.String())
	}
}

// hasEnv says whether d's first container has an env var name.
func hasEnv(d *appsv1.Deployment, name string) bool {
	return slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

// TestDiffOfAnAdoptedDeploymentMergesNothing: deploy --adopt --diff of a
// chart's Deployment (its container nginx) applies no rendered pod
// template over the chart's, as the deploy replaces it first: the dry-run
// apply merged the containers by name, and the apiserver warned about a
// duplicate port on containers[1] of a pod the deploy never makes (an
// audit). The diff still shows nginx going and app coming.
func TestDiffOfAnAdoptedDeploymentMergesNothing(t *testing.T) {
	sel := map[string]string{contract.LabelApp: "shop"}
	chart := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, Labels: map[string]string{contract.LabelK8sManagedBy: "Helm"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "nginx", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}}}
	c := fake.NewClientset(chart)
	var mu sync.Mutex
	var merged []string // the containers of each dry-run apply's pod template
	c.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		var d appsv1.Deployment
		if p.GetPatchType() == types.ApplyPatchType && json.Unmarshal(p.GetPatch(), &d) == nil {
			mu.Lock()
			defer mu.Unlock()
			for _, ct := range d.Spec.Template.Spec.Containers {
				merged = append(merged, ct.Name)
			}
		}
		return false, nil, nil
	})
	startController(t, c) // after the reactor: its goroutine reads the chain
	var out strings.Builder
	if _, err := Diff(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", ""), Adopt: true}, &out); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(merged, render.ContainerName) {
		t.Errorf("a dry-run apply sent the rendered container over the chart's (containers %v)", merged)
	}
	if s := out.String(); !strings.Contains(s, "-        name: nginx") || !strings.Contains(s, "+        name: app") {
		t.Errorf("the diff does not show nginx replaced by app:\n%s", s)
	}
}

package e2e

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
)

// TestDriftUndoStampsItsCause: a kubectl edit (another field manager) adds
// an env var to the app's pod template; the same spec deployed again takes
// it back, which changes the template (a ReplicaSet rolls). The change
// cause on the Deployment and on the ReplicaSet that now runs must be this
// deploy's revision, not the one the edit kept: the deploy judges whether
// its apply changes the template from a dry run, which on a real apiserver
// keeps the other manager's env var that the take-back removes after. A new
// version over another edit rolls one template out, without the edit's.
func TestDriftUndoStampsItsCause(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	ctx := t.Context()
	file := shopSpec(t, "1.0", "one", 8080, "")
	if out, errOut, err := zz(t, ns, "deploy", "-f", file, "--timeout", "60s"); err != nil || !strings.Contains(out, "deployed as revision 1") {
		t.Fatalf("deploy v1: %v\n%s%s", err, out, errOut)
	}
	if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(ctx, "shop", types.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"EDITED","value":"1"}]}]}}}}`),
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitForRollout(t, ns, "shop", 60*time.Second)

	out, errOut, err := zz(t, ns, "deploy", "-f", file, "--timeout", "60s")
	if err != nil || !strings.Contains(out, "deployed as revision 2") ||
		!strings.Contains(errOut, "deployment shop: removed from its pod template what was written by kubectl-edit at ") {
		t.Fatalf("the same spec over the edit: %v\n%s%s", err, out, errOut)
	}
	revs := history(t, ns)
	if len(revs) != 2 || revs[1].Number != 2 {
		t.Fatalf("history = %+v, want revisions 1 and 2", revs)
	}
	want := "kubectl zz revision 2: " + revs[1].ChangeCause
	d := cluster.WaitForRollout(t, ns, "shop", 60*time.Second)
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "EDITED" {
			t.Fatalf("the edit's env var is still in the pod template: %v", d.Spec.Template.Spec.Containers[0].Env)
		}
	}
	if got := d.Annotations[contract.AnnotationChangeCause]; got != want {
		t.Errorf("the Deployment's change cause is %q, want %q (the deploy that changed its template)", got, want)
	}
	// The ReplicaSet of the Deployment's current revision (the controller
	// reuses revision 1's, whose template is back, and copies the cause).
	rss, err := cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"})
	if err != nil {
		t.Fatal(err)
	}
	var current *appsv1.ReplicaSet
	for i := range rss.Items {
		rs := &rss.Items[i]
		if rs.Annotations[contract.AnnotationDeploymentRevision] == d.Annotations[contract.AnnotationDeploymentRevision] {
			current = rs
		}
		t.Logf("replicaset %s: revision %s, %d replicas, cause %q", rs.Name, rs.Annotations[contract.AnnotationDeploymentRevision],
			rs.Status.Replicas, rs.Annotations[contract.AnnotationChangeCause])
	}
	if current == nil {
		t.Fatalf("no ReplicaSet of the Deployment's revision %s", d.Annotations[contract.AnnotationDeploymentRevision])
	}
	if got := current.Annotations[contract.AnnotationChangeCause]; got != want {
		t.Errorf("ReplicaSet %s (the one that runs) has change cause %q, want %q", current.Name, got, want)
	}
	// kubectl zz history and the controller's revision agree on the last word.
	if n, _ := strconv.Atoi(d.Annotations[contract.AnnotationDeploymentRevision]); n < 3 {
		t.Errorf("the Deployment's controller revision is %d: the edit and its undo should have rolled twice", n)
	}
	statusReady(t, ns, "shop", "after the undo")

	// Another edit, then a new version: its pod template rolls out once,
	// without the edit's env var. The apply kept the edit's field and the
	// take-back removed it after, so a ReplicaSet of the new image with
	// the edit's env var made pods first (an adoption audit).
	if _, err := cluster.Client.AppsV1().Deployments(ns).Patch(ctx, "shop", types.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"EDITED2","value":"1"}]}]}}}}`),
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitForRollout(t, ns, "shop", 60*time.Second)
	out, errOut, err = zz(t, ns, "deploy", "-f", shopSpec(t, "2.0", "one", 8080, ""), "--timeout", "60s")
	if err != nil || !strings.Contains(errOut, "deployment shop: removed from its pod template what was written by kubectl-edit at ") {
		t.Fatalf("version 2.0 over another edit: %v\n%s%s", err, out, errOut)
	}
	if rss, err = cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"}); err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		c := rs.Spec.Template.Spec.Containers[0]
		if c.Image == "registry.local/shop:2.0" && slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "EDITED2" }) {
			t.Errorf("ReplicaSet %s runs version 2.0 with the edit's env var, which the deploy took out: a template nobody asked for rolled out", rs.Name)
		}
	}
	d = cluster.WaitForRollout(t, ns, "shop", 60*time.Second)
	if slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "EDITED2" }) {
		t.Errorf("the edit's env var is still in the pod template: %v", d.Spec.Template.Spec.Containers[0].Env)
	}
}

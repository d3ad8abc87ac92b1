package deploy

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	live.Annotations = map[string]string{contract.AnnotationDeploymentRevision: "3"}
	live.Status.ReadyReplicas = 2
	same := before.DeepCopy()
	same.Labels[contract.LabelRevision] = "2"
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")

	d, err := objectDiff(gvk, "shop", live, same)
	if err != nil || d != "" {
		t.Fatalf("only server fields and the revision differ, got diff %q (%v)", d, err)
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
}

package deploy

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// entry is a managed fields entry of manager, op ("Apply" or "Update") and
// sub (a subresource), owning fields (FieldsV1 JSON), written at hh:mm.
func entry(manager, op, sub, fields, at string) metav1.ManagedFieldsEntry {
	e := metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationType(op), Subresource: sub,
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	if at != "" {
		t, err := time.Parse("15:04", at)
		if err != nil {
			panic(err)
		}
		e.Time = &metav1.Time{Time: t}
	}
	return e
}

func TestSetBack(t *testing.T) {
	const (
		zzTemplate = `{"f:spec":{"f:revisionHistoryLimit":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{},"f:image":{},"f:resources":{"f:limits":{"f:cpu":{}}}}}}}}}`
		zzNoImage  = `{"f:spec":{"f:revisionHistoryLimit":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{},"f:resources":{"f:limits":{"f:cpu":{}}}}}}}}}`
		image      = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}`
		strayEnv   = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"HOTFIX\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`
		zzHPA      = `{"f:spec":{"f:maxReplicas":{},"f:minReplicas":{}}}`
		zzHPAMin   = `{"f:spec":{"f:minReplicas":{}}}`
		hpaMax     = `{"f:spec":{"f:maxReplicas":{}}}`
		replicas   = `{"f:spec":{"f:replicas":{}}}`
		label      = `{"f:metadata":{"f:labels":{"f:zz.io/version":{}}}}`
		zzLabel    = `{"f:metadata":{"f:labels":{"f:zz.io/version":{}}}}`
		historyLim = `{"f:spec":{"f:revisionHistoryLimit":{}}}`
		zzNoLimit  = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{},"f:image":{},"f:resources":{"f:limits":{"f:cpu":{}}}}}}}}}`
		bothOwn    = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{},"f:image":{}}}}}}}`
	)
	zz := func(fields string) metav1.ManagedFieldsEntry {
		return entry("kubectl-zz", "Apply", "", fields, "10:00")
	}
	for _, tc := range []struct {
		name          string
		before, after []metav1.ManagedFieldsEntry
		want          string // "fields by writer; ...", "" for nothing set back
	}{
		{"kubectl set image: the image set back", []metav1.ManagedFieldsEntry{zz(zzNoImage), entry("kubectl-set", "Update", "", image, "11:00")},
			[]metav1.ManagedFieldsEntry{zz(zzTemplate)}, `spec.template.spec.containers[name="app"].image by kubectl-set at 11:00:00`},
		{"a GitOps apply with force: image and cpu limit", []metav1.ManagedFieldsEntry{zz(`{"f:spec":{"f:revisionHistoryLimit":{}}}`), entry("argocd-controller", "Apply", "", bothOwn, "11:00"),
			entry("argocd-controller-2", "Apply", "", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:resources":{"f:limits":{"f:cpu":{}}}}}}}}}`, "11:05")},
			[]metav1.ManagedFieldsEntry{zz(zzTemplate), entry("argocd-controller", "Apply", "", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{}}}}}}}`, "11:00")},
			`spec.template.spec.containers[name="app"].image by argocd-controller at 11:00:00; spec.template.spec.containers[name="app"].resources.limits.cpu by argocd-controller-2 at 11:05:00`},
		{"an HPA's maxReplicas raised by kubectl edit", []metav1.ManagedFieldsEntry{zz(zzHPAMin), entry("kubectl-edit", "Update", "", hpaMax, "11:00")},
			[]metav1.ManagedFieldsEntry{zz(zzHPA)}, "spec.maxReplicas by kubectl-edit at 11:00:00"},
		{"a field outside the pod template: revisionHistoryLimit", []metav1.ManagedFieldsEntry{zz(zzNoLimit), entry("kubectl-edit", "Update", "", historyLim, "11:00")},
			[]metav1.ManagedFieldsEntry{zz(zzTemplate)}, "spec.revisionHistoryLimit by kubectl-edit at 11:00:00"},
		{"shared with kubectl zz (same value): nothing taken", []metav1.ManagedFieldsEntry{zz(zzTemplate), entry("argocd", "Apply", "", bothOwn, "11:00")},
			[]metav1.ManagedFieldsEntry{zz(zzTemplate)}, ""},
		{"a stray env var: takeBack's, not set back", []metav1.ManagedFieldsEntry{zz(zzTemplate), entry("kubectl-set", "Update", "", strayEnv, "11:00")},
			[]metav1.ManagedFieldsEntry{zz(zzTemplate), entry("kubectl-set", "Update", "", strayEnv, "11:00")}, ""},
		{"the writer still holds it (the apply did not take it)", []metav1.ManagedFieldsEntry{zz(zzNoImage), entry("kubectl-set", "Update", "", image, "11:00")},
			[]metav1.ManagedFieldsEntry{zz(zzTemplate), entry("kubectl-set", "Update", "", image, "11:00")}, ""},
		{"replicas taken by the apply all the same", []metav1.ManagedFieldsEntry{zz(zzTemplate), entry("kubectl", "Update", "scale", replicas, "11:00")},
			[]metav1.ManagedFieldsEntry{zz(`{"f:spec":{"f:replicas":{}}}`)}, ""},
		{"metadata: not said", []metav1.ManagedFieldsEntry{zz(zzTemplate), entry("kubectl-label", "Update", "", label, "11:00")},
			[]metav1.ManagedFieldsEntry{zz(zzLabel)}, ""},
		{"no other writer", []metav1.ManagedFieldsEntry{zz(zzNoImage)}, []metav1.ManagedFieldsEntry{zz(zzTemplate)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, taken := range setBack(tc.before, tc.after) {
				got = append(got, fieldNames(nil, taken.fields)+writtenBy(taken.by))
			}
			if g := strings.Join(got, "; "); g != tc.want {
				t.Errorf("set back %q, want %q", g, tc.want)
			}
		})
	}
}

func TestSetBackNote(t *testing.T) {
	live := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	live.ManagedFields = []metav1.ManagedFieldsEntry{
		entry("kubectl-zz", "Apply", "", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{}}}}}}}`, "10:00"),
		entry("kubectl-set", "Update", "", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}`, "11:00"),
	}
	stored := live.DeepCopy()
	stored.ManagedFields = []metav1.ManagedFieldsEntry{
		entry("kubectl-zz", "Apply", "", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{},"f:image":{}}}}}}}`, "12:00"),
	}
	got := setBackNote("Deployment", live, stored)
	want := `deployment shop: set back what was changed outside kubectl zz: spec.template.spec.containers[name="app"].image (changed by kubectl-set at 11:00:00); kubectl zz's apply writes the revision's values over it`
	if got != want {
		t.Errorf("note:\n got %s\nwant %s", got, want)
	}
	if got := setBackNote("Deployment", nil, stored); got != "" {
		t.Errorf("no live object (a create): %q", got)
	}
	if strings.Contains(setBackNote("Deployment", stored, stored), "set back") {
		t.Error("nothing taken: a note all the same")
	}
}

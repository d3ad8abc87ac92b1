package cli

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

func TestCheckCommand(t *testing.T) {
	part := map[string]string{contract.LabelK8sPartOf: contract.PartOf}
	a := fakeClient(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system", Labels: part},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}, Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 2}},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("zz-scheduler-0_1"), LeaseDurationSeconds: ptr.To[int32](15), RenewTime: ptr.To(metav1.NowMicro())}})
	zz := withFakeClusters(t, a, fakeClient())

	out, _, err := zz("check", "--context", "a,b")
	if err == nil || !strings.Contains(err.Error(), "zz checks failed in 2 of 2 clusters") {
		t.Fatalf("check of two broken clusters: %v", err)
	}
	for _, want := range []string{
		"context a\nzz components\n  ✓ Deployment zz-system/zz-scheduler: 2/2 ready\n\nscheduler configuration\n  ✓ zz-system/zz-scheduler leader: zz-scheduler-0_1 leads (Lease renewed",
		"\n\nwebhook\n  ‼ configuration: no MutatingWebhookConfiguration",
		"admission policies\n  ✗ install: no ValidatingAdmissionPolicy labelled app.kubernetes.io/part-of=zz: a namespace's edit user can forge GPU assignments",
		"      kubectl apply -k manifests/policies",
		"3 ok, 3 warnings, 1 failed\n\ncontext b\nzz components\n  ✗ install: no Deployment or DaemonSet",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	out, _, err = zz("check", "--context", "a", "-o", "json")
	var list struct {
		Items []struct {
			Kind     string
			Metadata struct{ Name string }
			Group    string
			Status   string
		}
	}
	if jerr := json.Unmarshal([]byte(out), &list); err == nil || jerr != nil || len(list.Items) != 7 || list.Items[0].Kind != "Check" ||
		list.Items[0].Metadata.Name != "zz-components.deployment-zz-system-zz-scheduler" || list.Items[4].Status != "fail" {
		t.Fatalf("-o json: %v, %v\n%s", err, jerr, out)
	}
	if _, _, err := zz("check", "-o", "wide"); err == nil || !strings.Contains(err.Error(), "no wider table") {
		t.Fatalf("-o wide: %v", err)
	}
}

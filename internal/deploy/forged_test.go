package deploy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestForgedSubresourceApplyEntryIsTakenBack: an update may send
// managedFields with one more kubectl-zz/Apply entry, for the status
// subresource, owning the externalIPs it wrote. No apply of the Service
// replaces that entry (another identity), so it is not kubectl zz's own:
// the next deploy of the same spec is not unchanged and removes the field.
func TestForgedSubresourceApplyEntryIsTakenBack(t *testing.T) {
	c, app := startedApp(t)
	ctx := t.Context()
	updateService(t, c, "tenant", func(svc *corev1.Service) { svc.Spec.ExternalIPs = []string{"203.0.113.7"} })
	updateService(t, c, "tenant", func(svc *corev1.Service) {
		withoutEntriesOf("tenant")(svc)
		svc.ManagedFields = append(svc.ManagedFields, metav1.ManagedFieldsEntry{Manager: contract.ManagedBy, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1",
			Subresource: "status", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:externalIPs":{}}}`)})
	})
	res, err := Run(ctx, c, &Config{Options: opts(), App: app})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged {
		t.Errorf("a deploy of the same spec said unchanged, with externalIPs under a forged kubectl-zz/Apply (status) entry")
	}
	after, err := c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Spec.ExternalIPs) != 0 {
		t.Errorf("externalIPs survived the deploy: %v", after.Spec.ExternalIPs)
	}
	for _, e := range after.ManagedFields {
		if e.Subresource != "" && fieldsUnder(&e, []string{"spec"}).Size() > 0 {
			t.Errorf("the forged entry still owns %s", e.FieldsV1.Raw)
		}
	}
}

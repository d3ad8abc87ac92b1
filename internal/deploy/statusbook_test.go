package deploy

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// TestBookMissing: the book names an object of the latest revision that no
// read found, only for kinds it read, and not for an app whose Deployment
// is gone (status says Missing).
func TestBookMissing(t *testing.T) {
	record := func(app string, n int64, names string) corev1.Secret {
		return corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: RecordName(app, n), Namespace: "ns",
			Labels:      map[string]string{contract.LabelApp: app, contract.LabelRevision: "1"},
			Annotations: map[string]string{contract.AnnotationObjects: names}}, Type: contract.SecretTypeRevision}
	}
	dep := func(app string) appsv1.Deployment {
		return appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: "ns", Labels: map[string]string{contract.LabelApp: app}}}
	}
	b := newBook(false, nil)
	b.records([]corev1.Secret{record("shop", 1, "Service/shop,Deployment/shop,Ingress/shop"), record("gone", 1, "Service/gone,Deployment/gone")})
	b.deployments([]appsv1.Deployment{dep("shop")})
	b.objects(kindOfTest(t, "Service"), nil) // read, none there; Ingresses not read
	b.missing()
	var shop, gone *AppStatus
	for _, st := range b.statuses() {
		switch st.App {
		case "shop":
			shop = st
		case "gone":
			gone = st
		}
	}
	if shop == nil || len(shop.Drift) != 1 || !strings.HasPrefix(shop.Drift[0], "service shop of revision 1 is missing") {
		t.Errorf("shop: %+v", shop)
	}
	if gone == nil || gone.Health != HealthMissing || len(gone.Drift) != 0 {
		t.Errorf("gone: %+v", gone)
	}
}

func kindOfTest(t *testing.T, kind string) kindOps {
	t.Helper()
	k, ok := kindOf(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	return k
}

// TestBookLocks: a live lock says who changes the app; a lapsed one, or
// another app's, nothing.
func TestBookLocks(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	lease := func(name, app string, renewed time.Time) coordinationv1.Lease {
		return coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{contract.LabelApp: app}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("alice (kubectl zz deploy)"), LeaseDurationSeconds: ptr.To(int32(60)),
				AcquireTime: ptr.To(metav1.NewMicroTime(renewed)), RenewTime: ptr.To(metav1.NewMicroTime(renewed))}}
	}
	b := newBook(false, nil)
	b.get("ns", "shop")
	b.get("ns", "cart")
	b.get("ns", "web")
	b.locks([]coordinationv1.Lease{lease(LockName("shop"), "shop", now.Add(-10*time.Second)), lease(LockName("cart"), "cart", now.Add(-2*time.Minute)),
		lease("other", "web", now)}, now)
	if got := b.apps["ns/shop"].ChangingBy; got != "alice (kubectl zz deploy) since 14:59:50, last renewed 10s ago" {
		t.Errorf("shop: %q", got)
	}
	if b.apps["ns/cart"].ChangingBy != "" || b.apps["ns/web"].ChangingBy != "" {
		t.Errorf("a lapsed lock or another Lease: %q, %q", b.apps["ns/cart"].ChangingBy, b.apps["ns/web"].ChangingBy)
	}
}

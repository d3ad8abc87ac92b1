package deploy

import (
	"reflect"
	"strconv"
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

// TestBookRollingOut: a Deployment whose rollout is unfinished says what
// its template asks for and what its ready pods run: in its drift line
// when a command that recorded nothing applied it (a new version whose
// pod crash-loops, the old pods serving: an incident audit read "it runs
// 9.9.7" beside READY 3/3), else in a rollout line of its own.
func TestBookRollingOut(t *testing.T) {
	record := func(app string, n int64, token string) corev1.Secret {
		return corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: RecordName(app, n), Namespace: "ns",
			Labels:      map[string]string{contract.LabelApp: app, contract.LabelRevision: strconv.FormatInt(n, 10)},
			Annotations: map[string]string{contract.AnnotationApplyID: token}}, Type: contract.SecretTypeRevision}
	}
	dep := func(app, version, token string, want, updated, total, ready int32) appsv1.Deployment {
		sel := map[string]string{contract.LabelApp: app, contract.LabelTrack: contract.TrackStable}
		return appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: "ns", Labels: map[string]string{contract.LabelApp: app},
				Annotations: map[string]string{contract.AnnotationApplyID: token}},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(want), Selector: &metav1.LabelSelector{MatchLabels: sel},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{contract.LabelVersion: version}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "reg/" + app + ":" + version}}}}},
			Status: appsv1.DeploymentStatus{Replicas: total, UpdatedReplicas: updated, ReadyReplicas: ready, AvailableReplicas: ready},
		}
	}
	pod := func(app, name, version string, ready bool) corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
			Labels: map[string]string{contract.LabelApp: app, contract.LabelTrack: contract.TrackStable, contract.LabelVersion: version}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
		ofReplicaSet(&p, app, version)
		return p
	}
	b := newBook(false, nil)
	b.records([]corev1.Secret{record("web", 3, "t3"), record("cart", 1, "c1"), record("shop", 1, "s1"), record("shop", 2, "s2")})
	b.podsByApp([]corev1.Pod{
		pod("web", "web-a", "1.0.0", true), pod("web", "web-b", "1.0.0", true), pod("web", "web-c", "1.0.0", true), pod("web", "web-new", "9.9.7", false),
		pod("cart", "cart-a", "1.0", true), pod("cart", "cart-b", "1.0", true),
		pod("shop", "shop-a", "2", true), pod("shop", "shop-b", "1", true),
	})
	// web: a failed deploy of 9.9.7 left applied; cart: its latest
	// revision, recorded without waiting (--wait=false), no new pod yet.
	// shop: kubectl rollout undo put revision 1's template back, half
	// rolled out.
	b.deployments([]appsv1.Deployment{dep("web", "9.9.7", "t4", 3, 1, 4, 3), dep("cart", "2.0", "c1", 2, 0, 2, 2), dep("shop", "1", "s1", 2, 1, 3, 2)})
	web, cart, shop := b.apps["ns/web"], b.apps["ns/cart"], b.apps["ns/shop"]
	wantDrift := "deployment web was applied by a kubectl zz command that recorded no revision (one under way, or one that failed or stopped); its template asks for version 9.9.7, image reg/web:9.9.7 (1/3 pods updated), not revision 3; the ready pods run 1.0.0"
	if len(web.Drift) != 1 || web.Drift[0] != wantDrift || len(web.Rollout) != 0 {
		t.Errorf("web: drift %q, rollout %q; want the drift line\n%s", web.Drift, web.Rollout, wantDrift)
	}
	if s := web.Stable; s.Updated != 1 || !s.RollingOut || !reflect.DeepEqual(s.Serving, []VersionPods{{"1.0.0", 3}}) {
		t.Errorf("web's replicas: %+v", s)
	}
	wantRollout := "deployment cart: its template asks for version 2.0, image reg/cart:2.0 (0/2 pods updated); the ready pods run 1.0"
	if len(cart.Drift) != 0 || len(cart.Rollout) != 1 || cart.Rollout[0] != wantRollout {
		t.Errorf("cart: drift %q, rollout %q; want\n%s", cart.Drift, cart.Rollout, wantRollout)
	}
	wantUndo := "deployment shop has the pod template of revision 1 again, not revision 2's: kubectl rollout undo, or another writer, put it back; its template asks for version 1, image reg/shop:1 (1/2 pods updated); the ready pods run 1 (1 pod) and 2 (1 pod)"
	if len(shop.Drift) != 1 || shop.Drift[0] != wantUndo || len(shop.Rollout) != 0 {
		t.Errorf("shop: drift %q, rollout %q; want the drift line\n%s", shop.Drift, shop.Rollout, wantUndo)
	}
}

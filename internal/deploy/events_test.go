package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/contract"
)

func labelled(app, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, UID: types.UID(uid), Labels: map[string]string{contract.LabelApp: app}}
}

func event(name, kind, obj, uid, typ, reason string, at time.Time) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: obj, Namespace: ns, UID: types.UID(uid)},
		Type:           typ, Reason: reason, Message: reason + " of " + obj + "\n", LastTimestamp: metav1.NewTime(at), Count: 2}
}

// TestAppEvents: the events of an app's objects, the pods already gone
// included (by the names their Deployment gives them), and none of another
// app whose name starts the same way, oldest first.
func TestAppEvents(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	withMeta := func(m metav1.ObjectMeta, name string) metav1.ObjectMeta { m.Name = name; return m }
	objs := []runtime.Object{
		&appsv1.Deployment{ObjectMeta: withMeta(labelled("shop", "d-shop"), "shop")},
		&appsv1.ReplicaSet{ObjectMeta: withMeta(labelled("shop", "rs-shop"), "shop-7d9c6b8f5")},
		&corev1.Pod{ObjectMeta: withMeta(labelled("shop", "p-shop"), "shop-7d9c6b8f5-x2x4z")},
		&corev1.Service{ObjectMeta: withMeta(labelled("shop", "s-shop"), "shop")},
		&appsv1.Deployment{ObjectMeta: withMeta(labelled("shop-db", "d-db"), "shop-db")},
		&corev1.Pod{ObjectMeta: withMeta(labelled("shop-db", "p-db"), "shop-db-5f6d7c8b9-zzzzz")},
		event("e1", "Deployment", "shop", "d-shop", corev1.EventTypeNormal, "ScalingReplicaSet", t0.Add(3*time.Second)),
		event("e2", "Pod", "shop-7d9c6b8f5-x2x4z", "p-shop", corev1.EventTypeWarning, "BackOff", t0.Add(5*time.Second)),
		// A pod the rollout already replaced: only its name is left.
		event("e3", "Pod", "shop-6c8b7d9f4-bcdfg", "gone", corev1.EventTypeNormal, "Killing", t0.Add(time.Second)),
		// A Job's pod, of a Job named like the app's pods: not the app's.
		event("e9", "Pod", "shop-migrate-x7k2p", "job-pod", corev1.EventTypeWarning, "BackoffLimitExceeded", t0.Add(time.Second)),
		// A Job named like a ReplicaSet of the app (shop-bcd), gone pod and
		// all: its pod's name is one the app's could have, but the Job is there.
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-bcd"}},
		event("e10", "Pod", "shop-bcd-x7k2p", "job-pod-2", corev1.EventTypeWarning, "BackoffLimitExceeded", t0.Add(time.Second)),
		event("e4", "Pod", "shop-db-5f6d7c8b9-zzzzz", "p-db", corev1.EventTypeWarning, "BackOff", t0.Add(2*time.Second)),
		event("e5", "Pod", "other-5f6d7c8b9-yyyyy", "p-other", corev1.EventTypeWarning, "Failed", t0),
		event("e6", "Service", "shop", "s-shop", corev1.EventTypeWarning, "SyncLoadBalancerFailed", t0.Add(4*time.Second)),
		// A canary that came and went.
		event("e7", "ReplicaSet", "shop-canary-55f6c7d8b9", "rs-gone", corev1.EventTypeNormal, "SuccessfulDelete", t0.Add(6*time.Second)),
	}
	series := event("e8", "Pod", "shop-7d9c6b8f5-x2x4z", "p-shop", corev1.EventTypeWarning, "Unhealthy", time.Time{})
	series.EventTime = metav1.NewMicroTime(t0.Add(2 * time.Second))
	series.Series = &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(t0.Add(7 * time.Second))}
	c := fake.NewClientset(append(objs, series)...)
	names := func(evs []AppEvent) string {
		var out []string
		for _, e := range evs {
			out = append(out, e.App+":"+e.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		app   string
		types string
		want  string
	}{
		{"shop", "", "shop:e3 shop:e1 shop:e6 shop:e2 shop:e7 shop:e8"},
		{"shop", "warning", "shop:e6 shop:e2 shop:e8"},
		{"shop-db", "", "shop-db:e4"},
		{"", "Normal,Warning", "shop:e3 shop-db:e4 shop:e1 shop:e6 shop:e2 shop:e7 shop:e8"},
	} {
		types, err := EventTypes(tt.types)
		if err != nil {
			t.Fatal(err)
		}
		evs, _, _, err := AppEvents(t.Context(), c, ns, tt.app, types)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(evs); got != tt.want {
			t.Errorf("events of %q (%q):\n got %s\nwant %s", tt.app, tt.types, got, tt.want)
		}
	}
	evs, _, _, _ := AppEvents(t.Context(), c, ns, "shop", nil)
	if last := evs[len(evs)-1]; last.Object != "pod/shop-7d9c6b8f5-x2x4z" || last.Count != 7 || !last.LastSeen.Equal(t0.Add(7*time.Second)) ||
		last.Message != "Unhealthy of shop-7d9c6b8f5-x2x4z" {
		t.Errorf("an event series: %+v", last)
	}
	if _, err := EventTypes("Normal,Error"); !errors.Is(err, ErrEventType) || !strings.Contains(err.Error(), `"Error"`) {
		t.Errorf("EventTypes(Normal,Error) = %v", err)
	}

	// Every namespace (-A): a gone pod is the app's in a namespace where the
	// app has objects, not in one where a pod only happens to be named so.
	inNS := func(o runtime.Object, ns string) runtime.Object {
		switch o := o.(type) {
		case *corev1.Event:
			o.Namespace, o.InvolvedObject.Namespace = ns, ns
		case *appsv1.Deployment:
			o.Namespace = ns
		}
		return o
	}
	c = fake.NewClientset(append(objs, series,
		inNS(&appsv1.Deployment{ObjectMeta: withMeta(labelled("shop", "d-team-shop"), "shop")}, "team"),
		inNS(event("t1", "Pod", "shop-5f6d7c8b9-bcdfg", "gone-team", corev1.EventTypeWarning, "Evicted", t0.Add(8*time.Second)), "team"),
		inNS(event("x1", "Pod", "shop-5f6d7c8b9-bcdfg", "gone-x", corev1.EventTypeWarning, "Evicted", t0.Add(9*time.Second)), "elsewhere"))...)
	for _, tt := range []struct{ app, want string }{
		{"shop", "ns/shop:e3 ns/shop:e1 ns/shop:e6 ns/shop:e2 ns/shop:e7 ns/shop:e8 team/shop:t1"},
		{"", "ns/shop:e3 ns/shop-db:e4 ns/shop:e1 ns/shop:e6 ns/shop:e2 ns/shop:e7 ns/shop:e8 team/shop:t1"},
	} {
		evs, _, _, err := AppEvents(t.Context(), c, metav1.NamespaceAll, tt.app, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Namespace+"/"+e.App+":"+e.Name)
		}
		if want := strings.ReplaceAll(tt.want, "ns/", ns+"/"); strings.Join(got, " ") != want {
			t.Errorf("events of %q in every namespace:\n got %s\nwant %s", tt.app, strings.Join(got, " "), want)
		}
	}
}

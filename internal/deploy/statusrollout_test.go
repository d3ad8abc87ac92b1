package deploy

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// TestRollingOut: what a Deployment's template asks for is said apart from
// what its ready pods run while its rollout is unfinished: old pods still
// there, a ready pod of another version, no pod of the template's version
// ready; a scale up of the same template or a finished rollout with a
// crashing pod is none (an incident audit: "it runs version 9.9.7" with
// 3/3 ready pods of 1.0.0).
func TestRollingOut(t *testing.T) {
	serves := func(vps ...VersionPods) []VersionPods { return vps }
	for _, tc := range []struct {
		name    string
		rs      Status
		serving []VersionPods
		want    bool
		words   string
	}{
		{"done", Status{Observed: true, Want: 3, Updated: 3, Total: 3, Ready: 3}, serves(VersionPods{"2.0", 3}), false,
			"it runs version 2.0, image reg/shop:2.0, not revision 3"},
		{"a crash after it was done: UP-TO-DATE and the pod's reason say it", Status{Observed: true, Want: 3, Updated: 3, Total: 3, Ready: 2},
			serves(VersionPods{"2.0", 2}), false, "it runs version 2.0, image reg/shop:2.0, not revision 3"},
		{"a scale up of the same template", Status{Observed: true, Want: 5, Updated: 3, Total: 3, Ready: 3}, serves(VersionPods{"2.0", 3}), false,
			"it runs version 2.0, image reg/shop:2.0, not revision 3"},
		{"the new pod crash-loops, the old ones serve (the audit's case)", Status{Observed: true, Want: 3, Updated: 1, Total: 4, Ready: 3},
			serves(VersionPods{"1.0", 3}), true,
			"its template asks for version 2.0, image reg/shop:2.0 (1/3 pods updated), not revision 3; the ready pods run 1.0"},
		{"no new pod could be created (webhook down)", Status{Observed: true, Want: 3, Total: 3, Ready: 3},
			serves(VersionPods{"1.0", 3}), true,
			"its template asks for version 2.0, image reg/shop:2.0 (0/3 pods updated), not revision 3; the ready pods run 1.0"},
		{"half way: both serve", Status{Observed: true, Want: 3, Updated: 2, Total: 4, Ready: 3},
			serves(VersionPods{"1.0", 2}, VersionPods{"2.0", 1}), true,
			"its template asks for version 2.0, image reg/shop:2.0 (2/3 pods updated), not revision 3; the ready pods run 1.0 (2 pods) and 2.0 (1 pod)"},
		{"old pods pending termination", Status{Observed: true, Want: 3, Updated: 3, Total: 4, Ready: 4},
			serves(VersionPods{"2.0", 3}, VersionPods{"", 1}), true,
			"its template asks for version 2.0, image reg/shop:2.0 (3/3 pods updated), not revision 3; the ready pods run 2.0 (3 pods) and <none> (1 pod)"},
		{"the status is behind a ready pod of another version", Status{Observed: true, Want: 1, Updated: 1, Total: 1, Ready: 1},
			serves(VersionPods{"1.0", 1}), true,
			"its template asks for version 2.0, image reg/shop:2.0 (1/1 pods updated), not revision 3; the ready pod runs 1.0"},
		{"Recreate: the old pods gone, no new one ready", Status{Observed: true, Want: 3}, nil, true,
			"its template asks for version 2.0, image reg/shop:2.0 (0/3 pods updated), not revision 3; no pod of it is ready"},
		{"not yet seen by the controller", Status{Want: 3, Updated: 3, Total: 3, Ready: 3}, serves(VersionPods{"1.0", 3}), true,
			"its template asks for version 2.0, image reg/shop:2.0 (not yet seen by the Deployment controller), not revision 3; the ready pods run 1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Replicas{Version: "2.0", Image: "reg/shop:2.0", Desired: tc.rs.Want, Updated: tc.rs.Updated, Ready: tc.rs.Ready,
				Serving: tc.serving, Unobserved: !tc.rs.Observed}
			if got := rollingOut(tc.rs, r); got != tc.want {
				t.Fatalf("rollingOut = %v, want %v", got, tc.want)
			}
			r.RollingOut = tc.want
			if got := runs(r, ", not revision 3"); got != tc.words {
				t.Errorf("runs:\n got %q\nwant %q", got, tc.words)
			}
		})
	}
}

// TestServingVersions: the ready pods the Deployment selects, by their
// version label, most first; not a pod not ready, being deleted, of
// another Deployment (the canary's) or namespace.
func TestServingVersions(t *testing.T) {
	// The selector as rendered: the app's label alone, which the canary's
	// pods carry too (a review: they were counted as the stable's).
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "shop"}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Selector: sel}}
	pod := func(name, ns, track, version string, ready bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		deployment := "shop"
		if track == contract.TrackCanary {
			deployment = "shop-canary"
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{contract.LabelApp: "shop", contract.LabelTrack: track, contract.LabelVersion: version}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
		ofReplicaSet(p, deployment, version)
		return p
	}
	byHand := pod("by-hand", "ns", contract.TrackStable, "1.0", true)
	byHand.OwnerReferences = nil
	deleting := pod("d", "ns", contract.TrackStable, "1.0", true)
	deleting.DeletionTimestamp = &metav1.Time{}
	pods := []*corev1.Pod{
		pod("a", "ns", contract.TrackStable, "2.0", true),
		pod("b", "ns", contract.TrackStable, "1.0", true),
		pod("c", "ns", contract.TrackStable, "1.0", true),
		pod("new", "ns", contract.TrackStable, "3.0", false),
		deleting,
		pod("canary", "ns", contract.TrackCanary, "3.0", true),
		pod("elsewhere", "other", contract.TrackStable, "3.0", true),
		byHand,
	}
	want := []VersionPods{{"1.0", 2}, {"2.0", 1}}
	if got := servingVersions(d, pods); !reflect.DeepEqual(got, want) {
		t.Errorf("servingVersions = %v, want %v", got, want)
	}
	// No selector selects nothing here, not every pod.
	if got := servingVersions(&appsv1.Deployment{ObjectMeta: d.ObjectMeta}, pods); len(got) != 0 {
		t.Errorf("servingVersions without a selector = %v", got)
	}
}

// ofReplicaSet makes p a pod of deployment's ReplicaSet of hash, as the
// Deployment controller names it and labels its pods.
func ofReplicaSet(p *corev1.Pod, deployment, hash string) {
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: deployment + "-" + hash, Controller: ptr.To(true)}}
}

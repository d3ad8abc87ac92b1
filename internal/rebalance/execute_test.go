package rebalance

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func ownedPod(name, node, kind, owner string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)}, Spec: corev1.PodSpec{NodeName: node}}
	if kind != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: owner, Controller: ptr.To(true)}}
	}
	return p
}

func replicaSet(name string, want, ready int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(want)}, Status: appsv1.ReplicaSetStatus{ReadyReplicas: ready}}
}

func TestExecute(t *testing.T) {
	tests := []struct {
		name    string
		objs    []runtime.Object
		evict   error // what the Eviction API answers
		pod     string
		want    string // "" for done, else a piece of the reason
		evicted bool
		failed  bool // Outcome.Failed: not made, or not finished, and not moot
		// replacement: the app's ready count stays one short after the
		// eviction (its new pod never becomes ready)
		replacementStuck bool
	}{
		{"evicted when the app is whole", []runtime.Object{ownedPod("p1", "a", "ReplicaSet", "rs"), replicaSet("rs", 3, 3)}, nil, "p1", "", true, false, false},
		{"budget refuses", []runtime.Object{ownedPod("p1", "a", "ReplicaSet", "rs"), replicaSet("rs", 3, 3)},
			apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 1), "p1", "PodDisruptionBudget", false, true, false},
		{"app not whole", []runtime.Object{ownedPod("p1", "a", "ReplicaSet", "rs"), replicaSet("rs", 3, 2)}, nil, "p1", "every replica ready", false, true, false},
		{"replacement never ready", []runtime.Object{ownedPod("p1", "a", "ReplicaSet", "rs"), replicaSet("rs", 3, 3)}, nil, "p1", "evicted, but its app did not have every replica ready again", true, true, true},
		{"single replica", []runtime.Object{ownedPod("p1", "a", "ReplicaSet", "rs"), replicaSet("rs", 1, 1)}, nil, "p1", "one replica", false, true, false},
		{"no controller", []runtime.Object{ownedPod("p1", "a", "", "")}, nil, "p1", "no controller", false, true, false},
		{"moved meanwhile", []runtime.Object{ownedPod("p1", "b", "ReplicaSet", "rs"), replicaSet("rs", 3, 3)}, nil, "p1", "no longer on the planned node", false, false, false},
		{"gone", []runtime.Object{replicaSet("rs", 3, 3)}, nil, "p1", "gone", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objs...)
			evicted := false
			client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if a.GetSubresource() != "eviction" {
					return false, nil, nil
				}
				if tt.evict != nil {
					return true, nil, tt.evict
				}
				evicted = true
				// The ReplicaSet's replacement, bound to c (the plan said b).
				repl := ownedPod("p1-new", "c", "ReplicaSet", "rs")
				if err := client.Tracker().Add(repl); err != nil {
					t.Error(err)
				}
				if tt.replacementStuck {
					rs := replicaSet("rs", 3, 2)
					if err := client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("replicasets"), rs, "ns"); err != nil {
						t.Error(err)
					}
				}
				return true, nil, nil
			})
			plan := Plan{Moves: []Move{{Pod: Pod{Namespace: "ns", Name: tt.pod}, From: "a", To: "b"}}}
			out := Execute(context.Background(), client, plan, ExecOptions{Timeout: 300 * time.Millisecond, Poll: 50 * time.Millisecond})
			if len(out) != 1 {
				t.Fatalf("%d outcomes", len(out))
			}
			if tt.want == "" && !out[0].Done || tt.want != "" && !strings.Contains(out[0].Skipped, tt.want) {
				t.Errorf("outcome %+v, want %q", out[0], tt.want)
			}
			if wantLanded := map[bool]string{true: "c"}[out[0].Done]; out[0].Landed != wantLanded {
				t.Errorf("landed on %q, want %q", out[0].Landed, wantLanded)
			}
			if evicted != tt.evicted || out[0].Evicted != tt.evicted {
				t.Errorf("evicted = %v, outcome says %v, want %v", evicted, out[0].Evicted, tt.evicted)
			}
			if out[0].Failed() != tt.failed {
				t.Errorf("Failed() = %v, want %v (%+v)", out[0].Failed(), tt.failed, out[0])
			}
		})
	}
}

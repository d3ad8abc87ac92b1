package deploy

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// TestConflictRetriedRidesOutABusyController: a Deployment's controller
// writes its status at every pod change of a rollout, so an update may
// conflict several times in a row; four are ridden out (three ended a
// deploy over drift in CI), conflictsMax end it with errConflicts.
func TestConflictRetriedRidesOutABusyController(t *testing.T) {
	k, ok := kindOf("Deployment")
	if !ok {
		t.Fatal("no kindOps for Deployment")
	}
	for _, tc := range []struct {
		conflicts int
		want      error
	}{
		{0, nil}, {conflictsMax - 1, nil}, {conflictsMax, errConflicts},
	} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "ns"}}
		c := fake.NewClientset(d)
		left := tc.conflicts
		c.PrependReactor("update", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
			if left > 0 {
				left--
				return true, nil, apierrors.NewConflict(appsv1.Resource("deployments"), "shop", errors.New("the object has been modified"))
			}
			return false, nil, nil
		})
		updates := 0
		_, err := conflictRetried(t.Context(), c, k, "ns", d, func(live runtime.Object, stored bool) (runtime.Object, error) {
			if stored {
				return nil, nil // done once one update went through
			}
			updates++
			put := live.(*appsv1.Deployment).DeepCopy()
			put.Labels = map[string]string{"taken": "back"}
			return put, nil
		})
		if !errors.Is(err, tc.want) {
			t.Errorf("%d conflicts: err %v, want %v", tc.conflicts, err, tc.want)
		}
		if want := min(tc.conflicts, conflictsMax-1) + 1; updates != want {
			t.Errorf("%d conflicts: next asked %d times, want %d", tc.conflicts, updates, want)
		}
	}
}

// TestConflictRetried: the one update loop of takeBack and replaceWhole
// reads the object again after a conflict and asks its step anew, gives up
// after conflictsMax conflicts in a row, counts them anew after a write that
// stored, and hands any other refusal back as the apiserver gave it (a
// take-back tells a missing right by it).
func TestConflictRetried(t *testing.T) {
	conflict := apierrors.NewConflict(corev1.Resource("services"), "shop", errors.New("the object has been modified"))
	forbidden := apierrors.NewForbidden(corev1.Resource("services"), "shop", errors.New("no update"))
	tests := []struct {
		name    string
		answers []error // of the updates, in turn; nil: stored
		writes  int     // updates the step asks for before it is done
		wantErr func(error) bool
		stored  int // steps told they got what an update stored
		reads   int // steps given a read after a conflict
	}{
		{name: "stored at once", answers: []error{nil}, writes: 1, stored: 1},
		{name: "two conflicts, then stored", answers: []error{conflict, conflict, nil}, writes: 1, stored: 1, reads: 2},
		{name: "conflictsMax conflicts in a row", answers: slices.Repeat([]error{conflict}, conflictsMax), writes: 1, reads: conflictsMax - 1,
			wantErr: func(err error) bool { return errors.Is(err, errConflicts) }},
		{name: "conflicts counted anew after a write", answers: []error{conflict, conflict, nil, conflict, conflict, nil}, writes: 2, stored: 2, reads: 4},
		{name: "a refusal as it is", answers: []error{forbidden}, writes: 1, wantErr: apierrors.IsForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			c, _ := startedApp(t, onEvery("update", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
				u, ok := a.(clienttesting.UpdateActionImpl)
				if !ok || len(u.UpdateOptions.DryRun) > 0 || u.GetObject().(*corev1.Service).Annotations["step"] == "" {
					return false, nil, nil
				}
				if i := int(n.Add(1)) - 1; i < len(tt.answers) && tt.answers[i] != nil {
					return true, nil, tt.answers[i]
				}
				return false, nil, nil
			}))
			live, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			k, _ := kindOf("Service")
			writes, stored, reads, first := 0, 0, 0, true
			_, err = conflictRetried(t.Context(), c, k, ns, live, func(live runtime.Object, wasStored bool) (runtime.Object, error) {
				switch {
				case wasStored:
					stored++
				case !first:
					reads++
				}
				first = false
				if writes == tt.writes && wasStored {
					return nil, nil
				}
				if wasStored || writes == 0 {
					writes++
				}
				svc := live.DeepCopyObject().(*corev1.Service)
				svc.Annotations["step"] = "1"
				return svc, nil
			})
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !tt.wantErr(err) {
				t.Errorf("error %v", err)
			}
			if stored != tt.stored || reads != tt.reads {
				t.Errorf("steps told stored %d, given a read %d; want %d, %d", stored, reads, tt.stored, tt.reads)
			}
		})
	}
}

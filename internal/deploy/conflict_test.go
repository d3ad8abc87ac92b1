package deploy

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
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

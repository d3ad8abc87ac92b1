package deploy

import (
	"errors"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
)

// TestConflictRetried: the one update loop of takeBack and replaceWhole
// reads the object again after a conflict and asks its step anew, gives up
// after three conflicts in a row, counts them anew after a write that
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
		{name: "three conflicts in a row", answers: []error{conflict, conflict, conflict}, writes: 1, reads: 2,
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

package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// TestExplainUntriedWhileZZSchedulerLeads: a pod zz-scheduler has not
// tried while its Lease is renewed is held up behind its queue (a hung
// extender holds it httpTimeout per GPU pod), not sent elsewhere by a
// scheduler that is down: a chaos audit was told "while it is down ...
// deleting this pod has it replaced there" while it led. A stale Lease, or
// none readable, keeps the words for a scheduler that is down.
func TestExplainUntriedWhileZZSchedulerLeads(t *testing.T) {
	lease := func(renewed time.Duration) runtime.Object {
		r := metav1.NewMicroTime(time.Now().Add(-renewed))
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: contract.SystemNamespace, Name: contract.SchedulerName},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("zz-scheduler-7d9f_1"), LeaseDurationSeconds: ptr.To[int32](15), RenewTime: &r}}
	}
	const down = "while it is down the zz webhook sends new pods to the default scheduler"
	for _, tt := range []struct {
		name  string
		objs  []runtime.Object
		want  string
		avoid string
		down  string // the component the pod waits for
	}{
		{"leads", []runtime.Object{lease(2 * time.Second)}, "zz-scheduler leads (its Lease zz-system/zz-scheduler is renewed) but its queue is held up: is the zz extender answering? (kubectl zz check; kubectl -n zz-system logs deployment/zz-scheduler -c zz-extender)", down, contract.ComponentExtender},
		{"lease lapsed", []runtime.Object{lease(time.Minute)}, down, "leads", contract.SchedulerName},
		{"no lease", nil, down, "leads", contract.SchedulerName},
		// A developer may not read zz-system: either may hold it up (a
		// review: zz-scheduler was named as down, as a fact).
		{"the lease forbidden", []runtime.Object{lease(2 * time.Second)}, down, "leads", "zz-scheduler (or its extender)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := PodProblem(ownedPod(untried(contract.SchedulerName, time.Minute)))
			if !ok {
				t.Fatal("no problem")
			}
			problems := []Problem{p, p}
			c := fake.NewClientset(tt.objs...)
			if tt.name == "the lease forbidden" {
				c.PrependReactor("get", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, contract.SchedulerName, errors.New("dev may not"))
				})
			}
			ExplainStarting(t.Context(), c, "shop", problems)
			for _, got := range problems {
				if !strings.Contains(got.String(), tt.want) || strings.Contains(got.String(), tt.avoid) {
					t.Errorf("%s\nwant %q, not %q", got, tt.want, tt.avoid)
				}
				if got.Down != tt.down {
					t.Errorf("down = %q, want %q", got.Down, tt.down)
				}
			}
		})
	}
}

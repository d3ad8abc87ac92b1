package deploy

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
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
		{"no lease readable", nil, down, "leads", contract.SchedulerName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := PodProblem(ownedPod(untried(contract.SchedulerName, time.Minute)))
			if !ok {
				t.Fatal("no problem")
			}
			problems := []Problem{p, p}
			ExplainStarting(t.Context(), fake.NewClientset(tt.objs...), "shop", problems)
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

package webhook

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// fakeLeaseSource answers the direct GET of the lease: lease, or err.
type fakeLeaseSource struct {
	lease atomic.Pointer[coordinationv1.Lease]
	err   atomic.Pointer[error]
	gets  atomic.Int32
}

func (f *fakeLeaseSource) get(context.Context) (*coordinationv1.Lease, error) {
	f.gets.Add(1)
	if err := f.err.Load(); err != nil {
		return nil, *err
	}
	return f.lease.Load(), nil
}

func (f *fakeLeaseSource) fail(err error) { f.err.Store(&err) }

func leaseAt(holder string, renewed time.Time) *coordinationv1.Lease {
	r := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To[int32](15), RenewTime: &r}}
}

// probedLease is a SchedulerLease past its first list, fed by hand (observe,
// watchFailed) instead of an informer, whose direct GET is src.
func probedLease(t *testing.T, clock *fakeClock, src *fakeLeaseSource) *SchedulerLease {
	l := &SchedulerLease{Scheduler: contract.SchedulerName, Lease: types.NamespacedName{Namespace: "zz-system", Name: "zz-scheduler"},
		Grace: 15 * time.Second, Now: clock.Now, get: src.get, probeCtx: t.Context()}
	l.synced.Store(true)
	return l
}

// TestSchedulerLeaseProbe: "down" is a fact about the scheduler, not about
// the webhook's watch. Renewals seen: up, with no GET. No renewal past the
// duration and the grace while the watch delivers: down, once a GET of the
// lease agrees. Watch broken: the GET decides; a failed GET leaves the state
// unknown and pods routed to the scheduler (a chaos audit saw a minute of
// pods sent to the default scheduler after an apiserver restart).
func TestSchedulerLeaseProbe(t *testing.T) {
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	refused := errors.New("dial tcp 10.96.0.1:443: connect: connection refused")
	wantDown := func(t *testing.T, l *SchedulerLease, want bool, why string) {
		t.Helper()
		if down, got := l.Down(); down != want || !strings.Contains(got, why) {
			t.Fatalf("Down() = %v (%s), want %v (%s)", down, got, want, why)
		}
	}

	t.Run("renewals seen", func(t *testing.T) {
		clock, src := &fakeClock{t: start}, &fakeLeaseSource{}
		l := probedLease(t, clock, src)
		for range 30 {
			l.observe(leaseAt("a_1", clock.Now()))
			clock.Add(2 * time.Second)
			wantDown(t, l, false, "")
		}
		if n := src.gets.Load(); n != 0 {
			t.Errorf("%d GETs of a lease seen renewed, want none", n)
		}
	})

	t.Run("no renewal while the watch delivers", func(t *testing.T) {
		clock, src := &fakeClock{t: start}, &fakeLeaseSource{}
		l := probedLease(t, clock, src)
		l.observe(leaseAt("a_1", start))
		src.lease.Store(leaseAt("a_1", start))
		clock.Add(30 * time.Second)
		wantDown(t, l, false, "")
		clock.Add(time.Second)
		wantDown(t, l, true, "held by a_1, last renewed 2026-12-05T10:00:00Z")
		wantDown(t, l, true, "held by a_1")
		if n := src.gets.Load(); n != 1 {
			t.Errorf("%d GETs within %v, want 1", n, leaseProbeEvery)
		}
		// A GET failing while the watch delivers: the view is current.
		clock.Add(leaseProbeEvery)
		src.fail(refused)
		wantDown(t, l, true, "held by a_1")
		// A renewal the watch missed, read by the GET: up again.
		src.err.Store(nil)
		src.lease.Store(leaseAt("b_2", clock.Now()))
		clock.Add(leaseProbeEvery)
		wantDown(t, l, false, "")
	})

	t.Run("watch broken, the GET decides", func(t *testing.T) {
		clock, src := &fakeClock{t: start}, &fakeLeaseSource{}
		l := probedLease(t, clock, src)
		l.observe(leaseAt("a_1", start))
		l.watchFailed(errors.New(`leases.coordination.k8s.io "zz-scheduler" is forbidden`))
		// A standby leads and renews every 2 s; the informer sees none of
		// it for a minute.
		for range 60 {
			clock.Add(time.Second)
			src.lease.Store(leaseAt("b_2", clock.Now()))
			wantDown(t, l, false, "")
		}
		if !strings.Contains(l.Ready(), "up or unknown") {
			t.Errorf("Ready() = %q, want it to say the watch fails", l.Ready())
		}
		// The standby stops: once the lease read shows no renewal for its
		// duration and the grace, down, watch or no watch.
		clock.Add(31 * time.Second)
		wantDown(t, l, false, "") // a renewal the last read had not seen
		clock.Add(31 * time.Second)
		wantDown(t, l, true, "held by b_2")
		// Deleted: down too.
		src.lease.Store(nil)
		src.fail(apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "zz-scheduler"))
		clock.Add(leaseProbeEvery)
		wantDown(t, l, true, "no leader-election lease")
	})

	t.Run("watch broken, the GET fails", func(t *testing.T) {
		clock, src := &fakeClock{t: start}, &fakeLeaseSource{}
		l := probedLease(t, clock, src)
		l.observe(leaseAt("a_1", start))
		l.watchFailed(refused)
		src.fail(refused)
		clock.Add(5 * time.Minute)
		wantDown(t, l, false, "")
		if base := examplePolicy(t); l.Policy(t.Context(), base) != base {
			t.Error("unknown: want the policy in force itself, routing pods to the scheduler")
		}
		// The watch delivers again (a relist): its view counts.
		l.observe(leaseAt("a_1", start))
		clock.Add(leaseProbeEvery)
		wantDown(t, l, true, "held by a_1")
	})
}

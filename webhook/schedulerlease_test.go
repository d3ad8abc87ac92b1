package webhook

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestSchedulerLease: zz-scheduler counts as down when its lease is missing,
// unrenewed past its duration and the grace, or released and not taken
// within the grace; up again on the next renewal. While down, the policy
// in force is applied with the scheduler down, one copy per policy.
func TestSchedulerLease(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	client := fake.NewClientset()
	l := &SchedulerLease{Scheduler: contract.SchedulerName, Lease: types.NamespacedName{Namespace: "zz-system", Name: "zz-scheduler"},
		Grace: 15 * time.Second, Now: clock.Now}
	if down, _ := l.Down(); down {
		t.Fatal("down before the informer listed anything; want up (unknown)")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, client) }()
	waitFor(t, "the lease informer to sync", func() bool { return l.synced.Load() })

	wantDown := func(what string, want bool, why string) {
		t.Helper()
		var down bool
		var got string
		// The informer delivers writes asynchronously.
		waitFor(t, what, func() bool { down, got = l.Down(); return down == want && strings.Contains(got, why) })
		gauge := testutil.ToFloat64(l.Collector())
		if (gauge == 0) != want {
			t.Errorf("%s: zz_webhook_scheduler_up %v", what, gauge)
		}
	}
	wantDown("no lease", true, "no leader-election lease zz-system/zz-scheduler: no zz-scheduler replica has run")

	leases := client.CoordinationV1().Leases("zz-system")
	renewed := metav1.NewMicroTime(clock.Now())
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-a_1"), LeaseDurationSeconds: ptr.To[int32](15), RenewTime: &renewed}}
	lease, err := leases.Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantDown("a leader renewing", false, "")
	clock.Add(30 * time.Second) // its duration and the grace
	wantDown("a lease renewed 30 s ago", false, "")
	clock.Add(time.Second)
	wantDown("a lease past its duration and the grace", true, "lease zz-system/zz-scheduler held by node-a_1, last renewed 2026-12-05T10:00:00Z")

	base := examplePolicy(t)
	p1 := l.Policy(ctx, base)
	if p1 == base || l.Policy(ctx, base) != p1 {
		t.Error("while down, want one derived policy, the same for every review")
	}
	if edited := examplePolicy(t); l.Policy(ctx, edited) == p1 {
		t.Error("a new policy in force must get its own derived copy")
	}
	// Without the fallback (--scheduler-fallback=false) pods keep being
	// routed there, while the gauge still says it is down.
	l.NoFallback = true
	if l.Policy(ctx, base) != base || testutil.ToFloat64(l.Collector()) != 0 {
		t.Error("without the fallback, want the policy in force itself, and zz_webhook_scheduler_up 0")
	}
	l.NoFallback = false

	renewed = metav1.NewMicroTime(clock.Now())
	lease.Spec.RenewTime = &renewed
	if lease, err = leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantDown("renewed again", false, "")
	if l.Policy(ctx, base) != base {
		t.Error("while up, want the policy in force itself")
	}

	// Released by a leader that stopped (kube-scheduler's ReleaseOnCancel):
	// a standby takes it within seconds, so only the grace counts.
	renewed = metav1.NewMicroTime(clock.Now())
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = ptr.To(""), ptr.To[int32](1), &renewed
	if _, err = leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the release to be seen", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.state.holder == ""
	})
	clock.Add(15 * time.Second)
	wantDown("released 15 s ago", false, "")
	clock.Add(time.Second)
	wantDown("released and not taken", true, "released by its last leader and not taken since")

	if err := leases.Delete(ctx, "zz-scheduler", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantDown("deleted", true, "no leader-election lease")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestSchedulerLeaseStaleAtStart: a webhook started while zz-scheduler is
// down judges the lease by its renewTime at first sight, instead of routing
// pods there for another lease duration.
func TestSchedulerLeaseStaleAtStart(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	stale := metav1.NewMicroTime(clock.Now().Add(-5 * time.Minute))
	client := fake.NewClientset(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "zz-scheduler", Namespace: "zz-system"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-a_1"), LeaseDurationSeconds: ptr.To[int32](15), RenewTime: &stale}})
	l := &SchedulerLease{Scheduler: contract.SchedulerName, Lease: types.NamespacedName{Namespace: "zz-system", Name: "zz-scheduler"},
		Grace: 15 * time.Second, Now: clock.Now}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = l.Run(ctx, client) }()
	waitFor(t, "the lease informer to sync", func() bool { return l.synced.Load() })
	if down, why := l.Down(); !down || !strings.Contains(why, "last renewed 2026-12-05T09:55:00Z") {
		t.Errorf("a lease renewed 5 minutes before the webhook started: down %v (%s); want down", down, why)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

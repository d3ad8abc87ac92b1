package webhook

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/inject"
)

// DefaultLeaseGrace is how long past its lease duration a scheduler's leader
// may go without renewing before the scheduler counts as down: a failover
// (the leader releases the lease, a standby takes it within its retry
// period, 2 s by default) never trips it.
const DefaultLeaseGrace = 15 * time.Second

// SchedulerLease follows the leader-election Lease of one scheduler
// (zz-scheduler's, as its KubeSchedulerConfiguration names it) to tell
// whether it can schedule now. The shipped policy routes every pod to
// zz-scheduler; with no replica leading (all down, a bad upgrade, or a chart
// installed without it), those pods would wait Pending, so the policy is
// then applied with the scheduler down (inject.Policy.WithSchedulerDown).
//
// Expiry is judged on this process's clock, from when a renewal was seen
// (as client-go's leader election does), so clock skew between the nodes
// does not matter.
type SchedulerLease struct {
	Scheduler string
	Lease     types.NamespacedName
	Grace     time.Duration
	Now       func() time.Time
	// NoFallback keeps routing pods to the scheduler while it is down
	// (they wait for it); the Lease is still followed, for the metric and
	// /readyz.
	NoFallback bool

	synced atomic.Bool
	mu     sync.Mutex
	state  leaseState
	// derived caches the policy with the scheduler down, per policy in force
	// and reason, so a review costs no copy.
	derived atomic.Pointer[derivedPolicy]
	// wasDown is the last state Policy reported, to log each change once.
	wasDown atomic.Bool
}

type leaseState struct {
	exists   bool
	holder   string
	duration time.Duration
	renewed  metav1.MicroTime // the lease's renewTime, as written by the leader
	seen     time.Time        // when this process saw it change
}

type derivedPolicy struct {
	base, policy *inject.Policy
	why          string
}

func (l *SchedulerLease) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Down says whether the scheduler cannot schedule now, and why. Before the
// informer's first list, and when no lease is followed, it is up.
func (l *SchedulerLease) Down() (bool, string) {
	if l == nil || !l.synced.Load() {
		return false, ""
	}
	l.mu.Lock()
	st := l.state
	l.mu.Unlock()
	if !st.exists {
		return true, fmt.Sprintf("no leader-election lease %s: no %s replica has run", l.Lease, l.Scheduler)
	}
	expiry := st.seen.Add(st.duration + l.Grace)
	if st.holder == "" {
		// Released by a leader that stopped; its successor takes it soon.
		expiry = st.seen.Add(l.Grace)
	}
	if !l.now().After(expiry) {
		return false, ""
	}
	last := "never renewed"
	if !st.renewed.IsZero() {
		last = "last renewed " + st.renewed.UTC().Format(time.RFC3339)
	}
	if st.holder == "" {
		return true, fmt.Sprintf("lease %s released by its last leader and not taken since (%s)", l.Lease, last)
	}
	return true, fmt.Sprintf("lease %s held by %s, %s", l.Lease, st.holder, last)
}

// Policy applies the scheduler's state to the policy in force: p itself
// while the scheduler is up, else p with it down (the same copy for every
// review until p or the reason changes). Each change of state is logged.
func (l *SchedulerLease) Policy(ctx context.Context, p *inject.Policy) *inject.Policy {
	if p == nil || l == nil || l.NoFallback {
		return p
	}
	down, why := l.Down()
	if l.wasDown.Swap(down) != down {
		if down {
			klog.FromContext(ctx).Info("Scheduler down: pods the policy routes to it are left to the default scheduler", "scheduler", l.Scheduler, "reason", why)
		} else {
			klog.FromContext(ctx).Info("Scheduler up again: pods are routed to it", "scheduler", l.Scheduler, "lease", l.Lease)
		}
	}
	if !down {
		return p
	}
	if d := l.derived.Load(); d != nil && d.base == p && d.why == why {
		return d.policy
	}
	d := &derivedPolicy{base: p, policy: p.WithSchedulerDown(l.Scheduler, why), why: why}
	l.derived.Store(d)
	return d.policy
}

// Collector is the gauge zz_webhook_scheduler_up: 1 while the scheduler can
// schedule, 0 while pods it would get are left to the default scheduler.
func (l *SchedulerLease) Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "zz_webhook_scheduler_up",
		Help:        "1 while the scheduler the policy routes pods to has a leader renewing its lease; 0 while the webhook leaves those pods to the default scheduler.",
		ConstLabels: prometheus.Labels{"scheduler": l.Scheduler},
	}, func() float64 {
		if down, _ := l.Down(); down {
			return 0
		}
		return 1
	})
}

// Ready details the scheduler's state for /readyz.
func (l *SchedulerLease) Ready() string {
	if !l.synced.Load() {
		return fmt.Sprintf("%s lease %s not read yet", l.Scheduler, l.Lease)
	}
	if down, why := l.Down(); down {
		return fmt.Sprintf("%s down (%s): its pods are left to the default scheduler", l.Scheduler, why)
	}
	return fmt.Sprintf("%s up (lease %s)", l.Scheduler, l.Lease)
}

// observe records the lease as the informer delivers it (nil: deleted).
func (l *SchedulerLease) observe(lease *coordinationv1.Lease) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease == nil {
		l.state = leaseState{seen: l.now()}
		return
	}
	st := leaseState{exists: true, duration: 15 * time.Second}
	if h := lease.Spec.HolderIdentity; h != nil {
		st.holder = *h
	}
	if d := lease.Spec.LeaseDurationSeconds; d != nil && *d > 0 {
		st.duration = time.Duration(*d) * time.Second
	}
	if r := lease.Spec.RenewTime; r != nil {
		st.renewed = *r
	}
	st.seen = l.state.seen
	switch now := l.now(); {
	case !l.state.exists && !st.renewed.IsZero() && st.renewed.Time.Before(now):
		// First sight (this webhook just started, or the lease is new):
		// trust its renewTime as far as it is in the past, so a webhook
		// started while zz-scheduler is down does not route pods there for
		// another lease duration. Clock skew can only make it look older,
		// until its next renewal.
		st.seen = st.renewed.Time
	case !l.state.exists || st.holder != l.state.holder || !st.renewed.Equal(&l.state.renewed):
		st.seen = now
	}
	l.state = st
}

// Run follows the lease until ctx ends.
func (l *SchedulerLease) Run(ctx context.Context, client kubernetes.Interface) error {
	set := func(obj any) {
		if lease, ok := obj.(*coordinationv1.Lease); ok {
			l.observe(lease)
		}
	}
	err := followOne(ctx, client, l.Lease, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Coordination().V1().Leases().Informer()
	}, set, func() { l.observe(nil) }, func() {
		l.mu.Lock()
		if !l.state.exists && l.state.seen.IsZero() {
			l.state.seen = l.now() // listed, and none
		}
		l.mu.Unlock()
		l.synced.Store(true)
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("scheduler lease %s: %w", l.Lease, err)
	}
	return nil
}

package webhook

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// Probing the lease directly: a view that says the scheduler is down is
// read again from the apiserver, at most once per leaseProbeEvery and for at
// most leaseProbeTimeout, before pods are left to the default scheduler.
const (
	leaseProbeEvery   = 3 * time.Second
	leaseProbeTimeout = time.Second
)

// SchedulerLease follows the leader-election Lease of one scheduler
// (zz-scheduler's, as its KubeSchedulerConfiguration names it) to tell
// whether it can schedule now. The shipped policy routes every pod to
// zz-scheduler; with no replica leading (all down, a bad upgrade, or a chart
// installed without it), those pods would wait Pending, so the policy is
// then applied with the scheduler down (inject.Policy.WithSchedulerDown).
//
// Expiry is judged on this process's clock, from when a renewal was seen
// (as client-go's leader election does), so clock skew between the nodes
// does not matter. "Down" is a fact about the scheduler, not about this
// process's watch: a view that has it down is confirmed by a direct GET of
// the lease first, and while the watch is broken (after an apiserver
// restart the informer relists late, a minute in a chaos audit, and every
// pod in that minute went to the default scheduler for good) a failed GET
// leaves the state unknown, and pods are routed to the scheduler as usual.
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
	health viewHealth
	// derived caches the policy with the scheduler down, per policy in force
	// and reason, so a review costs no copy.
	derived atomic.Pointer[derivedPolicy]
	// wasDown is the last state Policy reported, to log each change once.
	wasDown atomic.Bool

	// get reads the lease directly (set by Run; tests set their own), with
	// probeCtx, Run's context, as parent; probing is held by the one
	// review that reads it, so the others do not queue behind it.
	get      func(context.Context) (*coordinationv1.Lease, error)
	probeCtx context.Context
	probing  sync.Mutex
}

type leaseState struct {
	exists   bool
	holder   string
	duration time.Duration
	renewed  metav1.MicroTime // the lease's renewTime, as written by the leader
	seen     time.Time        // when this process saw it change
}

// viewHealth says how current the view of the lease is.
type viewHealth struct {
	// watchErr is the informer's last watch or list error since its last
	// event ("" while it delivers): the view may be stale.
	watchErr   string
	watchSince time.Time
	// probed is when the lease was last read directly, probeErr how that
	// went (nil: the state is as read then).
	probed   time.Time
	probeErr error
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
// informer's first list, and when no lease is followed, it is up. A view
// that has it down is read again from the apiserver first (probe); when
// that read fails while the watch is broken, the state is unknown and the
// scheduler counts as up: its pods wait Pending for it, as they do while
// the control plane restarts, rather than go to the default scheduler for
// good.
func (l *SchedulerLease) Down() (bool, string) {
	if l == nil || !l.synced.Load() {
		return false, ""
	}
	if st, _ := l.snapshot(); !l.expired(st) {
		return false, ""
	}
	l.probe()
	st, h := l.snapshot()
	if h.watchErr != "" && (h.probed.IsZero() || h.probeErr != nil) {
		return false, ""
	}
	return l.judge(st)
}

func (l *SchedulerLease) snapshot() (leaseState, viewHealth) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state, l.health
}

func (l *SchedulerLease) expired(st leaseState) bool {
	down, _ := l.judge(st)
	return down
}

// judge is Down from the view st alone.
func (l *SchedulerLease) judge(st leaseState) (bool, string) {
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

// probe reads the lease directly, unless it was read in the last
// leaseProbeEvery or another review is reading it; what it reads is
// observed as a watch event would be (a renewal the informer missed counts
// from now), a failure is kept in probeErr.
func (l *SchedulerLease) probe() {
	if !l.probing.TryLock() {
		return
	}
	defer l.probing.Unlock()
	l.mu.Lock()
	get, parent := l.get, l.probeCtx
	fresh := !l.health.probed.IsZero() && l.now().Sub(l.health.probed) < leaseProbeEvery
	l.mu.Unlock()
	if get == nil || parent == nil || fresh {
		return
	}
	ctx, cancel := context.WithTimeout(parent, leaseProbeTimeout)
	defer cancel()
	lease, err := get(ctx)
	switch {
	case apierrors.IsNotFound(err):
		l.record(nil, nil)
	case err != nil:
		l.record(nil, err)
	default:
		l.record(lease, nil)
	}
}

// record keeps what a probe read: the lease (nil with no error: there is
// none), or its error.
func (l *SchedulerLease) record(lease *coordinationv1.Lease, err error) {
	if err == nil {
		l.apply(lease)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.health.probed, l.health.probeErr = l.now(), err
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
	if _, h := l.snapshot(); h.watchErr != "" {
		return fmt.Sprintf("%s up or unknown (lease %s; its watch fails since %s: %s; pods are routed to it until a read of the lease says it is down)",
			l.Scheduler, l.Lease, h.watchSince.UTC().Format(time.RFC3339), h.watchErr)
	}
	return fmt.Sprintf("%s up (lease %s)", l.Scheduler, l.Lease)
}

// observe records the lease as the informer delivers it (nil: deleted): the
// watch delivers again.
func (l *SchedulerLease) observe(lease *coordinationv1.Lease) {
	l.apply(lease)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.health.watchErr, l.health.watchSince = "", time.Time{}
}

// watchFailed records a failed watch or list of the informer: until its
// next event, the view may be stale.
func (l *SchedulerLease) watchFailed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.health.watchErr == "" {
		l.health.watchSince = l.now()
	}
	l.health.watchErr = err.Error()
}

// apply records the lease as read (nil: there is none).
func (l *SchedulerLease) apply(lease *coordinationv1.Lease) {
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
	l.mu.Lock()
	l.probeCtx = ctx
	if l.get == nil {
		l.get = func(ctx context.Context) (*coordinationv1.Lease, error) {
			return client.CoordinationV1().Leases(l.Lease.Namespace).Get(ctx, l.Lease.Name, metav1.GetOptions{})
		}
	}
	l.mu.Unlock()
	err := followOne(ctx, client, l.Lease, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		inf := f.Coordination().V1().Leases().Informer()
		// Retriable errors (connection refused) are retried inside the
		// reflector unreported; the probe covers those.
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			l.watchFailed(err)
			cache.DefaultWatchErrorHandler(ctx, r, err)
		})
		return inf
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

package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// The app lock's timing: a command renews its Lease every lockRenew; one
// that died (killed, a laptop closed) blocks the app for at most
// lockDuration after its last renewal, as a Helm release left pending
// would for good.
const (
	lockDuration = 60 * time.Second
	lockRenew    = 15 * time.Second
)

// ErrLocked is wrapped by the error of a command refused because another
// kubectl zz command is changing the same app.
var ErrLocked = errors.New("another kubectl zz command is changing the app")

// LockName is the name of app's lock, a coordination.k8s.io Lease in its
// namespace.
func LockName(app string) string { return "zz." + app + ".lock" }

// lock takes app's lock for one command (verb: "deploy", "scale"...) until
// release is called: a Lease created in the app's namespace, renewed while
// the command runs. Every kubectl zz command that changes an app reads its
// history, applies, waits and records under it, so two of them on one app
// (two developers, a pipeline and an on-call) no longer interleave their
// applies and records (a concurrency audit: half-applied apps, a rollback
// or abort reported done while the other command's version ran); the
// second is refused at once, naming who holds it, as Helm refuses an
// upgrade while another operation is in progress. A lock that lapsed (its
// holder died) is taken over. A user who may not create Leases is warned
// and goes on unlocked, as before.
func lock(ctx context.Context, c kubernetes.Interface, o *Options, app, verb string) (release func(), err error) {
	ns, name := o.Namespace, LockName(app)
	leases := c.CoordinationV1().Leases(ns)
	now := func() metav1.MicroTime { return metav1.NewMicroTime(o.now()) }
	mine := coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(whoAmI(ctx, c, o.User) + " (kubectl zz " + verb + ")"),
		LeaseDurationSeconds: ptr.To(int32(lockDuration / time.Second)),
	}
	for range 3 {
		at := now()
		mine.AcquireTime, mine.RenewTime = &at, &at
		held, err := leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
				contract.LabelK8sManagedBy: contract.ManagedBy, contract.LabelApp: app,
			}},
			Spec: mine,
		}, metav1.CreateOptions{FieldManager: contract.ManagedBy})
		switch {
		case err == nil:
			return keep(ctx, c, o, held), nil
		case apierrors.IsForbidden(err):
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "warning: %s is changed without its lock: this user may not create leases in namespace %s, so another kubectl zz command on %s at the same time is not kept apart (%v)\n", app, ns, app, err)
			}
			return func() {}, nil
		case apierrors.IsNotFound(err):
			return func() {}, nil // no namespace: the apply says so
		case !apierrors.IsAlreadyExists(err):
			return nil, fmt.Errorf("take the lock of %s (lease %s/%s): %w", app, ns, name, err)
		}
		cur, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // released meanwhile
		} else if err != nil {
			return nil, fmt.Errorf("read the lock of %s (lease %s/%s): %w", app, ns, name, err)
		}
		if !lapsed(cur.Spec, o.now()) {
			return nil, lockedBy(cur, app, o.now())
		}
		cur.Spec = mine
		if held, err = leases.Update(ctx, cur, metav1.UpdateOptions{FieldManager: contract.ManagedBy}); err == nil {
			return keep(ctx, c, o, held), nil
		} else if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("take over the lapsed lock of %s (lease %s/%s): %w", app, ns, name, err)
		}
	}
	return nil, fmt.Errorf("%w: the lock of %s (lease %s/%s) changed hands three times while this command tried to take it; run it again", ErrLocked, app, ns, name)
}

// lapsed says whether a lock was last renewed longer than its duration ago.
func lapsed(s coordinationv1.LeaseSpec, now time.Time) bool {
	if s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return true
	}
	return now.After(s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second))
}

// lockedBy is the refusal of a command whose app another command holds.
func lockedBy(l *coordinationv1.Lease, app string, now time.Time) error {
	who, since := ptr.Deref(l.Spec.HolderIdentity, "another command"), ""
	if t := l.Spec.AcquireTime; t != nil {
		since = fmt.Sprintf(" since %s (%s ago)", t.Format(time.TimeOnly), now.Sub(t.Time).Round(time.Second))
	}
	return fmt.Errorf("%w: %s is being changed by %s%s; run this command again when it ends (kubectl zz status %s shows the app). A lock whose command was killed lapses %s after its last renewal, or: kubectl delete lease %s -n %s",
		ErrLocked, app, who, since, app, lockDuration, l.Name, l.Namespace)
}

// keep renews the held lock until release, which deletes it (even after
// ctx ended: Ctrl-C releases the app).
func keep(ctx context.Context, c kubernetes.Interface, o *Options, held *coordinationv1.Lease) func() {
	leases := c.CoordinationV1().Leases(held.Namespace)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(lockRenew)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				l := held.DeepCopy()
				l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(o.now()))
				if u, err := leases.Update(ctx, l, metav1.UpdateOptions{FieldManager: contract.ManagedBy}); err == nil {
					held = u
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = leases.Delete(rctx, held.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &held.UID}})
	}
}

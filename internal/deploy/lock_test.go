package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// realClock is opts() on the real clock: the locks the commands judge
// were renewed at the real time.
func realClock() Options {
	o := opts()
	o.Now = time.Now
	return o
}

// TestAppLock: while a deploy waits for its rollout, every other command
// that changes the app is refused at once, naming who holds it, and
// changes nothing; the lock goes with the command (Ctrl-C included); a
// dry run takes none.
func TestAppLock(t *testing.T) {
	c := fake.NewClientset()
	ctx, cancel := context.WithCancel(t.Context())
	o := opts()
	o.Timeout, o.Now = time.Minute, time.Now // status judges the lock by the real clock
	done := stuckDeploy(ctx, t, c, &Config{Options: o})
	l, err := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != "alice (kubectl zz deploy)" {
		t.Fatalf("the waiting deploy's lock: %+v, %v", l, err)
	}
	if st, err := AppStatusOf(t.Context(), c, ns, "shop"); err != nil || !strings.HasPrefix(st.ChangingBy, "alice (kubectl zz deploy) since ") {
		t.Errorf("status beside the waiting deploy: %v, changing by %q", err, st.ChangingBy)
	}
	// The lock carries the token the deploy applied with, which status
	// ties the unrecorded apply to (a review).
	if d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err != nil ||
		l.Annotations[contract.AnnotationApplyID] == "" || d.Annotations[contract.AnnotationApplyID] != l.Annotations[contract.AnnotationApplyID] {
		t.Errorf("the lock's token %q, the applied Deployment's %q (%v)", l.Annotations[contract.AnnotationApplyID], d.Annotations[contract.AnnotationApplyID], err)
	}
	others := map[string]func() error{
		"deploy": func() error {
			_, err := Run(t.Context(), c, &Config{Options: realClock(), App: spec(t, "reg/shop:2", "")})
			return err
		},
		"canary": func() error {
			_, err := RunCanary(t.Context(), c, &Config{Options: realClock(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1})
			return err
		},
		"scale": func() error {
			_, err := Scale(t.Context(), c, &ChangeConfig{Options: realClock(), App: "shop"}, 5)
			return err
		},
		"restart": func() error {
			_, err := Restart(t.Context(), c, &ChangeConfig{Options: realClock(), App: "shop"})
			return err
		},
		"rollback": func() error {
			_, err := Rollback(t.Context(), c, &RollbackConfig{Options: realClock(), App: "shop", ToRevision: 1})
			return err
		},
		"abort": func() error {
			_, err := Abort(t.Context(), c, &CanaryActionConfig{Options: realClock(), App: "shop"})
			return err
		},
		"delete": func() error {
			_, err := Delete(t.Context(), c, &DeleteConfig{Namespace: ns, App: "shop", Now: time.Now})
			return err
		},
	}
	for name, run := range others {
		err := run()
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "shop is being changed by alice (kubectl zz deploy) since ") ||
			!strings.Contains(err.Error(), "kubectl delete lease zz.shop.lock -n "+ns) {
			t.Errorf("%s while a deploy waits: %v, want ErrLocked naming the holder", name, err)
		}
	}
	if img := image(t, c); img != "reg/shop:slow" {
		t.Errorf("a refused command changed the app: image %s", img)
	}
	if hist, _ := History(t.Context(), c, ns, "shop"); len(hist) != 1 {
		t.Errorf("a refused command recorded: %d revisions", len(hist))
	}
	// A dry run is no change to keep apart.
	var diff bytes.Buffer
	if _, err := Scale(t.Context(), c, &ChangeConfig{Options: realClock(), App: "shop", DiffOut: &diff}, 5); err != nil {
		t.Errorf("scale --diff while a deploy waits: %v", err)
	}
	cancel() // Ctrl-C
	if err := <-done; err == nil {
		t.Fatal("the interrupted deploy succeeded")
	}
	if _, err := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the lock outlived its interrupted command: %v", err)
	}
	if _, err := Scale(t.Context(), c, &ChangeConfig{Options: realClock(), App: "shop"}, 3); err != nil {
		t.Fatalf("scale after the deploy ended: %v", err)
	}
}

// TestLapsedLockTakenOver: a lock its command stopped renewing (killed) is
// taken over once it lapsed, not before.
func TestLapsedLockTakenOver(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	o := opts()
	now := o.now()
	held := func(renewed time.Time) {
		t.Helper()
		_ = c.CoordinationV1().Leases(ns).Delete(t.Context(), LockName("shop"), metav1.DeleteOptions{})
		_, err := c.CoordinationV1().Leases(ns).Create(t.Context(), &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: LockName("shop"), Namespace: ns},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("bob (kubectl zz deploy)"), LeaseDurationSeconds: ptr.To(int32(60)),
				AcquireTime: ptr.To(metav1.NewMicroTime(renewed)), RenewTime: ptr.To(metav1.NewMicroTime(renewed))},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	held(now.Add(-30 * time.Second))
	if _, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", "")}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "bob (kubectl zz deploy) since 11:59:30 (30s ago)") {
		t.Fatalf("deploy beside a live lock: %v", err)
	}
	held(now.Add(-2 * time.Minute))
	if rev := deployOK(t, c, spec(t, "reg/shop:1", ""), 0); rev != 1 {
		t.Fatalf("deploy after the lock lapsed recorded revision %d", rev)
	}
	if _, err := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the taken-over lock was not released: %v", err)
	}
}

// TestLockForbidden: a user who may not create leases is warned and the
// command goes on, as before the lock.
func TestLockForbidden(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("create", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, LockName("shop"), errors.New("RBAC"))
	})
	startController(t, c) // after the reactor: the fake's reactors are not safe to add while it runs
	var progress bytes.Buffer
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:1", "")}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "warning: shop is changed without its lock: this user may not create leases in namespace "+ns) {
		t.Errorf("no warning:\n%s", progress.String())
	}
}

// TestStalledHolderLosesTheLock: a command that stalled past its lock's
// duration (a laptop asleep) finds it taken over: its context ends with
// ErrLockLost, and its release leaves the new holder's lock alone.
func TestStalledHolderLosesTheLock(t *testing.T) {
	defer func(d time.Duration) { lockRenew = d }(lockRenew)
	lockRenew = 10 * time.Millisecond
	c := fake.NewClientset()
	uids := 0
	c.PrependReactor("create", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
		uids++ // as the apiserver gives each object its own
		a.(clienttesting.CreateAction).GetObject().(*coordinationv1.Lease).UID = types.UID(fmt.Sprint("lease-", uids))
		return false, nil, nil
	})
	first := opts()
	ctx1, release1, err := lock(t.Context(), c, &first, "shop", "deploy")
	if err != nil {
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			release1()
		}
	})
	// The second command's clock is past the first's lapse.
	second := opts()
	second.User, second.Now = "bob", func() time.Time { return first.now().Add(2 * lockDuration) }
	ctx2, release2, err := lock(t.Context(), c, &second, "shop", "scale")
	if err != nil {
		t.Fatalf("take over a lapsed lock: %v", err)
	}
	defer release2()
	select {
	case <-ctx1.Done():
		if !errors.Is(context.Cause(ctx1), ErrLockLost) {
			t.Errorf("the stalled command's cause: %v", context.Cause(ctx1))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stalled command goes on after its lock was taken over")
	}
	released = true
	if err := unlock(ctx1, release1, errors.New("get deployment: context canceled")); !errors.Is(err, ErrLockLost) {
		t.Errorf("the stalled command's error: %v", err)
	}
	l, err := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != "bob (kubectl zz scale)" {
		t.Fatalf("the stalled command's release took the new holder's lock: %v, %+v", err, l)
	}
	if ctx2.Err() != nil {
		t.Fatalf("the new holder lost its lock: %v", context.Cause(ctx2))
	}
}

// TestLockRenewedAfterCtrlC: the renewals go on after the command's
// context ends, until release (the restore after a Ctrl-C runs under it).
func TestLockRenewedAfterCtrlC(t *testing.T) {
	defer func(d time.Duration) { lockRenew = d }(lockRenew)
	lockRenew = 10 * time.Millisecond
	c := fake.NewClientset()
	o := opts()
	var clock atomic.Int64
	o.Now = func() time.Time { return time.Unix(clock.Add(1), 0) }
	parent, interrupt := context.WithCancel(t.Context())
	_, release, err := lock(parent, c, &o, "shop", "deploy")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	interrupt()
	renewed := func() time.Time {
		l, err := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return l.Spec.RenewTime.Time
	}
	before := renewed()
	waitFor(t, "the lock to be renewed after Ctrl-C", func() bool { return renewed().After(before) })
}

// TestLostLockRestoresNothing: a deploy with --rollback-on-failure whose
// lock is taken over while it waits (it was stopped past the lock's
// duration) stops without restoring or recording: the app is the new
// holder's. And one whose Deployment is deleted while it waits restores
// nothing either (a tenant audit saw a deleted app come back, its public
// Ingress with it).
func TestLostLockRestoresNothing(t *testing.T) {
	defer func(d time.Duration) { lockRenew = d }(lockRenew)
	lockRenew = 10 * time.Millisecond
	for _, other := range []string{"takes the lock", "deletes the app"} {
		t.Run(other, func(t *testing.T) {
			c := fake.NewClientset()
			o := opts()
			o.Timeout = 20 * time.Second
			done := stuckDeploy(t.Context(), t, c, &Config{Options: o, RollbackOnFailure: true})
			switch other {
			case "takes the lock":
				// What a takeover does once the lock lapsed: delete, create anew.
				if err := c.CoordinationV1().Leases(ns).Delete(t.Context(), LockName("shop"), metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				now := metav1.NewMicroTime(time.Now())
				if _, err := c.CoordinationV1().Leases(ns).Create(t.Context(), &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LockName("shop")},
					Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("bob (kubectl zz scale)"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: &now, AcquireTime: &now}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			case "deletes the app":
				if err := c.AppsV1().Deployments(ns).Delete(t.Context(), "shop", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("the deploy went on waiting")
			}
			switch other {
			case "takes the lock":
				if !errors.Is(err, ErrLockLost) || image(t, c) != "reg/shop:slow" {
					t.Errorf("err %v, image %s; want ErrLockLost and nothing restored", err, image(t, c))
				}
				if l, gerr := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{}); gerr != nil || *l.Spec.HolderIdentity != "bob (kubectl zz scale)" {
					t.Errorf("the new holder's lock: %v", gerr)
				}
			case "deletes the app":
				_, gerr := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
				if !errors.Is(err, ErrSuperseded) || !apierrors.IsNotFound(gerr) {
					t.Errorf("err %v, deployment %v; want ErrSuperseded and no Deployment", err, gerr)
				}
			}
			if hist, herr := History(t.Context(), c, ns, "shop"); herr != nil || len(hist) != 1 {
				t.Errorf("%d revisions recorded (%v), want 1", len(hist), herr)
			}
		})
	}
}

// takesOver checks that a command takes the lapsed lock of shop over.
func takesOver(t *testing.T, c *fake.Clientset) {
	t.Helper()
	o := realClock()
	_, release, err := lock(t.Context(), c, &o, "shop", "scale")
	if err != nil {
		t.Fatalf("taking over a lapsed lock: %v", err)
	}
	release()
}

// TestForgedLocks: a Lease of the lock's name written by hand (any editor
// of the namespace may) blocks the app no longer than a lock of kubectl
// zz's own, prints its holder quoted and cut, and a finalizer on it does not
// keep it there; a full Lease quota fails the command instead of running
// it unlocked, and a user who may not change apps gets that refusal, not a
// warning about the lock (a tenant audit and a kubectl audit).
func TestForgedLocks(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration) *metav1.MicroTime { return ptr.To(metav1.NewMicroTime(now.Add(d))) }
	forge := func(t *testing.T, c *fake.Clientset, spec coordinationv1.LeaseSpec, finalizers ...string) {
		t.Helper()
		if _, err := c.CoordinationV1().Leases(ns).Create(t.Context(), &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: LockName("shop"), Finalizers: finalizers}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("holder", func(t *testing.T) {
		c := fake.NewClientset()
		hostile := "root (kubectl zz deploy)\x1b[2J\n\u202edeployed\r" + strings.Repeat("x", 500)
		forge(t, c, coordinationv1.LeaseSpec{HolderIdentity: &hostile, LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: at(0), AcquireTime: at(0)})
		o := realClock()
		_, _, err := lock(t.Context(), c, &o, "shop", "scale")
		msg := fmt.Sprint(err)
		if !errors.Is(err, ErrLocked) || strings.ContainsAny(msg, "\x1b\n\r\u202e") || strings.Contains(msg, strings.Repeat("x", 200)) || !strings.Contains(msg, `"root (kubectl zz deploy)\x1b[2J\n\u202edeployed\r`) {
			t.Errorf("refusal %q: want ErrLocked, the holder quoted and cut", msg)
		}
	})
	for _, tt := range []struct {
		name string
		spec coordinationv1.LeaseSpec
		live bool // still blocks now
	}{
		{"renewed in 2099", coordinationv1.LeaseSpec{HolderIdentity: ptr.To("x"), LeaseDurationSeconds: ptr.To(int32(math.MaxInt32)), RenewTime: ptr.To(metav1.NewMicroTime(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)))}, false},
		{"a century's duration, renewed 2 minutes ago", coordinationv1.LeaseSpec{HolderIdentity: ptr.To("x"), LeaseDurationSeconds: ptr.To(int32(math.MaxInt32)), RenewTime: at(-2 * time.Minute)}, false},
		{"a century's duration, renewed now", coordinationv1.LeaseSpec{HolderIdentity: ptr.To("x"), LeaseDurationSeconds: ptr.To(int32(math.MaxInt32)), RenewTime: at(0)}, true},
		{"a negative duration", coordinationv1.LeaseSpec{HolderIdentity: ptr.To("x"), LeaseDurationSeconds: ptr.To(int32(-5)), RenewTime: at(0)}, false},
		{"renewed a minute ahead (another machine's clock)", coordinationv1.LeaseSpec{HolderIdentity: ptr.To("x"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: at(time.Minute)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := !lapsed(tt.spec, now); got != tt.live {
				t.Errorf("live = %v, want %v", got, tt.live)
			}
		})
	}
	t.Run("finalizer", func(t *testing.T) {
		c := fake.NewClientset()
		// As the apiserver: a delete of an object with finalizers only
		// marks it.
		c.PrependReactor("delete", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
			obj, err := c.Tracker().Get(coordinationv1.SchemeGroupVersion.WithResource("leases"), ns, a.(clienttesting.DeleteAction).GetName())
			if err != nil || len(obj.(*coordinationv1.Lease).Finalizers) == 0 {
				return false, nil, nil
			}
			l := obj.(*coordinationv1.Lease).DeepCopy()
			l.DeletionTimestamp = ptr.To(metav1.Now())
			return true, nil, c.Tracker().Update(coordinationv1.SchemeGroupVersion.WithResource("leases"), l, ns)
		})
		forge(t, c, coordinationv1.LeaseSpec{HolderIdentity: ptr.To("x"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: at(-time.Hour)}, "example.com/keep")
		takesOver(t, c)
	})
	t.Run("quota", func(t *testing.T) {
		c := fake.NewClientset()
		c.PrependReactor("create", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, LockName("shop"),
				errors.New("exceeded quota: leases, requested: count/leases.coordination.k8s.io=1, used: count/leases.coordination.k8s.io=5, limited: count/leases.coordination.k8s.io=5"))
		})
		o := realClock()
		if _, _, err := lock(t.Context(), c, &o, "shop", "scale"); err == nil || !strings.Contains(err.Error(), "the namespace's quota admits no more leases") {
			t.Errorf("err %v, want the quota named", err)
		}
	})
	t.Run("quota full with a lapsed lock", func(t *testing.T) {
		// A quota of one Lease, the app's own lapsed lock in it: the
		// quota answers before "already exists", and the lock is taken
		// over, not left there for good (a concurrency audit).
		c := fake.NewClientset()
		c.PrependReactor("create", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
			if l, err := c.Tracker().List(coordinationv1.SchemeGroupVersion.WithResource("leases"), coordinationv1.SchemeGroupVersion.WithKind("Lease"), ns); err == nil && len(l.(*coordinationv1.LeaseList).Items) > 0 {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, LockName("shop"), errors.New("exceeded quota: leases, requested: count/leases.coordination.k8s.io=1, used: count/leases.coordination.k8s.io=1, limited: count/leases.coordination.k8s.io=1"))
			}
			return false, nil, nil
		})
		forge(t, c, coordinationv1.LeaseSpec{HolderIdentity: ptr.To("alice (kubectl zz deploy)"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: at(-2 * time.Minute)})
		takesOver(t, c)
	})
	t.Run("may change nothing", func(t *testing.T) {
		c := fake.NewClientset()
		c.PrependReactor("create", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, LockName("shop"), errors.New("RBAC"))
		})
		c.PrependReactor("create", "selfsubjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
			r := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
			r.Status.Allowed = false
			return true, r, nil
		})
		var progress bytes.Buffer
		o := realClock()
		o.Progress = &progress
		if _, _, err := lock(t.Context(), c, &o, "shop", "scale"); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "may not change apps in namespace "+ns) || progress.Len() > 0 {
			t.Errorf("err %v, progress %q: want Forbidden and no lock warning", err, progress.String())
		}
	})
}

// lockOnAClock takes shop's lock on a clock the test moves.
func lockOnAClock(t *testing.T, c *fake.Clientset) (ctx context.Context, clock func() time.Time, advance func(time.Duration)) {
	t.Helper()
	var mu sync.Mutex
	now := time.Now()
	o := opts()
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx, release, err := lock(t.Context(), c, &o, "shop", "deploy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return ctx, o.Now, func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

// TestStillHeldRenewsALapsedLock: a command that finds its own lock lapsed
// and not taken over (it slept) renews it and goes on, where it used to
// count it lost and leave a finished rollout unrecorded; taken over, it is
// lost.
func TestStillHeldRenewsALapsedLock(t *testing.T) {
	defer func(d time.Duration) { lockRenew = d }(lockRenew)
	lockRenew = time.Hour // no renewal but stillHeld's
	c := fake.NewClientset()
	startController(t, c) // the apiserver's UIDs and conflicts
	ctx, clock, advance := lockOnAClock(t, c)
	advance(2 * lockDuration)
	if err := stillHeld(ctx); err != nil {
		t.Fatalf("a lapsed lock no one took: %v", err)
	}
	if l, err := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{}); err != nil || lapsed(l.Spec, clock()) {
		t.Errorf("the lock was not renewed: %v", err)
	}
	if err := c.CoordinationV1().Leases(ns).Delete(t.Context(), LockName("shop"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Found its own a moment ago: no other command can have taken it since
	// (that needs it lapsed), so the check reads nothing.
	if err := stillHeld(ctx); err != nil {
		t.Errorf("a lock confirmed now: %v", err)
	}
	advance(lockFresh)
	if err := stillHeld(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("a deleted lock: %v, want ErrLockLost", err)
	}
}

// TestLockCheckedBeforeEachWrite: a deploy stopped between two writes
// past its lock's lapse, the lock taken over meanwhile, writes nothing
// more when it wakes (a concurrency audit: its next object landed over the
// new holder's).
func TestLockCheckedBeforeEachWrite(t *testing.T) {
	c := fake.NewClientset()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var armed atomic.Bool
	// While the Service is applied (the Deployment comes after), the
	// command sleeps past the lapse and another takes the lock: what a
	// SIGSTOP between two writes does.
	c.PrependReactor("patch", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if p := a.(clienttesting.PatchActionImpl); len(p.PatchOptions.DryRun) > 0 || !armed.CompareAndSwap(true, false) {
			return false, nil, nil
		}
		mu.Lock()
		now = now.Add(2 * lockDuration)
		mu.Unlock()
		gvr := coordinationv1.SchemeGroupVersion.WithResource("leases")
		if err := c.Tracker().Delete(gvr, ns, LockName("shop")); err != nil {
			t.Error(err)
		}
		at := metav1.NewMicroTime(clock())
		if err := c.Tracker().Create(gvr, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LockName("shop"), Namespace: ns, UID: "bobs"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("bob (kubectl zz deploy)"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: &at}}, ns); err != nil {
			t.Error(err)
		}
		return false, nil, nil
	})
	startController(t, c)
	o := opts()
	o.Now = clock
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:1", "")}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", "  port: 9090\n")})
	if !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "applied before it: service/shop") {
		t.Fatalf("err %v, want ErrLockLost naming what it applied", err)
	}
	if img := image(t, c); img != "reg/shop:1" {
		t.Errorf("the Deployment was written after the lock was lost: %s", img)
	}
	if l, err := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{}); err != nil || *l.Spec.HolderIdentity != "bob (kubectl zz deploy)" {
		t.Errorf("bob's lock: %v", err)
	}
	// The Service it applied before stopping is drift (it carries that
	// command's token), and a deploy of the recorded spec puts it back,
	// where status said Ready and the deploy "unchanged".
	if err := c.CoordinationV1().Leases(ns).Delete(t.Context(), LockName("shop"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil || !slices.ContainsFunc(st.Drift, func(d string) bool {
		return strings.HasPrefix(d, "service shop was applied by a kubectl zz command that recorded no revision")
	}) {
		t.Errorf("status after the stopped deploy: %v, drift %q", err, st.Drift)
	}
	res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:1", "")})
	if err != nil || res.Unchanged {
		t.Fatalf("deploy of the recorded spec: %+v, %v; want it applied again", res, err)
	}
	if svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err != nil || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("the Service is not back on 8080: %v", err)
	}
}

// TestReleaseHeld: what a second Ctrl-C runs before the process ends
// releases the locks held, and the command's own release after it is
// harmless.
func TestReleaseHeld(t *testing.T) {
	c := fake.NewClientset()
	o := realClock()
	_, release, err := lock(t.Context(), c, &o, "shop", "deploy")
	if err != nil {
		t.Fatal(err)
	}
	ReleaseHeld(5 * time.Second)
	if _, err := c.CoordinationV1().Leases(ns).Get(t.Context(), LockName("shop"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the lock is still there: %v", err)
	}
	release()
	ReleaseHeld(time.Second) // nothing held: returns at once
}

// TestFailedRenewalIsNoLoss: renewals that fail (the network after a laptop
// woke, past the lock's lapse) do not make the lock lost while it is still
// this command's; a write then renews it first, and is refused only while
// that cannot be done.
func TestFailedRenewalIsNoLoss(t *testing.T) {
	defer func(d time.Duration) { lockRenew = d }(lockRenew)
	lockRenew = 10 * time.Millisecond
	c := fake.NewClientset()
	var down atomic.Bool
	c.PrependReactor("update", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, apierrors.NewServiceUnavailable("the network is not back")
		}
		return false, nil, nil
	})
	startController(t, c)
	ctx, _, advance := lockOnAClock(t, c)
	down.Store(true)
	advance(2 * lockDuration)          // asleep past the lapse
	time.Sleep(100 * time.Millisecond) // renewals fail meanwhile
	if cause := context.Cause(ctx); cause != nil {
		t.Fatalf("failed renewals lost the lock: %v", cause)
	}
	if err := stillHeld(ctx); !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "could not be renewed before writing") {
		t.Errorf("a write while the lock cannot be renewed: %v", err)
	}
	down.Store(false)
	if err := stillHeld(ctx); err != nil {
		t.Errorf("a write once the network is back: %v", err)
	}
}

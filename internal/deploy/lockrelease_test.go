package deploy

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// TestLockReleasedAfterAPIServerError: a command that failed on an
// apiserver error releases its lock on a context of its own, trying again
// for a few seconds; when it still cannot, it says when the lock lapses
// and how to free it (a chaos audit's user was refused by their own ended
// command for a minute, with nothing said).
func TestLockReleasedAfterAPIServerError(t *testing.T) {
	defer func(timeout, retry time.Duration) { releaseTimeout, releaseRetry = timeout, retry }(releaseTimeout, releaseRetry)
	releaseTimeout, releaseRetry = 300*time.Millisecond, 5*time.Millisecond
	refused := errors.New(`Delete "https://127.0.0.1:28443/apis/coordination.k8s.io/v1/namespaces/team-a/leases/zz.shop.lock": dial tcp 127.0.0.1:28443: connect: connection refused`)
	for _, tt := range []struct {
		name     string
		failures int32
		warn     string
	}{
		{"the apiserver back within the retries", 3, ""},
		{"the apiserver away", 1 << 20, "warning: could not release the lock of shop (lease team-a/zz.shop.lock): " + refused.Error() + "; it lapses at 12:01:00, or: kubectl delete lease zz.shop.lock -n team-a"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			var failed atomic.Int32
			c.PrependReactor("*", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
				if a.GetVerb() != "get" && a.GetVerb() != "delete" || failed.Load() >= tt.failures {
					return false, nil, nil
				}
				if _, held := heldLease(c); !held {
					return false, nil, nil
				}
				failed.Add(1)
				return true, nil, refused
			})
			var progress bytes.Buffer
			o := opts()
			o.Progress = &progress
			c.PrependReactor("create", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
				failed.Store(tt.failures) // no failure while it is taken
				return false, nil, nil
			})
			ctx, release, err := lock(t.Context(), c, &o, "shop", "deploy")
			if err != nil || ctx == nil {
				t.Fatal(err)
			}
			failed.Store(0)
			release()
			_, held := heldLease(c)
			if tt.warn == "" {
				if held || progress.Len() > 0 {
					t.Errorf("lock held %v after the apiserver came back; said %q", held, progress.String())
				}
				return
			}
			if !held || !strings.Contains(progress.String(), tt.warn) {
				t.Errorf("lock held %v; said %q, want %q", held, progress.String(), tt.warn)
			}
		})
	}
}

// heldLease reads the lock from the fake's tracker, past its reactors.
func heldLease(c *fake.Clientset) (*coordinationv1.Lease, bool) {
	obj, err := c.Tracker().Get(coordinationv1.SchemeGroupVersion.WithResource("leases"), ns, LockName("shop"))
	if err != nil {
		return nil, false
	}
	return obj.(*coordinationv1.Lease), true
}

// TestStaleLockSaysWhenItExpires: a live lock its holder has not renewed
// for longer than a running command does is likely left by a command that
// ended: the refusal and status say so and when it expires, not "until it
// ends".
func TestStaleLockSaysWhenItExpires(t *testing.T) {
	now := time.Now()
	lease := func(renewed time.Duration) *coordinationv1.Lease {
		acquired := metav1.NewMicroTime(now.Add(-time.Minute))
		r := metav1.NewMicroTime(now.Add(-renewed))
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LockName("shop"), Namespace: ns},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("alice (kubectl zz deploy)"), LeaseDurationSeconds: ptr.To[int32](60),
				AcquireTime: &acquired, RenewTime: &r}}
	}
	stale, live := lease(40*time.Second), lease(3*time.Second)
	expires := stale.Spec.RenewTime.Add(time.Minute).Format(time.TimeOnly)

	err := Locked(t.Context(), fake.NewClientset(stale), ns, "shop")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "shop is locked by alice (kubectl zz deploy) since ") ||
		!strings.Contains(err.Error(), "held by a command that has ended? It expires at "+expires) || strings.Contains(err.Error(), "when it ends") {
		t.Errorf("refusal by a stale lock: %v", err)
	}
	if err := Locked(t.Context(), fake.NewClientset(live), ns, "shop"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "run this command again when it ends") {
		t.Errorf("refusal by a live lock: %v", err)
	}
	for _, tt := range []struct {
		lease *coordinationv1.Lease
		want  string
	}{{stale, expires}, {live, ""}} {
		b := newBook(false, nil)
		st, _ := b.get(ns, "shop")
		b.locks([]coordinationv1.Lease{*tt.lease}, now)
		got := ""
		if st.LockExpires != nil {
			got = st.LockExpires.Format(time.TimeOnly)
		}
		if got != tt.want || !strings.HasPrefix(st.ChangingBy, "alice (kubectl zz deploy) since ") {
			t.Errorf("status: changing by %q, lock expires %q; want %q", st.ChangingBy, got, tt.want)
		}
	}
}

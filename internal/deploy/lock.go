package deploy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// The app lock's timing: a command renews its Lease every lockRenew; one
// that died (killed, a laptop closed) blocks the app for at most
// lockDuration after its last renewal, as a Helm release left pending
// would for good.
const lockDuration = 60 * time.Second

// lockRenew is a variable for the tests' sake.
var lockRenew = 15 * time.Second

// ErrLocked is wrapped by the error of a command refused because another
// kubectl zz command is changing the same app.
var ErrLocked = errors.New("another kubectl zz command is changing the app")

// LockName is the name of app's lock, a coordination.k8s.io Lease in its
// namespace.
func LockName(app string) string { return lockPrefix + app + lockSuffix }

const lockPrefix, lockSuffix = "zz.", ".lock"

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
func lock(ctx context.Context, c kubernetes.Interface, o *Options, app, verb string) (context.Context, func(), error) {
	ctx = context.WithValue(ctx, commandKey{}, "kubectl zz "+verb)
	ns, name := o.Namespace, LockName(app)
	leases := c.CoordinationV1().Leases(ns)
	now := func() metav1.MicroTime { return metav1.NewMicroTime(o.now()) }
	// Asked once per command: the revision it records names the same user.
	o.User = whoAmI(ctx, c, o.User)
	mine := coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(o.User + " (kubectl zz " + verb + ")"),
		LeaseDurationSeconds: ptr.To(int32(lockDuration / time.Second)),
	}
	// The apply token this command writes (claim): on the Lease too, so
	// status tells the holder's apply under way from what an earlier
	// command applied and did not record.
	token := rand.Text()
	unlocked := func() {}
	tookOver := false
	for attempt := 0; attempt < 3 || tookOver && attempt < 13; attempt++ {
		var quotaErr error // the quota answers before "already exists"
		at := now()
		mine.AcquireTime, mine.RenewTime = &at, &at
		held, err := leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
				contract.LabelK8sManagedBy: contract.ManagedBy, contract.LabelApp: app,
			}, Annotations: map[string]string{contract.AnnotationApplyID: token}},
			Spec: mine,
		}, metav1.CreateOptions{FieldManager: contract.ManagedBy})
		switch {
		case err == nil:
			ctx, release := keep(context.WithValue(ctx, tokenKey{}, token), c, o, held, app)
			return ctx, release, nil
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
			// Full, not forbidden: going on unlocked would let two
			// commands interleave (a tenant audit filled the quota). The
			// quota answers before "already exists": a lock there (live,
			// or lapsed and to take over) is judged as below.
			quotaErr = err
		case apierrors.IsForbidden(err):
			if err := mayChange(ctx, c, ns); err != nil {
				return nil, nil, err // no warning about a lock for a change refused anyway
			}
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "warning: %s is changed without its lock: this user may not create leases in namespace %s, so another kubectl zz command on %s at the same time is not kept apart (%v)\n", app, ns, app, err)
			}
			return ctx, unlocked, nil
		case apierrors.IsNotFound(err):
			return ctx, unlocked, nil // no namespace: the apply says so
		case !apierrors.IsAlreadyExists(err):
			return nil, nil, fmt.Errorf("take the lock of %s (lease %s/%s): %w", app, ns, name, err)
		}
		cur, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && quotaErr != nil && tookOver && attempt < 12 {
			// The lapsed lock it deleted still counts until the quota
			// controller recounts (a second or so): wait for it.
			select {
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		if apierrors.IsNotFound(err) && quotaErr != nil {
			return nil, nil, fmt.Errorf("take the lock of %s (lease %s/%s): the namespace's quota admits no more leases (%v); free one or raise the quota (kubectl describe resourcequota -n %s)", app, ns, name, quotaErr, ns)
		} else if apierrors.IsNotFound(err) {
			continue // released meanwhile
		} else if err != nil {
			return nil, nil, fmt.Errorf("read the lock of %s (lease %s/%s): %w", app, ns, name, err)
		}
		if !lapsed(cur.Spec, o.now()) {
			return nil, nil, lockedBy(cur, app, o.now())
		}
		if o.Progress != nil {
			since := "ever"
			if t := cur.Spec.RenewTime; t != nil {
				since = t.Format(time.TimeOnly)
			}
			fmt.Fprintf(o.Progress, "warning: taking over the lock of %s from %s, not renewed since %s: that command stopped without releasing it, and what it applied and did not record may run (kubectl zz status %s)\n",
				app, holderOf(cur), since, app)
		}
		if len(cur.Finalizers) > 0 {
			// A finalizer (anyone who may edit the Lease can add one)
			// would keep the deleted lock there for good.
			cur.Finalizers = nil
			if cur, err = leases.Update(ctx, cur, metav1.UpdateOptions{FieldManager: contract.ManagedBy}); apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue
			} else if err != nil {
				return nil, nil, fmt.Errorf("take over the lapsed lock of %s: remove the finalizers of lease %s/%s: %w", app, ns, name, err)
			}
		}
		// A lapsed lock is deleted, as it was read, and taken anew: a new
		// Lease (a new UID), so its stalled holder, if it wakes, neither
		// renews nor releases this one.
		tookOver = true
		err = leases.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}})
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("take over the lapsed lock of %s (lease %s/%s): %w", app, ns, name, err)
		}
	}
	return nil, nil, fmt.Errorf("%w: the lock of %s (lease %s/%s) changed hands three times while this command tried to take it; run it again", ErrLocked, app, ns, name)
}

// Locked returns the refusal a command on app would get now (ErrLocked,
// naming the holder), nil when no live lock is held: a command that asks
// before it changes anything (delete) says so before its question.
func Locked(ctx context.Context, c kubernetes.Interface, ns, app string) error {
	l, err := c.CoordinationV1().Leases(ns).Get(ctx, LockName(app), metav1.GetOptions{})
	if err != nil || lapsed(l.Spec, time.Now()) {
		return nil // none, or unreadable: the command's own lock decides
	}
	return lockedBy(l, app, time.Now())
}

// unlock releases a command's lock and, when the command failed for losing
// it (its context ended with ErrLockLost), says so rather than the
// context error it met.
func unlock(ctx context.Context, release func(), err error) error {
	cause := context.Cause(ctx)
	switch {
	case err == nil || !errors.Is(cause, ErrLockLost) || errors.Is(err, ErrLockLost):
	case errors.Is(err, ErrInterrupted):
		// Its wait was cut by the lost lock, not by a user: "interrupted,
		// run it again to finish" would re-apply what the new holder
		// replaces (a concurrency audit).
		err = fmt.Errorf("%w; what it applied before may run until the command holding the lock now changes it (kubectl zz status shows what runs)", cause)
	default:
		err = fmt.Errorf("%w; %v", cause, err)
	}
	release()
	return err
}

// heldKey keys the held lock in the context of the command holding it.
type heldKey struct{}

// tokenKey keys the apply token of the command holding the lock, which
// its Lease carries (lockToken).
type tokenKey struct{}

// lockToken is the apply token of ctx's lock, "" without one.
func lockToken(ctx context.Context) string {
	s, _ := ctx.Value(tokenKey{}).(string)
	return s
}

// commandKey keys the name of the command that took the lock ("kubectl zz
// deploy"), for a refusal that names it (commandOf).
type commandKey struct{}

// commandOf is the name of ctx's command, or "this command" outside one.
func commandOf(ctx context.Context) string {
	if s, ok := ctx.Value(commandKey{}).(string); ok {
		return s
	}
	return "this command"
}

// stillHeld returns nil while the command whose context ctx is holds its
// app's lock, or holds none (a user without Leases); an error wrapping
// ErrLockLost once it is lost, read from the apiserver at the call, not at
// the last renewal: a command that woke after its lock lapsed may not
// have noticed yet.
func stillHeld(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrLockLost) {
		return cause
	}
	h, ok := ctx.Value(heldKey{}).(func(context.Context) error)
	if !ok {
		return nil
	}
	return h(context.WithoutCancel(ctx))
}

// ErrLockLost is the cause of a command's context ending because its lock
// lapsed (renewals failed for its duration, as when the machine slept) or
// another command took it over: it stops rather than change what that
// command now changes.
var ErrLockLost = errors.New("lost the app's lock")

// lapsed says whether a lock was last renewed longer than its duration ago.
// A duration over kubectl zz's own counts as its own, and a renewal time
// further ahead than lockClockSkew as none: a Lease written by hand with a renewal
// in 2099 would block the app for good (a tenant audit).
func lapsed(s coordinationv1.LeaseSpec, now time.Time) bool {
	if s.RenewTime == nil || s.LeaseDurationSeconds == nil || s.RenewTime.After(now.Add(lockClockSkew)) {
		return true
	}
	return now.After(s.RenewTime.Add(lapseOf(s)))
}

// staleLock says whether a live lock (not lapsed) has gone unrenewed for
// longer than its command renews it, with a margin for the apiserver's
// latency, and when it lapses: its command has likely ended without
// releasing it, or stopped.
func staleLock(s coordinationv1.LeaseSpec, now time.Time) (lapses time.Time, stale bool) {
	if lapsed(s, now) || s.RenewTime == nil {
		return time.Time{}, false
	}
	return s.RenewTime.Add(lapseOf(s)), now.Sub(s.RenewTime.Time) > lockRenew+5*time.Second
}

// lockFresh is how long after this command last renewed its lock it may
// write without renewing it again: half the lock's duration, no other
// command can take a lock over before it lapsed; the other half is a margin
// for the two machines' clocks.
const lockFresh = lockDuration / 2

// lockClockSkew is how far ahead of this machine's clock another's may
// have renewed a lock: further is no clock's, and counts as no renewal.
const lockClockSkew = 10 * time.Minute

// lapseOf is how long after its last renewal the lock lapses.
func lapseOf(s coordinationv1.LeaseSpec) time.Duration {
	return min(time.Duration(ptr.Deref(s.LeaseDurationSeconds, 0))*time.Second, lockDuration)
}

// maxHolder bounds how much of a lock's holder is printed.
const maxHolder = 120

// holderOf is who holds l, as printed: a holder with control or
// bidirectional characters quoted (ESC[2J, a newline that starts a fake
// line), cut to maxHolder bytes. Any editor of the namespace may write a
// Lease of that name (a tenant audit).
func holderOf(l *coordinationv1.Lease) string {
	h := ptr.Deref(l.Spec.HolderIdentity, "another command")
	if strings.IndexFunc(h, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) >= 0 {
		h = strconv.QuoteToASCII(h)
	}
	if len(h) > maxHolder {
		h = strings.ToValidUTF8(h[:maxHolder], "") + fmt.Sprintf("... (%d bytes)", len(h))
	}
	return h
}

// mayChange returns why this user may change no app in ns (it may not
// patch Deployments), nil when it may or when that cannot be asked: a user
// without Leases is warned about the lock only when its command can go on.
func mayChange(ctx context.Context, c kubernetes.Interface, ns string) error {
	r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "patch", Group: "apps", Resource: "deployments"},
	}}, metav1.CreateOptions{})
	if err != nil || r.Status.Allowed {
		return nil
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "",
		fmt.Errorf("this user may not change apps in namespace %s (patch deployments is not allowed); ask for the edit role there", ns))
}

// lockedBy is the refusal of a command whose app another command holds.
func lockedBy(l *coordinationv1.Lease, app string, now time.Time) error {
	who, since := holderOf(l), ""
	if t := l.Spec.AcquireTime; t != nil {
		since = fmt.Sprintf(" since %s (%s ago)", t.Format(time.TimeOnly), max(0, now.Sub(t.Time)).Round(time.Second))
	}
	// When it was last renewed tells a live holder from a dead one (a
	// concurrency audit).
	renewed := ""
	switch t := l.Spec.RenewTime; {
	case t == nil:
	case t.After(now):
		renewed = fmt.Sprintf(", last renewed at %s, ahead of this machine's clock", t.Format(time.TimeOnly))
	default:
		renewed = fmt.Sprintf(", last renewed %s ago", now.Sub(t.Time).Round(time.Second))
	}
	breakIt := fmt.Sprintf("kubectl delete lease %s -n %s", l.Name, l.Namespace)
	if len(l.Finalizers) > 0 {
		breakIt = fmt.Sprintf(`kubectl patch lease %s -n %s --type=merge -p '{"metadata":{"finalizers":null}}' and delete it (its finalizers %s keep it)`,
			l.Name, l.Namespace, strings.Join(l.Finalizers, ", "))
	}
	if lapses, ok := staleLock(l.Spec, now); ok {
		// Its command renews it every lockRenew: one that has not is
		// likely over (it failed on an apiserver error and could not
		// release it: a chaos audit's user was refused by their own ended
		// command, told "when it ends").
		return fmt.Errorf("%w: %s is locked by %s%s%s, which a running command renews every %s: held by a command that has ended? It expires at %s; run this command again then, or: %s",
			ErrLocked, app, who, since, renewed, lockRenew, lapses.Format(time.TimeOnly), breakIt)
	}
	return fmt.Errorf("%w: %s is being changed by %s%s%s; run this command again when it ends (kubectl zz status %s shows the app). A lock whose command was killed lapses %s after its last renewal, or: %s",
		ErrLocked, app, who, since, renewed, app, lapseOf(l.Spec), breakIt)
}

// keep renews the held lock until release, which deletes it. The renewals
// go on after ctx ends (Ctrl-C: the restore after it still runs under the
// lock) and stop at release. The returned context ends, with ErrLockLost,
// when the lock is no longer the command's: taken over, or not renewed for
// its duration.
func keep(ctx context.Context, c kubernetes.Interface, o *Options, held *coordinationv1.Lease, app string) (context.Context, func()) {
	leases := c.CoordinationV1().Leases(held.Namespace)
	lctx, lose := context.WithCancelCause(ctx)
	bg := context.WithoutCancel(ctx)
	uid := held.UID
	done := make(chan struct{})
	stopped := make(chan struct{})
	every, holder := lockRenew, ptr.Deref(held.Spec.HolderIdentity, "")
	// ours says the Lease read is still this command's: one of another UID
	// or holder took it over after it lapsed.
	ours := func(cur *coordinationv1.Lease) bool {
		return cur.UID == uid && ptr.Deref(cur.Spec.HolderIdentity, "") == holder
	}
	lost := func() error {
		return fmt.Errorf("%w: the lease %s/%s was taken over or deleted while this command held it; it stops so as not to change %s beside another command", ErrLockLost, held.Namespace, held.Name, app)
	}
	// renew reads the Lease and, while it is still this command's, writes
	// a new renewal time with what was read as the precondition: the one
	// judge of both the ticker's renewals and stillHeld's (two rules had
	// disagreed, a review). An error wrapping ErrLockLost when the Lease is
	// another's or gone; another error when it could not be read or written
	// (the network after a laptop woke), which is not a loss.
	var renewMu, confirmedMu sync.Mutex
	confirmed := o.now() // the renewal time this command last wrote
	renew := func(ctx context.Context) error {
		renewMu.Lock()
		defer renewMu.Unlock()
		// At least 5 s a request: the tests renew every few milliseconds.
		rctx, cancel := context.WithTimeout(ctx, max(every, 5*time.Second))
		defer cancel()
		for range 2 { // a conflict is read again once
			cur, err := leases.Get(rctx, held.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err), err == nil && !ours(cur):
				return lost()
			case err != nil:
				return err
			}
			now := o.now()
			cur.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
			if _, err = leases.Update(rctx, cur, metav1.UpdateOptions{FieldManager: contract.ManagedBy}); err == nil {
				confirmedMu.Lock()
				confirmed = now
				confirmedMu.Unlock()
				return nil
			} else if !apierrors.IsConflict(err) {
				return err
			}
		}
		return errors.New("the lease changed twice while it was renewed")
	}
	// fresh says the lock was renewed less than lockFresh ago, by this
	// command's clock: no other command can have taken it over since (that
	// needs it lapsed), so a check before a write reads nothing then. The
	// wall clock counts too: a suspended laptop's monotonic clock stands
	// still.
	fresh := func() bool {
		confirmedMu.Lock()
		defer confirmedMu.Unlock()
		now := o.now()
		return max(now.Sub(confirmed), now.Round(0).Sub(confirmed.Round(0))) < lockFresh
	}
	lctx = context.WithValue(lctx, heldKey{}, func(ctx context.Context) error {
		if fresh() {
			return nil
		}
		// Renewed now, or the write waits for nothing: a lock lapsed but
		// not taken (a laptop woke) is this command's again (a review: a
		// finished rollout went unrecorded); one that cannot be renewed may
		// be another's by now.
		switch err := renew(ctx); {
		case err == nil, errors.Is(err, ErrLockLost):
			return err
		default:
			return fmt.Errorf("%w: the lease %s/%s could not be renewed before writing (%v), so another command may hold it", ErrLockLost, held.Namespace, held.Name, err)
		}
	})
	rctx, stopRenewing := context.WithCancel(bg)
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			// A failed renewal is tried again at the next tick; writes
			// check the lock themselves (stillHeld), so the command stops
			// only when another holds it.
			if err := renew(rctx); errors.Is(err, ErrLockLost) {
				lose(err)
				return
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(done)
			stopRenewing() // a renewal in flight would hold the release up to 15 s
			<-stopped
			// On a context of its own: the command's may have ended with
			// the error that ends it (an apiserver that went away).
			if err := releaseLease(bg, leases, held.Name, ours, uid); err != nil && o.Progress != nil {
				confirmedMu.Lock()
				lapses := confirmed.Add(lockDuration)
				confirmedMu.Unlock()
				// The user's retry would be refused by this ended command
				// until then, with nothing said (a chaos audit).
				fmt.Fprintf(o.Progress, "warning: could not release the lock of %s (lease %s/%s): %v; it lapses at %s, or: kubectl delete lease %s -n %s\n",
					app, held.Namespace, held.Name, err, lapses.Format(time.TimeOnly), held.Name, held.Namespace)
			}
			lose(nil)
		})
	}
	unregister := holding.add(release)
	return lctx, func() {
		release()
		unregister()
	}
}

// releaseTimeout bounds a command's release of its lock, tried again
// (releaseRetry, doubling) until then: an apiserver that is restarting
// answers within seconds, and a user's Ctrl-C waits for no longer.
var releaseTimeout, releaseRetry = 5 * time.Second, 250 * time.Millisecond

// releaseLease deletes the lock name while ours says it is this command's,
// trying again until releaseTimeout on a failed read or delete; nil when it
// is gone or another's, else the last error.
func releaseLease(ctx context.Context, leases leaseClient, name string, ours func(*coordinationv1.Lease) bool, uid types.UID) error {
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	var err error
	for wait := releaseRetry; ; wait *= 2 {
		var cur *coordinationv1.Lease
		if cur, err = leases.Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) || err == nil && !ours(cur) {
			return nil // only its own: one that lapsed and was taken over is another's
		}
		if err == nil {
			err = leases.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &cur.ResourceVersion}})
			if err == nil || apierrors.IsNotFound(err) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// leaseClient is the part of the Leases client a release uses.
type leaseClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// holding is the locks this process holds, released by ReleaseHeld.
var holding = &heldLocks{releases: map[int]func(){}}

type heldLocks struct {
	mu       sync.Mutex
	next     int
	releases map[int]func()
}

func (h *heldLocks) add(release func()) (remove func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.next
	h.next++
	h.releases[id] = release
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.releases, id)
	}
}

// ReleaseHeld releases every app lock this process holds, waiting at most
// timeout: the kubectl-zz binary calls it when a second Ctrl-C ends the
// process at once, which left the Lease to block the app for a minute and
// status to name a command no longer running (a concurrency audit).
func ReleaseHeld(timeout time.Duration) {
	holding.mu.Lock()
	releases := make([]func(), 0, len(holding.releases))
	for _, r := range holding.releases {
		releases = append(releases, r)
	}
	holding.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range releases {
		wg.Go(r)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

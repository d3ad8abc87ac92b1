// Package deploy is kubectl zz deploy, history and rollback without cobra:
// it applies a rendered app with server-side apply, waits for its rollout,
// and records every successful deploy as a revision of the whole app (a
// Secret per revision, see Revision). Callers pass a kubernetes.Interface, so
// tests run it on a fake clientset.
package deploy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
	"github.com/zzcloud/zz/internal/render"
)

// Defaults of Options.
const (
	DefaultTimeout      = 5 * time.Minute
	DefaultHistoryLimit = 10
	// The wait watches the Deployment; the poll is for what the Deployment
	// does not say (a pod failing) and the elapsed time: two reads a poll.
	DefaultPollInterval = 2 * time.Second
)

// Options are what deploy and rollback share.
type Options struct {
	Namespace string
	// User is recorded as who deployed; empty asks the apiserver (SelfSubjectReview).
	User string
	// Timeout bounds the wait for the rollout; zero is as long as the
	// app's new pods may take to start, batch by batch (RolloutTimeout, at
	// least DefaultTimeout).
	Timeout time.Duration
	// HistoryLimit caps recorded revisions per app; older ones are deleted.
	HistoryLimit int
	// Progress receives the progress line (stderr); nil prints nothing.
	Progress io.Writer
	// Live rewrites the progress line in place (Progress is a terminal)
	// and Width, when set, is the terminal's width the line is cut to.
	Live         bool
	Width        int
	PollInterval time.Duration
	// NoWait applies and records without waiting for the rollout, as
	// kubectl apply does (--wait=false): the revision is then recorded before
	// its pods are ready, and nothing is restored if they never are.
	NoWait bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Judge, when set, keeps the verdicts of the check that the app runs
	// its latest revision (each object whose whole part held), so a status
	// read with it after the command (AppStatusWith: kubectl zz deploy -o)
	// asks no dry run the command asked already.
	Judge *DriftJudge
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) defaults() {
	if o.HistoryLimit == 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
}

// Config is one kubectl zz deploy.
type Config struct {
	Options
	// App is a loaded, valid spec (appspec.Load).
	App *appspec.App
	// Debug deploys without probes.
	Debug bool
	// ChangeCause is recorded with the revision; empty records the version.
	ChangeCause string
	// RollbackOnFailure re-applies the last recorded revision when the
	// rollout fails.
	RollbackOnFailure bool
	// ExternalDiff is the diff program Diff runs on two folders instead of
	// printing a unified diff (KUBECTL_EXTERNAL_DIFF, e.g. "meld").
	ExternalDiff string
	// Adopt takes over existing objects of the app's names that kubectl zz
	// did not create; without it the deploy refuses, naming them.
	Adopt bool
	// Given is App as the user gave it, before defaults, recorded with the
	// revision (Revision.Spec); nil records App.
	Given *appspec.App
}

// given is the spec recorded with the revision cfg deploys, headed by
// apiVersion and kind (which a spec file may leave out) so that it reads as
// a spec file of its own.
func (cfg *Config) given() *appspec.App {
	g := cfg.Given
	if g == nil {
		g = cfg.App
	}
	g = g.Clone()
	if g.APIVersion == "" {
		g.APIVersion = appspec.APIVersion
	}
	if g.Kind == "" {
		g.Kind = appspec.Kind
	}
	return g
}

// Result says what a deploy or rollback did.
type Result struct {
	Revision int64
	// RolledBackTo is the revision restored after a failed rollout, 0 if none.
	RolledBackTo int64
	// Unchanged says the deploy changed nothing: Revision, the latest,
	// already runs exactly what it would apply.
	Unchanged bool
	// NoPods says a restart found the app at 0 replicas: nothing to
	// restart, nothing applied or recorded (Unchanged too).
	NoPods bool
	// Differs says a dry run (ChangeConfig.DiffOut) found what would change.
	Differs bool
}

// Run deploys cfg.App: renders it as the next revision, applies it, waits for
// the rollout and records the revision. On a failed rollout it records
// nothing, returns an error wrapping ErrRolloutFailed and, with
// RollbackOnFailure, restores the last recorded revision first.
func Run(ctx context.Context, c kubernetes.Interface, cfg *Config) (_ *Result, err error) {
	cfg.defaults()
	app, ns := cfg.App.Name, cfg.Namespace
	ctx, release, err := lock(ctx, c, &cfg.Options, app, "deploy")
	if err != nil {
		return nil, err
	}
	defer func() { err = unlock(ctx, release, err) }()
	history, err := loadHistory(ctx, c, &cfg.Options, app)
	if err != nil {
		return nil, err
	}
	latest, follows, err := unchanged(ctx, c, cfg, history)
	if err != nil {
		return nil, err
	} else if latest != nil {
		return &Result{Revision: latest.Number, Unchanged: true}, nil
	}
	rev := &Revision{
		App: app, Number: nextNumber(ctx, c, ns, app, history), Version: cfg.App.Spec.Version, Image: cfg.App.Spec.Image,
		User: whoAmI(ctx, c, cfg.User), ChangeCause: cfg.ChangeCause, Time: cfg.now(),
	}
	if rev.ChangeCause == "" {
		rev.ChangeCause = "deploy " + rev.Version
		if prev := latestRead(history); prev != nil {
			// Which fields changed: two deploys of one version that
			// changed env read alike in history otherwise. The fields
			// this version does not know are changed too: the file
			// cannot hold them (skewNote).
			if spec, err := prev.Spec(); err == nil {
				if changed := changedFields(spec, cfg.given(), prev.NotUnderstood); changed != "" {
					rev.ChangeCause += " (" + changed + ")"
				}
			}
		}
		if cfg.Debug {
			// history tells a revision without probes from one with them.
			rev.ChangeCause += " (--debug: no probes)"
		}
	}
	rev.objects = keepRestart(render.Render(cfg.App, render.Options{Namespace: ns, Revision: rev.Number, Debug: cfg.Debug}), history)
	rev.spec = cfg.given()
	sayUnfronted(ctx, c, ns, cfg.Progress, app, history, rev.objects)
	if prev := latestRead(history); prev != nil && cfg.Progress != nil {
		if note := skewNote(prev); note != "" {
			fmt.Fprintln(cfg.Progress, note)
		}
	}
	secret, err := newRecord(ns, rev)
	if err != nil {
		return nil, err
	}
	if err := refusePaused(ctx, c, ns, app); err != nil {
		return nil, err
	}
	cl, err := applyObjects(ctx, c, ns, app, rev.objects, cfg.Adopt, cfg.NoWait, "", rev.cause())
	if err != nil {
		return nil, err
	}
	st := startOf(cfg.App)
	if cfg.Debug {
		st.window = 0 // no probes: a pod is ready once it runs (its soak stays)
	}
	if err := waitRollout(ctx, c, ns, app, &cfg.Options, cl, st); err != nil {
		res := &Result{}
		if follows != nil {
			// The latest revision is what fails (recorded with --wait=false):
			// restoring it would re-apply the failing objects, and the
			// way back is the revision rollback picks (an audit of CI use).
			back := prior(readable(history))
			if cfg.RollbackOnFailure {
				if back != nil && back.Canary && cfg.Progress != nil {
					fmt.Fprintln(cfg.Progress, canaryTargetNote(back, app, ns))
				}
				return res, restore(ctx, c, &cfg.Options, app, upTo(history, back), err, res,
					fmt.Sprintf("revision %d (recorded by a deploy without waiting), not ready", follows.Number))
			}
			return res, notReady(err, app, history, follows, back)
		}
		if cfg.RollbackOnFailure {
			return res, restore(ctx, c, &cfg.Options, app, history, err, res, "")
		}
		return res, unrecorded(err, app, history)
	}
	if err := settle(ctx, c, &cfg.Options, app, cl, rev.objects, secret, history); err != nil {
		return nil, err
	}
	return &Result{Revision: rev.Number}, nil
}

// unchanged returns the latest revision when deploying cfg would change
// nothing: it renders exactly the objects that revision recorded (no
// canary runs), and the app runs it, ready and not drifted. A deploy then
// applies and records nothing, so a pipeline that deploys on every merge
// does not push real revisions out of the history with copies; one that
// would change something (drift to undo, a rollout to wait for) goes on.
// follows is the latest revision when cfg renders its objects but the app
// does not run it ready (a --wait=false deploy's rollout): the deploy then
// follows that rollout, and a failure is that revision's.
func unchanged(ctx context.Context, c kubernetes.Interface, cfg *Config, history []*Revision) (latest, follows *Revision, _ error) {
	latest = latestRead(history)
	if latest == nil || latest.Canary {
		return nil, nil, nil
	}
	if same, err := sameObjects(keepRestart(render.Render(cfg.App, render.Options{Namespace: cfg.Namespace, Revision: latest.Number, Debug: cfg.Debug}), history), latest.objects); err != nil || !same {
		return nil, nil, err
	}
	// A deploy that waits re-applies a latest revision not yet ready, to
	// follow its rollout; one that does not (--wait=false) would only record
	// the same objects again, so a pipeline re-run mid-rollout changes nothing.
	if !runsLatest(ctx, c, cfg.Namespace, cfg.App.Name, latest, cfg.NoWait, cfg.Judge) {
		return nil, latest, nil
	}
	return latest, nil, nil
}

// prior is the revision to return to from the latest of good when the
// latest is what fails: the newest before it whose objects differ from the
// latest's (the revision label aside), nil when none. The one just before
// may run the same objects (a deploy that followed a --wait=false rollout
// records a copy), and restoring it would restore nothing. It is not
// newest one seen ready: records say nothing of readiness, and marking them
// would take a write by whoever saw it (a view user's status cannot).
func prior(good []*Revision) *Revision {
	if len(good) < 2 {
		return nil
	}
	latest := withRevision(good[len(good)-1].objects, 0)
	for i := len(good) - 2; i >= 0; i-- {
		if same, err := sameObjects(withRevision(good[i].objects, 0), latest); err != nil || !same {
			return good[i]
		}
	}
	return nil
}

// upTo is history up to and including rev (nil: none of it), for restore,
// which re-applies the last readable revision it is given. A canary
// revision ends it as its stable part (stablePart): kubectl zz rollback
// returns to one so, and notReady suggests that rollback, so the two ways
// back past a failed revision agree (the flag's restored the canary too: a
// review).
func upTo(history []*Revision, rev *Revision) []*Revision {
	if rev == nil {
		return nil
	}
	i := slices.Index(history, rev)
	if !rev.Canary {
		return history[:i+1]
	}
	return append(slices.Clone(history[:i]), stablePart(rev))
}

// stablePart is canary revision rev as a rollback restores it: its stable
// objects, with their version and a cause that says so.
func stablePart(rev *Revision) *Revision {
	s := *rev
	s.objects, s.Canary, s.stableOf = stableOnly(rev.objects), false, true
	if v, image := versionOf(s.objects, rev.App); image != "" {
		s.Version, s.Image = v, image
	}
	s.ChangeCause = fmt.Sprintf("%s, its stable part (%s)", rev.ChangeCause, s.Version)
	return &s
}

// backVersion is what returning to rev runs, as the way back names it: its
// version, or a canary revision's stable part.
func backVersion(rev *Revision) string {
	switch {
	case rev.Canary:
		return "its stable part, " + stablePart(rev).Version
	case rev.stableOf:
		return "its stable part, " + rev.Version
	}
	return rev.Version
}

// notReady adds to the error of a deploy that followed the rollout of the
// latest revision (recorded by a --wait=false deploy of the same spec) that
// this revision is what runs and fails, and the way back: the revision
// kubectl zz rollback picks (back, nil when none).
func notReady(err error, app string, history []*Revision, latest, back *Revision) error {
	interrupted := errors.Is(err, ErrInterrupted)
	if !interrupted && !errors.Is(err, ErrRolloutFailed) {
		return err
	}
	next := "run the command again to finish"
	if !interrupted {
		next = fixNext(err)
	}
	how := ""
	switch good := readable(history); {
	case back != nil && !back.understood():
		// A rollback to it is refused (skew): name the one that is not
		// (review 17a, S3).
		if way := wayBack(history, latest); way != "" {
			how = ", or " + way
		}
	case back != nil && back == good[len(good)-2] && latest.understood():
		// What a plain rollback picks (rollbackTarget: the token on the
		// Deployment is this command's, its template the latest's).
		how = fmt.Sprintf(", or kubectl zz rollback %s to return to revision %d (%s)", app, back.Number, backVersion(back))
	case back != nil:
		how = fmt.Sprintf(", or kubectl zz rollback %s --to-revision %d to return to it (%s)", app, back.Number, backVersion(back))
	}
	return fmt.Errorf("%w\nrevision %d records this spec (applied before, without waiting) and is what runs, not ready: %s%s", err, latest.Number, next, how)
}

// keepRestart carries the latest readable revision's restart stamp
// (kubectl zz restart's AnnotationRestartedAt on its pod template) into the
// rendered Deployments of the same name: the spec holds none, so a deploy of
// the same spec after a restart replaced every pod again (an upgrade audit).
// A stamp is no change of what runs, so it is kept as the apply would keep
// kubectl rollout restart's.
func keepRestart(objs []render.Object, history []*Revision) []render.Object {
	latest := latestRead(history)
	if latest == nil {
		return objs
	}
	stamps := map[string]string{}
	for _, o := range latest.objects {
		if d, ok := o.(*appsv1.Deployment); ok && d.Spec.Template.Annotations[contract.AnnotationRestartedAt] != "" {
			stamps[d.Name] = d.Spec.Template.Annotations[contract.AnnotationRestartedAt]
		}
	}
	if len(stamps) == 0 {
		return objs
	}
	out := make([]render.Object, len(objs))
	for i, o := range objs {
		out[i] = o
		if d, ok := o.(*appsv1.Deployment); ok && stamps[d.Name] != "" {
			d = d.DeepCopy()
			if d.Spec.Template.Annotations == nil {
				d.Spec.Template.Annotations = map[string]string{}
			}
			d.Spec.Template.Annotations[contract.AnnotationRestartedAt] = stamps[d.Name]
			out[i] = d
		}
	}
	return out
}

// sameObjects reports whether a and b marshal alike.
func sameObjects(a, b []render.Object) (bool, error) {
	want, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	have, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(want, have), nil
}

// runsLatest reports whether app runs revision latest: not drifted, no
// canary, and ready unless notReadyToo. What cannot be read counts as not.
// The parts kubectl zz renders whole are judged by content once, from the
// revision's side (wholeHeld: every object it records, and what it cannot
// judge counts as not held), so status is read without its DriftJudge
// (LiveUnjudged): with it, a deploy of an unchanged spec asked every dry
// run twice.
// The objects that held are kept in j (nil keeps none) as judged against
// latest's record, so a status read with j after asks no dry run again.
func runsLatest(ctx context.Context, c kubernetes.Interface, ns, app string, latest *Revision, notReadyToo bool, j *DriftJudge) bool {
	st, err := appStatus(ctx, c, LiveUnjudged(c), ns, app)
	if err != nil {
		return false
	}
	return (st.Health == HealthReady || notReadyToo) && len(st.Drift) == 0 && st.Revision == latest.Number && st.Canary == nil &&
		wholeHeld(ctx, c, ns, latest.objects, func(k kindOps, live runtime.Object) { j.held(k, live, latest.ref) })
}

// settleTimeout bounds settling a completed rollout (a few reads and
// writes), which no interrupt stops.
const settleTimeout = 30 * time.Second

// settle ends every command whose rollout completed: it checks that the
// Deployments are still what the command applied (cl), then deletes the
// app's objects objs lacks and records the revision.
func settle(ctx context.Context, c kubernetes.Interface, o *Options, app string, cl *claim, objs []render.Object, secret *corev1.Secret, history []*Revision) error {
	// Not under a lock taken over meanwhile: the new holder's command
	// records and prunes what it changes.
	lockCtx := ctx
	if err := stillHeld(ctx); err != nil {
		return fmt.Errorf("%w; this command recorded and pruned nothing", err)
	}
	// Settled even when interrupted now: what runs gets its record, where
	// stopping would leave a completed rollout unrecorded. A second signal
	// ends the process (kubectl-zz main).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := cl.verify(ctx, c, o.Namespace); err != nil {
		return err
	}
	if err := prune(ctx, c, o.Namespace, app, objs, o.Progress); err != nil {
		return err
	}
	// The record carries the token the Deployments carry, so status can tell
	// a Deployment that no record describes.
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	secret.Annotations[contract.AnnotationApplyID] = cl.id
	if err := stillHeld(lockCtx); err != nil {
		return fmt.Errorf("%w; this command pruned what its revision lacks and recorded nothing", err)
	}
	return record(ctx, c, o.Namespace, secret, history, o.HistoryLimit)
}

// restore re-applies the last recorded revision after the failure cause and
// waits for it; the returned error always wraps cause. A cause that is
// ErrSuperseded is returned as it is: the Deployment is another writer's now,
// and restoring would undo that writer's change.
//
// runs says what the app runs if the restore fails ("" for what no
// revision records: the failed command's objects are in none).
func restore(ctx context.Context, c kubernetes.Interface, o *Options, app string, history []*Revision, cause error, res *Result, runs string) error {
	if errors.Is(cause, ErrSuperseded) {
		return cause
	}
	// A command whose lock lapsed (stopped, asleep) and was taken over
	// restores nothing: the app is the new holder's (a tenant audit saw a
	// deploy that woke after a delete re-create the deleted app).
	if err := stillHeld(ctx); err != nil {
		return fmt.Errorf("%w\nnothing restored: %v", cause, err)
	}
	if len(readable(history)) == 0 {
		return fmt.Errorf("%w\nno earlier revision of %s to roll back to", cause, app)
	}
	// The newest record, as the command found it: re-applying the readable
	// one before an unreadable one would roll back further than the
	// command asked.
	last, err := newest(history, app, "--rollback-on-failure")
	if err != nil {
		// Said plainly: the refusal alone read as if the restore had
		// been tried (review 17a, S3).
		return fmt.Errorf("%w\nnothing restored: --rollback-on-failure returns to the latest revision, and this version cannot apply it: %v", cause, err)
	}
	interrupted := ctx.Err() != nil
	if interrupted {
		// Stopped by Ctrl-C or SIGTERM: the restore is what the command
		// promised (as helm --atomic rolls back a cancelled upgrade), bounded
		// by --timeout; a second signal ends the process (kubectl-zz main).
		ctx = context.WithoutCancel(ctx)
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "rolling back %s to revision %d (%s)\n", app, last.Number, backVersion(last))
		if interrupted {
			fmt.Fprintf(o.Progress, "interrupted: interrupt again to stop now, leaving %s on what no revision records\n", app)
		}
	}
	// With the record's own token: the app runs what that record says again.
	// Each call again while the control plane does not answer (restoreRetry):
	// the deadline that failed the rollout may fall in an apiserver restart.
	var cl *claim
	err = retryTransient(ctx, o.Progress, fmt.Sprintf("restoring revision %d", last.Number), func() (err error) {
		cl, err = applyObjects(ctx, c, o.Namespace, app, last.objects, true, o.NoWait, last.applyID, last.cause())
		return err
	})
	if err != nil {
		// First, so that it cannot be read as a rollback (the exit code
		// is a failed rollout's either way).
		if runs == "" {
			runs = "what no revision records"
		}
		return fmt.Errorf("NOT rolled back: %s still runs %s: restoring revision %d failed: %v (kubectl zz rollback %s --to-revision %d returns to it)\n%w",
			app, runs, last.Number, err, app, last.Number, cause)
	}
	// Paused meanwhile (someone stopped the bad rollout): the good template
	// is in place and rolls out once resumed; waiting would only time out.
	if err := retryTransient(ctx, o.Progress, "reading the restored deployment", func() error {
		return refusePaused(ctx, c, o.Namespace, app)
	}); err != nil {
		return fmt.Errorf("%w\nrevision %d's pod template is back in place, but %v (it rolls out then)", cause, last.Number, err)
	}
	if err := waitRollout(ctx, c, o.Namespace, app, o, cl, startOf(last.spec)); err != nil {
		next := ""
		if down := downOf(err); down != "" {
			next = "; it rolls out by itself once " + down + " is back (kubectl zz check)"
		}
		return fmt.Errorf("%w\nrevision %d was re-applied but is not ready either: %v%s", cause, last.Number, err, next)
	}
	if err := retryTransient(ctx, o.Progress, "removing what revision "+fmt.Sprint(last.Number)+" does not have", func() error {
		return prune(ctx, c, o.Namespace, app, last.objects, o.Progress)
	}); err != nil {
		return fmt.Errorf("%w\nrevision %d is back, but: %v", cause, last.Number, err)
	}
	res.RolledBackTo = last.Number
	next := ""
	if down := downOf(cause); down != "" {
		// Nothing of the change was at fault (scale and restart always
		// restore: an incident audit's scale with the webhook down).
		next = ": " + againOnceBack(down)
	}
	return fmt.Errorf("%w\nrolled back to revision %d (%s)%s", cause, last.Number, backVersion(last), next)
}

// unrecorded adds to an interrupted wait's error what the app runs now and
// how to go on; other errors are returned as they are.
func unrecorded(err error, app string, history []*Revision) error {
	interrupted := errors.Is(err, ErrInterrupted)
	if !interrupted && !errors.Is(err, ErrRolloutFailed) {
		return err
	}
	back := ""
	if latest, err := newest(history, app, "kubectl zz rollback"); latest != nil && err == nil {
		// rollback returns to it: what runs is in no record (rollbackTarget).
		back = fmt.Sprintf(", or kubectl zz rollback %s to return to revision %d", app, latest.Number)
	} else if way := wayBack(history, nil); way != "" {
		// The newest record is one a plain rollback refuses (a newer
		// kubectl-zz's, unreadable): the one it does not (review 17a, S3).
		back = ", or " + way
	}
	next := "run the command again to finish"
	if !interrupted {
		// A plain failure said what failed and no next step (an
		// app-developer audit).
		next = fixNext(err)
	}
	return fmt.Errorf("%w\nwhat was applied stays, and no revision records it (kubectl zz status %s): %s%s", err, app, next, back)
}

// RollbackConfig is one kubectl zz rollback.
type RollbackConfig struct {
	Options
	App string
	// ToRevision is the revision to restore; 0 means the one before the
	// latest, or the latest when the app's Deployment is gone or runs what
	// no revision records (a failed or stopped deploy).
	ToRevision int64
}

// Rollback restores every object of a recorded revision (deleting the app's
// objects it did not have, PVCs excepted), waits for the rollout and records
// the result as a new revision. If the rollout fails, the latest revision is
// re-applied so the running version stays, and the error says why.
func Rollback(ctx context.Context, c kubernetes.Interface, cfg *RollbackConfig) (_ *Result, err error) {
	cfg.defaults()
	ctx, release, err := lock(ctx, c, &cfg.Options, cfg.App, "rollback")
	if err != nil {
		return nil, err
	}
	defer func() { err = unlock(ctx, release, err) }()
	history, target, err := rollbackTarget(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	if target.Canary && cfg.Progress != nil {
		fmt.Fprintln(cfg.Progress, canaryTargetNote(target, cfg.App, cfg.Namespace))
	}
	// As kubectl rollout undo skips a rollback to the template that runs,
	// no revision repeats the latest: the app runs it, ready and undrifted.
	if latest := latestRead(history); latest != nil {
		if same, err := sameObjects(withRevision(stableOnly(target.objects), latest.Number), latest.objects); err == nil && same &&
			runsLatest(ctx, c, cfg.Namespace, cfg.App, latest, cfg.NoWait, cfg.Judge) {
			return &Result{Revision: latest.Number, Unchanged: true}, nil
		}
	}
	rev := &Revision{
		App: cfg.App, Number: nextNumber(ctx, c, cfg.Namespace, cfg.App, history), Version: target.Version, Image: target.Image,
		User: whoAmI(ctx, c, cfg.User), ChangeCause: fmt.Sprintf("rollback to revision %d", target.Number), Time: cfg.now(),
	}
	// A rollback during a canary removes it: only the stable part of the
	// target is restored, and prune deletes the rest.
	rev.objects = withRevision(stableOnly(target.objects), rev.Number)
	rev.spec = target.spec
	sayUnfronted(ctx, c, cfg.Namespace, cfg.Progress, cfg.App, history, rev.objects)
	// What is applied is what the new revision records, never a label of
	// the target's a namespace editor could have changed.
	if version, image := versionOf(rev.objects, cfg.App); image != "" {
		rev.Version, rev.Image = version, image
	}
	secret, err := newRecord(cfg.Namespace, rev)
	if err != nil {
		return nil, err
	}
	if err := refusePaused(ctx, c, cfg.Namespace, cfg.App); err != nil {
		return nil, err
	}
	cl, err := applyObjects(ctx, c, cfg.Namespace, cfg.App, rev.objects, false, cfg.NoWait, "", rev.cause())
	if err != nil {
		return nil, err
	}
	if err := waitRollout(ctx, c, cfg.Namespace, cfg.App, &cfg.Options, cl, startOf(rev.spec)); err != nil {
		err = fmt.Errorf("rollback of %s to revision %d: %w", cfg.App, target.Number, err)
		res := &Result{}
		return res, restore(ctx, c, &cfg.Options, cfg.App, history, err, res,
			fmt.Sprintf("revision %d's objects, which it was rolled back to, not ready", target.Number))
	}
	if err := settle(ctx, c, &cfg.Options, cfg.App, cl, rev.objects, secret, history); err != nil {
		return nil, err
	}
	return &Result{Revision: rev.Number}, nil
}

// canaryTargetNote says what a rollback to canary revision target restores:
// its stable part, while history shows the canary's version for it (a
// rollback "to the revision that ran 7.1.0" answered "unchanged" with 6.1.0
// running, exit 0: an audit of CI use), and how to run the canary's spec
// everywhere instead.
func canaryTargetNote(target *Revision, app, ns string) string {
	stable, _ := versionOf(stableOnly(target.objects), app)
	return fmt.Sprintf("revision %d is a canary revision: a rollback restores its stable part (%s), not the canary's %s; to run %s everywhere: kubectl zz history %s -n %s --revision %d --spec | kubectl zz deploy -n %s -f -",
		target.Number, cmp.Or(stable, "the stable version"), target.Version, target.Version, app, ns, target.Number, ns)
}

// rollbackTarget reads the app's history and picks the revision cfg asks
// to restore.
func rollbackTarget(ctx context.Context, c kubernetes.Interface, cfg *RollbackConfig) ([]*Revision, *Revision, error) {
	cfg.defaults()
	history, err := loadHistory(ctx, c, &cfg.Options, cfg.App)
	if err != nil {
		return nil, nil, err
	}
	n := cfg.ToRevision
	if n == 0 && len(history) > 0 {
		// An app whose Deployment is gone (delete --keep-history, or deleted
		// by hand) comes back as its latest revision, not the one before;
		// so does one whose Deployment a command that recorded nothing
		// applied (a deploy that failed or was stopped): rollback undoes
		// that, as kubectl rollout undo returns to the template that ran
		// before, where it skipped the revision that ran (an app-developer
		// audit). From the newest record: the one before an unreadable
		// newest one is not what runs, and --to-revision names a target
		// explicitly.
		latest, err := newest(history, cfg.App, "kubectl zz rollback without --to-revision")
		if err != nil {
			return nil, nil, err
		}
		d, err := c.AppsV1().Deployments(cfg.Namespace).Get(ctx, cfg.App, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			n = latest.Number
		case err != nil:
			return nil, nil, fmt.Errorf("read Deployment %s: %w", cfg.App, err)
		case unrecordedApply(d, history) && !runsTemplate(ctx, c, cfg.Namespace, d, latest):
			n = latest.Number
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "deployment %s runs what a command that recorded no revision applied: rolling back to the latest revision, %d (kubectl zz rollback --to-revision picks another)\n", cfg.App, n)
			}
		default:
			// A canary whose rollout failed (never recorded) beside the
			// latest revision, which still runs: the rollback removes it
			// and keeps that revision.
			cd, err := c.AppsV1().Deployments(cfg.Namespace).Get(ctx, render.CanaryName(cfg.App), metav1.GetOptions{})
			if err == nil && liveCanary(cd, cfg.App) && unrecordedApply(cd, history) {
				n = latest.Number
				if cfg.Progress != nil {
					fmt.Fprintf(cfg.Progress, "deployment %s is a canary no revision records: rolling back to the latest revision, %d, which removes it (kubectl zz rollback --to-revision picks another)\n", cd.Name, n)
				}
			}
		}
	}
	target, err := pick(history, cfg.Namespace, cfg.App, n)
	if err != nil {
		return nil, nil, err
	}
	// Its objects and spec become the new revision: one this version does
	// not understand whole would be applied or recorded without what it
	// does not know.
	if err := target.skew(history); err != nil {
		return nil, nil, err
	}
	return history, target, nil
}

// runsTemplate says whether d runs rev's pod template, as the apiserver
// would store rev's Deployment over it (a dry-run apply: the defaults and
// other managers' fields alike). The token alone is anyone's to write: a
// tenant annotated a Deployment that ran the latest revision with another,
// and its owner's rollback restored that revision instead of the one before
// (a tenant audit).
func runsTemplate(ctx context.Context, c kubernetes.Interface, ns string, d *appsv1.Deployment, rev *Revision) bool {
	for _, o := range rev.objects {
		want, ok := o.(*appsv1.Deployment)
		if !ok || want.Name != d.Name {
			continue
		}
		body, err := json.Marshal(want)
		if err != nil {
			return false
		}
		merged, err := deploymentOps.apply(ctx, c, ns, d.Name, body, true)
		m, ok := merged.(*appsv1.Deployment)
		return err == nil && ok && equality.Semantic.DeepEqual(m.Spec.Template, d.Spec.Template)
	}
	return false
}

// unrecordedApply says whether d carries the token of a kubectl zz command
// no record holds (records older than the tokens hold none: a Deployment
// put back to one of them by kubectl rollout undo carries none either).
func unrecordedApply(d *appsv1.Deployment, history []*Revision) bool {
	live := d.Annotations[contract.AnnotationApplyID]
	return live != "" && !slices.ContainsFunc(history, func(r *Revision) bool { return r.applyID == live })
}

// latestRead is the newest record of history by number, nil when there is
// none or it is unreadable: never the readable one before it, which is not
// what runs.
func latestRead(history []*Revision) *Revision {
	if len(history) == 0 || history[len(history)-1].Unreadable != "" {
		return nil
	}
	return history[len(history)-1]
}

// loadHistory is History with a warning on o.Progress per unreadable record.
func loadHistory(ctx context.Context, c kubernetes.Interface, o *Options, app string) ([]*Revision, error) {
	revs, err := History(ctx, c, o.Namespace, app)
	if err != nil {
		return nil, err
	}
	if o.Progress != nil {
		for _, w := range Warnings(revs) { // records are the namespace's to write
			fmt.Fprintln(o.Progress, prose.Terminal(w))
		}
	}
	return revs, nil
}

// pick is revision n of history (app's in namespace ns), or the readable
// one before the latest readable one when n is 0.
func pick(all []*Revision, ns, app string, n int64) (*Revision, error) {
	for _, r := range all {
		if r.Number == n && r.Unreadable != "" {
			return nil, NotFound("the record of revision %d of %s is unreadable (%s); pick another (kubectl zz history %s lists them)", n, app, r.Unreadable, app)
		}
	}
	history := readable(all)
	if len(history) == 0 {
		return nil, NotFound("%s has no recorded revisions in namespace %s; deploy it first", app, ns)
	}
	if n == 0 {
		if len(history) < 2 {
			return nil, NotFound("%s has only revision %d, nothing to roll back to", app, history[0].Number)
		}
		return history[len(history)-2], nil
	}
	for _, r := range history {
		if r.Number == n {
			return r, nil
		}
	}
	if first, last := all[0].Number, all[len(all)-1].Number; first < n && n < last {
		return nil, NotFound("%s has no revision %d: %s; kubectl zz history %s lists the revisions", app, n, unrecordedWhy, app)
	}
	return nil, NotFound("%s has no revision %d (recorded: %d to %d); kubectl zz history %s lists them",
		app, n, history[0].Number, history[len(history)-1].Number, app)
}

// unrecordedWhy is why a number between two records has none: each command
// takes the next number before its rollout (stamped on what it applies) and
// none uses it again, as Helm keeps a failed release's number.
const unrecordedWhy = "a command whose rollout failed, or that was stopped, used the number and recorded nothing"

// Gaps is the note on the numbers between the first and the last of revs
// (by number) that no record holds, "" for none: history showed 1, 2, 4
// unexplained (an app-developer audit). A run of three or more is one
// range ("5 to 9"), so one record of a forged or mistyped number (2^40) costs nothing
// more; an unreadable record whose number could not be read (0) bounds no
// gap.
func Gaps(app string, revs []*Revision) string {
	var runs []string
	var missing int64
	last := int64(0)
	for _, r := range revs {
		if r.Number <= 0 {
			continue
		}
		switch lo, hi := last+1, r.Number-1; {
		case last == 0 || hi < lo:
		case hi-lo < 2:
			for n := lo; n <= hi; n++ {
				runs = append(runs, strconv.FormatInt(n, 10))
			}
		default:
			runs = append(runs, fmt.Sprintf("%d to %d", lo, hi))
		}
		if last > 0 && r.Number > last {
			missing += r.Number - last - 1
		}
		last = max(last, r.Number)
	}
	switch {
	case missing == 0:
		return ""
	case missing == 1:
		return fmt.Sprintf("note: %s has no record of revision %s: %s", app, runs[0], unrecordedWhy)
	}
	list := prose.And(runs)
	if len(runs) > 8 {
		list = prose.Some(runs, 8)
	}
	return fmt.Sprintf("note: %s has no record of revisions %s: %s", app, list, unrecordedWhy)
}

func next(history []*Revision) int64 {
	if len(history) == 0 {
		return 1
	}
	return history[len(history)-1].Number + 1
}

// whoAmI is the user to record: the given one, else the apiserver's view of
// the caller, else the local OS user.
func whoAmI(ctx context.Context, c kubernetes.Interface, given string) string {
	if given != "" {
		return given
	}
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err == nil && r.Status.UserInfo.Username != "" {
		return r.Status.UserInfo.Username
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

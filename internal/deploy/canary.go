package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// CanaryShare is how many pods a canary runs: Count pods, or Count percent
// of the stable Deployment's replicas (at least one pod) when Percent.
type CanaryShare struct {
	Count   int32
	Percent bool
}

// ParseCanaryShare reads "N" or "N%".
func ParseCanaryShare(s string) (CanaryShare, error) {
	num, pct := strings.CutSuffix(s, "%")
	n, err := strconv.ParseInt(num, 10, 32)
	switch {
	case err == nil && pct && (n < 1 || n > 100):
		return CanaryShare{}, fmt.Errorf("--canary %s: a share of the stable pods is 1%% to 100%%", s)
	case err != nil || n < 1:
		return CanaryShare{}, fmt.Errorf("--canary %q is not a pod count or a percentage; use e.g. --canary 1 or --canary 10%%", s)
	}
	return CanaryShare{Count: int32(n), Percent: pct}, nil
}

// pods is the canary's size next to stable pods.
func (s CanaryShare) pods(stable int32) int32 {
	if !s.Percent {
		return s.Count
	}
	return max(1, (stable*s.Count+99)/100)
}

// ErrNoCanary means promote or abort found no canary to end.
var ErrNoCanary = errors.New("no canary")

// isCanary reports whether o belongs to a canary (its Deployment).
func isCanary(o render.Object) bool {
	return o.GetLabels()[contract.LabelTrack] == contract.TrackCanary
}

// stableOnly is objs without the canary's objects.
func stableOnly(objs []render.Object) []render.Object {
	var out []render.Object
	for _, o := range objs {
		if !isCanary(o) {
			out = append(out, o)
		}
	}
	return out
}

// RunCanary deploys cfg.App as a canary: the Deployment <app>-canary with
// share of the stable pods (and its own config), next to the latest
// revision's objects, which stay as they are; the app's Service selects
// both. It waits for the canary, prunes what the revision lacks (an earlier
// canary's config) and records a revision that remembers the full new app
// for kubectl zz promote.
func RunCanary(ctx context.Context, c kubernetes.Interface, cfg *Config, share CanaryShare) (_ *Result, err error) {
	cfg.defaults()
	app, ns := cfg.App.Name, cfg.Namespace
	if p := cfg.App.Spec.PVC; p != nil && p.AccessMode == appspec.AccessModeOnce {
		// The canary's pod would mount the stable pod's volume from another
		// node and wait on it for good (Multi-Attach).
		return nil, fmt.Errorf("%s has a ReadWriteOnce volume (spec.pvc), which one node mounts at a time: a canary cannot run beside the stable pod; deploy without --canary (the old pod goes first), or use accessMode: ReadWriteMany", app)
	}
	ctx, release, err := lock(ctx, c, &cfg.Options, app, "deploy --canary")
	if err != nil {
		return nil, err
	}
	defer func() { err = unlock(ctx, release, err) }()
	history, err := loadHistory(ctx, c, &cfg.Options, app)
	if err != nil {
		return nil, err
	}
	if len(history) == 0 {
		return nil, NotFound("%s has no stable revision in namespace %s for a canary to run next to; deploy it without --canary first", app, ns)
	}
	// The canary runs next to the newest record's objects: never next to
	// an older one's, nor next to objects of a format this version would
	// misread (a front port it does not know routes no traffic to it).
	latest, err := newest(history, app, "kubectl zz deploy --canary")
	if err != nil {
		return nil, err
	}
	stable := stableOnly(latest.objects)
	opts := render.Options{Namespace: ns, Debug: cfg.Debug}
	if err := canaryRouteKept(app, stable, render.Render(cfg.App, opts)); err != nil {
		return nil, err
	}
	rev := &Revision{
		App: app, Number: nextNumber(ctx, c, ns, app, history), Version: cfg.App.Spec.Version, Image: cfg.App.Spec.Image,
		User: whoAmI(ctx, c, cfg.User), ChangeCause: cfg.ChangeCause, Time: cfg.now(), Canary: true,
	}
	n := share.pods(stableReplicas(ctx, c, ns, app, stable))
	if rev.ChangeCause == "" {
		rev.ChangeCause = fmt.Sprintf("canary %s (%d pod%s)", rev.Version, n, map[bool]string{true: "s"}[n != 1])
		// What the canary changes, as a deploy's cause says it: a canary of
		// a sidecar's image named the stable version and image alone.
		if prev, err := latest.Spec(); err == nil {
			if changed := changedFields(prev, cfg.given(), nil); changed != "" {
				rev.ChangeCause = strings.TrimSuffix(rev.ChangeCause, ")") + "; " + changed + ")"
			}
		}
	}
	objects := func(number int64) (objs, promote []render.Object) {
		opts.Revision = number
		objs = withRevision(stable, number)
		have := map[string]bool{}
		for _, o := range objs {
			have[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
		}
		for _, o := range render.Canary(cfg.App, opts, n) {
			if !have[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] { // the same config as stable's
				objs = append(objs, o)
			}
		}
		return objs, render.Render(cfg.App, opts)
	}
	if latest.Canary && runsCanary(ctx, c, ns, app, latest, cfg.NoWait, objects) {
		// The same canary again, running: recorded again, it pushed real
		// revisions out of the history with copies, where a deploy, scale
		// or rollback of what runs records nothing (an app-developer audit).
		return &Result{Revision: latest.Number, Unchanged: true}, nil
	}
	rev.objects, rev.promote = objects(rev.Number)
	rev.spec, rev.promoteSpec = latest.spec, cfg.given()
	secret, err := newRecord(ns, rev)
	if err != nil {
		return nil, err
	}
	cl, err := applyObjects(ctx, c, ns, app, rev.objects, cfg.Adopt, cfg.NoWait, "", rev.cause())
	if err != nil {
		return nil, err
	}
	canary := render.CanaryName(app)
	if err := waitRollout(ctx, c, ns, canary, &cfg.Options, cl, startOf(cfg.App)); err != nil {
		if errors.Is(err, ErrSuperseded) {
			return &Result{}, err
		}
		res := &Result{}
		if cfg.RollbackOnFailure || latest.Canary {
			// After a recorded canary, the pods the failed rollout kept
			// (maxUnavailable 0) are that revision's: put it back, as
			// --rollback-on-failure does, where scaling the Deployment to
			// 0 stopped them too (a review). The restore also removes a
			// failed canary next to a stable revision.
			err = restore(ctx, c, &cfg.Options, app, history, err, res, "")
		}
		if res.RolledBackTo == 0 {
			stopped := int64(0)
			if latest.Canary {
				stopped = latest.Number
			}
			err = fmt.Errorf("%w\n%s", err, parkCanary(ctx, c, &cfg.Options, app, stopped, errors.Is(err, ErrInterrupted), downOf(err)))
		}
		return res, err
	}
	if err := settle(ctx, c, &cfg.Options, app, cl, rev.objects, secret, history); err != nil {
		return nil, err
	}
	return &Result{Revision: rev.Number}, nil
}

// runsCanary says whether app runs canary revision latest as objects
// renders it now (under latest's number): the same objects and promote
// objects recorded, not drifted, and ready unless notReadyToo (a
// --wait=false deploy, as runsLatest). What cannot be read counts as not.
func runsCanary(ctx context.Context, c kubernetes.Interface, ns, app string, latest *Revision, notReadyToo bool, objects func(int64) ([]render.Object, []render.Object)) bool {
	objs, promote := objects(latest.Number)
	if same, err := sameObjects(objs, latest.objects); err != nil || !same {
		return false
	}
	if same, err := sameObjects(promote, latest.promote); err != nil || !same {
		return false
	}
	st, err := appStatus(ctx, c, LiveUnjudged(c), ns, app)
	if err != nil || st.Canary == nil {
		return false
	}
	return (st.Health == HealthReady && !st.Canary.RollingOut && st.Canary.Ready >= st.Canary.Desired || notReadyToo) &&
		len(st.Drift) == 0 && st.Revision == latest.Number && wholeHeld(ctx, c, ns, latest.objects, func(kindOps, runtime.Object) {})
}

// parkCanary scales the canary Deployment of a canary whose rollout failed
// (or was interrupted) to 0 and says what that leaves. Left at its
// replicas, its pods started and took their share of the Service's traffic
// on their own once the cause clears (a webhook back, a quota raised), with
// no revision and no person's step, after zz had said the stable version
// still serves (an incident audit). Kept at 0, not removed: abort, status
// and a later deploy --canary go on from it as from the failed canary.
// stopped is the recorded canary revision whose pods the scale stops too
// (its restore failed), 0 for none. down names the zz components whose
// outage failed it ("" for none): the next step is then the same command
// once they are back, not a fix.
func parkCanary(ctx context.Context, c kubernetes.Interface, o *Options, app string, stopped int64, interrupted bool, down string) string {
	canary := render.CanaryName(app)
	// Interrupted too (Ctrl-C): the scale is part of ending the canary.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreRetry.For)
	defer cancel()
	err := stillHeld(ctx)
	gone := false
	if err == nil {
		// As kubectl zz's own count (applyReplicas): the next deploy
		// --canary's apply takes it back, and status sees no other writer.
		// An apply creates what is missing (and is refused as invalid for
		// a bare count), so a canary already gone is read first.
		err = retryTransient(ctx, o.Progress, "scaling "+canary+" to 0", func() error {
			_, err := c.AppsV1().Deployments(o.Namespace).Get(ctx, canary, metav1.GetOptions{})
			if gone = apierrors.IsNotFound(err); gone || err != nil {
				return err
			}
			return applyReplicas(ctx, c, o.Namespace, canary, 0)
		})
	}
	next := "fix it and deploy --canary again"
	switch {
	case interrupted:
		next = "deploy --canary again to go on with it"
	case down != "":
		next = againOnceBack(down)
	}
	switch {
	case gone:
		return fmt.Sprintf("the canary Deployment %s is gone: the stable version serves; %s", canary, next)
	case err != nil:
		return fmt.Sprintf("the canary Deployment %s stays at its replicas, and its pods start behind the Service as soon as the cause clears (scaling it to 0 failed: %v): kubectl zz abort %s removes it now", canary, err, app)
	case stopped > 0:
		return fmt.Sprintf("the canary is scaled to 0, revision %d's canary pods too: the stable version alone serves, and nothing starts by itself; %s, or kubectl zz rollback %s --to-revision %d runs revision %d's canary again", stopped, next, app, stopped, stopped)
	}
	return fmt.Sprintf("the canary is scaled to 0: it serves nothing now and starts nothing by itself, and the stable version serves; %s, or kubectl zz abort %s removes it", next, app)
}

// canaryRouteKept refuses a canary whose pods would take the app's traffic
// on other ports than the stable revision's Service sends it to: a canary
// leaves the Service as it is, and its targetPorts are names each pod
// resolves, so a canary adding an auth proxy in front (spec.sidecars[].
// ports[].front) would be reached past the proxy, and one removing it, or
// changing the port's name (spec.type), would get no traffic at all.
func canaryRouteKept(app string, stable, want []render.Object) error {
	// target is the pods' port the Service's first port (the app's, before
	// spec.ports) sends to; "" for an app without a Service (a worker).
	target := func(objs []render.Object) string {
		if svc := appService(app, objs); svc != nil && len(svc.Spec.Ports) > 0 {
			return svc.Spec.Ports[0].TargetPort.String()
		}
		return ""
	}
	was, now := target(stable), target(want)
	if was == "" || now == "" || was == now {
		return nil
	}
	return fmt.Errorf("%s's canary would take the app's traffic on its pods' port %s, where the Service sends it to port %s: a canary leaves the Service as it is, so its pods would be reached past an auth proxy (spec.sidecars[].ports[].front) or not at all (spec.type names the port); deploy without --canary to change which port takes the traffic", app, now, was)
}

// stableReplicas is the live stable Deployment's replicas (an HPA may have
// changed them), else the recorded ones, else 1.
func stableReplicas(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object) int32 {
	if d, err := c.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{}); err == nil && d.Spec.Replicas != nil {
		return *d.Spec.Replicas
	}
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Spec.Replicas != nil {
			return *d.Spec.Replicas
		}
	}
	return 1
}

// CanaryActionConfig is one kubectl zz promote or abort.
type CanaryActionConfig struct {
	Options
	App string
}

// Promote rolls the stable Deployment (and every other object) to the
// canary's version, as recorded by the canary revision, waits for it, then
// removes the canary; recorded with change cause "promote canary of
// revision N". If the stable rollout fails, the canary revision is
// re-applied.
func Promote(ctx context.Context, c kubernetes.Interface, cfg *CanaryActionConfig) (*Result, error) {
	return endCanary(ctx, c, cfg, true)
}

// Abort removes the canary and keeps the stable version, recorded with
// change cause "abort canary of revision N".
func Abort(ctx context.Context, c kubernetes.Interface, cfg *CanaryActionConfig) (*Result, error) {
	return endCanary(ctx, c, cfg, false)
}

func endCanary(ctx context.Context, c kubernetes.Interface, cfg *CanaryActionConfig, promote bool) (_ *Result, err error) {
	cfg.defaults()
	app, ns := cfg.App, cfg.Namespace
	ctx, release, err := lock(ctx, c, &cfg.Options, app, map[bool]string{true: "promote", false: "abort"}[promote])
	if err != nil {
		return nil, err
	}
	defer func() { err = unlock(ctx, release, err) }()
	history, err := loadHistory(ctx, c, &cfg.Options, app)
	if err != nil {
		return nil, err
	}
	latest, objs, unrecorded, err := canaryEnd(ctx, c, ns, app, history, promote)
	if err != nil {
		return nil, err
	}
	if unrecorded {
		// A canary whose rollout failed was never recorded, and its
		// error said abort removes it: abort does, the latest
		// revision's objects kept (prune), nothing recorded (a
		// concurrency audit: abort refused and sent the user to
		// rollback).
		if err := prune(ctx, c, ns, app, objs, cfg.Progress); err != nil {
			return nil, err
		}
		return &Result{Revision: latest.Number, Unchanged: true}, nil
	}
	rev := &Revision{App: app, Number: nextNumber(ctx, c, ns, app, history), User: whoAmI(ctx, c, cfg.User), Time: cfg.now()}
	rev.objects = withRevision(objs, rev.Number)
	rev.Version, rev.Image = versionOf(rev.objects, app)
	if promote {
		rev.ChangeCause = fmt.Sprintf("promote canary of revision %d", latest.Number)
		rev.spec = latest.promoteSpec
	} else {
		rev.spec = latest.spec
		rev.ChangeCause = fmt.Sprintf("abort canary of revision %d", latest.Number)
	}
	if promote { // an abort re-applies the stable template that runs
		if err := refusePaused(ctx, c, cfg.Namespace, app); err != nil {
			return nil, err
		}
	}
	return applyRevision(ctx, c, &cfg.Options, app, rev, history)
}

// canaryEnd is what ending app's canary in ns leaves, read from its
// history: the objects of the canary revision latest that promote (the
// canary's) or abort (the stable ones) applies. unrecorded: an abort of a
// canary no revision recorded (its rollout failed), which keeps latest's
// objects and removes the rest, recording nothing.
func canaryEnd(ctx context.Context, c kubernetes.Interface, ns, app string, history []*Revision, promote bool) (latest *Revision, objs []render.Object, unrecorded bool, _ error) {
	// Both start from the newest record: an unreadable one is refused,
	// not skipped for the one before it, which is not what runs.
	if _, err := newest(history, app, map[bool]string{true: "kubectl zz promote", false: "kubectl zz abort"}[promote]); err != nil {
		return nil, nil, false, err
	}
	good := readable(history)
	if len(good) > 0 && good[len(good)-1].Canary {
		latest = good[len(good)-1]
		if promote {
			return latest, latest.promote, false, nil
		}
		return latest, stableOnly(latest.objects), false, nil
	}
	if _, err := c.AppsV1().Deployments(ns).Get(ctx, render.CanaryName(app), metav1.GetOptions{}); err == nil {
		if !promote && len(good) > 0 {
			latest = good[len(good)-1]
			return latest, latest.objects, true, nil
		}
		return nil, nil, false, fmt.Errorf("%w: Deployment %s/%s runs, but the latest revision of %s did not start it; kubectl zz abort %s removes it",
			ErrNoCanary, ns, render.CanaryName(app), app, app)
	} else if !apierrors.IsNotFound(err) {
		return nil, nil, false, err
	}
	if len(history) == 0 {
		return nil, nil, false, NotFound("no app %s in namespace %s; kubectl zz list shows the apps there", app, ns)
	}
	return nil, nil, false, fmt.Errorf("%w: %s runs no canary in namespace %s; kubectl zz deploy --canary N starts one", ErrNoCanary, app, ns)
}

// CanaryDiff shows, as Diff does, what Promote (promote) or Abort of app's
// canary in ns would change, changing nothing: the objects it would apply
// (the canary revision's promote objects, or its stable ones) dry-run
// applied and compared with the live ones, the canary's Deployment and
// config shown as removed; for the abort of a canary no revision records,
// which only prunes, the removals alone. externalDiff is KUBECTL_EXTERNAL_DIFF ("" for
// the unified diff). What the command would refuse is an error, as
// RollbackDiff says it.
func CanaryDiff(ctx context.Context, c kubernetes.Interface, ns, app string, promote bool, externalDiff string, out io.Writer) (bool, error) {
	history, err := History(ctx, c, ns, app)
	if err != nil {
		return false, err
	}
	_, objs, unrecorded, err := canaryEnd(ctx, c, ns, app, history, promote)
	if err != nil {
		return false, err
	}
	verb := map[bool]string{true: "promote", false: "abort"}[promote]
	if promote {
		if err := refusePaused(ctx, c, ns, app); err != nil {
			return false, fmt.Errorf("the %s would be refused: %w", verb, err)
		}
	}
	if unrecorded {
		// The abort of a canary no revision records only prunes (see
		// endCanary): the objects it keeps are not applied, so their
		// drift is not taken back and is not shown going.
		removed, err := removedChanges(ctx, c, ns, app, objs)
		if err != nil {
			return false, err
		}
		return showChanges(ctx, removed, app, externalDiff, out)
	}
	objs = withRevision(objs, next(history))
	if err := judgedForDiff(ctx, c, ns, app, objs, false, verb); err != nil {
		return false, err
	}
	return diffObjects(ctx, c, ns, app, objs, externalDiff, out)
}

// versionOf is the version label and image of app's stable Deployment in objs.
func versionOf(objs []render.Object, app string) (string, string) {
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == app && len(d.Spec.Template.Spec.Containers) > 0 {
			return d.Labels[contract.LabelVersion], d.Spec.Template.Spec.Containers[0].Image
		}
	}
	return "", ""
}

package deploy

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// ChangeConfig is one kubectl zz scale or restart of an app.
type ChangeConfig struct {
	Options
	App string
	// DiffOut, when set, makes the change a server-side dry run: what it
	// would change is written there as deploy --diff writes it (with
	// ExternalDiff, KUBECTL_EXTERNAL_DIFF), nothing is applied or recorded,
	// and Result.Differs says whether anything would change.
	DiffOut      io.Writer
	ExternalDiff string
}

// Scale sets app's replicas to n as a new revision (change cause "scale to
// n"): the latest revision's objects with the Deployment's replicas changed,
// applied, waited for and recorded, so history shows it and a rollback
// restores the replicas of the revision it goes to. It refuses when an HPA
// sets the replicas. A scale whose pods do not become ready re-applies the
// latest revision.
func Scale(ctx context.Context, c kubernetes.Interface, cfg *ChangeConfig, n int32) (*Result, error) {
	hpa, err := scalerOf(ctx, c, cfg.Namespace, cfg.App)
	switch {
	case err != nil:
		return nil, err
	case hpa != nil && writtenByZZ(hpa):
		return nil, fmt.Errorf("%s has a HorizontalPodAutoscaler (%s) that sets its replicas; change hpa.min and hpa.max in its spec and deploy, or remove hpa to scale by hand",
			cfg.App, hpaRange(hpa))
	case hpa != nil:
		return nil, fmt.Errorf("%s has a HorizontalPodAutoscaler, %s (%s), that sets its replicas and that kubectl zz did not make; change it where it was made (kubectl edit hpa %s -n %s), or delete it to scale by hand",
			cfg.App, hpa.Name, hpaRange(hpa), hpa.Name, cfg.Namespace)
	}
	return change(ctx, c, cfg, fmt.Sprintf("scale to %d", n), func(d *appsv1.Deployment) {
		d.Spec.Replicas = &n
	}, func(s *appspec.Spec) {
		s.Replicas = &n
	}, nil)
}

// scalerOf returns the HorizontalPodAutoscaler that scales app's
// Deployment (by its scaleTargetRef, whatever its name: Helm charts name
// theirs <release>-hpa), nil when none does or HPAs may not be listed.
func scalerOf(ctx context.Context, c kubernetes.Interface, ns, app string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	list, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("list the HorizontalPodAutoscalers of namespace %s: %w", ns, err)
	}
	for i := range list.Items {
		ref := list.Items[i].Spec.ScaleTargetRef
		if ref.Kind == "Deployment" && ref.Name == app && strings.HasPrefix(ref.APIVersion, appsv1.GroupName+"/") {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// hpaRange is "2 to 8 replicas".
func hpaRange(hpa *autoscalingv2.HorizontalPodAutoscaler) string {
	return fmt.Sprintf("%d to %d replicas", ptr.Deref(hpa.Spec.MinReplicas, 1), hpa.Spec.MaxReplicas)
}

// Restart rolls every pod of app (a rolling restart, as kubectl rollout
// restart does it) as a new revision with change cause "restart".
func Restart(ctx context.Context, c kubernetes.Interface, cfg *ChangeConfig) (*Result, error) {
	at := cfg.now().UTC().Format("2006-01-02T15:04:05Z07:00")
	return change(ctx, c, cfg, "restart", func(d *appsv1.Deployment) {
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations[contract.AnnotationRestartedAt] = at
	}, nil, func(ctx context.Context) (*Result, error) {
		d, err := unpausedDeployment(ctx, c, cfg.Namespace, cfg.App)
		if err != nil {
			return nil, err
		}
		// At 0 replicas no pod restarts, and a revision was recorded for
		// nothing (an app-developer audit); as kubectl rollout restart of
		// such a Deployment, it is no error (a restart of every app, one
		// of them stopped, succeeds). Read under the lock, after the
		// refusals every change makes (no records, a canary): before them
		// it said "unchanged" of what it refuses, and raced a scale up
		// (review 36 #10).
		if d != nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 0 {
			return &Result{Unchanged: true, NoPods: true}, nil
		}
		return nil, nil
	})
}

// change records the latest revision with edit applied to its Deployment
// (and editSpec, when not nil, to its recorded spec) as the next revision:
// apply, wait, record (or re-apply the latest on failure). done, when not
// nil, is asked under the lock, once the app is known to be one change
// may change: a Result (or an error) it returns is the change's.
func change(ctx context.Context, c kubernetes.Interface, cfg *ChangeConfig, cause string, edit func(*appsv1.Deployment), editSpec func(*appspec.Spec), done func(context.Context) (*Result, error)) (_ *Result, err error) {
	cfg.defaults()
	app, ns := cfg.App, cfg.Namespace
	release := func() {}
	if cfg.DiffOut == nil { // a dry run changes nothing to keep apart
		if ctx, release, err = lock(ctx, c, &cfg.Options, app, cause); err != nil {
			return nil, err
		}
	}
	defer func() { err = unlock(ctx, release, err) }()
	history, err := loadHistory(ctx, c, &cfg.Options, app)
	if err != nil {
		return nil, err
	}
	if len(history) == 0 {
		return nil, NotFound("%s has no recorded revisions in namespace %s; deploy it with kubectl zz deploy first", app, ns)
	}
	if canary, err := canaryOf(ctx, c, ns, app); err != nil {
		return nil, err
	} else if canary != "" {
		return nil, fmt.Errorf("%s has a canary running (Deployment %s); promote or abort it first (kubectl zz promote %s, kubectl zz abort %s)", app, canary, app, app)
	}
	// The newest record, by number: the readable one before an unreadable
	// one is not what runs (a scale rolled the image back).
	latest, err := newest(history, app, "kubectl zz "+strings.Fields(cause)[0])
	if err != nil {
		return nil, err
	}
	if done != nil {
		if r, err := done(ctx); r != nil || err != nil {
			return r, err
		}
	}
	rev := &Revision{
		App: app, Number: nextNumber(ctx, c, ns, app, history), Version: latest.Version, Image: latest.Image,
		User: whoAmI(ctx, c, cfg.User), ChangeCause: cause, Time: cfg.now(),
	}
	rev.objects = withRevision(latest.objects, rev.Number)
	if rev.spec = latest.spec.Clone(); rev.spec != nil && editSpec != nil {
		editSpec(&rev.spec.Spec)
	}
	found := false
	for _, o := range rev.objects {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == app {
			before := d.Spec.Template.DeepCopy()
			edit(d)
			found = true
			rev.keepsTemplate = equality.Semantic.DeepEqual(before, &d.Spec.Template)
		}
	}
	if !found {
		return nil, fmt.Errorf("revision %d of %s has no Deployment %s to %s", latest.Number, app, app, cause)
	}
	if cfg.DiffOut != nil {
		if err := judgedForDiff(ctx, c, ns, app, rev.objects, false, cause); err != nil {
			return nil, err
		}
		differs, err := diffObjects(ctx, c, ns, app, rev.objects, cfg.ExternalDiff, cfg.DiffOut)
		return &Result{Revision: latest.Number, Differs: differs}, err
	}
	if same, err := runsAlready(ctx, c, cfg, latest, edit); err != nil {
		return nil, err
	} else if same {
		return &Result{Revision: latest.Number, Unchanged: true}, nil
	}
	return applyRevision(ctx, c, &cfg.Options, app, rev, history)
}

// runsAlready reports whether edit changes nothing in the latest revision
// (a scale to the replicas it has) and the app runs that revision, ready
// and not drifted: the change then applies and records nothing, as a deploy
// of the same spec does, so a script that scales on every run keeps the
// history for real changes.
func runsAlready(ctx context.Context, c kubernetes.Interface, cfg *ChangeConfig, latest *Revision, edit func(*appsv1.Deployment)) (bool, error) {
	if latest.Canary {
		return false, nil
	}
	edited := withRevision(latest.objects, latest.Number)
	for _, o := range edited {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == cfg.App {
			edit(d)
		}
	}
	if same, err := sameObjects(edited, latest.objects); err != nil || !same {
		return false, err
	}
	return runsLatest(ctx, c, cfg.Namespace, cfg.App, latest, false, cfg.Judge), nil
}

// applyRevision applies rev (a change of app's stable Deployment: scale,
// restart, promote, abort), waits for the rollout, restores the last good
// revision if it fails, then prunes what rev lacks and records it.
func applyRevision(ctx context.Context, c kubernetes.Interface, o *Options, app string, rev *Revision, history []*Revision) (*Result, error) {
	secret, err := newRecord(o.Namespace, rev)
	if err != nil {
		return nil, err
	}
	cl, err := applyObjects(ctx, c, o.Namespace, app, rev.objects, false, o.NoWait, "", rev.cause())
	if err != nil {
		return nil, err
	}
	st := startOf(rev.spec)
	st.together = rev.keepsTemplate // a scale: its new pods start at once
	if err := waitRollout(ctx, c, o.Namespace, app, o, cl, st); err != nil {
		err = fmt.Errorf("%s of %s: %w", rev.ChangeCause, app, err)
		res := &Result{}
		return res, restore(ctx, c, o, app, history, err, res, "")
	}
	if err := settle(ctx, c, o, app, cl, rev.objects, secret, history); err != nil {
		return nil, err
	}
	return &Result{Revision: rev.Number}, nil
}

// canaryOf returns the name of app's canary Deployment, "" when none runs.
func canaryOf(ctx context.Context, c kubernetes.Interface, ns, app string) (string, error) {
	list, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: appSelector(app)})
	if err != nil {
		return "", fmt.Errorf("list deployments of %s: %w", app, err)
	}
	for i := range list.Items {
		if liveCanary(&list.Items[i], app) {
			return list.Items[i].Name, nil
		}
	}
	return "", nil
}

// liveCanary says whether d is app's canary: <app>-canary as kubectl zz
// deploy --canary wrote it, not another Deployment with the app's labels.
func liveCanary(d *appsv1.Deployment, app string) bool {
	return d.Name == app+contract.CanarySuffix && d.Labels[contract.LabelTrack] == contract.TrackCanary && writtenByZZ(d)
}

// DeleteConfig is one kubectl zz delete.
type DeleteConfig struct {
	Namespace, App string
	// DeleteData deletes the app's PersistentVolumeClaims too.
	DeleteData bool
	// DryRun lists what would be deleted and deletes nothing.
	DryRun bool
	// KeepHistory keeps the revision records (helm uninstall
	// --keep-history): status shows the app as Missing, and rollback
	// brings it back.
	KeepHistory bool
	// Progress receives warnings (stderr); nil prints nothing.
	Progress io.Writer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// DeleteResult names objects as Kind/name.
type DeleteResult struct {
	// Deleted are the objects and revision records (Records of them).
	Deleted []string
	Records int
	// Kept are the PersistentVolumeClaims left without DeleteData.
	Kept []string
	// KeptRevisions are the revision numbers kept with KeepHistory.
	KeptRevisions []int64
	// NotOurs are objects with the app's labels that kubectl zz did not
	// write (writtenByZZ), left alone.
	NotOurs []string
}

// Delete removes every object of app that kubectl zz manages (of every kind
// it renders, the canary's too) and its revision records (unless
// KeepHistory); PVCs are kept unless DeleteData. It fails when the
// namespace has nothing of app to delete.
func Delete(ctx context.Context, c kubernetes.Interface, cfg *DeleteConfig) (_ *DeleteResult, err error) {
	app, ns := cfg.App, cfg.Namespace
	release := func() {}
	if !cfg.DryRun {
		if ctx, release, err = lock(ctx, c, &Options{Namespace: ns, Progress: cfg.Progress, Now: cfg.Now}, app, "delete"); err != nil {
			return nil, err
		}
	}
	defer func() { err = unlock(ctx, release, err) }()
	sel := appSelector(app)
	type victim struct {
		what string
		del  func() error
	}
	var victims []victim
	res := &DeleteResult{}
	for i := len(kinds) - 1; i >= 0; i-- {
		k := kinds[i]
		objs, err := k.list(ctx, c, ns, sel)
		if err != nil {
			return nil, fmt.Errorf("list %ss of %s: %w", k.kind, app, err)
		}
		for _, o := range objs {
			name := o.GetName()
			if !writtenByZZ(o) {
				res.NotOurs = append(res.NotOurs, k.kind+"/"+name)
				continue
			}
			if k.kind == "PersistentVolumeClaim" && !cfg.DeleteData {
				res.Kept = append(res.Kept, k.kind+"/"+name)
				continue
			}
			victims = append(victims, victim{k.kind + "/" + name, func() error { return k.delete(ctx, c, ns, name) }})
		}
	}
	records, err := listRecords(ctx, c, ns, app)
	if err != nil {
		return nil, err
	}
	// By revision, as history lists them (the names sort r10 before r5).
	slices.SortStableFunc(records, func(a, b *corev1.Secret) int { return cmp.Compare(recordNumber(a, app), recordNumber(b, app)) })
	for _, s := range records {
		if cfg.KeepHistory {
			res.KeptRevisions = append(res.KeptRevisions, recordNumber(s, app))
			continue
		}
		res.Records++
		victims = append(victims, victim{"Secret/" + s.Name, func() error {
			err := c.CoreV1().Secrets(ns).Delete(ctx, s.Name, metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}})
	}
	slices.Sort(res.KeptRevisions)
	switch {
	case len(victims) == 0 && len(res.KeptRevisions) > 0:
		return nil, NotFound("%s has no objects left in namespace %s, only its revision records (kubectl zz rollback %s --to-revision %d brings it back; delete without --keep-history removes them)",
			app, ns, app, res.KeptRevisions[len(res.KeptRevisions)-1])
	case len(victims) == 0 && len(res.Kept) == 0:
		return nil, NotFound("no app %s in namespace %s; kubectl zz list shows the apps there", app, ns)
	}
	for _, v := range victims {
		if !cfg.DryRun {
			if err := stillHeld(ctx); err != nil {
				return res, fmt.Errorf("%w; deleted so far: %s", err, cmp.Or(strings.Join(res.Deleted, ", "), "nothing"))
			}
			if err := v.del(); err != nil {
				return res, fmt.Errorf("delete %s of %s (deleted so far: %s): %w", v.what, app, cmp.Or(strings.Join(res.Deleted, ", "), "nothing"), err)
			}
		}
		res.Deleted = append(res.Deleted, v.what)
	}
	return res, nil
}

// Objects are the rendered objects the revision recorded.
func (r *Revision) Objects() []render.Object { return r.objects }

// GetRevision returns revision n of app (0: the latest), with its objects;
// an unreadable record is an error, the latest too.
func GetRevision(ctx context.Context, c kubernetes.Interface, ns, app string, n int64) (*Revision, error) {
	history, err := History(ctx, c, ns, app)
	if err != nil {
		return nil, err
	}
	if n == 0 && len(history) > 0 {
		n = history[len(history)-1].Number
	}
	return pick(history, ns, app, n)
}

// DiffSpecs writes the unified diff, as YAML, from the app spec revision
// from deployed to the one revision to deployed (Revision.Spec), and
// reports whether they differ. With externalDiff (KUBECTL_EXTERNAL_DIFF)
// that program compares them instead, as deploy --diff runs it: revision
// from's spec in its LIVE folder, revision to's in MERGED.
func DiffSpecs(ctx context.Context, c kubernetes.Interface, ns, app string, from, to int64, externalDiff string, out io.Writer) (bool, error) {
	var text [2]string
	var number [2]int64
	for i, n := range []int64{from, to} {
		rev, err := GetRevision(ctx, c, ns, app, n)
		if err != nil {
			return false, err
		}
		// As recorded: a field this version does not know is a change too.
		spec, err := rev.SpecAsRecorded()
		if err != nil {
			return false, err
		}
		b, err := yaml.Marshal(spec)
		if err != nil {
			return false, err
		}
		text[i], number[i] = string(b), rev.Number
	}
	if externalDiff != "" {
		gvk := schema.FromAPIVersionAndKind(appspec.APIVersion, appspec.Kind)
		return runExternalDiff(ctx, externalDiff, []objChange{{gvk: gvk, ns: ns, name: app, before: text[0], after: text[1]}}, out)
	}
	d := unifiedDiff(fmt.Sprintf("revision %d spec", number[0]), fmt.Sprintf("revision %d spec", number[1]), text[0], text[1], diffContext)
	if d == "" {
		return false, nil
	}
	_, err := io.WriteString(out, d)
	return true, err
}

// DiffRevisions writes the unified diff from revision from to revision to of
// app (as deploy --diff shows live against new, without the revision label)
// and reports whether they differ. With externalDiff (KUBECTL_EXTERNAL_DIFF)
// that program compares them instead, on two folders as deploy --diff
// writes them: revision from's objects in LIVE, revision to's in MERGED.
func DiffRevisions(ctx context.Context, c kubernetes.Interface, ns, app string, from, to int64, externalDiff string, out io.Writer) (bool, error) {
	a, err := GetRevision(ctx, c, ns, app, from)
	if err != nil {
		return false, err
	}
	b, err := GetRevision(ctx, c, ns, app, to)
	if err != nil {
		return false, err
	}
	key := func(o render.Object) string { return o.GetObjectKind().GroupVersionKind().Kind + "/" + o.GetName() }
	after := map[string]render.Object{}
	for _, o := range b.objects {
		after[key(o)] = o
	}
	var changes []objChange
	seen := map[string]bool{}
	for _, o := range a.objects {
		k := key(o)
		seen[k] = true
		ch, err := newChange(o.GetObjectKind().GroupVersionKind(), ns, o.GetName(), o, after[k])
		if err != nil {
			return false, err
		}
		changes = append(changes, ch)
	}
	for _, o := range b.objects {
		if !seen[key(o)] {
			ch, err := newChange(o.GetObjectKind().GroupVersionKind(), ns, o.GetName(), nil, o)
			if err != nil {
				return false, err
			}
			changes = append(changes, ch)
		}
	}
	if externalDiff != "" {
		return runExternalDiff(ctx, externalDiff, changes, out)
	}
	changed := false
	for _, ch := range changes {
		k := ch.gvk.Kind + "/" + ch.name
		d := unifiedDiff(fmt.Sprintf("revision %d %s", a.Number, k), fmt.Sprintf("revision %d %s", b.Number, k), ch.before, ch.after, diffContext)
		if d == "" {
			continue
		}
		changed = true
		if _, err := io.WriteString(out, d); err != nil {
			return false, err
		}
	}
	return changed, nil
}

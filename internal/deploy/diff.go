package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// Diff shows what deploying cfg.App would change, without changing anything:
// each rendered object is server-side applied as a dry run (the apiserver
// defaults, merges and admits it) and compared with the live object; objects
// the deploy would delete are shown as removed. The revision label, status
// and server-managed metadata are left out. It writes a unified diff to out,
// or runs cfg.ExternalDiff (KUBECTL_EXTERNAL_DIFF) on two folders as kubectl
// diff does, and reports whether anything differs.
func Diff(ctx context.Context, c kubernetes.Interface, cfg *Config, out io.Writer) (bool, error) {
	if err := refusePaused(ctx, c, cfg.Namespace, cfg.App.Name); err != nil {
		return false, fmt.Errorf("the deploy would be refused: %w", err)
	}
	objs := render.Render(cfg.App, render.Options{Namespace: cfg.Namespace, Debug: cfg.Debug})
	history, err := History(ctx, c, cfg.Namespace, cfg.App.Name)
	if err != nil {
		return false, err
	}
	objs = keepRestart(objs, history) // as the deploy keeps the restart stamp
	sayUnfronted(ctx, c, cfg.Namespace, cfg.Progress, cfg.App.Name, history, objs)
	if err := judgedForDiff(ctx, c, cfg.Namespace, cfg.App.Name, objs, cfg.Adopt, "deploy"); err != nil {
		return false, err
	}
	return diffObjects(ctx, c, cfg.Namespace, cfg.App.Name, objs, cfg.ExternalDiff, out)
}

// judgedForDiff is what the command (verb) would refuse before any write
// (judge), said by its --diff, as kubectl diff fails where the apply would.
func judgedForDiff(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object, adopt bool, verb string) error {
	switch _, refused, err := judge(ctx, c, ns, app, objs, adopt); {
	case err != nil:
		return err
	case len(refused) > 0:
		return fmt.Errorf("the %s would be refused: %w", verb, errors.Join(refused...))
	}
	return nil
}

// RollbackDiff shows, as Diff does, what Rollback with cfg would change:
// the objects of the revision it would restore (the stable part of it, as
// the rollback applies them), and the app's other objects, which it would
// delete. externalDiff is KUBECTL_EXTERNAL_DIFF ("" for the unified diff).
func RollbackDiff(ctx context.Context, c kubernetes.Interface, cfg *RollbackConfig, externalDiff string, out io.Writer) (bool, error) {
	history, target, err := rollbackTarget(ctx, c, cfg)
	if err != nil {
		return false, err
	}
	if err := refusePaused(ctx, c, cfg.Namespace, cfg.App); err != nil {
		return false, fmt.Errorf("the rollback would be refused: %w", err)
	}
	objs := withRevision(stableOnly(target.objects), next(history))
	sayUnfronted(ctx, c, cfg.Namespace, cfg.Progress, cfg.App, history, objs)
	if err := judgedForDiff(ctx, c, cfg.Namespace, cfg.App, objs, false, "rollback"); err != nil {
		return false, err
	}
	return diffObjects(ctx, c, cfg.Namespace, cfg.App, objs, externalDiff, out)
}

// diffObjects compares objs, dry-run applied, with the live objects of app,
// and shows the app's other objects as removed.
func diffObjects(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object, externalDiff string, out io.Writer) (bool, error) {
	var changes []objChange
	for _, o := range objs {
		// A first deploy starts at its HPA's minimum (startAtHPAMin): so
		// does the diff, where it showed the apiserver's default 1.
		if d, ok := o.(*appsv1.Deployment); ok && d.Spec.Replicas == nil {
			if n := hpaMin(objs, d.Name); n > 1 {
				if _, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
					d = d.DeepCopy()
					d.Spec.Replicas = &n
					o = d
				}
			}
		}
		ch, err := renderedChange(ctx, c, ns, app, o)
		if err != nil {
			return false, err
		}
		changes = append(changes, ch)
	}
	removed, err := removedChanges(ctx, c, ns, app, objs)
	if err != nil {
		return false, err
	}
	return showChanges(ctx, append(changes, removed...), app, externalDiff, out)
}

// removedChanges shows app's live objects that objs lacks as removed (what
// prune deletes).
func removedChanges(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object) ([]objChange, error) {
	want := map[string]bool{}
	for _, o := range objs {
		want[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
	}
	extra, err := extraObjects(ctx, c, ns, app, want)
	if err != nil {
		return nil, err
	}
	var changes []objChange
	for _, e := range extra {
		live, err := e.ops.get(ctx, c, ns, e.name)
		if apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		gvks, _, err := scheme.Scheme.ObjectKinds(live)
		if err != nil {
			return nil, err
		}
		ch, err := newChange(gvks[0], ns, e.name, live, nil)
		if err != nil {
			return nil, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// showChanges writes changes to out, through externalDiff when set, and
// says whether any object changes.
func showChanges(ctx context.Context, changes []objChange, app, externalDiff string, out io.Writer) (bool, error) {
	if externalDiff != "" {
		return runExternalDiff(ctx, externalDiff, changes, out)
	}
	changed := false
	for _, ch := range pairConfig(changes, app) {
		if d := ch.unified(); d != "" {
			changed = true
			if _, err := io.WriteString(out, d); err != nil {
				return false, err
			}
		}
	}
	return changed, nil
}

// objChange is one object before (live) and after the deploy, as compared
// YAML; "" is absent.
type objChange struct {
	gvk           schema.GroupVersionKind
	ns, name      string
	before, after string
	// beforeName is the live object's name where it differs (a config
	// files ConfigMap replaced by the next one, pairConfig).
	beforeName string
}

func newChange(gvk schema.GroupVersionKind, ns, name string, before, after runtime.Object) (objChange, error) {
	a, err := comparable(before)
	if err != nil {
		return objChange{}, err
	}
	b, err := comparable(after)
	if err != nil {
		return objChange{}, err
	}
	return objChange{gvk: gvk, ns: ns, name: name, before: a, after: b}, nil
}

func (ch objChange) unified() string {
	label := ch.gvk.Kind + "/" + ch.name
	live := "live " + label
	if ch.beforeName != "" {
		live = "live " + ch.gvk.Kind + "/" + ch.beforeName
	}
	return unifiedDiff(live, "new "+label, ch.before, ch.after, diffContext)
}

// pairConfig shows the app's config files ConfigMap that a deploy replaces
// (its name is its content's hash) as one change from the old to the new,
// so a changed line reads as that line, not as every file removed and added
// (an app-developer audit). Anything else is as it was.
func pairConfig(changes []objChange, app string) []objChange {
	prefix := render.ConfigMapName(app, nil)
	prefix = prefix[:strings.LastIndex(prefix, "-")+1] // "<app>-config-"
	added, removed := -1, -1
	for i, ch := range changes {
		if ch.gvk.Kind != "ConfigMap" || !strings.HasPrefix(ch.name, prefix) {
			continue
		}
		switch {
		case ch.before == "" && ch.after != "":
			if added >= 0 {
				return changes
			}
			added = i
		case ch.before != "" && ch.after == "":
			if removed >= 0 {
				return changes
			}
			removed = i
		}
	}
	if added < 0 || removed < 0 {
		return changes
	}
	out := make([]objChange, 0, len(changes)-1)
	for i, ch := range changes {
		switch i {
		case added:
			ch.before, ch.beforeName = changes[removed].before, changes[removed].name
			out = append(out, ch)
		case removed:
		default:
			out = append(out, ch)
		}
	}
	return out
}

// file is the object's file name in kubectl diff's folders.
func (ch objChange) file() string {
	name := strings.Join([]string{ch.gvk.Version, ch.gvk.Kind, ch.ns, ch.name}, ".")
	if ch.gvk.Group != "" {
		return ch.gvk.Group + "." + name
	}
	return name
}

// runExternalDiff writes every object into a LIVE and a MERGED folder and runs
// program (a command line, as KUBECTL_EXTERNAL_DIFF) on them, its output to
// out. Like diff(1) the program exits 0 when the folders are equal, 1 when
// they differ, more on trouble.
func runExternalDiff(ctx context.Context, program string, changes []objChange, out io.Writer) (bool, error) {
	args := strings.Fields(program)
	if len(args) == 0 {
		return false, errors.New("KUBECTL_EXTERNAL_DIFF is blank")
	}
	dir, err := os.MkdirTemp("", "kubectl-zz-diff-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	live, merged := filepath.Join(dir, "LIVE"), filepath.Join(dir, "MERGED")
	for _, d := range []string{live, merged} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return false, err
		}
	}
	for _, ch := range changes {
		// An absent side has no file, as kubectl diff writes them (its
		// default program is diff -u -N): an empty file read as an object
		// emptied, where the object is created or deleted (a code review).
		for _, side := range []struct{ dir, text string }{{live, ch.before}, {merged, ch.after}} {
			if side.text == "" {
				continue
			}
			if err := os.WriteFile(filepath.Join(side.dir, ch.file()), []byte(side.text), 0o600); err != nil {
				return false, err
			}
		}
	}
	cmd := exec.CommandContext(ctx, args[0], append(args[1:], live, merged)...)
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return true, nil
	}
	return false, fmt.Errorf("external diff %q: %w", program, err)
}

// renderedChange compares what the apiserver would store for o (a dry-run
// apply) with the live object.
func renderedChange(ctx context.Context, c kubernetes.Interface, ns, app string, o render.Object) (objChange, error) {
	gvk := o.GetObjectKind().GroupVersionKind()
	k, ok := kindOf(gvk.Kind)
	if !ok {
		return objChange{}, fmt.Errorf("kind %s of %s is not supported by this kubectl-zz; upgrade it", gvk.Kind, o.GetName())
	}
	// The deploy leaves the replicas to an HPA it did not make
	// (leaveReplicasToHPA): the diff shows the live count, as the deploy keeps it.
	if kept, err := leaveReplicasToHPA(ctx, c, ns, o, &claim{}); err != nil {
		return objChange{}, err
	} else if d, ok := kept.(*appsv1.Deployment); ok && kept != o {
		if cur, err := c.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{}); err == nil {
			d.Spec.Replicas = cur.Spec.Replicas
			o = d
		}
	}
	body, err := json.Marshal(o)
	if err != nil {
		return objChange{}, err
	}
	var merged runtime.Object
	if live, gerr := k.get(ctx, c, ns, o.GetName()); gerr == nil && k.whole != nil && !labelledFor(live, app) {
		merged, err = adoptedDryRun(ctx, c, k, ns, live, o)
	} else {
		merged, err = k.apply(ctx, c, ns, o.GetName(), body, true)
	}
	if err != nil && k.whole != nil {
		// An object another tool made (deploy --adopt): merged with its
		// fields the apply may not validate (a Service's unnamed port
		// beside the rendered one); the adopt puts the rendered part in
		// place whole first, and so does the diff, as a dry run.
		if live, gerr := k.get(ctx, c, ns, o.GetName()); gerr == nil {
			if replaced, uerr := k.update(ctx, c, ns, k.whole.put(live, o), true); uerr == nil {
				merged, err = replaced, nil
			}
		}
	}
	if err != nil {
		return objChange{}, fmt.Errorf("dry-run apply %s %s/%s: %w", gvk.Kind, ns, o.GetName(), err)
	}
	// The deploy also takes out of the part it renders whole what other
	// writers put there, judged by content (takeBack): so does the diff, as
	// a dry run.
	if merged, err = dryTakeBack(ctx, c, k, ns, merged, o); err != nil {
		return objChange{}, fmt.Errorf("dry-run update of the %s of %s %s/%s: %w", k.whole.name, strings.ToLower(gvk.Kind), ns, o.GetName(), err)
	}
	live, err := k.get(ctx, c, ns, o.GetName())
	if apierrors.IsNotFound(err) {
		live = nil
	} else if err != nil {
		return objChange{}, fmt.Errorf("get %s %s/%s: %w", gvk.Kind, ns, o.GetName(), err)
	}
	return newChange(gvk, ns, o.GetName(), live, merged)
}

// adoptedDryRun is the object deploy --adopt makes of another tool's live
// one, as dry runs: its part o renders whole put in place first (as
// applyEach's replaceWhole does), then the apply of the rest. Applied whole
// over the live object, the apply merged lists by name (the chart's nginx
// container beside the rendered app), and the apiserver warned about a
// duplicate port in a pod the deploy never makes (an audit).
func adoptedDryRun(ctx context.Context, c kubernetes.Interface, k kindOps, ns string, live runtime.Object, o render.Object) (runtime.Object, error) {
	replaced, err := k.update(ctx, c, ns, k.whole.put(live, o), true)
	if err != nil {
		return nil, err
	}
	// The rest of o over the live part, which merges with itself.
	body, err := json.Marshal(k.whole.put(o, live))
	if err != nil {
		return nil, err
	}
	rest, err := k.apply(ctx, c, ns, o.GetName(), body, true)
	if err != nil {
		return nil, err
	}
	return k.whole.put(rest, replaced), nil
}

// dryTakeBack is takeBack as a dry run: merged (the dry-run apply's
// object) less what another writer put into the part o renders whole.
func dryTakeBack(ctx context.Context, c kubernetes.Interface, k kindOps, ns string, merged runtime.Object, o render.Object) (runtime.Object, error) {
	if k.whole == nil {
		return merged, nil
	}
	j, err := newPartJudge(k, ns, o)
	if err != nil {
		return nil, err
	}
	put, _, err := j.takenBack(ctx, c, merged)
	if err != nil || put == nil {
		return merged, err
	}
	// With the resourceVersion of a fresh read, read again on a conflict: a
	// Deployment rolling out (its controller writes its status) changed
	// since the dry-run apply read it, and an update without one is refused
	// for a PodDisruptionBudget (metadata.resourceVersion: must be specified
	// for an update), which failed deploy --adopt --diff of every app with a
	// budget (an adoption audit).
	m, err := meta.Accessor(put)
	if err != nil {
		return nil, err
	}
	for conflicts := 0; ; conflicts++ {
		cur, err := k.get(ctx, c, ns, m.GetName())
		if err != nil {
			return nil, err
		}
		if cm, err := meta.Accessor(cur); err == nil {
			m.SetResourceVersion(cm.GetResourceVersion())
		}
		out, err := k.update(ctx, c, ns, put, true)
		if !apierrors.IsConflict(err) || conflicts == conflictsMax {
			return out, err
		}
	}
}

// objectDiff is the unified diff of one object, before (nil: absent) and
// after (nil: deleted).
func objectDiff(gvk schema.GroupVersionKind, name string, before, after runtime.Object) (string, error) {
	ch, err := newChange(gvk, "", name, before, after)
	return ch.unified(), err
}

// comparable is obj as YAML without what the server or the revision number
// changes on every apply.
func comparable(obj runtime.Object) (string, error) {
	if obj == nil {
		return "", nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", err
	}
	delete(m, "status")
	delete(m, "apiVersion")
	delete(m, "kind")
	if meta, ok := m["metadata"].(map[string]any); ok {
		for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
			delete(meta, f)
		}
		if labels, ok := meta["labels"].(map[string]any); ok {
			delete(labels, contract.LabelRevision)
		}
		if ann, ok := meta["annotations"].(map[string]any); ok {
			delete(ann, contract.AnnotationDeploymentRevision)
			delete(ann, contract.AnnotationApplyID)
			delete(ann, contract.AnnotationChangeCause)
			if len(ann) == 0 {
				delete(meta, "annotations")
			}
		}
	}
	b, err := yaml.Marshal(m)
	return string(b), err
}

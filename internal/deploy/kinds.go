package deploy

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// kindClient is the part of a typed client-go resource client zz needs; every
// generated client satisfies it.
type kindClient[T runtime.Object, L runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
}

// kindOps applies, deletes and lists one kind of rendered object.
type kindOps struct {
	kind string
	// prune: delete the app's objects of this kind that a revision lacks.
	// Off for PersistentVolumeClaims: a rollback must never delete data.
	prune bool
	// apply server-side applies body; dryRun asks the apiserver what it
	// would store without storing it.
	apply  func(ctx context.Context, c kubernetes.Interface, ns, name string, body []byte, dryRun bool) (runtime.Object, error)
	get    func(ctx context.Context, c kubernetes.Interface, ns, name string) (runtime.Object, error)
	delete func(ctx context.Context, c kubernetes.Interface, ns, name string) error
	list   func(ctx context.Context, c kubernetes.Interface, ns, selector string) ([]metav1.Object, error)
	// update replaces the object (resourceVersion precondition, field
	// manager contract.ManagedBy); dryRun changes nothing.
	update func(ctx context.Context, c kubernetes.Interface, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error)
	// dryCreate is what the apiserver would store for a create of obj
	// (a server-side dry run: defaults and admission), storing nothing.
	dryCreate func(ctx context.Context, c kubernetes.Interface, ns string, obj runtime.Object) (runtime.Object, error)
	// whole is the part kubectl zz renders whole, so a field another
	// manager adds there is drift (see takeBack); nil for the kinds where
	// none is (content-named ConfigMaps, volume claims).
	whole *wholePart
}

// wholePart is the part of an object kubectl zz renders whole.
type wholePart struct {
	// path is where it is in managedFields; name says it in messages.
	path []string
	name string
	// resource names the kind in "the right to update <resource>".
	resource string
	// put returns a copy of live with want's part in its place.
	put func(live, want runtime.Object) runtime.Object
}

// withWhole is k whose part whole kubectl zz renders whole.
func withWhole(k kindOps, whole wholePart) kindOps {
	k.whole = &whole
	return k
}

func ops[T runtime.Object, L runtime.Object](kind string, prune bool, client func(c kubernetes.Interface, ns string) kindClient[T, L]) kindOps {
	return kindOps{
		kind:  kind,
		prune: prune,
		apply: func(ctx context.Context, c kubernetes.Interface, ns, name string, body []byte, dryRun bool) (runtime.Object, error) {
			opts := metav1.PatchOptions{FieldManager: contract.ManagedBy, Force: ptr.To(true)}
			if dryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			return client(c, ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
		},
		get: func(ctx context.Context, c kubernetes.Interface, ns, name string) (runtime.Object, error) {
			return client(c, ns).Get(ctx, name, metav1.GetOptions{})
		},
		update: func(ctx context.Context, c kubernetes.Interface, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error) {
			opts := metav1.UpdateOptions{FieldManager: contract.ManagedBy}
			if dryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			return client(c, ns).Update(ctx, obj.(T), opts)
		},
		dryCreate: func(ctx context.Context, c kubernetes.Interface, ns string, obj runtime.Object) (runtime.Object, error) {
			return client(c, ns).Create(ctx, obj.(T), metav1.CreateOptions{FieldManager: contract.ManagedBy, DryRun: []string{metav1.DryRunAll}})
		},
		delete: func(ctx context.Context, c kubernetes.Interface, ns, name string) error {
			err := client(c, ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		},
		list: func(ctx context.Context, c kubernetes.Interface, ns, selector string) ([]metav1.Object, error) {
			l, err := client(c, ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, err
			}
			items, err := meta.ExtractList(l)
			if err != nil {
				return nil, err
			}
			objs := make([]metav1.Object, 0, len(items))
			for _, it := range items {
				m, err := meta.Accessor(it)
				if err != nil {
					return nil, err
				}
				objs = append(objs, m)
			}
			return objs, nil
		},
	}
}

// kinds is every kind render produces, in apply order.
var kinds = []kindOps{
	ops("ConfigMap", true, func(c kubernetes.Interface, ns string) kindClient[*corev1.ConfigMap, *corev1.ConfigMapList] {
		return c.CoreV1().ConfigMaps(ns)
	}),
	ops("PersistentVolumeClaim", false, func(c kubernetes.Interface, ns string) kindClient[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList] {
		return c.CoreV1().PersistentVolumeClaims(ns)
	}),
	withWhole(ops("Service", true, func(c kubernetes.Interface, ns string) kindClient[*corev1.Service, *corev1.ServiceList] {
		return c.CoreV1().Services(ns)
	}), wholePart{path: []string{"spec"}, name: "spec", resource: "services", put: putServiceSpec}),
	deploymentOps,
	ingressOps,
	hpaOps,
	pdbOps,
}

func kindOf(kind string) (kindOps, bool) {
	for _, k := range kinds {
		if k.kind == kind {
			return k, true
		}
	}
	return kindOps{}, false
}

// applyObjects checks that zz may write every object of objs (see owned),
// then server-side applies them (field manager contract.ManagedBy, forcing
// conflicts: zz owns what it renders). A Deployment that stops setting its
// replicas (an HPA takes them over) first hands them to
// contract.FieldManagerHandover, or the apply would reset them to 1. The
// objects objs lacks are left for prune, once the rollout succeeded. Each
// Deployment carries the command's token (id, or a new one when "") and
// the change cause (none when cause is ""), unless the apply leaves its pod
// template as it runs: it then keeps its live cause (keptCause). The claim
// returned tells the wait for its rollout from another writer's.
//
// noWait (--wait=false) refuses, before anything is applied, an apply that
// moves the app's Service to a port the running pods lack (servesLate):
// nothing would then wait to move it (noWaitMove).
func applyObjects(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object, adopt, noWait bool, id, cause string) (*claim, error) {
	targets, refused, err := judge(ctx, c, ns, app, objs, adopt)
	if err != nil {
		return nil, err
	}
	if noWait {
		if err := noWaitMove(ctx, app, targets); err != nil {
			return nil, err
		}
	}
	kept := map[string]string{}
	if len(refused) == 0 {
		// Every object through the apiserver's checks (validation, quota,
		// admission) before the first is written: a Service a quota or
		// a field refused came after the new ConfigMap was applied,
		// which stayed, unrecorded (a review).
		for _, t := range targets {
			if adopt && t.live != nil && t.k.whole != nil && !labelledFor(t.live, app) {
				continue // replaced whole first (below): merged with the other tool's, it may not validate
			}
			body, err := json.Marshal(t.o)
			if err != nil {
				return nil, err
			}
			merged, err := t.k.apply(ctx, c, ns, t.o.GetName(), body, true)
			if err != nil {
				refused = append(refused, fmt.Errorf("apply %s %s/%s (dry run): %w%s", t.k.kind, ns, t.o.GetName(), err, SpecWords(err.Error(), nil)))
			} else if cause, ok := keptCause(t.live, merged); ok && !takesBack(ctx, c, ns, t) {
				kept[t.o.GetName()] = cause
			}
		}
	}
	switch len(refused) {
	case 0:
	case 1:
		return nil, fmt.Errorf("%w; nothing was applied", refused[0])
	default:
		return nil, fmt.Errorf("%w\nnothing was applied", errors.Join(refused...))
	}
	cl := newClaim(cmp.Or(id, lockToken(ctx)))
	cl.cause, cl.kept = cause, kept
	if err := applyEach(ctx, c, ns, app, targets, objs, adopt, cl); err != nil {
		return nil, cl.failed(err)
	}
	return cl, nil
}

// keptCause is the live change cause of a Deployment whose pod template
// the apply (merged, its dry run) leaves as it runs, and whether it does.
// The controller copies the Deployment's cause onto the ReplicaSet of the
// running template: a canary, an abort or a deploy that changes no template
// stamped its own on the ReplicaSet of pods another revision made, so
// kubectl rollout history called the stable pods "canary 4.1.0" (an audit
// of CI use).
func keptCause(live, merged runtime.Object) (string, bool) {
	l, ok := live.(*appsv1.Deployment)
	m, ok2 := merged.(*appsv1.Deployment)
	if !ok || !ok2 || !apiequality.Semantic.DeepEqual(l.Spec.Template, m.Spec.Template) {
		return "", false
	}
	return l.Annotations[contract.AnnotationChangeCause], true
}

// takesBack says whether the apply of t is followed by a take-back that
// changes its whole part (takeBack: fields another manager wrote there, a
// kubectl edit's env var). The dry run keeptCause judges keeps them, as a
// server-side apply does, so a deploy that undid an edit kept the old
// cause on the ReplicaSet it rolled (an e2e). Not judged: no take-back.
func takesBack(ctx context.Context, c kubernetes.Interface, ns string, t target) bool {
	if t.k.whole == nil || t.live == nil {
		return false
	}
	j, err := newPartJudge(t.k, ns, t.o)
	if err != nil {
		return false
	}
	d, err := j.drift(ctx, c, t.live)
	return err == nil && d.found()
}

// applyEach applies targets in order, for applyObjects, gathering in cl
// what it notes. A Service that moves the app's traffic to a port the
// running pods lack (servesLate) is left to cl.late, for waitRollout.
func applyEach(ctx context.Context, c kubernetes.Interface, ns, app string, targets []target, objs []render.Object, adopt bool, cl *claim) error {
	var done []string // kind/name applied so far
	for _, t := range targets {
		if servesLate(app, t, targets) {
			cl.late = append(cl.late, lateApply{t: t, objs: objs, adopt: adopt})
			continue
		}
		if err := applyOne(ctx, c, ns, app, t, objs, adopt, cl, done); err != nil {
			return err
		}
		done = append(done, strings.ToLower(t.k.kind)+"/"+t.o.GetName())
	}
	return nil
}

// applyOne applies t, for applyEach and a late Service (applyLate); done
// names what was applied before it, for the error of a lost lock.
func applyOne(ctx context.Context, c kubernetes.Interface, ns, app string, t target, objs []render.Object, adopt bool, cl *claim, done []string) error {
	// Before each write: a command stopped between two (SIGSTOP, a
	// laptop asleep) whose lock was taken over meanwhile wrote its
	// next object over the new holder's (a concurrency audit).
	if err := stillHeld(ctx); err != nil {
		return fmt.Errorf("%w; applied before it: %s", err, cmp.Or(strings.Join(done, ", "), "nothing"))
	}
	o, k, live, kind := t.o, t.k, t.live, t.k.kind
	o, err := leaveReplicasToHPA(ctx, c, ns, o, cl)
	if err != nil {
		return err
	}
	replicasTakenBack(o, live, cl)
	adopted := adopt && live != nil && k.whole != nil && !labelledFor(live, app)
	if adopted {
		// Adopted: the rendered part replaces the other tool's before the
		// apply, which would merge lists with it: a Helm Service's port
		// named http on 80 beside the rendered http on 8080 failed as
		// "Duplicate value" (a GitOps audit).
		if err := replaceWhole(ctx, c, k, ns, live, o); err != nil {
			return fmt.Errorf("adopt %s %s/%s: replace its %s: %w", kind, ns, o.GetName(), k.whole.name, err)
		}
	}
	if err := handOver(ctx, c, ns, o, live); err != nil {
		return err
	}
	obj := cl.stamp(o)
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if !adopted {
		if err := takeBackFirst(ctx, c, k, ns, live, obj, body, cl); err != nil {
			return err
		}
	}
	stored, err := k.apply(ctx, c, ns, o.GetName(), body, false)
	if err != nil {
		return fmt.Errorf("apply %s %s/%s: %w%s", kind, ns, o.GetName(), err, SpecWords(err.Error(), nil))
	}
	if !adopted {
		// An adopted object was the other tool's whole: its take-over is
		// the point, not a value set back.
		if note := setBackNote(kind, live, stored); note != "" {
			cl.notes = append(cl.notes, note)
		}
	}
	if stored, err = takeBack(ctx, c, k, ns, stored, obj, adopted, cl); err != nil {
		return err
	}
	if err := startAtHPAMin(ctx, c, ns, o, live, objs); err != nil {
		return err
	}
	cl.applied(stored)
	return nil
}

// servesLate says whether t is the app's Service moving its first port
// (the app's traffic) to a target port that the running pods (the live
// Deployment's template among targets) do not have: a front sidecar
// added, renamed or moved. Applied first, it took every running pod out
// of the Service at once (the EndpointSlice controller resolves a named
// target port per pod), so it is applied once the rollout made pods with
// that port ready. Where the running pods have it (front removed: the
// app's own port is on every pod) it is applied in order.
func servesLate(app string, t target, targets []target) bool {
	svc, ok := t.o.(*corev1.Service)
	live, ok2 := t.live.(*corev1.Service)
	if !ok || !ok2 || svc.Name != app || len(svc.Spec.Ports) == 0 || len(live.Spec.Ports) == 0 {
		return false
	}
	// The live port of the same name: a port another writer added may
	// come first in the live list (a strategic merge patch puts it there).
	to := svc.Spec.Ports[0].TargetPort
	if i := slices.IndexFunc(live.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == svc.Spec.Ports[0].Name }); i >= 0 && live.Spec.Ports[i].TargetPort == to {
		return false
	}
	for _, d := range targets {
		running, ok := d.live.(*appsv1.Deployment)
		if !ok || running.Name != app {
			continue
		}
		if ptr.Deref(running.Spec.Replicas, 1) == 0 && running.Status.Replicas == 0 {
			return false // scaled to zero: no pod to drop (a review: --wait=false was refused)
		}
		if !rolledOut(running) {
			// Its template is not what every pod runs (a deploy that added
			// the port failed or was stopped: the old pods serve): a port
			// there is no port on the pods that serve (a review).
			return true
		}
		return !podDeclares(&running.Spec.Template.Spec, to)
	}
	return false // no running pods: nothing to drop
}

// rolledOut says whether every pod of d runs its template, as its status
// last said: the controller saw this generation, and every replica is
// updated and available.
func rolledOut(d *appsv1.Deployment) bool {
	st, want := d.Status, ptr.Deref(d.Spec.Replicas, 1)
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want
}

// applyLate applies what applyEach left to cl.late, once the rollout is
// done (waitRollout).
func applyLate(ctx context.Context, c kubernetes.Interface, ns, app string, cl *claim) error {
	if cl == nil {
		return nil
	}
	if ctx.Err() != nil {
		// Interrupted as the rollout completed: the Service still follows,
		// or the revision recorded would not be what runs.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), lastLook)
		defer cancel()
	}
	for _, l := range cl.late {
		if err := applyOne(ctx, c, ns, app, l.t, l.objs, l.adopt, cl, []string{"every other object"}); err != nil {
			return err
		}
	}
	cl.late = nil
	return nil
}

// noWaitMove refuses a command that does not wait (--wait=false) whose
// apply would move the app's Service to a port the running pods lack
// (servesLate). Moved at once, the Service reaches no pod until a new one
// is ready; left on its old port, nothing moves it once they are: after
// the rollout no pod may have that port (front renamed or moved, type
// changed), or a new auth proxy (front) stays bypassed (a review). So it
// is refused as kubectl refuses what it cannot do safely, naming the
// command that waits.
func noWaitMove(ctx context.Context, app string, targets []target) error {
	for _, t := range targets {
		if !servesLate(app, t, targets) {
			continue
		}
		svc, live := t.o.(*corev1.Service), t.live.(*corev1.Service)
		i := max(0, slices.IndexFunc(live.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == svc.Spec.Ports[0].Name }))
		from, to := live.Spec.Ports[i].TargetPort, svc.Spec.Ports[0].TargetPort
		left := "a new auth proxy would be bypassed"
		if !declares(app, targets, from) {
			left = "once the rollout ends no pod has that port"
		}
		cmd := commandOf(ctx)
		return fmt.Errorf("%s without --wait=false: service %s moves to port %s, which only the new pods have, once they are ready; --wait=false cannot move it without an outage (moved now, it reaches no pod until one is ready; left on port %s, %s); nothing was applied",
			cmd, svc.Name, to.String(), from.String(), left)
	}
	return nil
}

// declares says whether the app's Deployment as targets apply it (the new
// pods) declares port p.
func declares(app string, targets []target, p intstr.IntOrString) bool {
	for _, t := range targets {
		d, ok := t.o.(*appsv1.Deployment)
		if !ok || d.Name != app {
			continue
		}
		return podDeclares(&d.Spec.Template.Spec, p)
	}
	return false
}

// podDeclares says whether a container of spec declares port p, by name or
// number as the Service targets it.
func podDeclares(spec *corev1.PodSpec, p intstr.IntOrString) bool {
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		if slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return portIs(cp, p) }) {
			return true
		}
	}
	return false
}

// portIs says whether container port cp is the one a Service's target
// port p names: by name, or by number.
func portIs(cp corev1.ContainerPort, p intstr.IntOrString) bool {
	return (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal)
}

// target is one object to apply, with its kind and its live object (nil
// when there is none).
type target struct {
	o    render.Object
	k    kindOps
	live runtime.Object
}

// judge reads the live object of each of objs and says which kubectl zz may
// not write (another's selector, another tool's object without adopt, one
// being deleted). Every object is judged before any is applied: a refusal
// for the last one (an Ingress another tool made) came after the
// Deployment was applied, so the refused version ran, unrecorded (a GitOps
// audit); and deploy --diff judges them too, where it showed a change the
// deploy then refused (an app-developer audit).
func judge(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object, adopt bool) ([]target, []error, error) {
	targets := make([]target, 0, len(objs))
	var refused []error
	for _, o := range objs {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		k, ok := kindOf(kind)
		if !ok {
			return nil, nil, fmt.Errorf("kind %s of %s is not supported by this kubectl-zz; upgrade it", kind, o.GetName())
		}
		live, err := k.get(ctx, c, ns, o.GetName())
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return nil, nil, fmt.Errorf("get %s %s/%s: %w", kind, ns, o.GetName(), err)
		}
		if err := sameSelector(live, o, ns); err != nil {
			refused = append(refused, err)
		} else if err := owned(live, kind, ns, app, o.GetName(), adopt); err != nil {
			refused = append(refused, err)
		} else if err := terminating(live, kind, ns, o.GetName()); err != nil {
			refused = append(refused, err)
		}
		targets = append(targets, target{o, k, live})
	}
	return targets, refused, nil
}

// takeBack removes from live, as the apply stored it, what another writer
// put into the part kubectl zz renders whole (k.whole: a Deployment's pod
// template, the spec of a Service, Ingress, HPA or PDB; kubectl edit, set
// env, rollout restart, patch). Server-side apply keeps another manager's
// fields through kubectl zz's own apply, yet the app runs what its revision
// records. It is judged by the managed fields (strays), not by the writer's
// manager name, which is the writer's to choose: a namespace editor's
// kubectl patch --field-manager=kubectl-zz adding a Service's externalIPs
// stayed through every deploy (a tenant audit). It removes those fields
// from live and leaves every other value as live holds it, in one update
// with live's resourceVersion, re-read and retried on a conflict, and drops
// the other writers' claims there (disown). The update goes through
// admission too: a value admission sets (a MutatingAdmissionPolicy's
// label, imagePullPolicy: Always) is left as it is, so the update changes
// nothing admission changes back; had it put the rendered part whole, the
// update would own imagePullPolicy (an update owns what it changes before
// admission), which read as a write under kubectl zz's name at every
// deploy after. A removed field the apiserver defaults or admission sets
// again (an imagePullPolicy kubectl edit set) is owned by the update all
// the same, so a second update drops those claims and keeps the values.
// Nothing is sent when no other writer owns a field there. Without the
// right to update the kind the fields stay, and the claim carries a
// warning. adopted: this command put the part in place first (deploy
// --adopt, replaceWhole), and the claims left there (the other tool's on
// values the update kept, the update's own on what the apiserver defaults)
// are dropped unsaid: the take-over is the point, and every adoption said
// it removed what was written "outside kubectl zz", naming its own update
// or the tool it took over from (an adoption audit).
func takeBack(ctx context.Context, c kubernetes.Interface, k kindOps, ns string, live, want runtime.Object, adopted bool, cl *claim) (runtime.Object, error) {
	if k.whole == nil {
		return live, nil
	}
	kind := strings.ToLower(k.kind)
	j, err := newPartJudge(k, ns, want)
	if err != nil {
		return nil, err
	}
	defer func() {
		if j.unjudged != nil {
			cl.notes = append(cl.notes, fmt.Sprintf("warning: %s %s: fields of its %s no field manager owns were not judged: %v", kind, nameOf(want), k.whole.name, j.unjudged))
		}
	}()
	name := nameOf(live)
	var d wholeDrift
	// judgeErr: the judge's or takenBack's, returned as it is (no update
	// was tried, so not "update the ...").
	var judgeErr error
	writes := 0
	live, err = conflictRetried(ctx, c, k, ns, live, func(live runtime.Object, stored bool) (runtime.Object, error) {
		// stored: the last update went through. Its note is added here, at
		// the next call, because d still holds the judgement that update
		// acted on (the writer to name); d is judged anew just below.
		if stored {
			if writes++; writes == 1 && !adopted {
				cl.notes = append(cl.notes, fmt.Sprintf("%s %s: removed from its %s what was written%s, outside kubectl zz", kind, name, k.whole.name, d.writer()))
			}
		}
		var err error
		if d, err = j.drift(ctx, c, live); err != nil || !d.found() {
			judgeErr = err
			return nil, err
		}
		if writes == 2 {
			cl.notes = append(cl.notes, fmt.Sprintf("warning: %s %s keeps %s fields written%s, outside kubectl zz: they were back after two updates that removed them (a controller writes them?)",
				kind, name, k.whole.name, d.writer()))
			return nil, nil
		}
		put, err := takenBack(j.r, k.whole.path, live, d, writes > 0)
		judgeErr = err
		return put, err
	})
	switch {
	case judgeErr != nil:
		return live, judgeErr
	case apierrors.IsForbidden(err):
		cl.notes = append(cl.notes, fmt.Sprintf("warning: %s %s keeps %s fields written%s, outside kubectl zz: removing them needs the right to update %s (%v)",
			kind, name, k.whole.name, d.writer(), k.whole.resource, apierrors.ReasonForError(err)))
		return live, nil
	case err != nil:
		return nil, fmt.Errorf("update the %s of %s %s/%s: %w", k.whole.name, kind, ns, name, err)
	}
	return live, nil
}

// conflictsMax conflicts in a row end an update loop (errConflicts); the
// reads between them wait conflictPause, doubled each time up to
// conflictPauseMax (about 2 s in all): a Deployment's controller writes its
// status at every pod change of a rollout under way, and three conflicts
// with no pause, then five within 0.3 s, ended a deploy over drift on a
// loaded machine (CI, a helper's run) while it was only busy.
const (
	conflictsMax     = 8
	conflictPause    = 20 * time.Millisecond
	conflictPauseMax = time.Second
)

// errConflicts ends an update loop whose object another writer changed
// conflictsMax times in a row.
var errConflicts = fmt.Errorf("changed by another writer %d times in a row; try again", conflictsMax)

// conflictRetried updates k's object live in a loop, one update a step:
// next, given the object (stored: what the last update stored, not a read),
// returns what to update, or nil when done. An update that conflicts (a
// Deployment is written by its controller while it scales) reads the
// object again (after a pause) and asks next anew; conflictsMax conflicts
// in a row end it with errConflicts. It returns the object last stored or read, and the first
// error of next, of a read or of an update (the update's as the apiserver
// gave it, so a caller tells a refusal).
func conflictRetried(ctx context.Context, c kubernetes.Interface, k kindOps, ns string, live runtime.Object, next func(live runtime.Object, stored bool) (runtime.Object, error)) (runtime.Object, error) {
	stored := false
	for conflicts := 0; ; {
		put, err := next(live, stored)
		if err != nil || put == nil {
			return live, err
		}
		updated, err := k.update(ctx, c, ns, put, false)
		switch {
		case err == nil:
			live, stored, conflicts = updated, true, 0
			continue
		case !apierrors.IsConflict(err):
			return live, err
		}
		if conflicts++; conflicts == conflictsMax {
			return live, errConflicts
		}
		select {
		case <-ctx.Done():
			return live, ctx.Err()
		case <-time.After(min(conflictPause<<(conflicts-1), conflictPauseMax)):
		}
		if live, err = k.get(ctx, c, ns, nameOf(live)); err != nil {
			return nil, fmt.Errorf("read %s %s/%s again after a conflict: %w", strings.ToLower(k.kind), ns, nameOf(put), err)
		}
		stored = false
	}
}

// takenBack is live less the fields of d, with the claims on its part
// disowned: the object a take-back's update sends. After a first update
// (again), what an update under kubectl zz's name owns there is what that
// update changed and the apiserver or admission set again: its values stay,
// only the claims go.
func takenBack(r *rendered, path []string, live runtime.Object, d wholeDrift, again bool) (runtime.Object, error) {
	remove := d.fields
	if again {
		remove = remove.Difference(d.zzUpdate)
	}
	put, err := r.without(live, path, remove)
	if err != nil {
		return nil, err
	}
	if err := disown(put, path, r.under(path)); err != nil {
		return nil, err
	}
	return put, nil
}

// disown drops from obj's managed fields what the entries own under path
// that is not kubectl zz's to keep, before the update that puts the
// rendered part (whose fields under path are rendered) in place: every
// claim of another manager there, and a claim of an update under kubectl
// zz's manager name on a field not rendered (a kubectl edit
// --field-manager=kubectl-zz, or the defaulted values an earlier take-back
// changed). An update takes only the fields whose value it changes, so a
// field another tool had set to the value kubectl zz renders or the
// apiserver defaults (imagePullPolicy, a Service's sessionAffinity, set by
// kubectl apply before an adopt) stayed the other tool's, and read as drift
// at every deploy (an app-developer audit). The apiserver keeps the managed
// fields an update sends, as kubectl's client-side-apply upgrade relies on.
// kubectl zz's own apply entry (zzApply: no subresource) is kept whole:
// each apply replaces its set. Any other entry under a kubectl zz name (an
// update, the handover's apply, an apply entry for a subresource an update
// forged) keeps only rendered fields there.
func disown(obj runtime.Object, path []string, rendered *fieldpath.Set) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	prefix := make(fieldpath.Path, len(path))
	for i := range path {
		prefix[i] = fieldpath.PathElement{FieldName: &path[i]}
	}
	var kept []metav1.ManagedFieldsEntry
	for _, e := range m.GetManagedFields() {
		s := fieldpath.NewSet()
		role := roleOf(&e)
		zzNamed := role == zzNamed || role == zzHandover
		if role == zzApply || e.FieldsV1 == nil || s.FromJSON(e.FieldsV1.GetRawReader()) != nil {
			kept = append(kept, e)
			continue
		}
		rest := fieldpath.NewSet()
		s.Iterate(func(p fieldpath.Path) {
			if len(p) < len(prefix) || !p[:len(prefix)].Equals(prefix) || zzNamed && rendered.Has(p[len(prefix):]) {
				rest.Insert(p)
			}
		})
		if rest.Empty() {
			continue
		}
		raw, err := rest.ToJSON()
		if err != nil {
			return err
		}
		e.FieldsV1 = metav1.NewFieldsV1(string(raw))
		kept = append(kept, e)
	}
	m.SetManagedFields(kept)
	return nil
}

// putServiceSpec is a copy of Service live with want's spec, less what
// the apiserver allocated, which an update may not change.
func putServiceSpec(live, want runtime.Object) runtime.Object {
	l := live.(*corev1.Service).DeepCopy()
	spec := want.(*corev1.Service).Spec.DeepCopy()
	spec.ClusterIP, spec.ClusterIPs = l.Spec.ClusterIP, l.Spec.ClusterIPs
	if spec.IPFamilies == nil {
		spec.IPFamilies, spec.IPFamilyPolicy = l.Spec.IPFamilies, l.Spec.IPFamilyPolicy
	}
	spec.HealthCheckNodePort = l.Spec.HealthCheckNodePort
	for i := range spec.Ports {
		for _, p := range l.Spec.Ports {
			if p.Port == spec.Ports[i].Port && p.Protocol == spec.Ports[i].Protocol && spec.Ports[i].NodePort == 0 {
				spec.Ports[i].NodePort = p.NodePort
			}
		}
	}
	l.Spec = *spec
	return l
}

// putSpec is a copy of live with want's spec (field spec of both, the same
// type).
func putSpec[T runtime.Object](set func(live, want T) T) func(live, want runtime.Object) runtime.Object {
	return func(live, want runtime.Object) runtime.Object {
		return set(live.DeepCopyObject().(T), want.(T))
	}
}

// replicasTakenBack notes a Deployment whose replicas another manager set
// alone (a hand kubectl scale) and the apply sets back: a team that scaled
// up for a peak saw its pods go at the next deploy with only "4/2 ready"
// to say so (an upgrade audit).
func replicasTakenBack(o render.Object, live runtime.Object, cl *claim) {
	d, ok := o.(*appsv1.Deployment)
	cur, isDeployment := live.(*appsv1.Deployment)
	if !ok || !isDeployment || cur == nil || d.Spec.Replicas == nil || cur.Spec.Replicas == nil || *cur.Spec.Replicas == *d.Spec.Replicas {
		return
	}
	if e := leafEntry(cur.ManagedFields, "spec", "replicas"); e != nil {
		cl.notes = append(cl.notes, fmt.Sprintf("deployment %s: replicas %d → %d, as the revision records (the %d were set%s, outside kubectl zz; kubectl zz scale sets and records a count)",
			d.Name, *cur.Spec.Replicas, *d.Spec.Replicas, *cur.Spec.Replicas, writtenBy(e)))
	}
}

// replaceWhole puts want's whole part (k.whole) in live in one update,
// re-read and retried on a conflict (conflictRetried).
func replaceWhole(ctx context.Context, c kubernetes.Interface, k kindOps, ns string, live, want runtime.Object) error {
	_, err := conflictRetried(ctx, c, k, ns, live, func(live runtime.Object, stored bool) (runtime.Object, error) {
		if stored {
			return nil, nil
		}
		return k.whole.put(live, want), nil
	})
	return err
}

// refusePaused refuses a change of app's pod template while its
// Deployment is paused (paused); none when there is no Deployment.
func refusePaused(ctx context.Context, c kubernetes.Interface, ns, app string) error {
	_, err := unpausedDeployment(ctx, c, ns, app)
	return err
}

// unpausedDeployment is app's Deployment (nil when there is none),
// refused while paused, as refusePaused.
func unpausedDeployment(ctx context.Context, c kubernetes.Interface, ns, app string) (*appsv1.Deployment, error) {
	d, err := c.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get deployment %s/%s: %w", ns, app, err)
	}
	return d, paused(d)
}

// labelledFor says whether obj carries kubectl zz's labels for app.
func labelledFor(obj runtime.Object, app string) bool {
	m, err := meta.Accessor(obj)
	return err == nil && m.GetLabels()[contract.LabelK8sManagedBy] == contract.ManagedBy && m.GetLabels()[contract.LabelApp] == app
}

// terminating refuses an object being deleted (a finalizer holds it: a
// cloud load balancer's teardown, a claim's protection): applied, it
// would report success, then go (a review saw a rollback after a delete
// leave the app without its Service).
func terminating(live runtime.Object, kind, ns, name string) error {
	if live == nil {
		return nil
	}
	m, err := meta.Accessor(live)
	if err != nil || m.GetDeletionTimestamp() == nil {
		return err
	}
	return fmt.Errorf("%s %s/%s is being deleted (since %s, held by %s); run this command again once it is gone (kubectl wait --for=delete %s/%s -n %s)",
		strings.ToLower(kind), ns, name, m.GetDeletionTimestamp().Format(time.TimeOnly), cmp.Or(strings.Join(m.GetFinalizers(), ", "), "no finalizer"),
		strings.ToLower(kind), name, ns)
}

// ErrNotManaged is wrapped by the error for an existing object that kubectl
// zz did not create.
var ErrNotManaged = errors.New("not managed by kubectl zz")

// owned refuses to take over live (nil: absent) unless it carries
// app.kubernetes.io/managed-by=kubectl-zz and belongs to app, or adopt is set.
func owned(live runtime.Object, kind, ns, app, name string, adopt bool) error {
	if live == nil || adopt {
		return nil
	}
	m, err := meta.Accessor(live)
	if err != nil {
		return err
	}
	l := m.GetLabels()
	switch {
	case l[contract.LabelK8sManagedBy] != contract.ManagedBy:
		return fmt.Errorf("%w: %s %s/%s exists without label %s=%s; deploy --adopt takes it over, or delete it, or rename the app",
			ErrNotManaged, kind, ns, name, contract.LabelK8sManagedBy, contract.ManagedBy)
	case l[contract.LabelApp] != app:
		return fmt.Errorf("%w: %s %s/%s belongs to app %q; deploy --adopt takes it over, or rename the app",
			ErrNotManaged, kind, ns, name, l[contract.LabelApp])
	}
	return nil
}

// paused refuses a Deployment that kubectl rollout pause paused, for a
// change of its pod template (deploy, restart, rollback, promote; a scale
// works on a paused Deployment, as kubectl scale's): kubectl zz renders no
// spec.paused, so its apply leaves the pause, and the wait would last
// --timeout for a rollout that never starts, then call the app's rollout
// failed (a GitOps audit). Someone paused it on purpose: it is theirs to
// resume. The restore after a failed rollout is not refused (restore).
func paused(d *appsv1.Deployment) error {
	if d == nil || !d.Spec.Paused {
		return nil
	}
	return fmt.Errorf("deployment %s/%s is paused%s: no new pod template rolls out while it is; kubectl rollout resume deployment/%s -n %s, then run this again",
		d.Namespace, d.Name, leafWriter(d.ManagedFields, "spec", "paused"), d.Name, d.Namespace)
}

// sameSelector refuses a live Deployment whose selector is not the one o
// gives it: the selector cannot change, so the apply would fail with the
// apiserver's "field is immutable" (a Deployment made by kubectl create
// deployment selects app=NAME), --adopt included.
func sameSelector(live runtime.Object, o render.Object, ns string) error {
	have, ok := live.(*appsv1.Deployment)
	want, ok2 := o.(*appsv1.Deployment)
	if !ok || !ok2 || have == nil || apiequality.Semantic.DeepEqual(have.Spec.Selector, want.Spec.Selector) {
		return nil
	}
	return fmt.Errorf("%w: deployment %s/%s selects pods by %s, not %s as kubectl zz's do, and a Deployment's selector cannot change, so it cannot be taken over (not with --adopt either): delete it (kubectl delete deployment %s -n %s; its pods go with it) and deploy again, or deploy the app under another name",
		ErrNotManaged, ns, have.Name, metav1.FormatLabelSelector(have.Spec.Selector), metav1.FormatLabelSelector(want.Spec.Selector), have.Name, ns)
}

// leaveReplicasToHPA returns o without its replicas when o is a Deployment
// that sets them and a HorizontalPodAutoscaler kubectl zz did not make (an
// app spec's hpa renders none) scales it: applied, the spec's count would
// cut the HPA's pods until its next sync (a GitOps audit saw 6 pods drop to
// 2 at each deploy and restart). handOver then keeps the live count; the
// revision records the spec's, which applies once the HPA is gone.
func leaveReplicasToHPA(ctx context.Context, c kubernetes.Interface, ns string, o render.Object, cl *claim) (render.Object, error) {
	d, ok := o.(*appsv1.Deployment)
	if !ok || d.Spec.Replicas == nil || d.Labels[contract.LabelTrack] == contract.TrackCanary {
		return o, nil
	}
	hpa, err := scalerOf(ctx, c, ns, d.Name)
	if err != nil || hpa == nil || writtenByZZ(hpa) {
		return o, err // an HPA of a spec's goes with the revision that drops it
	}
	cl.notes = append(cl.notes, fmt.Sprintf("deployment %s: replicas left to HorizontalPodAutoscaler %s (%s), which kubectl zz did not make; the spec's %d apply once it is gone",
		d.Name, hpa.Name, hpaRange(hpa), *d.Spec.Replicas))
	d = d.DeepCopy()
	d.Spec.Replicas = nil
	return d, nil
}

// handOver keeps a live Deployment's replicas when o stops setting them:
// another field manager applies the live count first, so it stays owned and
// the HPA (created before the Deployment in apply order) scales from there.
func handOver(ctx context.Context, c kubernetes.Interface, ns string, o render.Object, live runtime.Object) error {
	d, ok := o.(*appsv1.Deployment)
	cur, isDeployment := live.(*appsv1.Deployment)
	if !ok || !isDeployment || d.Spec.Replicas != nil || cur.Spec.Replicas == nil ||
		!ownsField(cur.ManagedFields, contract.ManagedBy, "spec", "replicas") {
		return nil
	}
	if err := applyReplicas(ctx, c, ns, d.Name, *cur.Spec.Replicas); err != nil {
		return fmt.Errorf("hand the replicas of deployment %s/%s over to the HPA: %w", ns, d.Name, err)
	}
	return nil
}

// applyReplicas sets deployment name's replicas to n as
// contract.FieldManagerHandover, the manager kubectl zz's own apply never
// names, so the count stays when that apply leaves the field out and the
// HPA takes it from there.
func applyReplicas(ctx context.Context, c kubernetes.Interface, ns, name string, n int32) error {
	_, err := c.AppsV1().Deployments(ns).Apply(ctx, appsv1ac.Deployment(name, ns).WithSpec(appsv1ac.DeploymentSpec().WithReplicas(n)),
		metav1.ApplyOptions{FieldManager: contract.FieldManagerHandover, Force: true})
	return err
}

// startAtHPAMin starts a Deployment created without replicas (its HPA
// sets them) at the HPA's minimum, where the apiserver's default is 1:
// the HPA's first sync came up to 15 s later, and the deploy had reported
// 1/1 ready for an app whose spec said at least 3 (an app-developer
// audit). The count goes to contract.FieldManagerHandover, as handOver's.
func startAtHPAMin(ctx context.Context, c kubernetes.Interface, ns string, o render.Object, live runtime.Object, objs []render.Object) error {
	d, ok := o.(*appsv1.Deployment)
	if !ok || live != nil || d.Spec.Replicas != nil {
		return nil
	}
	if n := hpaMin(objs, d.Name); n > 1 {
		if err := applyReplicas(ctx, c, ns, d.Name, n); err != nil {
			return fmt.Errorf("start deployment %s/%s at its HPA's %d replicas: %w", ns, d.Name, n, err)
		}
	}
	return nil
}

// hpaMin is the minimum replicas of the HorizontalPodAutoscaler in objs that
// scales deployment name, 0 when none does.
func hpaMin(objs []render.Object, name string) int32 {
	for _, h := range objs {
		if hpa, ok := h.(*autoscalingv2.HorizontalPodAutoscaler); ok && hpa.Spec.ScaleTargetRef.Kind == "Deployment" && hpa.Spec.ScaleTargetRef.Name == name {
			return ptr.Deref(hpa.Spec.MinReplicas, 1)
		}
	}
	return 0
}

// ownsField reports whether manager's apply owns the field at path.
func ownsField(entries []metav1.ManagedFieldsEntry, manager string, path ...string) bool {
	for i := range entries {
		e := &entries[i]
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && hasField(e, path...) {
			return true
		}
	}
	return false
}

// prune deletes the app's objects of prunable kinds that objs lacks: after
// a rollout succeeded, so a failed deploy leaves the running pods' config
// (and every other object) as it was. Each deleted object is a line on out
// (nil: none), as kubectl apply --prune says "pruned".
func prune(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object, out io.Writer) error {
	want := map[string]bool{}
	for _, o := range objs {
		want[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
	}
	extra, err := extraObjects(ctx, c, ns, app, want)
	if err != nil {
		return err
	}
	for _, e := range extra {
		if err := stillHeld(ctx); err != nil {
			return err
		}
		if err := e.ops.delete(ctx, c, ns, e.name); err != nil {
			return fmt.Errorf("delete %s %s/%s, which this revision does not have: %w", e.ops.kind, ns, e.name, err)
		}
		if out != nil {
			fmt.Fprintf(out, "%s %s pruned: this revision does not have it\n", strings.ToLower(e.ops.kind), e.name)
		}
	}
	return nil
}

// liveObject names one of the app's objects in the cluster.
type liveObject struct {
	ops  kindOps
	name string
}

// extraObjects lists the app's objects of prunable kinds that are not in
// want (keys Kind/name), in delete order.
func extraObjects(ctx context.Context, c kubernetes.Interface, ns, app string, want map[string]bool) ([]liveObject, error) {
	selector := appSelector(app)
	var extra []liveObject
	for i := len(kinds) - 1; i >= 0; i-- {
		k := kinds[i]
		if !k.prune {
			continue
		}
		objs, err := k.list(ctx, c, ns, selector)
		if err != nil {
			return nil, fmt.Errorf("list %ss of %s: %w", k.kind, app, err)
		}
		for _, o := range objs {
			if !want[k.kind+"/"+o.GetName()] && writtenByZZ(o) {
				extra = append(extra, liveObject{ops: k, name: o.GetName()})
			}
		}
	}
	return extra, nil
}

// writtenByZZ says whether kubectl zz wrote obj (its field manager owns
// fields of it): only such objects are kubectl zz's to prune, delete or call
// an app's canary. Its labels are anyone's to copy: kubectl expose copies a
// Deployment's onto the Service it makes, a GitOps overlay puts them on
// objects of its own, and those were deleted with the app's.
func writtenByZZ(obj metav1.Object) bool {
	return slices.ContainsFunc(obj.GetManagedFields(), func(e metav1.ManagedFieldsEntry) bool { return roleOf(&e) != notZZ })
}

// appSelector matches the objects kubectl zz rendered for app.
func appSelector(app string) string {
	return contract.LabelApp + "=" + app + "," + contract.LabelK8sManagedBy + "=" + contract.ManagedBy
}

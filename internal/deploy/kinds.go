package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// kindClient is the part of a typed client-go resource client zz needs; every
// generated client satisfies it.
type kindClient[T runtime.Object, L runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
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
	list   func(ctx context.Context, c kubernetes.Interface, ns, selector string) ([]string, error)
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
		delete: func(ctx context.Context, c kubernetes.Interface, ns, name string) error {
			err := client(c, ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		},
		list: func(ctx context.Context, c kubernetes.Interface, ns, selector string) ([]string, error) {
			l, err := client(c, ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, err
			}
			items, err := meta.ExtractList(l)
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(items))
			for _, it := range items {
				m, err := meta.Accessor(it)
				if err != nil {
					return nil, err
				}
				names = append(names, m.GetName())
			}
			return names, nil
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
	ops("Service", true, func(c kubernetes.Interface, ns string) kindClient[*corev1.Service, *corev1.ServiceList] {
		return c.CoreV1().Services(ns)
	}),
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
// Deployment carries the command's token (id, or a new one when ""), and
// the claim returned tells the wait for its rollout from another writer's.
func applyObjects(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object, adopt bool, id string) (*claim, error) {
	cl := newClaim(id)
	for _, o := range objs {
		kind := o.GetObjectKind().GroupVersionKind().Kind
		k, ok := kindOf(kind)
		if !ok {
			return nil, fmt.Errorf("kind %s of %s is not supported by this kubectl-zz; upgrade it", kind, o.GetName())
		}
		live, err := k.get(ctx, c, ns, o.GetName())
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return nil, fmt.Errorf("get %s %s/%s: %w", kind, ns, o.GetName(), err)
		}
		if err := owned(live, kind, ns, app, o.GetName(), adopt); err != nil {
			return nil, err
		}
		if err := handOver(ctx, c, ns, o, live); err != nil {
			return nil, err
		}
		obj := cl.stamp(o)
		body, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		stored, err := k.apply(ctx, c, ns, o.GetName(), body, false)
		if err != nil {
			return nil, fmt.Errorf("apply %s %s/%s: %w", kind, ns, o.GetName(), err)
		}
		if d, ok := stored.(*appsv1.Deployment); ok {
			if stored, err = takeBackTemplate(ctx, c, d, obj.(*appsv1.Deployment), cl); err != nil {
				return nil, err
			}
		}
		cl.applied(stored)
	}
	return cl, nil
}

// takeBackTemplate removes from Deployment d, as the apply stored it, the
// pod template fields another field manager wrote (kubectl edit, set env,
// rollout restart): server-side apply keeps another manager's fields through
// kubectl zz's own apply, yet the app runs what its revision records. It
// replaces the template with the rendered one (want, stamped) in one update
// with d's resourceVersion, re-read and retried on a conflict; the apiserver
// defaults it as it defaulted the apply. Nothing is sent when no other
// manager owns a template field. Without the right to update Deployments the
// fields stay, and the claim carries a warning.
func takeBackTemplate(ctx context.Context, c kubernetes.Interface, d, want *appsv1.Deployment, cl *claim) (runtime.Object, error) {
	for range 3 {
		writer := templateWriter(d.ManagedFields)
		if writer == "" {
			return d, nil
		}
		updated, err := replaceTemplate(ctx, c, d, want, false)
		switch {
		case err == nil:
			cl.notes = append(cl.notes, fmt.Sprintf("deployment %s: removed from its pod template what was written%s, outside kubectl zz", d.Name, writer))
			return updated, nil
		case apierrors.IsForbidden(err):
			cl.notes = append(cl.notes, fmt.Sprintf("warning: deployment %s keeps pod template fields written%s, outside kubectl zz: removing them needs the right to update Deployments (%v)", d.Name, writer, apierrors.ReasonForError(err)))
			return d, nil
		case !apierrors.IsConflict(err):
			return nil, fmt.Errorf("update the pod template of deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
		if d, err = c.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("get deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
	}
	return nil, fmt.Errorf("update the pod template of deployment %s/%s: changed by another writer three times in a row; try again", d.Namespace, d.Name)
}

// replaceTemplate updates Deployment d (as read) with want's pod template;
// dryRun asks the apiserver what it would store.
func replaceTemplate(ctx context.Context, c kubernetes.Interface, d, want *appsv1.Deployment, dryRun bool) (*appsv1.Deployment, error) {
	next := d.DeepCopy()
	next.Spec.Template = *want.Spec.Template.DeepCopy()
	opts := metav1.UpdateOptions{FieldManager: contract.ManagedBy}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return c.AppsV1().Deployments(d.Namespace).Update(ctx, next, opts)
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
	body := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q},"spec":{"replicas":%d}}`, d.Name, *cur.Spec.Replicas)
	_, err := c.AppsV1().Deployments(ns).Patch(ctx, d.Name, types.ApplyPatchType, []byte(body),
		metav1.PatchOptions{FieldManager: contract.FieldManagerHandover, Force: ptr.To(true)})
	if err != nil {
		return fmt.Errorf("hand the replicas of deployment %s/%s over to the HPA: %w", ns, d.Name, err)
	}
	return nil
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
// (and every other object) as it was.
func prune(ctx context.Context, c kubernetes.Interface, ns, app string, objs []render.Object) error {
	want := map[string]bool{}
	for _, o := range objs {
		want[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
	}
	extra, err := extraObjects(ctx, c, ns, app, want)
	if err != nil {
		return err
	}
	for _, e := range extra {
		if err := e.ops.delete(ctx, c, ns, e.name); err != nil {
			return fmt.Errorf("delete %s %s/%s, which this revision does not have: %w", e.ops.kind, ns, e.name, err)
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
		names, err := k.list(ctx, c, ns, selector)
		if err != nil {
			return nil, fmt.Errorf("list %ss of %s: %w", k.kind, app, err)
		}
		for _, name := range names {
			if !want[k.kind+"/"+name] {
				extra = append(extra, liveObject{ops: k, name: name})
			}
		}
	}
	return extra, nil
}

// appSelector matches the objects kubectl zz rendered for app.
func appSelector(app string) string {
	return contract.LabelApp + "=" + app + "," + contract.LabelK8sManagedBy + "=" + contract.ManagedBy
}

package deploy

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// ErrSuperseded is wrapped by the error of a command whose Deployment was
// changed by another writer while it waited for the rollout (a concurrent
// deploy, rollback, scale or restart, a kubectl edit): the rollout it would
// report is no longer the one it started. It records nothing and rolls
// nothing back, since either would undo the other writer's change.
var ErrSuperseded = errors.New("superseded by another writer")

// claim is what one command applied to an app's Deployments: its token
// (contract.AnnotationApplyID, written on each of them) and each one as the
// apiserver stored it (its pod template; its replicas and strategy, which
// bound the wait: RolloutBatches). Another command's apply replaces the
// token; any other writer of the template changes the template.
type claim struct {
	id       string
	deployed map[string]*appsv1.Deployment
	// cause is the change cause stamped on the Deployments (Revision.cause);
	// kept, by name, the live cause of those whose pod template the apply
	// leaves as it runs, carried instead (keptCause).
	cause string
	kept  map[string]string
	// notes are what the apply did beyond applying (fields of other
	// managers taken out of a pod template), for the progress output.
	notes []string
	// late are the objects applied once the rollout is done (servesLate).
	late []lateApply
}

// lateApply is one object applyEach leaves for after the rollout, with
// what applyOne needs then.
type lateApply struct {
	t     target
	objs  []render.Object
	adopt bool
}

// newClaim is a claim with token id, or a new random one when id is "".
func newClaim(id string) *claim {
	if id == "" {
		id = rand.Text()
	}
	return &claim{id: id, deployed: map[string]*appsv1.Deployment{}}
}

// failed is err with what cl noted before it (a take-back that removed
// another writer's fields, replicas set back): the cluster changed, and the
// wait that prints the notes does not run after a failed apply.
func (cl *claim) failed(err error) error {
	if len(cl.notes) == 0 {
		return err
	}
	return fmt.Errorf("%w\nbefore it: %s", err, strings.Join(cl.notes, "\nbefore it: "))
}

// stamp returns o as it is applied: a copy carrying the claim's token, so
// status tells an object a command applied and did not record (it was
// killed, or stopped and lost its lock, between two writes: a concurrency
// audit saw a Service left on another port, Ready and no drift); a
// Deployment the change cause too.
func (cl *claim) stamp(o render.Object) render.Object {
	d, ok := o.(*appsv1.Deployment)
	if !ok {
		o = o.DeepCopyObject().(render.Object)
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[contract.AnnotationApplyID] = cl.id
		o.SetAnnotations(a)
		return o
	}
	d = d.DeepCopy()
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[contract.AnnotationApplyID] = cl.id
	if kept, ok := cl.kept[d.Name]; ok {
		// Carried, not dropped: server-side apply would remove a field
		// its manager stops setting.
		if kept != "" {
			d.Annotations[contract.AnnotationChangeCause] = kept
		}
	} else if cl.cause != "" {
		// The Deployment controller copies it onto the ReplicaSet, so
		// kubectl rollout history tells kubectl zz's story too.
		d.Annotations[contract.AnnotationChangeCause] = cl.cause
	}
	return d
}

// applied keeps a Deployment as the apply stored it.
func (cl *claim) applied(stored any) {
	if d, ok := stored.(*appsv1.Deployment); ok {
		cl.deployed[d.Name] = d.DeepCopy()
	}
}

// holds returns nil while d is still what this command applied, or says
// who changed it (wrapping ErrSuperseded). Deployments the command did not
// apply always hold.
func (cl *claim) holds(d *appsv1.Deployment) error {
	if cl == nil {
		return nil
	}
	stored, ok := cl.deployed[d.Name]
	if !ok {
		return nil
	}
	want := &stored.Spec.Template
	app := d.Labels[contract.LabelApp]
	if app == "" {
		app = d.Name
	}
	after := fmt.Sprintf("; this command recorded nothing and rolled nothing back (kubectl zz status %s shows what runs, kubectl zz history %s what was recorded)", app, app)
	if d.Annotations[contract.AnnotationApplyID] != cl.id {
		return fmt.Errorf("%w: deployment %s/%s was applied by another kubectl zz command while this one waited (its pod template now asks for %s)%s",
			ErrSuperseded, d.Namespace, d.Name, running(d), after)
	}
	if !equality.Semantic.DeepEqual(&d.Spec.Template, want) {
		return fmt.Errorf("%w: the pod template of deployment %s/%s was changed%s while this command waited (its pod template now asks for %s)%s",
			ErrSuperseded, d.Namespace, d.Name, templateWriter(d.ManagedFields), running(d), after)
	}
	return nil
}

// verify reads every Deployment the command applied again: the last check
// before it prunes and records, so a change that came after the rollout
// completed is not recorded as this command's either.
func (cl *claim) verify(ctx context.Context, c kubernetes.Interface, ns string) error {
	for name := range cl.deployed {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: deployment %s/%s was deleted after its rollout; this command recorded nothing", ErrSuperseded, ns, name)
		}
		if err != nil {
			return fmt.Errorf("read deployment %s/%s before recording the revision: %w", ns, name, err)
		}
		if err := cl.holds(d); err != nil {
			return err
		}
	}
	return nil
}

// running describes what a Deployment's pod template asks for, which its
// pods run once its rollout is done (runs says what they run before): its
// version label and the app container's image.
func running(d *appsv1.Deployment) string {
	return describe(runningVersion(d), appImage(d))
}

// runningVersion is the version d's pod template asks for: its label
// (kubectl rollout undo puts an older template back, and leaves the
// Deployment's own labels as they were), else the Deployment's.
func runningVersion(d *appsv1.Deployment) string {
	if v := d.Spec.Template.Labels[contract.LabelVersion]; v != "" {
		return v
	}
	return d.Labels[contract.LabelVersion]
}

// templateWriter names the last field manager other than kubectl zz that
// wrote into the pod template (" by kubectl-edit at 12:03:04"), or "".
func templateWriter(entries []metav1.ManagedFieldsEntry) string {
	return fieldWriter(entries, "spec", "template")
}

// fieldWriter names the last writer other than kubectl zz's own applies
// (ownEntry) that owns a field under path which those do not own too (" by
// kubectl-edit at 12:03:04"), or "": the judgement by managed-fields entry
// alone (nameVerdict says where status uses it). An update under kubectl
// zz's name is another writer here. A field both own holds kubectl zz's
// value: a manager applying the same values shares it (a GitOps controller
// applying kubectl zz deploy --dry-run's output), and an update that
// changed it took it from kubectl zz; so only a field of another's alone
// differs from the revision.
func fieldWriter(entries []metav1.ManagedFieldsEntry, path ...string) string {
	ours := fieldpath.NewSet()
	for i := range entries {
		if ownEntry(&entries[i]) {
			ours = ours.Union(fieldsUnder(&entries[i], path))
		}
	}
	var last *metav1.ManagedFieldsEntry
	for i := range entries {
		e := &entries[i]
		if ownEntry(e) || !written(fieldsUnder(e, path).Difference(ours)) {
			continue
		}
		last = later(last, e)
	}
	return writtenBy(last)
}

// allocatedFields are a Service's fields the apiserver allocates and a
// take-back keeps (putServiceSpec): another manager that set them (a node
// port pinned by hand) changed nothing kubectl zz renders, and was shown as
// drift no deploy could clear (a review).
var allocatedFields = map[string]bool{
	"clusterIP": true, "clusterIPs": true, "ipFamilies": true, "ipFamilyPolicy": true,
	"nodePort": true, "healthCheckNodePort": true,
}

// written says whether s holds a field other than an allocated one.
func written(s *fieldpath.Set) bool {
	found := false
	s.Leaves().Iterate(func(p fieldpath.Path) { found = found || !allocated(p) })
	return found
}

// allocated says whether p is in a field the apiserver allocates
// (allocatedFields), or below one.
func allocated(p fieldpath.Path) bool {
	for _, el := range p {
		if el.FieldName != nil && allocatedFields[*el.FieldName] {
			return true
		}
	}
	return false
}

// later is whichever of two managed fields entries was written last: e
// when last is nil, or when e has a time and last has none or an earlier one.
func later(last, e *metav1.ManagedFieldsEntry) *metav1.ManagedFieldsEntry {
	if last == nil || (e.Time != nil && (last.Time == nil || last.Time.Before(e.Time))) {
		return e
	}
	return last
}

// writtenBy is " by MANAGER at 15:04:05" of a managed fields entry ("" for
// none), or for one under kubectl zz's manager name " under kubectl zz's
// field manager name (kubectl-zz, Update) at 15:04:05".
func writtenBy(e *metav1.ManagedFieldsEntry) string {
	at := ""
	if e != nil && e.Time != nil {
		at = " at " + e.Time.UTC().Format("15:04:05")
	}
	switch {
	case e == nil:
		return ""
	case roleOf(e) == notZZ:
		return " by " + e.Manager + at
	}
	sub := ""
	if e.Subresource != "" {
		sub = ", subresource " + e.Subresource
	}
	return fmt.Sprintf(" under kubectl zz's field manager name (%s, %s%s)%s", e.Manager, e.Operation, sub, at)
}

// leafWriter is writtenBy of the last manager other than kubectl zz that
// owns the field at path itself (spec.paused), or "".
func leafWriter(entries []metav1.ManagedFieldsEntry, path ...string) string {
	return writtenBy(leafEntry(entries, path...))
}

// leafEntry is the managed fields entry of the last writer other than
// kubectl zz's own applies (ownEntry) that owns the field at path, or nil;
// nil too when one of those owns it as well (shared: it holds kubectl zz's
// value, see fieldWriter). A kubectl scale --field-manager=kubectl-zz (the
// scale subresource) is a hand scale.
func leafEntry(entries []metav1.ManagedFieldsEntry, path ...string) *metav1.ManagedFieldsEntry {
	var last *metav1.ManagedFieldsEntry
	for i := range entries {
		e := &entries[i]
		if !hasField(e, path...) {
			continue
		}
		if ownEntry(e) {
			return nil
		}
		last = later(last, e)
	}
	return last
}

// fieldsUnder is the set of fields e owns under path (empty when e says
// nothing readable).
func fieldsUnder(e *metav1.ManagedFieldsEntry, path []string) *fieldpath.Set {
	s := fieldpath.NewSet()
	if e.FieldsV1 == nil || s.FromJSON(e.FieldsV1.GetRawReader()) != nil {
		return fieldpath.NewSet()
	}
	for _, p := range path {
		s = s.WithPrefix(fieldpath.PathElement{FieldName: &p})
	}
	return s
}

// hasField reports whether the managed fields entry e holds the field at path.
func hasField(e *metav1.ManagedFieldsEntry, path ...string) bool {
	if e.FieldsV1 == nil {
		return false
	}
	var fields map[string]any
	if json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields) != nil {
		return false
	}
	for _, p := range path {
		next, ok := fields["f:"+p].(map[string]any)
		if !ok {
			return false
		}
		fields = next
	}
	return true
}

package deploy

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// typeConverter turns the built-in kinds into structured-merge-diff's typed
// values, as the apiserver's field manager does; built once, on first use
// (it parses every built-in type's schema), and only read after.
var typeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	return applyconfigurations.NewTypeConverter(scheme.Scheme)
})

// wholeDrift is what a live object holds, in the part kubectl zz renders
// whole (wholePart.path), that another writer put there: judged by what
// the managed fields entries own, not by the name of the field manager
// that wrote it, since that name is the writer's to choose (kubectl edit
// --field-manager=kubectl-zz).
type wholeDrift struct {
	// fields: under the part (relative to it), owned by an entry other than
	// kubectl zz's apply (whatever its manager, kubectl-zz's own updates
	// included) and not rendered, less what the apiserver allocates. What
	// it defaults, and what a mutating admission (a MutatingAdmissionPolicy,
	// a webhook, Kyverno) adds during kubectl zz's own apply, is owned by
	// no entry, or by that apply's (zzApply).
	fields *fieldpath.Set
	// zzUpdate: those of fields an update under kubectl zz's manager name
	// owns (a take-back's own update, or a write under that name).
	zzUpdate *fieldpath.Set
	// by is the entry to name as their writer: the last one of another
	// manager's name, else the last under kubectl zz's; nil when none.
	by *metav1.ManagedFieldsEntry
	// orphaned: fields includes some no entry owns (see orphans).
	orphaned bool
}

// found says whether the live part holds anything another writer put there.
func (d wholeDrift) found() bool { return !d.fields.Empty() }

// writer is " by kubectl-edit at 10:15:30", or, for an entry under kubectl
// zz's own manager name that is not its apply, " under kubectl zz's field
// manager name (kubectl-zz, Update) at 10:15:30"; "" for none.
func (d wholeDrift) writer() string {
	w := d.named()
	switch {
	case !d.orphaned:
		return w
	case w == "":
		return " by a writer whose managed-fields entry is gone"
	}
	return w + " (and by a writer whose managed-fields entry is gone)"
}

// named is writer for the fields an entry owns.
func (d wholeDrift) named() string { return writtenBy(d.by) }

// rendered is the field set of want (the object as applied) and its typed
// value, for judging live objects of its kind.
type rendered struct {
	gvk schema.GroupVersionKind
	set *fieldpath.Set
}

// renderedOf is want's rendered field set.
func renderedOf(want runtime.Object) (*rendered, error) {
	tv, err := typeConverter().ObjectToTyped(want)
	if err != nil {
		return nil, fmt.Errorf("read the rendered %s: %w", want.GetObjectKind().GroupVersionKind().Kind, err)
	}
	set, err := tv.ToFieldSet()
	if err != nil {
		return nil, fmt.Errorf("read the rendered %s's fields: %w", want.GetObjectKind().GroupVersionKind().Kind, err)
	}
	return &rendered{gvk: want.GetObjectKind().GroupVersionKind(), set: set}, nil
}

// under is r's field set under path, relative to it.
func (r *rendered) under(path []string) *fieldpath.Set {
	s := r.set
	for i := range path {
		s = s.WithPrefix(fieldpath.PathElement{FieldName: &path[i]})
	}
	return s
}

// typed is obj, an object of r's kind (as a clientset returns it, without
// its kind), as a typed value.
func (r *rendered) typed(obj runtime.Object) (*typed.TypedValue, error) {
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	tv, err := typeConverter().ObjectToTyped(obj, typed.AllowDuplicates)
	if err != nil {
		name := ""
		if m, err := meta.Accessor(obj); err == nil {
			name = " " + m.GetName()
		}
		return nil, fmt.Errorf("read the live %s%s: %w", r.gvk.Kind, name, err)
	}
	return tv, nil
}

// contentDrift judges live's part at path against the rendered object
// want (see strays).
func contentDrift(path []string, want, live runtime.Object) (wholeDrift, *rendered, error) {
	r, err := renderedOf(want)
	if err != nil {
		return wholeDrift{}, nil, err
	}
	d, err := r.strays(path, live)
	return d, r, err
}

// strays is what live holds in its part at path that r lacks and an entry
// other than kubectl zz's apply owns (an env var, a Service's externalIPs,
// hostNetwork). kubectl zz's apply entry is its own whatever it owns: each
// apply replaces its set, and a field admission adds or changes during that
// apply is owned there or by no entry, so judging it made every deploy take
// back what admission puts straight back. A server-side apply under kubectl
// zz's name is replaced by the next apply (wholeHeld sees it first). Values
// are not judged here: right after kubectl zz's forced apply, which set
// every rendered field, a value that differs is admission's.
func (r *rendered) strays(path []string, live runtime.Object) (wholeDrift, error) {
	m, err := meta.Accessor(live)
	if err != nil {
		return wholeDrift{}, err
	}
	d := wholeDrift{fields: fieldpath.NewSet(), zzUpdate: fieldpath.NewSet()}
	ours := r.under(path)
	var byZZ, byOther *metav1.ManagedFieldsEntry
	entries := m.GetManagedFields()
	for i := range entries {
		e := &entries[i]
		if roleOf(e) == zzApply {
			continue
		}
		stray := notAllocated(outside(fieldsUnder(e, path).Difference(ours), ours))
		if stray.Empty() {
			continue
		}
		d.fields = d.fields.Union(stray)
		if roleOf(e) != notZZ {
			byZZ = later(byZZ, e)
			if e.Operation == metav1.ManagedFieldsOperationUpdate && e.Subresource == "" {
				d.zzUpdate = d.zzUpdate.Union(stray)
			}
		} else {
			byOther = later(byOther, e)
		}
	}
	d.by = byOther
	if d.by == nil {
		d.by = byZZ
	}
	return d, nil
}

// without is a copy of live less the fields at path (relative to the part
// at path): what a take-back removes, leaving every other value as live
// holds it (what admission or the apiserver's defaults put there), so the
// update changes nothing they would change back.
func (r *rendered) without(live runtime.Object, path []string, fields *fieldpath.Set) (runtime.Object, error) {
	if fields.Empty() {
		return live.DeepCopyObject(), nil
	}
	tv, err := r.typed(live)
	if err != nil {
		return nil, err
	}
	u, ok := tv.RemoveItems(prefixed(path, fields)).AsValue().Unstructured().(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not an object once fields are removed", r.gvk.Kind)
	}
	out := reflect.New(reflect.TypeOf(live).Elem()).Interface().(runtime.Object)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, out); err != nil {
		return nil, fmt.Errorf("%s: %w", r.gvk.Kind, err)
	}
	out.GetObjectKind().SetGroupVersionKind(live.GetObjectKind().GroupVersionKind())
	return out, nil
}

// sameApplied says whether live holds, in its part at path, what kubectl
// zz's apply stored in applied (a dry run of it): appliedDiff is empty.
func (r *rendered) sameApplied(path []string, applied, live runtime.Object) (bool, error) {
	d, err := r.appliedDiff(path, applied, live)
	return d.Empty(), err
}

// appliedDiff is where live differs, in its part at path (relative to
// it), from what kubectl zz's apply stored in applied (a dry run of it):
// the values on the fields r renders and on those the live object's
// kubectl zz apply entry owns there, less allocated ones. Both sides went
// through admission, so a mutation is on both; a server-side apply under
// kubectl zz's name that changed a rendered value (the image) or added a
// field under that entry (a Service's externalIPs) differs, since the real
// apply replaces it.
func (r *rendered) appliedDiff(path []string, applied, live runtime.Object) (*fieldpath.Set, error) {
	m, err := meta.Accessor(live)
	if err != nil {
		return nil, err
	}
	set := r.under(path)
	for _, e := range m.GetManagedFields() {
		if roleOf(&e) == zzApply {
			set = set.Union(fieldsUnder(&e, path))
		}
	}
	set = prefixed(path, set)
	av, err := r.typed(applied)
	if err != nil {
		return nil, err
	}
	lv, err := r.typed(live)
	if err != nil {
		return nil, err
	}
	cmp, err := av.ExtractItems(set).Compare(lv.ExtractItems(set))
	if err != nil {
		return nil, fmt.Errorf("compare the live %s %s with kubectl zz's apply: %w", r.gvk.Kind, m.GetName(), err)
	}
	diff := notAllocated(cmp.Added.Union(cmp.Removed).Union(cmp.Modified))
	out := fieldpath.NewSet()
	diff.Iterate(func(p fieldpath.Path) {
		if len(p) > len(path) {
			out.Insert(p[len(path):].Copy())
		}
	})
	return out, nil
}

// prefixed is s (paths relative to the part at path) as paths of the
// object.
func prefixed(path []string, s *fieldpath.Set) *fieldpath.Set {
	prefix := make(fieldpath.Path, len(path))
	for i := range path {
		prefix[i] = fieldpath.PathElement{FieldName: &path[i]}
	}
	out := fieldpath.NewSet()
	s.Iterate(func(p fieldpath.Path) {
		full := make(fieldpath.Path, 0, len(prefix)+len(p))
		out.Insert(append(append(full, prefix...), p...))
	})
	return out
}

// zzRole is what a managed-fields entry is to kubectl zz. An entry's
// identity is its manager, operation and subresource; the manager's name
// alone is the writer's to choose (kubectl patch --field-manager=kubectl-zz).
type zzRole int

const (
	// notZZ: another manager's entry.
	notZZ zzRole = iota
	// zzNamed: under a kubectl zz manager name, but neither of its applies:
	// an update (a take-back's own, or anyone's under that name), or an
	// apply entry for a subresource (no apply of the object replaces it,
	// and an update may send it in managedFields). Its fields are judged
	// as another writer's.
	zzNamed
	// zzHandover: the handover's apply (applyReplicas), which holds a
	// Deployment's replicas while an HPA takes them over: kubectl zz's own
	// for spec.replicas (see leafEntry), outside every part it renders whole.
	zzHandover
	// zzApply: kubectl zz's own server-side apply: each deploy's replaces
	// its field set, so a field only it owned and the rendered object
	// lacks is gone after the apply.
	zzApply
)

// roleOf is e's role. The one place that says which entries are kubectl
// zz's own (ownEntry).
func roleOf(e *metav1.ManagedFieldsEntry) zzRole {
	own := e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == ""
	switch {
	case e.Manager == contract.ManagedBy && own:
		return zzApply
	case e.Manager == contract.FieldManagerHandover && own:
		return zzHandover
	case e.Manager == contract.ManagedBy || e.Manager == contract.FieldManagerHandover:
		return zzNamed
	}
	return notZZ
}

// ownEntry says whether e is one of kubectl zz's own applies (zzApply,
// zzHandover), whose fields hold what kubectl zz wrote.
func ownEntry(e *metav1.ManagedFieldsEntry) bool {
	r := roleOf(e)
	return r == zzApply || r == zzHandover
}

// outside is s less the paths that hold rendered fields below them: an
// entry that owns a struct or map as a whole (resources: {}) whose fields
// kubectl zz renders added nothing of its own.
func outside(s, rendered *fieldpath.Set) *fieldpath.Set {
	out := fieldpath.NewSet()
	s.Iterate(func(p fieldpath.Path) {
		if !holdsBelow(rendered, p) {
			out.Insert(p)
		}
	})
	return out
}

// holdsBelow says whether s has a path strictly below p.
func holdsBelow(s *fieldpath.Set, p fieldpath.Path) bool {
	for _, pe := range p {
		next, ok := s.Children.Get(pe)
		if !ok {
			return false
		}
		s = next
	}
	return !s.Empty()
}

// notAllocated is s less the fields the apiserver allocates (and put keeps).
func notAllocated(s *fieldpath.Set) *fieldpath.Set {
	out := fieldpath.NewSet()
	s.Iterate(func(p fieldpath.Path) {
		if !allocated(p) {
			out.Insert(p)
		}
	})
	return out
}

// wholeHeld says whether the live objects of objs (a revision's) hold, in
// the parts kubectl zz renders whole, what kubectl zz's apply of objs would
// store now, and nothing another writer put there (strays): then a deploy
// of the same spec has nothing to apply. What kubectl zz's apply would
// store is asked of the apiserver, a server-side dry-run apply (forced,
// kubectl zz's field manager) that goes through admission as the real one
// would, so a mutating admission's label or imagePullPolicy is on both
// sides and a server-side apply under kubectl zz's name is not (see
// sameApplied). That costs one dry-run apply per such object of a deploy
// of an unchanged spec. What cannot be read or judged counts as not held
// (logged at V(2): the deploy then applies). Each live object that held
// is passed to held.
func wholeHeld(ctx context.Context, c kubernetes.Interface, ns string, objs []render.Object, held func(k kindOps, live runtime.Object)) bool {
	log := klog.FromContext(ctx).WithValues("namespace", ns)
	for _, o := range objs {
		k, ok := kindOf(o.GetObjectKind().GroupVersionKind().Kind)
		if !ok || k.whole == nil {
			continue
		}
		live, err := partHeld(ctx, c, k, ns, o)
		if err != nil {
			log.V(2).Info("not judged unchanged: the live object could not be judged", "kind", k.kind, "name", o.GetName(), "err", err)
		}
		if live == nil {
			return false
		}
		held(k, live)
	}
	return true
}

// partHeld is wholeHeld for one object o of kind k: the live object when
// it held, nil when not; an error says why it could not be judged (not
// held then).
func partHeld(ctx context.Context, c kubernetes.Interface, k kindOps, ns string, o render.Object) (runtime.Object, error) {
	live, err := k.get(ctx, c, ns, o.GetName())
	if err != nil {
		return nil, err
	}
	j, err := newPartJudge(k, ns, o)
	if err != nil {
		return nil, err
	}
	d, err := j.drift(ctx, c, live)
	switch {
	case err != nil:
		return nil, err
	case j.unjudged != nil:
		return nil, j.unjudged
	case d.found():
		return nil, nil
	}
	applied, err := j.dryApply(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("dry-run apply: %w", err)
	}
	if same, err := j.r.sameApplied(k.whole.path, applied, live); !same || err != nil {
		return nil, err
	}
	return live, nil
}

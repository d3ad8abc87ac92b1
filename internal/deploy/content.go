package deploy

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
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
// whole (wholePart.path), that the rendered object does not: judged by
// content, not by the name of the field manager that wrote it, since that
// name is the writer's to choose (kubectl edit --field-manager=kubectl-zz).
type wholeDrift struct {
	// fields: under the part, owned by some managed fields entry (whatever
	// its manager) and not rendered, less what the apiserver allocates.
	// What it defaults is owned by no entry.
	fields *fieldpath.Set
	// values: rendered fields whose live value differs.
	values *fieldpath.Set
	// by is the entry to name as their writer: the last other than kubectl
	// zz's apply that owns one, the last of another manager's name first;
	// nil when none does.
	by *metav1.ManagedFieldsEntry
}

// found says whether the live part holds anything the rendered one lacks.
func (d wholeDrift) found() bool { return !d.fields.Empty() || !d.values.Empty() }

// writer is " by kubectl-edit at 10:15:30", or, for an entry under kubectl
// zz's own manager name that is not its apply, " under kubectl zz's field
// manager name (kubectl-zz, Update) at 10:15:30"; "" for none.
func (d wholeDrift) writer() string {
	e := d.by
	if e == nil || !zzManager(e.Manager) {
		return writtenBy(e)
	}
	at := ""
	if e.Time != nil {
		at = " at " + e.Time.UTC().Format("15:04:05")
	}
	return fmt.Sprintf(" under kubectl zz's field manager name (%s, %s)%s", e.Manager, e.Operation, at)
}

// rendered is the field set of want (the object as applied) and its typed
// value, for judging live objects of its kind.
type rendered struct {
	gvk   schema.GroupVersionKind
	value *typed.TypedValue
	set   *fieldpath.Set
}

// renderedOf is want's rendered field set and typed value.
func renderedOf(want runtime.Object) (*rendered, error) {
	tv, err := typeConverter().ObjectToTyped(want)
	if err != nil {
		return nil, fmt.Errorf("read the rendered %s: %w", want.GetObjectKind().GroupVersionKind().Kind, err)
	}
	set, err := tv.ToFieldSet()
	if err != nil {
		return nil, fmt.Errorf("read the rendered %s's fields: %w", want.GetObjectKind().GroupVersionKind().Kind, err)
	}
	return &rendered{gvk: want.GetObjectKind().GroupVersionKind(), value: tv, set: set}, nil
}

// under is r's field set under path.
func (r *rendered) under(path []string) *fieldpath.Set {
	s := r.set
	for i := range path {
		s = s.WithPrefix(fieldpath.PathElement{FieldName: &path[i]})
	}
	return s
}

// contentDrift judges live's part at path against the rendered object
// want: a field some entry owns there that want lacks (an env var, a
// Service's externalIPs, hostNetwork), or a rendered field whose live value
// differs. Both objects are read through the same typed converter, so
// canonical forms (quantities, int-or-string, empty against absent) are
// the same on both sides.
func contentDrift(path []string, want, live runtime.Object) (wholeDrift, *rendered, error) {
	r, err := renderedOf(want)
	if err != nil {
		return wholeDrift{}, nil, err
	}
	d, err := r.drift(path, live)
	return d, r, err
}

// drift is contentDrift for the rendered object r.
func (r *rendered) drift(path []string, live runtime.Object) (wholeDrift, error) {
	m, err := metaOf(live)
	if err != nil {
		return wholeDrift{}, err
	}
	obj := live.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	lv, err := typeConverter().ObjectToTyped(obj, typed.AllowDuplicates)
	if err != nil {
		return wholeDrift{}, fmt.Errorf("read the live %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, m.GetName(), err)
	}
	cmp, err := r.value.ExtractItems(r.set).Compare(lv.ExtractItems(r.set))
	if err != nil {
		return wholeDrift{}, fmt.Errorf("compare the live %s %s with the rendered one: %w", obj.GetObjectKind().GroupVersionKind().Kind, m.GetName(), err)
	}
	values := cmp.Modified.Union(cmp.Removed)
	for i := range path {
		values = values.WithPrefix(fieldpath.PathElement{FieldName: &path[i]})
	}
	d := wholeDrift{fields: fieldpath.NewSet(), values: notAllocated(values)}
	ours := r.under(path)
	var byZZ, byOther *metav1.ManagedFieldsEntry
	entries := m.GetManagedFields()
	for i := range entries {
		e := &entries[i]
		owned := fieldsUnder(e, path)
		stray := notAllocated(outside(owned.Difference(ours), ours))
		d.fields = d.fields.Union(stray)
		if stray.Empty() && (owned.Intersection(d.values).Empty() || isZZApply(e)) {
			continue
		}
		if zzManager(e.Manager) {
			byZZ = later(byZZ, e)
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

// isZZApply says whether e is kubectl zz's own server-side apply: the
// apply each deploy makes replaces its field set, so a field only it owned
// and the rendered object lacks is gone after the apply.
func isZZApply(e *metav1.ManagedFieldsEntry) bool {
	return e.Manager == contract.ManagedBy && e.Operation == metav1.ManagedFieldsOperationApply
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
		for _, el := range p {
			if el.FieldName != nil && allocatedFields[*el.FieldName] {
				return
			}
		}
		out.Insert(p)
	})
	return out
}

// metaOf is obj's metadata.
func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return m, nil
}

// wholeHeld says whether the live objects of objs (a revision's) hold, in
// the parts kubectl zz renders whole, nothing that objs lack
// (contentDrift). What cannot be read or judged counts as not.
func wholeHeld(ctx context.Context, c kubernetes.Interface, ns string, objs []render.Object) bool {
	for _, o := range objs {
		k, ok := kindOf(o.GetObjectKind().GroupVersionKind().Kind)
		if !ok || k.whole == nil {
			continue
		}
		live, err := k.get(ctx, c, ns, o.GetName())
		if err != nil {
			return false
		}
		if d, _, err := contentDrift(k.whole.path, o, live); err != nil || d.found() {
			return false
		}
	}
	return true
}

package deploy

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// setBackNote says which fields kubectl zz's apply of o took back from
// another writer (setBack), comparing live, read before the apply, with
// stored, what it stored; "" when none. The apply forces its values
// (server-side apply with force), so a kubectl set image hotfix, an HPA's
// maxReplicas raised with kubectl edit in an incident, or a GitOps
// controller's image were replaced, and the deploy said nothing while
// status had named them as drift (an adoption audit).
func setBackNote(kind string, live, stored runtime.Object) string {
	before, err1 := meta.Accessor(live)
	after, err2 := meta.Accessor(stored)
	if live == nil || stored == nil || err1 != nil || err2 != nil {
		return ""
	}
	var said []string
	for _, t := range setBack(before.GetManagedFields(), after.GetManagedFields()) {
		said = append(said, fmt.Sprintf("%s (changed%s)", fieldNames(nil, t.fields), writtenBy(t.by)))
	}
	if len(said) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s: set back what was changed outside kubectl zz: %s; kubectl zz's apply writes the revision's values over it",
		strings.ToLower(kind), after.GetName(), strings.Join(said, "; "))
}

// takenFrom is what kubectl zz's apply took from one writer: its fields,
// and its managed fields entry as it was before the apply.
type takenFrom struct {
	fields *fieldpath.Set
	by     *metav1.ManagedFieldsEntry
}

// setBack is what kubectl zz's apply took from other writers: the fields
// that, in before, an entry other than kubectl zz's own applies (ownEntry)
// held alone (so its writer changed a value kubectl zz had written, or set
// one kubectl zz had not; a field both hold has kubectl zz's value, see
// fieldWriter), and that, in after, that entry no longer holds and kubectl
// zz's apply does. Left out: metadata and status, spec.replicas (a hand
// scale, said by replicasTakenBack; an HPA's, left alone by
// leaveReplicasToHPA) and fields the apiserver allocates. One element per
// writer, in before's order; none when nothing was taken.
func setBack(before, after []metav1.ManagedFieldsEntry) []takenFrom {
	ours, oursAfter := fieldpath.NewSet(), fieldpath.NewSet()
	for i := range before {
		if ownEntry(&before[i]) {
			ours = ours.Union(fieldsUnder(&before[i], nil))
		}
	}
	for i := range after {
		if ownEntry(&after[i]) {
			oursAfter = oursAfter.Union(fieldsUnder(&after[i], nil))
		}
	}
	var taken []takenFrom
	for i := range before {
		e := &before[i]
		if ownEntry(e) {
			continue
		}
		lost := fieldsUnder(e, nil).Difference(ours).Intersection(oursAfter)
		if still := sameEntry(after, e); still != nil {
			lost = lost.Difference(fieldsUnder(still, nil))
		}
		lost = userFields(lost)
		if lost.Empty() {
			continue
		}
		taken = append(taken, takenFrom{fields: lost, by: e})
	}
	return taken
}

// sameEntry is the entry of entries of e's manager, operation and
// subresource (the key the apiserver keeps one entry by), or nil.
func sameEntry(entries []metav1.ManagedFieldsEntry, e *metav1.ManagedFieldsEntry) *metav1.ManagedFieldsEntry {
	for i := range entries {
		o := &entries[i]
		if o.Manager == e.Manager && o.Operation == e.Operation && o.Subresource == e.Subresource {
			return o
		}
	}
	return nil
}

// userFields is s less metadata, status, spec.replicas and what the
// apiserver allocates (see setBack), leaves only.
func userFields(s *fieldpath.Set) *fieldpath.Set {
	out := fieldpath.NewSet()
	s.Leaves().Iterate(func(p fieldpath.Path) {
		if len(p) == 0 || p[0].FieldName == nil || allocated(p) {
			return
		}
		switch top := *p[0].FieldName; {
		case top == "metadata" || top == "status" || top == "apiVersion" || top == "kind":
			return
		case top == "spec" && len(p) > 1 && p[1].FieldName != nil && *p[1].FieldName == "replicas":
			return
		}
		out.Insert(p)
	})
	return out
}

package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// partJudge judges the live objects of one rendered object (want, of kind
// k, in ns) in the part kubectl zz renders whole: the fields entries other
// than kubectl zz's apply own (strays), and the fields no entry owns that
// neither want nor the apiserver's defaults hold (orphans).
type partJudge struct {
	k    kindOps
	ns   string
	want runtime.Object
	r    *rendered
	// created is the part's field set in a dry-run create of want, once
	// asked (nil before).
	created *fieldpath.Set
	// unjudged is why the orphans could not be judged at the last drift
	// (the dry runs failed: a webhook that refuses them, a quota that
	// refuses the create and a right missing for the update); nil when
	// they were or there were none. They are then left
	// alone. A refusal (lasting) is not asked again; a timeout or a webhook
	// down is, at the next drift.
	unjudged error
}

// newPartJudge is a judge of k's live objects against want.
func newPartJudge(k kindOps, ns string, want runtime.Object) (*partJudge, error) {
	r, err := renderedOf(want)
	if err != nil {
		return nil, err
	}
	return &partJudge{k: k, ns: ns, want: want, r: r}, nil
}

// takenBack is merged (a dry-run apply's object) less what another
// writer put into the part j judges (takenBack), with that drift; nil when
// there is none.
func (j *partJudge) takenBack(ctx context.Context, c kubernetes.Interface, merged runtime.Object) (runtime.Object, wholeDrift, error) {
	d, err := j.drift(ctx, c, merged)
	if err != nil || !d.found() {
		return nil, d, err
	}
	put, err := takenBack(j.r, j.k.whole.path, merged, d, false)
	return put, d, err
}

// drift is strays, with the orphans added (owned by no entry: d.orphaned).
func (j *partJudge) drift(ctx context.Context, c kubernetes.Interface, live runtime.Object) (wholeDrift, error) {
	d, err := j.r.strays(j.k.whole.path, live)
	if err != nil {
		return d, err
	}
	o, err := j.orphans(ctx, c, live)
	j.unjudged = err
	if err != nil {
		return d, nil
	}
	if !o.Empty() {
		d.fields, d.orphaned = d.fields.Union(o), true
	}
	return d, nil
}

// orphans is what live holds in its part that no managed-fields entry
// owns, want does not render, the apiserver does not allocate, and a
// create of want would not hold. A field owned by no entry is what the
// apiserver defaults or a mutating admission adds, or what a writer left
// there and then dropped its entry from managedFields (an update may send
// them: write externalIPs, then send the entries without that write's).
// What a create would hold is asked of the apiserver, a server-side dry-run
// create of want under a generated name (so it never collides), through
// defaulting and admission as a real one (or, where a ResourceQuota at its
// count refuses it, a dry-run update: askHeldByCreate); only when there is such
// a field (a Deployment's pod template always has defaulted ones), and once
// per judge.
func (j *partJudge) orphans(ctx context.Context, c kubernetes.Interface, live runtime.Object) (*fieldpath.Set, error) {
	path := j.k.whole.path
	cand, err := j.r.unowned(path, live)
	if err != nil || cand.Empty() {
		return fieldpath.NewSet(), err
	}
	if j.unjudged != nil && Lasting(j.unjudged) {
		return nil, j.unjudged
	}
	if j.created == nil {
		created, err := j.askHeldByCreate(ctx, c, live)
		if err != nil {
			return nil, fmt.Errorf("ask the apiserver what a create of %s %s holds (a dry run): %w", j.k.kind, nameOf(j.want), err)
		}
		set, err := j.r.fieldsOf(created, path)
		if err != nil {
			return nil, err
		}
		j.created = set
	}
	return cand.Difference(j.created), nil
}

// askHeldByCreate is what the apiserver would store for a create of want:
// a dry-run create, or, where a ResourceQuota at its object count refuses
// that (the create counts one object more: a namespace's one LoadBalancer
// Service, its count/deployments.apps), a dry-run update of want in place
// of live, for the kinds in updateFormHolds alone. Quota admission charges
// an update only the usage it adds, and an object count none (the generic
// evaluator handles creates alone; a Service of the same type adds no
// Service, LoadBalancer or node port), and the update is defaulted as the
// create is; the Service REST puts live's cluster IPs and node ports back
// (patchAllocatedValues), which unowned leaves out anyway, so the answer
// may be kept for the judge's life though it was asked with live. The
// create stays the first question: an admission that mutates creates
// alone is asked only by it, and the update needs one more right (update)
// and meets a conflict when live moved.
func (j *partJudge) askHeldByCreate(ctx context.Context, c kubernetes.Interface, live runtime.Object) (runtime.Object, error) {
	created, err := j.k.dryCreate(ctx, c, j.ns, forDryCreate(j.want))
	if err == nil || !quotaRefused(err) {
		return created, err
	}
	if !updateFormHolds[j.k.kind] {
		return nil, fmt.Errorf("%w; a dry-run update would not say what a create of kind %s holds (a default-on admission, DefaultIngressClass, sets spec.ingressClassName on a create alone), so its unowned fields are left alone until the quota has room for one more", err, j.k.kind)
	}
	put, perr := forDryUpdate(j.want, live)
	if perr != nil {
		return nil, err
	}
	updated, uerr := j.k.update(ctx, c, j.ns, put, true)
	if uerr != nil {
		return nil, fmt.Errorf("%v; a dry-run update in place of the live one, which the quota does not charge, failed too: %w", err, uerr)
	}
	return updated, nil
}

// updateFormHolds are the kinds whose dry-run update of want holds the
// fields a create of it would, so askHeldByCreate may ask it at a quota.
// Read in k8s.io/kubernetes v1.37.2: their strategies' PrepareForUpdate
// copy status from live and drop disabled fields (which can only hide an
// orphan behind a disabled gate, never invent one), and no default-on
// admission mutates them on create alone (LimitRanger, ServiceAccount,
// Priority, DefaultTolerationSeconds and DefaultStorageClass act on pods
// and claims). An Ingress is left out: DefaultIngressClass sets
// spec.ingressClassName on a create alone, so its update form lacks the
// class, which the deploy would then take back from a clean app.
var updateFormHolds = map[string]bool{
	"Service":          true,
	deploymentOps.kind: true,
	hpaOps.kind:        true,
	pdbOps.kind:        true,
}

// quotaRefused says whether err is a ResourceQuota admission's refusal:
// a Forbidden whose message says the quota is exceeded. STYLE §12
// exception: the admission gives no reason or cause of its own to tell it
// by (admission.NewForbidden of fmt.Errorf("exceeded quota: %s, requested:
// ...") in k8s.io/apiserver pkg/admission/plugin/resourcequota/
// controller.go), so its text is the only handle; TestQuotaRefused pins
// it, and e2e TestOrphanJudgedAtQuota sees a real apiserver say it.
func quotaRefused(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota")
}

// forDryUpdate is forDryCreate's copy of want under live's name, uid and
// resourceVersion, to dry-run update in place of live: the uid and
// resourceVersion make it a question about this object (a PDB allows no
// update without a resourceVersion; a conflict is asked again later).
func forDryUpdate(want, live runtime.Object) (runtime.Object, error) {
	l, err := meta.Accessor(live)
	if err != nil {
		return nil, err
	}
	obj := forDryCreate(want)
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetGenerateName("")
	m.SetName(l.GetName())
	m.SetUID(l.GetUID())
	m.SetResourceVersion(l.GetResourceVersion())
	return obj, nil
}

// unowned is what live holds in its part at path (relative to it) that no
// managed-fields entry owns, r does not render and the apiserver does not
// allocate.
func (r *rendered) unowned(path []string, live runtime.Object) (*fieldpath.Set, error) {
	m, err := meta.Accessor(live)
	if err != nil {
		return nil, err
	}
	held, err := r.fieldsOf(live, path)
	if err != nil {
		return nil, err
	}
	entries := m.GetManagedFields()
	for i := range entries {
		held = held.Difference(fieldsUnder(&entries[i], path))
	}
	return notAllocated(held.Difference(r.under(path))), nil
}

// fieldsOf is the field set of obj (of r's kind) under path, relative to it.
func (r *rendered) fieldsOf(obj runtime.Object, path []string) (*fieldpath.Set, error) {
	tv, err := r.typed(obj)
	if err != nil {
		return nil, err
	}
	s, err := tv.ToFieldSet()
	if err != nil {
		return nil, fmt.Errorf("read the fields of %s %s: %w", r.gvk.Kind, nameOf(obj), err)
	}
	for i := range path {
		s = s.WithPrefix(fieldpath.PathElement{FieldName: &path[i]})
	}
	return s, nil
}

// forDryCreate is a copy of want to dry-run create: no name (a generated
// one, so it never collides with the live object), and for a Service none
// of the addresses and ports the apiserver allocates (a pinned node port
// or cluster IP is the live Service's), its type and ports kept so the
// defaults are a Service's of that type.
func forDryCreate(want runtime.Object) runtime.Object {
	obj := want.DeepCopyObject()
	if m, err := meta.Accessor(obj); err == nil {
		m.SetGenerateName(m.GetName() + "-")
		m.SetName("")
		m.SetResourceVersion("")
		m.SetUID("")
		m.SetManagedFields(nil)
	}
	if s, ok := obj.(*corev1.Service); ok {
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
		}
		s.Spec.HealthCheckNodePort = 0
		for i := range s.Spec.Ports {
			s.Spec.Ports[i].NodePort = 0
		}
	}
	return obj
}

// nameOf is obj's name, or "" when it has no metadata.
func nameOf(obj runtime.Object) string {
	if m, err := meta.Accessor(obj); err == nil {
		return m.GetName()
	}
	return ""
}

// dryApply is what kubectl zz's apply of want would store: a server-side
// dry-run apply (forced, kubectl zz's field manager, through admission as
// the real one). wholeHeld and status's DriftJudge compare the live part
// with it.
func (j *partJudge) dryApply(ctx context.Context, c kubernetes.Interface) (runtime.Object, error) {
	body, err := json.Marshal(j.want)
	if err != nil {
		return nil, err
	}
	return j.k.apply(ctx, c, j.ns, nameOf(j.want), body, true)
}

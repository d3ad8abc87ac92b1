package deploy

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// TestSameApplied: a deploy of the same spec is unchanged when the live
// part holds what kubectl zz's apply would store now (a dry run of it,
// through admission like the real one): a mutating admission's label and
// imagePullPolicy are on both sides, and neither a canonical form of the
// same quantity nor an allocated field differs; a rendered value changed or
// a field added by a server-side apply under kubectl zz's name (which owns
// it in the live apply entry, and which the real apply would replace) does.
func TestSameApplied(t *testing.T) {
	objs := render.Render(spec(t, "reg/shop:1", "  env: {MODE: one}\n"), render.Options{Namespace: ns, Revision: 1})
	var dep *appsv1.Deployment
	var svc *corev1.Service
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			dep = o
		case *corev1.Service:
			svc = o
		}
	}
	admitted := func(d *appsv1.Deployment) *appsv1.Deployment {
		d = d.DeepCopy()
		d.Spec.Template.Labels["policy.example/touched"] = "yes"
		d.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
		return d
	}
	applyEntry := func(fields string) []metav1.ManagedFieldsEntry {
		return []metav1.ManagedFieldsEntry{{Manager: contract.ManagedBy, Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}}
	}
	tests := []struct {
		name          string
		want          runtime.Object
		applied, live func() runtime.Object
		same          bool
	}{
		{name: "admission's label and imagePullPolicy on both sides", want: dep, same: true,
			applied: func() runtime.Object { return admitted(dep) }, live: func() runtime.Object { return admitted(dep) }},
		{name: "the same quantity, another form", want: withCPU(dep, resource.MustParse("1000m")), same: true,
			applied: func() runtime.Object { return withCPU(dep, resource.MustParse("1")) },
			live:    func() runtime.Object { return withCPU(dep, *resource.NewMilliQuantity(1000, resource.DecimalSI)) }},
		{name: "a quantity changed", want: withCPU(dep, resource.MustParse("1")),
			applied: func() runtime.Object { return withCPU(dep, resource.MustParse("1")) },
			live:    func() runtime.Object { return withCPU(dep, resource.MustParse("2")) }},
		{name: "the image, applied under kubectl zz's name", want: dep,
			applied: func() runtime.Object { return admitted(dep) },
			live: func() runtime.Object {
				d := admitted(dep)
				d.Spec.Template.Spec.Containers[0].Image = "reg/evil:1"
				return d
			}},
		{name: "a rendered env var removed", want: dep,
			applied: func() runtime.Object { return dep.DeepCopy() },
			live: func() runtime.Object {
				d := dep.DeepCopy()
				d.Spec.Template.Spec.Containers[0].Env = nil
				return d
			}},
		{name: "externalIPs applied under kubectl zz's name", want: svc,
			applied: func() runtime.Object { return svc.DeepCopy() },
			live: func() runtime.Object {
				s := svc.DeepCopy()
				s.Spec.ExternalIPs = []string{"203.0.113.8"}
				s.ManagedFields = applyEntry(`{"f:spec":{"f:externalIPs":{}}}`)
				return s
			}},
		{name: "externalIPs of another writer (strays judges them)", want: svc, same: true,
			applied: func() runtime.Object { s := svc.DeepCopy(); s.Spec.ExternalIPs = []string{"203.0.113.8"}; return s },
			live:    func() runtime.Object { s := svc.DeepCopy(); s.Spec.ExternalIPs = []string{"203.0.113.8"}; return s }},
		{name: "an allocated cluster IP", want: svc, same: true,
			applied: func() runtime.Object { return svc.DeepCopy() },
			live: func() runtime.Object {
				s := svc.DeepCopy()
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.7", []string{"10.0.0.7"}
				s.ManagedFields = applyEntry(`{"f:spec":{"f:clusterIP":{}}}`)
				return s
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderedOf(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			path := deploymentOps.whole.path
			if _, ok := tt.want.(*corev1.Service); ok {
				path = []string{"spec"}
			}
			if same, err := r.sameApplied(path, tt.applied(), tt.live()); err != nil || same != tt.same {
				t.Errorf("same = %v, %v; want %v", same, err, tt.same)
			}
		})
	}
}

// TestTakenBack: a take-back's update removes only what other writers own
// and leaves the values admission set (its label, imagePullPolicy), so it
// changes nothing admission would change back; once an update under
// kubectl zz's name owns such a value (it changed it before admission set
// it again), the next one keeps the value and drops the claim.
func TestTakenBack(t *testing.T) {
	objs := render.Render(spec(t, "reg/shop:1", "  env: {MODE: one}\n"), render.Options{Namespace: ns, Revision: 1})
	var dep *appsv1.Deployment
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	r, err := renderedOf(dep)
	if err != nil {
		t.Fatal(err)
	}
	live := dep.DeepCopy()
	live.Spec.Template.Labels["policy.example/touched"] = "yes"
	c := &live.Spec.Template.Spec.Containers[0]
	c.ImagePullPolicy = corev1.PullAlways
	c.Env = append(c.Env, corev1.EnvVar{Name: "MITM", Value: "1"})
	update := func(fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: contract.ManagedBy, Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	live.ManagedFields = []metav1.ManagedFieldsEntry{
		update(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"MITM\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`)}
	path := deploymentOps.whole.path
	d, err := r.strays(path, live)
	if err != nil || !d.found() {
		t.Fatalf("strays = %v, %v; want the env var", d.fields, err)
	}
	put, err := takenBack(r, path, live, d, false)
	if err != nil {
		t.Fatal(err)
	}
	got := put.(*appsv1.Deployment)
	if env := got.Spec.Template.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "MODE" {
		t.Errorf("env after the take-back: %v, want the rendered MODE alone", env)
	}
	if got.Spec.Template.Labels["policy.example/touched"] != "yes" || got.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways || got.Name != dep.Name {
		t.Errorf("the take-back changed what admission set, or more: %+v", got.ObjectMeta)
	}
	if len(got.ManagedFields) != 0 {
		t.Errorf("claims left: %+v", got.ManagedFields)
	}

	live.Spec.Template.Spec.Containers[0].Env = dep.Spec.Template.Spec.Containers[0].Env
	live.ManagedFields = []metav1.ManagedFieldsEntry{update(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:imagePullPolicy":{}}}}}}}`)}
	if d, err = r.strays(path, live); err != nil || !d.found() {
		t.Fatalf("strays = %v, %v; want imagePullPolicy", d.fields, err)
	}
	if put, err = takenBack(r, path, live, d, true); err != nil {
		t.Fatal(err)
	}
	if got := put.(*appsv1.Deployment); got.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways || len(got.ManagedFields) != 0 {
		t.Errorf("the second update: imagePullPolicy %q, claims %+v; want Always, none", got.Spec.Template.Spec.Containers[0].ImagePullPolicy, got.ManagedFields)
	}
}

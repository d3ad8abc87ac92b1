package deploy

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// TestContentDrift: what another writer put into the part kubectl zz
// renders whole is judged by what the managed fields entries own, not by
// the name of the manager that wrote it: a field an entry other than
// kubectl zz's apply owns that the rendered object lacks is taken back,
// whoever wrote it (a namespace editor may write under the name kubectl-zz:
// a tenant audit); what the apiserver defaults (owned by no entry) or
// allocates is not, nor what kubectl zz's apply entry owns (a mutating
// admission's label and imagePullPolicy, when the apiserver gives them to
// the request's manager), nor a rendered value (kubectl zz's forced apply
// has just set it: what differs is admission's).
func TestContentDrift(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 12, 6, 10, 15, 30, 0, time.UTC))
	entry := func(manager string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Time: &at, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	const (
		edit      = metav1.ManagedFieldsOperationUpdate
		apply     = metav1.ManagedFieldsOperationApply
		env       = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"DEBUG\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`
		hostNet   = `{"f:spec":{"f:template":{"f:spec":{"f:hostNetwork":{}}}}}`
		image     = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}`
		resources = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:resources":{}}}}}}}`
		extIPs    = `{"f:spec":{"f:externalIPs":{}}}`
		// A container, and a native sidecar, kubectl patch added.
		addedContainer = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"debug\"}":{".":{},"f:image":{},"f:name":{}}}}}}}`
		addedSidecar   = `{"f:spec":{"f:template":{"f:spec":{"f:initContainers":{".":{},"k:{\"name\":\"proxy\"}":{".":{},"f:image":{},"f:name":{},"f:restartPolicy":{}}}}}}}`
		clusterIP      = `{"f:spec":{"f:clusterIP":{},"f:clusterIPs":{},"f:ports":{"k:{\"port\":8080,\"protocol\":\"TCP\"}":{"f:nodePort":{}}}}}`
		admitted       = `{"f:spec":{"f:template":{"f:metadata":{"f:labels":{"f:policy.example/touched":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:imagePullPolicy":{}}}}}}}`
	)
	objs := render.Render(spec(t, "reg/shop:1", "  service: {type: NodePort}\n"), render.Options{Namespace: ns, Revision: 1})
	var dep *appsv1.Deployment
	var svc *corev1.Service
	for _, o := range objs {
		switch o := newClaim("token").stamp(o).(type) {
		case *appsv1.Deployment:
			dep = o
		case *corev1.Service:
			svc = o
		}
	}
	// What kubectl zz's apply owns: the rendered object's fields, and extra
	// ones (what admission added during the apply).
	zzApply := func(want runtime.Object, extra string) metav1.ManagedFieldsEntry {
		r, err := renderedOf(want)
		if err != nil {
			t.Fatal(err)
		}
		set := r.set
		if extra != "" {
			more := fieldpath.NewSet()
			if err := more.FromJSON(strings.NewReader(extra)); err != nil {
				t.Fatal(err)
			}
			set = set.Union(more)
		}
		raw, err := set.ToJSON()
		if err != nil {
			t.Fatal(err)
		}
		return entry(contract.ManagedBy, apply, string(raw))
	}
	// What a mutating admission policy sets on the pod template.
	admit := func(d *appsv1.Deployment) *appsv1.Deployment {
		d = d.DeepCopy()
		d.Spec.Template.Labels["policy.example/touched"] = "yes"
		d.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
		return d
	}
	// The apiserver's defaults, owned by no entry.
	defaulted := func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
		d.Spec.Template.Spec.SchedulerName = corev1.DefaultSchedulerName
		d.Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{}
		c := &d.Spec.Template.Spec.Containers[0]
		c.TerminationMessagePath, c.ImagePullPolicy = corev1.TerminationMessagePathDefault, corev1.PullIfNotPresent
	}
	tests := []struct {
		name    string
		want    runtime.Object
		live    func() runtime.Object
		applied string // fields kubectl zz's apply entry owns beside the rendered ones
		entries []metav1.ManagedFieldsEntry
		writer  string // "": nothing found
	}{
		{name: "a clean apply, with the apiserver's defaults", want: dep,
			live: func() runtime.Object { d := dep.DeepCopy(); defaulted(d); return d }},
		{name: "kubectl edit added an env var", want: dep,
			live: func() runtime.Object {
				d := dep.DeepCopy()
				d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "DEBUG", Value: "1"})
				return d
			},
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-edit", edit, env)}, writer: " by kubectl-edit at 10:15:30"},
		{name: "an env var under kubectl zz's name", want: dep,
			live: func() runtime.Object {
				d := dep.DeepCopy()
				d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "DEBUG", Value: "1"})
				return d
			},
			entries: []metav1.ManagedFieldsEntry{entry(contract.ManagedBy, edit, env)}, writer: " under kubectl zz's field manager name (kubectl-zz, Update) at 10:15:30"},
		{name: "hostNetwork under kubectl zz's name", want: dep,
			live:    func() runtime.Object { d := dep.DeepCopy(); d.Spec.Template.Spec.HostNetwork = true; return d },
			entries: []metav1.ManagedFieldsEntry{entry(contract.ManagedBy, edit, hostNet)}, writer: " under kubectl zz's field manager name (kubectl-zz, Update) at 10:15:30"},
		{name: "a rendered value another manager changed (the apply took it back, or admission did it)", want: dep,
			live: func() runtime.Object {
				d := dep.DeepCopy()
				d.Spec.Template.Spec.Containers[0].Image = "reg/shop:hotfix"
				return d
			},
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-set", edit, image)}},
		{name: "admission's label and imagePullPolicy, owned by no entry", want: dep,
			live: func() runtime.Object { return admit(dep) }},
		{name: "admission's label and imagePullPolicy, owned by kubectl zz's apply", want: dep, applied: admitted,
			live: func() runtime.Object { return admit(dep) }},
		{name: "imagePullPolicy under kubectl zz's update (a take-back that fought admission)", want: dep,
			live:    func() runtime.Object { return admit(dep) },
			entries: []metav1.ManagedFieldsEntry{entry(contract.ManagedBy, edit, admitted)}, writer: " under kubectl zz's field manager name (kubectl-zz, Update) at 10:15:30"},
		{name: "a rendered field kubectl zz's update shares, same value", want: dep,
			live:    func() runtime.Object { return dep.DeepCopy() },
			entries: []metav1.ManagedFieldsEntry{entry(contract.ManagedBy, edit, image)}},
		{name: "a struct owned whole whose fields are rendered", want: dep,
			live:    func() runtime.Object { return dep.DeepCopy() },
			entries: []metav1.ManagedFieldsEntry{entry("helm", edit, resources)}},
		{name: "kubectl patch added a container", want: dep,
			live: func() runtime.Object {
				d := dep.DeepCopy()
				d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "debug", Image: "busybox"})
				return d
			},
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-patch", edit, addedContainer)}, writer: " by kubectl-patch at 10:15:30"},
		{name: "kubectl patch added a native sidecar (spec.sidecars is the field)", want: dep,
			live: func() runtime.Object {
				d := dep.DeepCopy()
				d.Spec.Template.Spec.InitContainers = append(d.Spec.Template.Spec.InitContainers,
					corev1.Container{Name: "proxy", Image: "proxy:2", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
				return d
			},
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-patch", edit, addedSidecar)}, writer: " by kubectl-patch at 10:15:30"},
		{name: "externalIPs under kubectl zz's name", want: svc,
			live:    func() runtime.Object { s := svc.DeepCopy(); s.Spec.ExternalIPs = []string{"203.0.113.7"}; return s },
			entries: []metav1.ManagedFieldsEntry{entry(contract.ManagedBy, edit, extIPs)}, writer: " under kubectl zz's field manager name (kubectl-zz, Update) at 10:15:30"},
		{name: "externalIPs under a kubectl-zz apply entry for the status subresource (forged by an update)", want: svc,
			live: func() runtime.Object { s := svc.DeepCopy(); s.Spec.ExternalIPs = []string{"203.0.113.7"}; return s },
			entries: []metav1.ManagedFieldsEntry{func() metav1.ManagedFieldsEntry {
				e := entry(contract.ManagedBy, apply, extIPs)
				e.Subresource = "status"
				return e
			}()}, writer: " under kubectl zz's field manager name (kubectl-zz, Apply, subresource status) at 10:15:30"},
		{name: "allocated cluster IP and node port, even pinned by hand", want: svc,
			live: func() runtime.Object {
				s := svc.DeepCopy()
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.7", []string{"10.0.0.7"}
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.Ports[0].TargetPort = intstr.FromString("http")
				s.Spec.SessionAffinity = corev1.ServiceAffinityNone
				return s
			},
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-patch", edit, clusterIP)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := tt.live()
			live.(metav1.Object).SetManagedFields(append([]metav1.ManagedFieldsEntry{zzApply(tt.want, tt.applied)}, tt.entries...))
			path := deploymentOps.whole.path
			if _, ok := tt.want.(*corev1.Service); ok {
				path = []string{"spec"}
			}
			d, _, err := contentDrift(path, tt.want, live)
			if err != nil {
				t.Fatal(err)
			}
			if d.found() != (tt.writer != "") || d.writer() != tt.writer {
				t.Errorf("found %v (fields %v), writer %q; want %q", d.found(), d.fields, d.writer(), tt.writer)
			}
		})
	}
}

// withCPU is a copy of d whose container asks for cpu q.
func withCPU(d *appsv1.Deployment, q resource.Quantity) *appsv1.Deployment {
	d = d.DeepCopy()
	d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: q}
	return d
}

// TestDisown: the update that puts the rendered part in place drops every
// other manager's claim there, and the claims of an update under kubectl
// zz's name on fields not rendered; kubectl zz's apply entry stays whole.
func TestDisown(t *testing.T) {
	objs := render.Render(spec(t, "reg/shop:1", ""), render.Options{Namespace: ns, Revision: 1})
	svc := ptr.To(corev1.Service{})
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok {
			svc = s.DeepCopy()
		}
	}
	r, err := renderedOf(svc)
	if err != nil {
		t.Fatal(err)
	}
	update := func(m, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: m, Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	svc.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: contract.ManagedBy, Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:type":{}}}`)},
		update(contract.ManagedBy, `{"f:spec":{"f:externalIPs":{},"f:type":{}}}`),
		update("kubectl-edit", `{"f:metadata":{"f:annotations":{"f:a":{}}},"f:spec":{"f:sessionAffinity":{}}}`),
		update("kubectl-patch", `{"f:spec":{"f:externalIPs":{}}}`),
		{Manager: contract.ManagedBy, Operation: metav1.ManagedFieldsOperationApply, Subresource: "status", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:externalIPs":{},"f:type":{}}}`)},
	}
	if err := disown(svc, []string{"spec"}, r.under([]string{"spec"})); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range svc.ManagedFields {
		got = append(got, e.Manager+"/"+string(e.Operation)+" "+string(e.FieldsV1.Raw))
	}
	want := []string{
		`kubectl-zz/Apply {"f:spec":{"f:type":{}}}`,
		`kubectl-zz/Update {"f:spec":{"f:type":{}}}`,
		`kubectl-edit/Update {"f:metadata":{"f:annotations":{"f:a":{}}}}`,
		`kubectl-zz/Apply {"f:spec":{"f:type":{}}}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("managed fields after disown:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTakeBackUnderZZName: a write under kubectl zz's own field manager
// name (kubectl patch --field-manager=kubectl-zz, an Update) adding a
// Service's externalIPs and an env var is taken back by the next deploy of
// the same spec, which says so; the one after changes nothing.
func TestTakeBackUnderZZName(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	app := spec(t, "reg/shop:1", "")
	deployOK(t, c, app, 0)
	svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.ExternalIPs = []string{"203.0.113.7"}
	if _, err := c.CoreV1().Services(ns).Update(t.Context(), svc, metav1.UpdateOptions{FieldManager: contract.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	d := deployment(t, c, "shop")
	d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "MITM", Value: "1"})
	if _, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{FieldManager: contract.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	res, err := Run(t.Context(), c, &Config{Options: o, App: app})
	if err != nil || res.Unchanged {
		t.Fatalf("deploy of the same spec after a write under kubectl zz's name: %+v, %v", res, err)
	}
	if svc, _ := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{}); len(svc.Spec.ExternalIPs) != 0 {
		t.Errorf("the externalIPs written under kubectl zz's name survived the deploy: %v", svc.Spec.ExternalIPs)
	}
	if env := deployment(t, c, "shop").Spec.Template.Spec.Containers[0].Env; slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == "MITM" }) {
		t.Errorf("the env var written under kubectl zz's name survived the deploy: %v", env)
	}
	for _, want := range []string{"service shop: removed from its spec what was written under kubectl zz's field manager name (kubectl-zz, Update)",
		"deployment shop: removed from its pod template what was written under kubectl zz's field manager name (kubectl-zz, Update)"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("the deploy did not say %q:\n%s", want, progress.String())
		}
	}
	progress.Reset()
	if res, err := Run(t.Context(), c, &Config{Options: o, App: app}); err != nil || !res.Unchanged || strings.Contains(progress.String(), "removed from") {
		t.Errorf("the deploy after: %+v, %v\n%s", res, err, progress.String())
	}
}

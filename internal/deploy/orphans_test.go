package deploy

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// TestOrphanedFieldIsTakenBack: a namespace editor makes a field owned by
// no managed-fields entry in two updates: the first writes it (externalIPs
// on the Service, an env var), the second sends managedFields back without
// that write's entry. What no entry owns is judged against a dry-run create
// of the rendered object (the apiserver's defaults; injected here, as the
// fake does not default): the defaulted sessionAffinity and dnsPolicy stay,
// the tenant's fields go, and the deploy of the same spec is not unchanged
// and says so. The deploy after it is unchanged. The first clean deploys
// ask for no dry-run create (no field is owned by no entry).
func TestOrphanedFieldIsTakenBack(t *testing.T) {
	var dryCreates atomic.Int32
	c, app := startedApp(t, onDryRun("create", "*", func(obj runtime.Object) (runtime.Object, error) {
		dryCreates.Add(1)
		return withDefaults(obj), nil
	}))
	if res, err := Run(t.Context(), c, &Config{Options: opts(), App: app}); err != nil || !res.Unchanged {
		t.Fatalf("a deploy of the same spec on a clean app: %v, unchanged %v", err, res != nil && res.Unchanged)
	}
	if n := dryCreates.Load(); n != 0 {
		t.Errorf("%d dry-run creates with no field owned by no entry; want none", n)
	}
	ctx := t.Context()
	orphanTenantFields(t, c)

	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	res, err := Run(ctx, c, &Config{Options: o, App: app})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged {
		t.Errorf("a deploy of the same spec said unchanged with a tenant's externalIPs and env var owned by no entry")
	}
	for _, line := range []string{"service shop: removed", "deployment shop: removed"} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("the deploy does not say %q:\n%s", line, progress.String())
		}
	}
	after, err := c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Spec.ExternalIPs) != 0 || after.Spec.SessionAffinity != corev1.ServiceAffinityNone {
		t.Errorf("Service externalIPs %v (want none), sessionAffinity %q (the default, kept)", after.Spec.ExternalIPs, after.Spec.SessionAffinity)
	}
	dep := deployment(t, c, "shop")
	if hasEnv(dep, "MITM") || dep.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("env %v (want no MITM), dnsPolicy %q (the default, kept)", dep.Spec.Template.Spec.Containers[0].Env, dep.Spec.Template.Spec.DNSPolicy)
	}
	progress.Reset()
	if res, err = Run(ctx, c, &Config{Options: o, App: app}); err != nil {
		t.Fatal(err)
	}
	if !res.Unchanged || strings.Contains(progress.String(), "removed") {
		t.Errorf("the deploy after the take-back (unchanged %v) with only defaults owned by no entry:\n%s", res.Unchanged, progress.String())
	}
	// A deploy of a new spec takes such a field back too.
	updateService(t, c, "tenant", func(svc *corev1.Service) { svc.Spec.ExternalIPs = []string{"203.0.113.8"} })
	updateService(t, c, "tenant", func(svc *corev1.Service) { withoutEntriesOf("tenant")(svc) })
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	if svc, _ := c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{}); len(svc.Spec.ExternalIPs) != 0 {
		t.Errorf("after a deploy of a new spec: externalIPs still %v", svc.Spec.ExternalIPs)
	}
}

// TestOrphansAtQuota: a namespace at its ResourceQuota's object count
// refuses the dry-run create (one object more); the judge then asks a
// dry-run update in place of the live Service (quota admission charges an
// update only what it adds), so the tenant's orphaned externalIPs are
// judged by content and taken back. Where that is refused too, or where
// the create is refused by anything but a quota (a webhook refusing dry
// runs: no update is asked then), the fields are left and the deploy says
// so in a warning. The deploy judges twice (the unchanged check, then the
// take-back), each with one dry run a judge.
func TestOrphansAtQuota(t *testing.T) {
	quota := apierrors.NewForbidden(corev1.Resource("services"), "", errors.New("exceeded quota: lb, requested: services.loadbalancers=1, used: services.loadbalancers=1, limited: services.loadbalancers=1"))
	webhook := apierrors.NewForbidden(corev1.Resource("services"), "", errors.New(`admission webhook "audit.example.com" denied the request: no dry runs`))
	for _, tc := range []struct {
		name           string
		create, update error
		wantNote       string
		wantDryUpdates int
		wantTakenBack  bool
	}{
		{name: "quota refuses the create: the update judges", create: quota,
			wantNote: "service shop: removed from its spec what was written by a writer whose managed-fields entry is gone", wantDryUpdates: 2, wantTakenBack: true},
		{name: "quota refuses the create, a webhook the update", create: quota, update: webhook,
			wantNote: "a dry-run update in place of the live one, which the quota does not charge, failed too: services is forbidden: admission webhook", wantDryUpdates: 2},
		{name: "a webhook refuses the create: no update is asked", create: webhook,
			wantNote: "warning: service shop: fields of its spec no field manager owns were not judged", wantDryUpdates: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent []*corev1.Service
			c, app := startedApp(t, onDryRun("create", "services", func(runtime.Object) (runtime.Object, error) {
				return nil, tc.create
			}), onDryRun("update", "services", func(obj runtime.Object) (runtime.Object, error) {
				sent = append(sent, obj.(*corev1.Service))
				if tc.update != nil {
					return nil, tc.update
				}
				return withDefaults(obj), nil
			}))
			updateService(t, c, "tenant", func(svc *corev1.Service) { svc.Spec.ExternalIPs = []string{"203.0.113.7"} })
			live := updateService(t, c, "tenant", func(svc *corev1.Service) { withoutEntriesOf("tenant")(svc) })
			var progress strings.Builder
			o := opts()
			o.Progress = &progress
			res, err := Run(t.Context(), c, &Config{Options: o, App: app})
			if err != nil {
				t.Fatal(err)
			}
			if res.Unchanged || !strings.Contains(progress.String(), tc.wantNote) {
				t.Errorf("unchanged %v; progress lacks %q:\n%s", res.Unchanged, tc.wantNote, progress.String())
			}
			if len(sent) != tc.wantDryUpdates {
				t.Errorf("%d dry-run updates of the Service asked, want %d", len(sent), tc.wantDryUpdates)
			}
			if len(sent) > 0 {
				if s := sent[0]; s.Name != "shop" || s.UID != live.UID || s.ResourceVersion != live.ResourceVersion || len(s.Spec.ExternalIPs) != 0 {
					t.Errorf("the dry-run update is not the rendered Service in place of the live one: name %q uid %q rv %q externalIPs %v (live uid %q rv %q)",
						s.Name, s.UID, s.ResourceVersion, s.Spec.ExternalIPs, live.UID, live.ResourceVersion)
				}
			}
			svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if gone := len(svc.Spec.ExternalIPs) == 0; gone != tc.wantTakenBack {
				t.Errorf("externalIPs after the deploy: %v, want taken back %v", svc.Spec.ExternalIPs, tc.wantTakenBack)
			}
		})
	}
}

// TestTakeBackThatDoesNotHoldWarns: when what a take-back removes is back
// after its two updates (a controller writing it again), the deploy says
// the object keeps it, where it left without a word.
func TestTakeBackThatDoesNotHoldWarns(t *testing.T) {
	c, app := startedApp(t, onEvery("update", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(clienttesting.UpdateActionImpl); ok && len(u.UpdateOptions.DryRun) == 0 {
			u.GetObject().(*corev1.Service).Spec.ExternalIPs = []string{"203.0.113.7"}
		}
		return false, nil, nil
	}))
	ctx := t.Context()
	updateService(t, c, "tenant", func(*corev1.Service) {})
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	if _, err := Run(ctx, c, &Config{Options: o, App: app}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "they were back after two updates") {
		t.Errorf("no warning that the Service keeps externalIPs:\n%s", progress.String())
	}
}

// withDefaults is obj as the apiserver's defaults leave it, as far as the
// tests here read them (the fake does not default): a Service's
// sessionAffinity, a pod template's dnsPolicy.
func withDefaults(obj runtime.Object) runtime.Object {
	switch o := obj.(type) {
	case *corev1.Service:
		o.Spec.SessionAffinity = corev1.ServiceAffinityNone
	case *appsv1.Deployment:
		o.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
	}
	return obj
}

// orphanTenantFields makes a tenant's externalIPs on the Service and env
// var MITM on the pod template (with the defaulted sessionAffinity and
// dnsPolicy) owned by no entry, in two updates each.
func orphanTenantFields(t *testing.T, c *fake.Clientset) {
	t.Helper()
	updateService(t, c, "tenant", func(svc *corev1.Service) {
		svc.Spec.ExternalIPs = []string{"203.0.113.7"}
		svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	})
	updateDeployment(t, c, "tenant", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "MITM", Value: "1"})
		d.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
	})
	updateService(t, c, "tenant", func(svc *corev1.Service) { withoutEntriesOf("tenant")(svc) })
	updateDeployment(t, c, "tenant", func(d *appsv1.Deployment) { withoutEntriesOf("tenant")(d) })
}

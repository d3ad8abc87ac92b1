package deploy

import (
	"errors"
	"slices"
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
	c := fake.NewClientset()
	var dryCreates atomic.Int32
	c.PrependReactor("create", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		cr, ok := a.(clienttesting.CreateActionImpl)
		if !ok || len(cr.CreateOptions.DryRun) == 0 {
			return false, nil, nil
		}
		dryCreates.Add(1)
		switch o := cr.GetObject().DeepCopyObject().(type) {
		case *corev1.Service:
			o.Spec.SessionAffinity = corev1.ServiceAffinityNone
			return true, o, nil
		case *appsv1.Deployment:
			o.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
			return true, o, nil
		}
		return false, nil, nil
	})
	startController(t, c)
	app := spec(t, "reg/shop:1", "")
	deployOK(t, c, app, 0)
	if res, err := Run(t.Context(), c, &Config{Options: opts(), App: app}); err != nil || !res.Unchanged {
		t.Fatalf("a deploy of the same spec on a clean app: %v, unchanged %v", err, res != nil && res.Unchanged)
	}
	if n := dryCreates.Load(); n != 0 {
		t.Errorf("%d dry-run creates with no field owned by no entry; want none", n)
	}
	ctx := t.Context()
	svc, err := c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.ExternalIPs = []string{"203.0.113.7"}
	svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	if svc, err = c.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}
	d := deployment(t, c, "shop")
	d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "MITM", Value: "1"})
	d.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
	if d, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}
	drop := func(es []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
		return slices.DeleteFunc(es, func(e metav1.ManagedFieldsEntry) bool { return e.Manager == "tenant" })
	}
	svc.ManagedFields = drop(svc.ManagedFields)
	if _, err = c.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}
	d.ManagedFields = drop(d.ManagedFields)
	if _, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}

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
	svc, _ = c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	svc.Spec.ExternalIPs = []string{"203.0.113.8"}
	if svc, err = c.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}
	svc.ManagedFields = drop(svc.ManagedFields)
	if _, err = c.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	if svc, _ := c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{}); len(svc.Spec.ExternalIPs) != 0 {
		t.Errorf("after a deploy of a new spec: externalIPs still %v", svc.Spec.ExternalIPs)
	}
}

// TestOrphansUnjudgedIsAWarning: when the dry-run create that says what
// the apiserver defaults is refused (a quota, a webhook), the fields no
// entry owns are left alone and the deploy says so in a warning.
func TestOrphansUnjudgedIsAWarning(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("create", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if cr, ok := a.(clienttesting.CreateActionImpl); ok && len(cr.CreateOptions.DryRun) > 0 {
			return true, nil, apierrors.NewForbidden(corev1.Resource("services"), "", errors.New("exceeded quota"))
		}
		return false, nil, nil
	})
	startController(t, c)
	app := spec(t, "reg/shop:1", "")
	deployOK(t, c, app, 0)
	ctx := t.Context()
	svc, err := c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.ExternalIPs = []string{"203.0.113.7"}
	if svc, err = c.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}
	svc.ManagedFields = slices.DeleteFunc(svc.ManagedFields, func(e metav1.ManagedFieldsEntry) bool { return e.Manager == "tenant" })
	if _, err = c.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	res, err := Run(ctx, c, &Config{Options: o, App: app})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged || !strings.Contains(progress.String(), "warning: service shop: fields of its spec no field manager owns were not judged") {
		t.Errorf("unchanged %v; progress:\n%s", res.Unchanged, progress.String())
	}
}

// TestTakeBackThatDoesNotHoldWarns: when what a take-back removes is back
// after its two updates (a controller writing it again), the deploy says
// the object keeps it, where it left without a word.
func TestTakeBackThatDoesNotHoldWarns(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("update", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(clienttesting.UpdateActionImpl); ok && len(u.UpdateOptions.DryRun) == 0 {
			u.GetObject().(*corev1.Service).Spec.ExternalIPs = []string{"203.0.113.7"}
		}
		return false, nil, nil
	})
	startController(t, c)
	app := spec(t, "reg/shop:1", "")
	deployOK(t, c, app, 0)
	ctx := t.Context()
	svc, err := c.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "tenant"}); err != nil {
		t.Fatal(err)
	}
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

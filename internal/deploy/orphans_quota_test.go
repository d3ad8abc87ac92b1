package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// TestIngressClassKeptAtQuota: the default-on DefaultIngressClass
// admission (k8s.io/kubernetes v1.37.2
// plugin/pkg/admission/network/defaultingressclass, a handler of CREATE
// alone) sets spec.ingressClassName on the create of an Ingress that names
// no class, after the field manager ran: the live class is owned by no
// entry. Emulated: the dry-run create's answer carries the class, the
// update's does not. At a quota on the Ingress count the update form would
// judge the class an orphan and the deploy would strip it; the Ingress is
// left unjudged instead, and says so.
func TestIngressClassKeptAtQuota(t *testing.T) {
	quota := apierrors.NewForbidden(networkingv1.Resource("ingresses"), "", errors.New("exceeded quota: q, requested: count/ingresses.networking.k8s.io=1, used: count/ingresses.networking.k8s.io=1, limited: count/ingresses.networking.k8s.io=1"))
	withClass := func(obj runtime.Object) (runtime.Object, error) {
		obj.(*networkingv1.Ingress).Spec.IngressClassName = ptr.To("nginx")
		return obj, nil
	}
	for _, tc := range []struct {
		name          string
		atQuota       bool
		wantUnchanged bool
		wantNote      string
	}{
		{name: "no quota: the dry-run create holds the class", wantUnchanged: true},
		{name: "at quota: not judged, the class kept", atQuota: true,
			wantNote: "a dry-run update would not say what a create of kind Ingress holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			create := withClass
			if tc.atQuota {
				create = func(runtime.Object) (runtime.Object, error) { return nil, quota }
			}
			var updates int
			c := fake.NewClientset()
			for _, r := range []reaction{
				onDryRun("create", "ingresses", create),
				onDryRun("update", "ingresses", func(obj runtime.Object) (runtime.Object, error) { updates++; return obj, nil }),
			} {
				c.PrependReactor(r.verb, r.resource, func(a clienttesting.Action) (bool, runtime.Object, error) { return r.react(c, a) })
			}
			startController(t, c)
			app := spec(t, "reg/shop:1", "  ingress: {host: shop.example.com}\n")
			deployOK(t, c, app, 0)
			// What DefaultIngressClass leaves: the class, owned by no entry.
			ctx := t.Context()
			ing, err := c.NetworkingV1().Ingresses(ns).Get(ctx, "shop", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ing.Spec.IngressClassName = ptr.To("nginx")
			if ing, err = c.NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{FieldManager: "admission"}); err != nil {
				t.Fatal(err)
			}
			withoutEntriesOf("admission")(ing)
			if _, err = c.NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{FieldManager: "admission"}); err != nil {
				t.Fatal(err)
			}
			var progress strings.Builder
			o := opts()
			o.Progress = &progress
			res, err := Run(ctx, c, &Config{Options: o, App: app})
			if err != nil {
				t.Fatal(err)
			}
			after, err := c.NetworkingV1().Ingresses(ns).Get(ctx, "shop", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after.Spec.IngressClassName == nil || strings.Contains(progress.String(), "removed from its spec") {
				t.Errorf("a clean app's Ingress class was taken back: ingressClassName %v\n%s", after.Spec.IngressClassName, progress.String())
			}
			if res.Unchanged != tc.wantUnchanged || !strings.Contains(progress.String(), tc.wantNote) || updates != 0 {
				t.Errorf("unchanged %v (want %v), %d dry-run updates of the Ingress (want 0); progress lacks %q:\n%s", res.Unchanged, tc.wantUnchanged, updates, tc.wantNote, progress.String())
			}
		})
	}
}

// TestDeploymentJudgedAtQuota: at a quota on the Deployment count the
// dry-run update stands in for the create (the kinds of updateFormHolds),
// so a field a tenant left on the pod template, owned by no entry, is
// still judged by content and taken back.
func TestDeploymentJudgedAtQuota(t *testing.T) {
	quota := apierrors.NewForbidden(appsv1.Resource("deployments"), "", errors.New("exceeded quota: q, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"))
	var updates int
	c, app := startedApp(t,
		onDryRun("create", "*", func(obj runtime.Object) (runtime.Object, error) {
			if _, ok := obj.(*appsv1.Deployment); ok {
				return nil, quota
			}
			return withDefaults(obj), nil
		}),
		onDryRun("update", "deployments", func(obj runtime.Object) (runtime.Object, error) { updates++; return withDefaults(obj), nil }))
	orphanTenantFields(t, c)
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: app}); err != nil {
		t.Fatal(err)
	}
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "MITM" {
			t.Errorf("the tenant's env var MITM was not taken back at the quota (%d dry-run updates):\n%s", updates, progress.String())
		}
	}
	if updates == 0 {
		t.Errorf("no dry-run update of the Deployment was asked at its quota:\n%s", progress.String())
	}
}

// TestQuotaRefused: quotaRefused knows the ResourceQuota admission's
// refusal as a client receives it, and nothing else that is Forbidden.
// The text is k8s.io/apiserver v0.37.2
// pkg/admission/plugin/resourcequota/controller.go:622, built as
// admission.NewForbidden (pkg/admission/errors.go:53) builds it, then
// sent as the apiserver's Status and read back as client-go does.
func TestQuotaRefused(t *testing.T) {
	quota := func(q, used string) error {
		return fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s", q, used+"=1", used+"=1", used+"=1")
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"the quota's refusal of a dry-run create", apierrors.NewForbidden(corev1.Resource("services"), "shop-", quota("lb", "services.loadbalancers")), true},
		{"the quota's refusal on an object count", apierrors.NewForbidden(appsv1.Resource("deployments"), "shop-", quota("full", "count/deployments.apps")), true},
		{"a webhook's refusal", apierrors.NewForbidden(corev1.Resource("services"), "shop-", errors.New(`admission webhook "audit.example.com" denied the request: no dry runs`)), false},
		{"RBAC's refusal", apierrors.NewForbidden(corev1.Resource("services"), "shop-", errors.New(`User "dev" cannot create resource "services" in API group "" in the namespace "team-a"`)), false},
		{"the words in an error that is not Forbidden", apierrors.NewBadRequest("exceeded quota: lb"), false},
		{"not an API error", quota("lb", "services"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err
			if s, ok := err.(apierrors.APIStatus); ok {
				// Over the wire: the Status as JSON, read back.
				body, jerr := json.Marshal(s.Status())
				if jerr != nil {
					t.Fatal(jerr)
				}
				var st metav1.Status
				if jerr := json.Unmarshal(body, &st); jerr != nil {
					t.Fatal(jerr)
				}
				err = &apierrors.StatusError{ErrStatus: st}
			}
			if got := quotaRefused(err); got != tc.want {
				t.Errorf("quotaRefused(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}

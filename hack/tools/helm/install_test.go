package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// quotaScopes returns, per namespace, the PriorityClasses the ResourceQuotas
// there admit by a PriorityClass In scope.
func quotaScopes(objs map[string]any) map[string][]string {
	out := map[string][]string{}
	for k, o := range objs {
		if !strings.HasPrefix(k, "ResourceQuota ") {
			continue
		}
		ns, _ := dig(o.(map[string]any), "metadata", "namespace").(string)
		exprs, _ := dig(o.(map[string]any), "spec", "scopeSelector", "matchExpressions").([]any)
		for _, e := range exprs {
			e := e.(map[string]any)
			if e["scopeName"] != "PriorityClass" || e["operator"] != "In" {
				continue
			}
			for _, v := range e["values"].([]any) {
				out[ns] = append(out[ns], v.(string))
			}
		}
	}
	return out
}

// TestPriorityClassesHaveQuota: a cluster that keeps the system
// PriorityClasses to kube-system (the ResourceQuota admission's
// limitedResources, as the Kubernetes documentation and README's trust model
// advise, and GKE ships) creates a pod of such a class only in a namespace
// whose ResourceQuota has that scope. Without one no zz pod was ever created
// and the webhook's failurePolicy Fail refused every opted-in pod (an admin's
// audit): every pod template either install path renders has its class
// admitted in its namespace, the one an admin sets included.
func TestPriorityClassesHaveQuota(t *testing.T) {
	chart := filepath.Join(root, "manifests/helm/zz")
	for _, tc := range []struct {
		name string
		objs map[string]any
	}{
		{"kustomize default overlay", kustomizeObjects(t, "manifests/overlays/default")},
		{"chart defaults", chartObjects(t, chart, nil)},
		{"chart with classes of the admin's", chartObjects(t, chart, map[string]any{
			"webhook":      map[string]any{"priorityClassName": "platform"},
			"devicePlugin": map[string]any{"priorityClassName": "gpu-agents"}})},
		{"chart, the device plugin alone", chartObjects(t, chart, map[string]any{
			"scheduler": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": false}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scopes := quotaScopes(tc.objs)
			pods := 0
			for k, o := range tc.objs {
				kind, _, _ := strings.Cut(k, " ")
				if !slices.Contains([]string{"Deployment", "DaemonSet", "Job", "CronJob"}, kind) {
					continue
				}
				class, _ := podSpec(t, o.(map[string]any))["priorityClassName"].(string)
				if class == "" {
					continue
				}
				pods++
				ns, _ := dig(o.(map[string]any), "metadata", "namespace").(string)
				if !slices.Contains(scopes[ns], class) {
					t.Errorf("%s runs at %s, which no ResourceQuota in %s admits (it admits %v): where the system classes are limited, none of its pods is created",
						k, class, ns, scopes[ns])
				}
			}
			if pods == 0 {
				t.Fatalf("no pod template with a priorityClassName in %v", keys(tc.objs))
			}
		})
	}
}

// TestCertgenRunsOnRollback: a helm rollback that brings the
// MutatingWebhookConfiguration back (after an upgrade with
// webhook.enabled=false, or any revision that deleted it) writes it with no
// caBundle, and with failurePolicy Fail every pod of the opted-in namespaces
// was refused until the CronJob's next run (an admin's audit). The hook Job
// runs on rollback as on install and upgrade: certgen keeps a valid
// certificate and puts its CA back.
func TestCertgenRunsOnRollback(t *testing.T) {
	ch, err := LoadChart(filepath.Join(root, "manifests/helm/zz"))
	if err != nil {
		t.Fatal(err)
	}
	y, err := RenderChart(ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(y)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Key() != "Job zz-system/zz-webhook-certgen" {
			continue
		}
		hooks, _ := dig(o, "metadata", "annotations", "helm.sh/hook").(string)
		for _, want := range []string{"post-install", "post-upgrade", "post-rollback"} {
			if !slices.Contains(strings.Split(hooks, ","), want) {
				t.Errorf("certgen Job hooks %q: no %s", hooks, want)
			}
		}
		return
	}
	t.Fatal("no certgen Job rendered")
}

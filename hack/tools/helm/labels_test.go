package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// selectors are the label selectors (and pod template labels) as released.
// A Deployment's or DaemonSet's spec.selector is immutable: a label added to
// it breaks every upgrade (kubectl apply and helm upgrade are refused), and a
// label added to a pod template rolls every pod. The recommended labels go on
// metadata.labels only.
var selectors = map[string]struct {
	selector, template any
}{
	"Deployment zz-system/zz-scheduler": {
		map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "zz-scheduler"}},
		map[string]any{"app.kubernetes.io/name": "zz-scheduler", "app.kubernetes.io/part-of": "zz"}},
	"Deployment zz-system/zz-webhook": {
		map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "zz-webhook"}},
		map[string]any{"app.kubernetes.io/name": "zz-webhook", "app.kubernetes.io/part-of": "zz"}},
	"DaemonSet zz-device-plugin/zz-device-plugin": {
		map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "zz-device-plugin"}},
		map[string]any{"app.kubernetes.io/name": "zz-device-plugin", "app.kubernetes.io/part-of": "zz"}},
	"Job zz-system/zz-webhook-certgen": {
		nil, map[string]any{"app.kubernetes.io/name": "zz-webhook-certgen", "app.kubernetes.io/part-of": "zz"}},
	"CronJob zz-system/zz-webhook-certgen": {
		nil, map[string]any{"app.kubernetes.io/name": "zz-webhook-certgen", "app.kubernetes.io/part-of": "zz"}},
	"Service zz-system/zz-webhook": {
		map[string]any{"app.kubernetes.io/name": "zz-webhook"}, nil},
	"PodDisruptionBudget zz-system/zz-scheduler": {
		map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "zz-scheduler"}}, nil},
	"PodDisruptionBudget zz-system/zz-webhook": {
		map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "zz-webhook"}}, nil},
}

// serverComponents are the components whose objects belong to one server and
// so name it (app.kubernetes.io/name).
var serverComponents = map[string]bool{"scheduler": true, "webhook": true, "device-plugin": true, "certgen": true, "certificate": true}

func dig(o map[string]any, path ...string) any {
	var v any = o
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// TestRecommendedLabels: every object either install path renders carries
// app.kubernetes.io/part-of=zz and a component (and the chart's objects
// Helm's labels), so that kubectl get ... -l app.kubernetes.io/part-of=zz
// finds all of them, and no selector or pod template took a label.
func TestRecommendedLabels(t *testing.T) {
	chartPath := filepath.Join(root, "manifests/helm/zz")
	ch, err := LoadChart(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	kustomize := func(body string) func() ([]byte, error) {
		return func() ([]byte, error) { return KustomizeManifests(filepath.Join(root, "manifests"), body) }
	}
	helm := func(vals map[string]any) func() ([]byte, error) {
		return func() ([]byte, error) { return RenderChart(ch, vals) }
	}
	for _, tc := range []struct {
		name   string
		helm   bool
		render func() ([]byte, error)
	}{
		{"kustomize overlays/default", false, kustomize("resources:\n- ../manifests/overlays/default\n")},
		{"kustomize overlays/cert-manager", false, kustomize("resources:\n- ../manifests/overlays/cert-manager\n")},
		{"kustomize overlays/default with monitoring and network-policy", false,
			kustomize("resources:\n- ../manifests/overlays/default\ncomponents:\n- ../manifests/components/monitoring\n- ../manifests/components/network-policy\n")},
		{"helm defaults", true, helm(nil)},
		{"helm certificates.mode=cert-manager", true, helm(map[string]any{"certificates": map[string]any{"mode": "cert-manager"}})},
		{"helm monitoring and networkPolicy", true, helm(map[string]any{
			"monitoring":    map[string]any{"enabled": true, "labels": map[string]any{"release": "kps"}},
			"networkPolicy": map[string]any{"enabled": true}})},
		{"helm custom webhook.policy", true, helm(map[string]any{"webhook": map[string]any{"policy": "cluster: c1\n"}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y, err := tc.render()
			if err != nil {
				t.Fatal(err)
			}
			objs, err := Decode(y)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) == 0 {
				t.Fatal("no objects")
			}
			for _, o := range objs {
				k := generatedName.ReplaceAllString(o.Key(), "$1-HASH")
				labels, _ := dig(o, "metadata", "labels").(map[string]any)
				want := map[string]any{"app.kubernetes.io/part-of": "zz"}
				if tc.helm {
					want["app.kubernetes.io/managed-by"] = "Helm"
					want["app.kubernetes.io/instance"] = "zz"
					want["helm.sh/chart"] = "zz-" + ch.Metadata.Version
					want["app.kubernetes.io/version"] = ch.Metadata.AppVersion
				}
				for l, v := range want {
					if labels[l] != v {
						t.Errorf("%s: label %s=%v, want %v", k, l, labels[l], v)
					}
				}
				comp, _ := labels["app.kubernetes.io/component"].(string)
				if comp == "" {
					t.Errorf("%s: no app.kubernetes.io/component (labels %v)", k, labels)
				}
				if serverComponents[comp] && labels["app.kubernetes.io/name"] == nil {
					t.Errorf("%s: component %s names no server (app.kubernetes.io/name)", k, comp)
				}
				if tc.helm && k == "PrometheusRule zz-system/zz" && labels["release"] != "kps" {
					t.Errorf("%s: monitoring.labels lost: %v", k, labels)
				}

				kind := fmt.Sprint(o["kind"])
				var sel, tmpl any
				switch kind {
				case "Deployment", "DaemonSet":
					sel, tmpl = dig(o, "spec", "selector"), dig(o, "spec", "template", "metadata", "labels")
				case "Job":
					tmpl = dig(o, "spec", "template", "metadata", "labels")
				case "CronJob":
					tmpl = dig(o, "spec", "jobTemplate", "spec", "template", "metadata", "labels")
				case "Service", "PodDisruptionBudget":
					sel = dig(o, "spec", "selector")
				default:
					continue
				}
				w, ok := selectors[k]
				if !ok {
					t.Errorf("%s: a selector or pod template this test does not know: add it to selectors", k)
					continue
				}
				if diff := cmp.Diff(w.selector, sel); diff != "" {
					t.Errorf("%s: selector changed (-released +rendered):\n%s", k, diff)
				}
				if diff := cmp.Diff(w.template, tmpl); diff != "" {
					t.Errorf("%s: pod template labels changed (-released +rendered):\n%s", k, diff)
				}
			}
		})
	}
}

package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mitchellh/copystructure"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
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
	for _, o := range renderedObjects(t, filepath.Join(root, "manifests/helm/zz"), nil) {
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

// schemaPaths lists the value paths the schema's properties tree names, not
// following $ref (a definition's own keys, as resources' requests, are the
// admin's to leave out).
func schemaPaths(node map[string]any, prefix []string) [][]string {
	props, _ := node["properties"].(map[string]any)
	var out [][]string
	for k, v := range props {
		p := append(slices.Clone(prefix), k)
		out = append(out, p)
		if m, ok := v.(map[string]any); ok {
			out = append(out, schemaPaths(m, p)...)
		}
	}
	return out
}

// chartAndSchema loads zz's chart and its values schema.
func chartAndSchema(t *testing.T) (*chart.Chart, map[string]any) {
	t.Helper()
	ch, err := LoadChart(filepath.Join(root, "manifests/helm/zz"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(ch.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	return ch, schema
}

// TestValuesAnOlderChartLacksAreRefused: helm upgrade --reuse-values renders
// a newer chart with the previous release's values in place of the chart's
// own, so a value added since is missing. The servers' priorityClassName
// rendered empty that way, every zz pod at priority 0 with no word (an
// admin's audit, from a chart two days older): every value the chart reads is
// required, so such an upgrade is refused, naming the value, and
// --reset-then-reuse-values is the way (README).
func TestValuesAnOlderChartLacksAreRefused(t *testing.T) {
	ch, schema := chartAndSchema(t)
	defaults := ch.Values
	paths := schemaPaths(schema, nil)
	if len(paths) < 50 {
		t.Fatalf("only %d value paths in the schema", len(paths))
	}
	for _, p := range paths {
		vals, err := copystructure.Copy(defaults)
		if err != nil {
			t.Fatal(err)
		}
		parent := vals.(map[string]any)
		for _, k := range p[:len(p)-1] {
			parent = parent[k].(map[string]any)
		}
		if _, ok := parent[p[len(p)-1]]; !ok {
			t.Errorf("%s: in the schema, not in values.yaml", strings.Join(p, "."))
			continue
		}
		delete(parent, p[len(p)-1])
		ch.Values = vals.(map[string]any)
		_, err = RenderChart(ch, nil)
		switch name := strings.Join(p, "."); {
		case optional(name) && err != nil:
			t.Errorf("values without %s, which renders as nothing when absent: %v", name, err)
		case !optional(name) && (err == nil || !strings.Contains(err.Error(), "'"+p[len(p)-1]+"'")):
			t.Errorf("values without %s: %v; want them refused, naming it", name, err)
		}
	}
	ch.Values = defaults
}

// optional are the values the schema does not require: absent, each renders
// as nothing (no selector, no extra labels or arguments, the apiserver's
// default strategy), so an older chart's values that lack one render right,
// and Helm's null that drops a default (--set webhook.nodeSelector=null,
// which Helm deletes before it validates) is not refused (review 36 #6).
// A value whose absence renders badly (priorityClassName, an image tag, the
// security contexts the restricted namespace demands) stays required.
func optional(name string) bool {
	parts := strings.Split(name, ".")
	switch parts[len(parts)-1] {
	case "resources", "extenderResources", "nodeSelector", "tolerations", "affinity", "podLabels", "podAnnotations",
		"topologySpreadConstraints", "strategy", "updateStrategy", "extraArgs", "extenderExtraArgs", "runtimeClassName",
		"imagePullSecrets", "labels":
		return true
	}
	return false
}

// TestNullUnsetsADefault: every value the schema leaves optional may be set
// to null, Helm's way to drop a chart default, and the rest are required
// (the schema's required lists and optional agree); null of a required one
// is refused, naming it.
func TestNullUnsetsADefault(t *testing.T) {
	ch, schema := chartAndSchema(t)
	notRequired := map[string]bool{}
	var walk func(node map[string]any, prefix []string)
	walk = func(node map[string]any, prefix []string) {
		props, _ := node["properties"].(map[string]any)
		req, _ := node["required"].([]any)
		for k, v := range props {
			p := append(slices.Clone(prefix), k)
			if !slices.Contains(req, any(k)) {
				notRequired[strings.Join(p, ".")] = true
			}
			if m, ok := v.(map[string]any); ok {
				walk(m, p)
			}
		}
	}
	walk(schema, nil)
	var opt []string
	for _, p := range schemaPaths(schema, nil) {
		name := strings.Join(p, ".")
		switch {
		case notRequired[name] && !optional(name):
			t.Errorf("%s: not required by the schema, yet its absence is not known to render as nothing (add it to optional, or require it)", name)
		case !notRequired[name] && optional(name):
			t.Errorf("%s: required by the schema, so a null that drops its default is refused", name)
		case optional(name):
			opt = append(opt, name)
		}
	}
	set := func(path string, v any) map[string]any {
		vals := map[string]any{}
		parts := strings.Split(path, ".")
		m := vals
		for _, k := range parts[:len(parts)-1] {
			next := map[string]any{}
			m[k] = next
			m = next
		}
		m[parts[len(parts)-1]] = v
		return vals
	}
	for _, name := range opt {
		if _, err := RenderChart(ch, set(name, nil)); err != nil {
			t.Errorf("--set %s=null: %v", name, err)
		}
	}
	if _, err := RenderChart(ch, set("webhook.priorityClassName", nil)); err == nil || !strings.Contains(err.Error(), "priorityClassName") {
		t.Errorf("--set webhook.priorityClassName=null: %v; want it refused, naming it", err)
	}
}

// TestChartExtraArgs: a flag the chart has no value for (the webhook's
// --max-review-bytes, the extender's --hung-after, kube-scheduler's own)
// took a post-renderer, and extraArgs was refused as an unknown value (an
// admin's audit). Each server's extra arguments come last, so one repeating
// a chart flag wins, as Go's flag package and kube-scheduler's take the last.
func TestChartExtraArgs(t *testing.T) {
	chart := filepath.Join(root, "manifests/helm/zz")
	objs := chartObjects(t, chart, map[string]any{
		"scheduler":    map[string]any{"extraArgs": []any{"--percentage-of-nodes-to-score=50"}, "extenderExtraArgs": []any{"--hung-after=10s"}},
		"webhook":      map[string]any{"extraArgs": []any{"--max-review-bytes=4194304", "--v=4"}},
		"devicePlugin": map[string]any{"extraArgs": []any{"--xid-recover-after=10m"}},
	})
	for _, tc := range []struct {
		kind, name string
		container  int
		field      string
		want       []any
	}{
		{"Deployment", "zz-scheduler", 0, "command", []any{"--percentage-of-nodes-to-score=50"}},
		{"Deployment", "zz-scheduler", 1, "args", []any{"--hung-after=10s"}},
		{"Deployment", "zz-webhook", 0, "args", []any{"--max-review-bytes=4194304", "--v=4"}},
		{"DaemonSet", "zz-device-plugin", 0, "args", []any{"--xid-recover-after=10m"}},
	} {
		c := podSpec(t, find(t, objs, tc.kind, tc.name))["containers"].([]any)[tc.container].(map[string]any)
		got, _ := c[tc.field].([]any)
		if len(got) < len(tc.want) || !slices.Equal(got[len(got)-len(tc.want):], tc.want) {
			t.Errorf("%s %s container %s %s: %v; want it to end with %v", tc.kind, tc.name, c["name"], tc.field, got, tc.want)
		}
	}
	ch, err := LoadChart(chart)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RenderChart(ch, map[string]any{"webhook": map[string]any{"extraArgs": "--v=4"}}); err == nil || !strings.Contains(err.Error(), "/webhook/extraArgs") {
		t.Errorf("extraArgs as a string: %v; want it refused, naming it", err)
	}
}

// TestReleaseNamespaceIsNotTheChartsOwn: the chart creates zz-system and
// zz-device-plugin and deletes them with what is in them. A release installed
// there (nothing refused it) kept its records in a namespace it deleted: an
// upgrade with scheduler.enabled=false,webhook.enabled=false deleted
// zz-system with the release's Secrets, helm list showed nothing, and the
// next helm install failed on the cluster-wide objects left behind (an
// admin's audit; helm uninstall --keep-history keeps nothing there either).
// Such an install is refused, so is an upgrade that would delete the
// release's namespace, and an upgrade of a release already there warns with
// the way to move it.
func TestReleaseNamespaceIsNotTheChartsOwn(t *testing.T) {
	ch, err := LoadChart(filepath.Join(root, "manifests/helm/zz"))
	if err != nil {
		t.Fatal(err)
	}
	render := func(ns string, install bool, vals map[string]any) (map[string]string, error) {
		return renderRelease(ch, common.ReleaseOptions{Name: "zz", Namespace: ns, IsInstall: install, IsUpgrade: !install, Revision: 2}, common.DefaultCapabilities, vals)
	}
	off := map[string]any{"scheduler": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": false}}
	for _, tc := range []struct {
		name    string
		ns      string
		install bool
		vals    map[string]any
		refused string // "" for rendered
		notes   bool   // the NOTES warn and say how to move it
	}{
		{"install in default", "default", true, nil, "", false},
		{"install in zz-system", "zz-system", true, nil, "the release's namespace zz-system is one this chart creates and deletes", false},
		{"install in zz-device-plugin", "zz-device-plugin", true, nil, "the release's namespace zz-device-plugin is one this chart creates and deletes", false},
		{"upgrade in zz-system", "zz-system", false, nil, "", true},
		{"upgrade in zz-system turning its parts off", "zz-system", false, off, "this upgrade would delete namespace zz-system", false},
		{"upgrade in zz-system, the device plugin off", "zz-system", false, map[string]any{"devicePlugin": map[string]any{"enabled": false}}, "", true},
		{"upgrade in zz-device-plugin, the device plugin off", "zz-device-plugin", false, map[string]any{"devicePlugin": map[string]any{"enabled": false}}, "this upgrade would delete namespace zz-device-plugin", false},
		{"upgrade in default turning parts off", "default", false, off, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := render(tc.ns, tc.install, tc.vals)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("%v; want it refused: %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			notes := files["zz/templates/NOTES.txt"]
			move := "kubectl -n " + tc.ns + " delete secret -l owner=helm,name=zz"
			if got := strings.Contains(notes, "WARNING: this release's records are kept in namespace "+tc.ns) && strings.Contains(notes, move); got != tc.notes {
				t.Errorf("NOTES warn of the release's namespace: %v, want %v:\n%s", got, tc.notes, notes)
			}
		})
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/engine"
)

const root = "../../.."

// generatedName matches the names of the generated ConfigMaps (their hash
// follows their content).
var generatedName = regexp.MustCompile(`(zz-scheduler-config)-[a-z0-9]{10}$`)

// helmLabels are the labels only the chart sets (zz.labels): the release's,
// not the objects'. The kustomize install carries the rest of zz.labels
// (part-of, component, name) too.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version"}

// normalize drops what the chart adds on purpose (helm.sh/ annotations: the
// certgen Job is a hook; helmLabels) and empty lines in strings.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if k == "labels" {
				if m, ok := e.(map[string]any); ok {
					m = normalize(m).(map[string]any)
					for _, l := range helmLabels {
						delete(m, l)
					}
					e = m
				}
			}
			if k == "annotations" {
				if m, ok := e.(map[string]any); ok {
					m = normalize(m).(map[string]any)
					for a := range m {
						if strings.HasPrefix(a, "helm.sh/") {
							delete(m, a)
						}
					}
					if len(m) == 0 {
						continue
					}
					e = m
				}
			}
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case string:
		// kustomize's YAML round trip writes a folded scalar's kept line
		// break before a more-indented line as an empty line (one more
		// line break in the value; CEL does not care).
		for strings.Contains(v, "\n\n") {
			v = strings.ReplaceAll(v, "\n\n", "\n")
		}
		// Generated names are compared whole: the chart names the
		// scheduler's ConfigMap as kustomize does, so taking over a kubectl
		// apply -k install neither rolls zz-scheduler nor leaves a ConfigMap.
		return v
	}
	return v
}

// byKey indexes normalized objects by kind, namespace and name.
func byKey(t *testing.T, objs []Object) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, o := range objs {
		k := normalize(map[string]any{"k": o.Key()}).(map[string]any)["k"].(string)
		if _, dup := out[k]; dup {
			t.Fatalf("%s rendered twice", k)
		}
		out[k] = normalize(map[string]any(o))
	}
	return out
}

func kustomizeObjects(t *testing.T, dir string) map[string]any {
	t.Helper()
	y, err := Kustomize(filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(y)
	if err != nil {
		t.Fatal(err)
	}
	return byKey(t, objs)
}

func chartObjects(t *testing.T, chartPath string, vals map[string]any) map[string]any {
	t.Helper()
	return byKey(t, renderedObjects(t, chartPath, vals))
}

// renderedObjects renders the chart with vals, as helm does, unnormalized.
func renderedObjects(t *testing.T, chartPath string, vals map[string]any) []Object {
	t.Helper()
	ch, err := LoadChart(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	y, err := RenderChart(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(y)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// keep returns the objects of all whose keys are (or, with !in, are not) in set.
func keep(all, set map[string]any, in bool) map[string]any {
	out := map[string]any{}
	for k, v := range all {
		if _, ok := set[k]; ok == in {
			out[k] = v
		}
	}
	return out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestChartEqualsKustomize renders the chart and the kustomize sources and
// compares every object: the chart is a second way to install the same
// objects, never a second copy that drifts. A new object in manifests/ fails
// here until the chart has it.
func TestChartEqualsKustomize(t *testing.T) {
	chart := filepath.Join(root, "manifests/helm/zz")
	def := kustomizeObjects(t, "manifests/overlays/default")
	dp := kustomizeObjects(t, "manifests/deviceplugin")
	sched := kustomizeObjects(t, "manifests/scheduler")
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   map[string]any
	}{
		{"defaults are the default overlay", nil, def},
		{"certificates.mode=cert-manager is the cert-manager overlay",
			map[string]any{"certificates": map[string]any{"mode": "cert-manager"}}, kustomizeObjects(t, "manifests/overlays/cert-manager")},
		{"devicePlugin.enabled=false leaves out manifests/deviceplugin",
			map[string]any{"devicePlugin": map[string]any{"enabled": false}}, keep(def, dp, false)},
		{"only the device plugin is manifests/deviceplugin",
			map[string]any{"scheduler": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": false},
				"policies": map[string]any{"enabled": false}}, keep(def, dp, true)},
		{"networkPolicy.enabled=true adds components/network-policy",
			map[string]any{"networkPolicy": map[string]any{"enabled": true}}, withComponent(t, "network-policy")},
		{"monitoring.enabled=true adds components/monitoring",
			map[string]any{"monitoring": map[string]any{"enabled": true}}, withComponent(t, "monitoring")},
		{"scheduler.enabled=false leaves out manifests/scheduler",
			map[string]any{"scheduler": map[string]any{"enabled": false}}, keep(def, sched, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := chartObjects(t, chart, tc.values)
			if diff := cmp.Diff(keys(tc.want), keys(got)); diff != "" {
				t.Fatalf("objects (-kustomize +chart):\n%s", diff)
			}
			for k, want := range tc.want {
				if diff := cmp.Diff(want, got[k]); diff != "" {
					t.Errorf("%s (-kustomize +chart):\n%s", k, diff)
				}
			}
		})
	}
}

// TestChartNetworkPolicyFamilies: the API server reaches the webhook from a
// node address of the pod network's family; an IPv4 rule alone dropped its
// IPv6 calls on a dual-stack or IPv6 cluster (an admin audit).
func TestChartNetworkPolicyFamilies(t *testing.T) {
	chart := filepath.Join(root, "manifests/helm/zz")
	for _, tc := range []struct {
		name, v4, v6 string
		want         []string // cidr, except, ...
	}{
		{"IPv4", "10.244.0.0/16", "", []string{"0.0.0.0/0", "10.244.0.0/16"}},
		{"IPv6", "fd00:10:244::/56", "", []string{"::/0", "fd00:10:244::/56"}},
		{"dual-stack", "10.244.0.0/16", "fd00:10:244::/56", []string{"0.0.0.0/0", "10.244.0.0/16", "::/0", "fd00:10:244::/56"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := chartObjects(t, chart, map[string]any{"networkPolicy": map[string]any{"enabled": true, "podCIDR": tc.v4, "podCIDRv6": tc.v6}})
			np, ok := objs["NetworkPolicy zz-system/zz-webhook"].(map[string]any)
			if !ok {
				t.Fatalf("no NetworkPolicy zz-system/zz-webhook in %v", keys(objs))
			}
			rule := np["spec"].(map[string]any)["ingress"].([]any)[0].(map[string]any)
			var got []string
			for _, f := range rule["from"].([]any) {
				b := f.(map[string]any)["ipBlock"].(map[string]any)
				got = append(got, b["cidr"].(string))
				for _, e := range b["except"].([]any) {
					got = append(got, e.(string))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("the API server's rule lets in %v, want %v", got, tc.want)
			}
		})
	}
}

// withComponent is the default overlay with components/<name>.
func withComponent(t *testing.T, name string) map[string]any {
	t.Helper()
	y, err := KustomizeManifests(filepath.Join(root, "manifests"), "resources:\n- ../manifests/overlays/default\ncomponents:\n- ../manifests/components/"+name+"\n")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(y)
	if err != nil {
		t.Fatal(err)
	}
	return byKey(t, objs)
}

// find returns the normalized object of that kind and name.
func find(t *testing.T, objs map[string]any, kind, name string) map[string]any {
	t.Helper()
	for k, o := range objs {
		if strings.HasPrefix(k, kind+" ") && strings.HasSuffix(k, "/"+name) {
			return o.(map[string]any)
		}
	}
	t.Fatalf("no %s %s in %v", kind, name, keys(objs))
	return nil
}

func podSpec(t *testing.T, o map[string]any) map[string]any {
	t.Helper()
	spec := o["spec"].(map[string]any)
	if jt, ok := spec["jobTemplate"].(map[string]any); ok {
		spec = jt["spec"].(map[string]any)
	}
	return spec["template"].(map[string]any)["spec"].(map[string]any)
}

// TestChartValues sets each value an admin changes and checks where it lands.
func TestChartValues(t *testing.T) {
	chart := filepath.Join(root, "manifests/helm/zz")
	digest := "sha256:" + strings.Repeat("ab", 32)
	objs := chartObjects(t, chart, map[string]any{
		"images": map[string]any{"webhook": map[string]any{"repository": "registry.example/zz-webhook", "tag": "v9.9.9", "digest": digest}},
		"devicePlugin": map[string]any{"slotsPerCard": 8, "deviceListStrategy": "cdi-cri", "nodeSelector": map[string]any{"gpu": "yes"},
			"resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}},
		"webhook": map[string]any{"replicas": 3, "timeoutSeconds": 2, "policy": "cluster: c1\n", "schedulerFallback": map[string]any{"grace": "1m"},
			"tolerations": []any{map[string]any{"key": "infra", "operator": "Exists"}}},
		"scheduler": map[string]any{"gpuPolicy": "spread", "gpuPreemption": false, "gpuRequeueWindow": "0s", "nodeSelector": map[string]any{"role": "control"}},
		"logLevel":  4,
	})
	for _, tc := range []struct {
		what string
		got  any
		want any
	}{
		{"webhook image pinned", podSpec(t, find(t, objs, "Deployment", "zz-webhook"))["containers"].([]any)[0].(map[string]any)["image"],
			"registry.example/zz-webhook:v9.9.9@" + digest},
		{"certgen runs the webhook image", podSpec(t, find(t, objs, "CronJob", "zz-webhook-certgen"))["containers"].([]any)[0].(map[string]any)["image"],
			"registry.example/zz-webhook:v9.9.9@" + digest},
		{"slots per card", slices.Contains(podSpec(t, find(t, objs, "DaemonSet", "zz-device-plugin"))["containers"].([]any)[0].(map[string]any)["args"].([]any), "--slots-per-card=8"), true},
		{"device list strategy", slices.Contains(podSpec(t, find(t, objs, "DaemonSet", "zz-device-plugin"))["containers"].([]any)[0].(map[string]any)["args"].([]any), "--device-list-strategy=cdi-cri"), true},
		{"log level", slices.Contains(podSpec(t, find(t, objs, "DaemonSet", "zz-device-plugin"))["containers"].([]any)[0].(map[string]any)["args"].([]any), "--v=4"), true},
		// Helm merges maps into the defaults (null removes a default key).
		{"device plugin node selector", podSpec(t, find(t, objs, "DaemonSet", "zz-device-plugin"))["nodeSelector"], map[string]any{"gpu": "yes", "zz.io/gpu-node": "true"}},
		{"device plugin resources", podSpec(t, find(t, objs, "DaemonSet", "zz-device-plugin"))["containers"].([]any)[0].(map[string]any)["resources"],
			map[string]any{"limits": map[string]any{"memory": "1Gi"}, "requests": map[string]any{"cpu": "50m", "memory": "64Mi"}}},
		{"scheduler fallback grace", slices.Contains(podSpec(t, find(t, objs, "Deployment", "zz-webhook"))["containers"].([]any)[0].(map[string]any)["args"].([]any), "--scheduler-lease-grace=1m"), true},
		{"webhook replicas", find(t, objs, "Deployment", "zz-webhook")["spec"].(map[string]any)["replicas"], float64(3)},
		{"webhook tolerations", podSpec(t, find(t, objs, "Deployment", "zz-webhook"))["tolerations"], []any{map[string]any{"key": "infra", "operator": "Exists"}}},
		{"webhook timeout", find(t, objs, "MutatingWebhookConfiguration", "zz-webhook")["webhooks"].([]any)[0].(map[string]any)["timeoutSeconds"], float64(2)},
		{"policy", find(t, objs, "ConfigMap", "zz-webhook-policy")["data"], map[string]any{"policy.yaml": "cluster: c1\n"}},
		{"gpu policy", slices.Contains(podSpec(t, find(t, objs, "Deployment", "zz-scheduler"))["containers"].([]any)[1].(map[string]any)["args"].([]any), "--gpu-policy=spread"), true},
		{"gpu preemption", slices.Contains(podSpec(t, find(t, objs, "Deployment", "zz-scheduler"))["containers"].([]any)[1].(map[string]any)["args"].([]any), "--gpu-preemption=false"), true},
		{"gpu requeue window", slices.Contains(podSpec(t, find(t, objs, "Deployment", "zz-scheduler"))["containers"].([]any)[1].(map[string]any)["args"].([]any), "--gpu-requeue-window=0s"), true},
		{"scheduler node selector", podSpec(t, find(t, objs, "Deployment", "zz-scheduler"))["nodeSelector"], map[string]any{"role": "control"}},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.what, diff)
		}
	}

	// Without the fallback routed pods wait, and the Lease is still followed
	// (zz_webhook_scheduler_up, which ZZSchedulerDown reads).
	args := podSpec(t, find(t, chartObjects(t, chart, map[string]any{"webhook": map[string]any{"schedulerFallback": map[string]any{"enabled": false}}}),
		"Deployment", "zz-webhook"))["containers"].([]any)[0].(map[string]any)["args"].([]any)
	if !slices.Contains(args, "--scheduler-fallback=false") || slices.ContainsFunc(args, func(a any) bool { return strings.HasPrefix(a.(string), "--scheduler-lease=") }) {
		t.Errorf("webhook args with schedulerFallback.enabled=false: %v; want --scheduler-fallback=false and the Lease followed", args)
	}

	// What a real cluster needs of every pod: a pull secret, its own
	// priority class, annotations, affinity, the NVIDIA RuntimeClass, where
	// certgen runs, and the labels a Prometheus selects monitors by.
	knobs := chartObjects(t, chart, map[string]any{
		"imagePullSecrets": []any{map[string]any{"name": "regcred"}},
		"scheduler":        map[string]any{"affinity": map[string]any{"nodeAffinity": map[string]any{"x": "y"}}},
		"webhook":          map[string]any{"priorityClassName": "platform", "podAnnotations": map[string]any{"a": "b"}},
		"devicePlugin":     map[string]any{"runtimeClassName": "nvidia"},
		"certificates":     map[string]any{"certgen": map[string]any{"nodeSelector": map[string]any{"role": "infra"}}},
		"monitoring":       map[string]any{"enabled": true, "labels": map[string]any{"release": "kps"}},
	})
	for _, kind := range []string{"Deployment zz-system/zz-scheduler", "Deployment zz-system/zz-webhook", "DaemonSet zz-device-plugin/zz-device-plugin", "CronJob zz-system/zz-webhook-certgen", "Job zz-system/zz-webhook-certgen"} {
		kn, name, _ := strings.Cut(kind, " ")
		_, name, _ = strings.Cut(name, "/")
		if got := podSpec(t, find(t, knobs, kn, name))["imagePullSecrets"]; !cmp.Equal(got, []any{map[string]any{"name": "regcred"}}) {
			t.Errorf("%s: imagePullSecrets %v", kind, got)
		}
	}
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"scheduler affinity", podSpec(t, find(t, knobs, "Deployment", "zz-scheduler"))["affinity"], map[string]any{"nodeAffinity": map[string]any{"x": "y"}}},
		{"webhook priority", podSpec(t, find(t, knobs, "Deployment", "zz-webhook"))["priorityClassName"], "platform"},
		{"webhook annotations", find(t, knobs, "Deployment", "zz-webhook")["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["annotations"], map[string]any{"a": "b"}},
		{"device plugin runtime class", podSpec(t, find(t, knobs, "DaemonSet", "zz-device-plugin"))["runtimeClassName"], "nvidia"},
		{"certgen node selector", podSpec(t, find(t, knobs, "CronJob", "zz-webhook-certgen"))["nodeSelector"], map[string]any{"role": "infra"}},
		{"rule label", find(t, knobs, "PrometheusRule", "zz")["metadata"].(map[string]any)["labels"].(map[string]any)["release"], "kps"},
		{"pod monitor label", find(t, knobs, "PodMonitor", "zz-webhook")["metadata"].(map[string]any)["labels"].(map[string]any)["release"], "kps"},
		{"dashboard label", find(t, knobs, "ConfigMap", "zz-grafana-dashboard")["metadata"].(map[string]any)["labels"].(map[string]any)["release"], "kps"},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.what, diff)
		}
	}

	// CAP_KILL only where the device plugin kills; a PodDisruptionBudget of
	// minAvailable 1 only where a replica may go (one replica would block
	// every drain).
	single := chartObjects(t, chart, map[string]any{"devicePlugin": map[string]any{"overRequest": "event"},
		"scheduler": map[string]any{"replicas": 1}, "webhook": map[string]any{"replicas": 1}})
	sc := podSpec(t, find(t, single, "DaemonSet", "zz-device-plugin"))["containers"].([]any)[0].(map[string]any)["securityContext"].(map[string]any)
	if caps := sc["capabilities"].(map[string]any); caps["add"] != nil {
		t.Errorf("overRequest=event adds capabilities %v", caps["add"])
	}
	for k := range single {
		if strings.HasPrefix(k, "PodDisruptionBudget ") {
			t.Errorf("a PodDisruptionBudget with one replica: %s", k)
		}
	}

	// Monitoring watches only the parts installed: no PodMonitor in a
	// namespace the release does not create, no alert on a target that
	// never comes.
	for _, tc := range []struct {
		off      string
		ns       string
		gone     []string
		monitors int
	}{
		{"devicePlugin", "zz-system", []string{"ZZGPUCardUnhealthy", "ZZDevicePluginDown", "ZZDevicePluginMissing", "ZZDevicePluginUnregistered", "ZZGPUPodOverRequest", "ZZGPUOverRequestKillFailing"}, 2},
		{"webhook", "zz-system", []string{"ZZWebhookDown", "ZZWebhookUnreachable", "ZZWebhookPolicyRefused", "ZZWebhookErrors", "ZZWebhookSlow", "ZZWebhookCertificateExpiring", "ZZSchedulerDown"}, 2},
		{"scheduler", "zz-system", []string{"ZZExtenderDown", "ZZGPUShapeNoRoom", "ZZGPURequeueFailing", "ZZSchedulerDown", "ZZDevicePluginMissing"}, 2},
	} {
		objs := chartObjects(t, chart, map[string]any{"monitoring": map[string]any{"enabled": true}, tc.off: map[string]any{"enabled": false}})
		monitors, rule := 0, ""
		for k, o := range objs {
			if strings.HasPrefix(k, "PodMonitor ") {
				monitors++
			}
			if strings.HasPrefix(k, "PrometheusRule ") {
				b, _ := json.Marshal(o)
				rule = k + " " + string(b)
			}
		}
		if monitors != tc.monitors || !strings.Contains(rule, "PrometheusRule "+tc.ns+"/zz ") {
			t.Errorf("%s off: %d PodMonitors, rule %.60s", tc.off, monitors, rule)
		}
		for _, a := range tc.gone {
			if strings.Contains(rule, `"`+a+`"`) {
				t.Errorf("%s off: alert %s kept", tc.off, a)
			}
		}
		if !strings.Contains(rule, "ZZGPUMemoryAllocatedHigh") && tc.off != "scheduler" {
			t.Errorf("%s off: the extender's alerts went too", tc.off)
		}
	}
	// No part installed: no monitoring object either (they went into
	// zz-device-plugin, which such a release does not create, and helm
	// install failed on the missing namespace).
	none := chartObjects(t, chart, map[string]any{"monitoring": map[string]any{"enabled": true},
		"scheduler": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": false}, "devicePlugin": map[string]any{"enabled": false}})
	for k, o := range none {
		if ns, _ := dig(o.(map[string]any), "metadata", "namespace").(string); ns != "" {
			t.Errorf("nothing installed, yet %s is rendered in namespace %s, which the release does not create", k, ns)
		}
	}
	dpOnly := chartObjects(t, chart, map[string]any{"monitoring": map[string]any{"enabled": true},
		"scheduler": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": false}})
	for _, want := range []string{"PrometheusRule zz-device-plugin/zz", "ConfigMap zz-device-plugin/zz-grafana-dashboard", "PodMonitor zz-device-plugin/zz-device-plugin"} {
		if _, ok := dpOnly[want]; !ok {
			t.Errorf("the device plugin alone: no %s in %v", want, keys(dpOnly))
		}
	}

	ch, err := LoadChart(chart)
	if err != nil {
		t.Fatal(err)
	}
	// values.schema.json refuses what the chart cannot render, with the
	// value's path: a misspelt key, a wrong kind, a value out of range.
	for _, tc := range []struct {
		vals map[string]any
		want []string
	}{
		{map[string]any{"certificates": map[string]any{"mode": "vault"}}, []string{"/certificates/mode", "'self-signed', 'cert-manager'"}},
		{map[string]any{"scheduler": map[string]any{"gpuPolicy": "best-fit"}}, []string{"/scheduler/gpuPolicy", "'binpack', 'bestfit', 'spread'"}},
		{map[string]any{"scheduler": map[string]any{"gpuPolicyy": "spread"}}, []string{"/scheduler", "additional properties 'gpuPolicyy' not allowed"}},
		{map[string]any{"schedular": map[string]any{"enabled": false}}, []string{"additional properties 'schedular' not allowed"}},
		{map[string]any{"scheduler": map[string]any{"gpuRequeueWindow": "10"}}, []string{"/scheduler/gpuRequeueWindow", "does not match pattern"}},
		{map[string]any{"webhook": map[string]any{"timeoutSeconds": 60}}, []string{"/webhook/timeoutSeconds", "maximum"}},
		{map[string]any{"webhook": map[string]any{"replicas": "2"}}, []string{"/webhook/replicas", "want integer"}},
		{map[string]any{"webhook": map[string]any{"schedulerFallback": map[string]any{"grace": "0s"}}}, []string{"/webhook/schedulerFallback/grace"}},
		{map[string]any{"webhook": map[string]any{"schedulerFallback": map[string]any{"grace": "15"}}}, []string{"/webhook/schedulerFallback/grace", "does not match pattern"}},
		{map[string]any{"devicePlugin": map[string]any{"slotsPerCard": 0}}, []string{"/devicePlugin/slotsPerCard", "minimum"}},
		// What the servers refuse at start-up: a TTL of zero, a usage interval under 1s.
		{map[string]any{"scheduler": map[string]any{"assumeTTL": "0s"}}, []string{"/scheduler/assumeTTL"}},
		{map[string]any{"scheduler": map[string]any{"unstartedTTL": "0m"}}, []string{"/scheduler/unstartedTTL"}},
		{map[string]any{"devicePlugin": map[string]any{"usageInterval": "500ms"}}, []string{"/devicePlugin/usageInterval"}},
		{map[string]any{"devicePlugin": map[string]any{"usageInterval": "0.5s"}}, []string{"/devicePlugin/usageInterval"}},
		{map[string]any{"devicePlugin": map[string]any{"deviceListStrategy": "cdi"}}, []string{"/devicePlugin/deviceListStrategy", "does not match pattern"}},
		{map[string]any{"images": map[string]any{"webhook": map[string]any{"digest": "sha256:xyz"}}}, []string{"/images/webhook/digest"}},
		{map[string]any{"devicePlugin": map[string]any{"nodeSelector": map[string]any{"gpu": true}}}, []string{"/devicePlugin/nodeSelector/gpu", "want string"}},
	} {
		_, err := RenderChart(ch, tc.vals)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("values %v: %v, want an error with %q", tc.vals, err, want)
			}
		}
	}
}

// TestReleaseAssets writes install.yaml and the chart package as make
// release does: install.yaml pins the images it has digests for, and the
// packaged chart with its defaults renders the same objects as install.yaml.
func TestReleaseAssets(t *testing.T) {
	out := t.TempDir()
	digests := filepath.Join(out, "digests.txt")
	d := "sha256:" + strings.Repeat("0f", 32)
	if err := os.WriteFile(digests, []byte("zz-webhook "+d+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(options{root: root, out: out, version: "v1.2.3-rc.1", imageRepo: "registry.example/zz", digests: digests, epoch: 1700000000, chart: true}); err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join(out, "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"image: registry.example/zz/zz-webhook:v1.2.3-rc.1@" + d, "image: registry.example/zz/zz-extender:v1.2.3-rc.1\n",
		"image: registry.example/zz/zz-device-plugin:v1.2.3-rc.1\n", "image: registry.k8s.io/kube-scheduler:v1.37.2\n"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("install.yaml has no %q", want)
		}
	}
	if strings.Contains(string(y), "ghcr.io/zzcloud") || strings.Contains(string(y), "zzcloud/zz-webhook:latest") {
		t.Errorf("install.yaml still names an unreleased image")
	}
	objs, err := Decode(y)
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(out, "zz-1.2.3-rc.1.tgz")
	if diff := cmp.Diff(byKey(t, objs), chartObjects(t, pkg, nil)); diff != "" {
		t.Errorf("install.yaml and the packaged chart differ (-install.yaml +chart):\n%s", diff)
	}
	ch, err := LoadChart(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.Version != "1.2.3-rc.1" || ch.Metadata.AppVersion != "v1.2.3-rc.1" || !ch.ModTime.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("chart version %s appVersion %s mtime %s", ch.Metadata.Version, ch.Metadata.AppVersion, ch.ModTime)
	}
	// The same inputs, the same bytes.
	first, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if err := run(options{root: root, out: out, version: "v1.2.3-rc.1", imageRepo: "registry.example/zz", digests: digests, epoch: 1700000000, chart: true}); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(pkg); string(again) != string(first) {
		t.Errorf("packing the chart twice gave different bytes")
	}
}

func TestSetImageValuesKeepsComments(t *testing.T) {
	in := "images:\n  # the webhook\n  webhook:\n    repository: a/b\n    tag: v1\n    digest: \"\"\n"
	got, err := SetImageValues([]byte(in), "webhook", Image{Repository: "r/w", Tag: "v2", Digest: "sha256:1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "images:\n  # the webhook\n  webhook:\n    repository: r/w\n    tag: v2\n    digest: \"sha256:1\"\n"; string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := SetImageValues([]byte(in), "extender", Image{}); err == nil {
		t.Error("a missing key is not an error")
	}
}

// TestChartNotes: helm prints NOTES.txt after install and upgrade: how to
// check the servers and the install, opt a namespace in and label GPU nodes, only for the
// parts installed.
func TestChartNotes(t *testing.T) {
	ch, err := LoadChart(filepath.Join(root, "manifests/helm/zz"))
	if err != nil {
		t.Fatal(err)
	}
	notesOn := func(kube string, vals map[string]any) string {
		t.Helper()
		caps := common.DefaultCapabilities
		if kube != "" {
			c := *common.DefaultCapabilities
			c.KubeVersion = common.KubeVersion{Version: kube}
			caps = &c
		}
		return renderOn(t, ch, caps, vals)["zz/templates/NOTES.txt"]
	}
	notes := func(vals map[string]any) string { t.Helper(); return notesOn("", vals) }
	// kube-scheduler newer than the apiserver is outside Kubernetes' skew
	// policy: said, with the tag to set (a managed cluster's suffix dropped).
	if w := notesOn("v1.31.4-eks-1a2b3c", nil); !strings.Contains(w, "WARNING: zz-scheduler runs kube-scheduler v1.37.2, newer than this\ncluster's v1.31.4-eks-1a2b3c") || !strings.Contains(w, "(e.g. v1.31.4)") {
		t.Errorf("NOTES.txt on an older cluster:\n%s", w)
	}
	if w := notesOn("v1.38.0", nil); strings.Contains(w, "WARNING") {
		t.Errorf("NOTES.txt on a newer cluster warns:\n%s", w)
	}
	all := notes(nil)
	for _, want := range []string{"kubectl label namespace <namespace> zz.io/injection=enabled", "kubectl label node <node> zz.io/gpu-node=true", "kubectl zz gpu --fit 24Gi", "kubectl zz check"} {
		if !strings.Contains(all, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "not part of this release") {
		t.Errorf("NOTES.txt of the whole chart says zz-scheduler is missing:\n%s", all)
	}
	if w := notes(map[string]any{"scheduler": map[string]any{"enabled": false}}); !strings.Contains(w, "zz-scheduler is not part of this release (scheduler.enabled=false)") {
		t.Errorf("NOTES.txt without the scheduler:\n%s", w)
	}
	if w := notes(map[string]any{"scheduler": map[string]any{"enabled": false}, "webhook": map[string]any{"schedulerFallback": map[string]any{"enabled": false}}}); !strings.Contains(w, "every pod the policy routes to\nzz-scheduler waits until one runs") {
		t.Errorf("NOTES.txt without the scheduler or the fallback:\n%s", w)
	}
	// The labels the device plugin's nodeSelector wants, not a fixed one:
	// a node selector set for the GPU Operator's label was merged into the
	// default's, and the NOTES still said to label zz.io/gpu-node alone (an
	// admin's audit).
	for _, tc := range []struct {
		sel  map[string]any
		want []string
	}{
		{map[string]any{"nvidia.com/gpu.present": "true"}, []string{"wants\nevery one of these labels:\n  kubectl label node <node> nvidia.com/gpu.present=true zz.io/gpu-node=true\n",
			"--set devicePlugin.nodeSelector.zz\\.io/gpu-node=null"}},
		{map[string]any{"zz.io/gpu-node": nil, "nvidia.com/gpu.present": "true"}, []string{"this label:\n  kubectl label node <node> nvidia.com/gpu.present=true\n"}},
		{map[string]any{"zz.io/gpu-node": nil}, []string{"The device plugin runs on every node its tolerations let it"}},
	} {
		n := notes(map[string]any{"devicePlugin": map[string]any{"nodeSelector": tc.sel}})
		for _, w := range tc.want {
			if !strings.Contains(n, w) {
				t.Errorf("NOTES.txt with devicePlugin.nodeSelector %v lacks %q:\n%s", tc.sel, w, n)
			}
		}
	}
	if dp := notes(map[string]any{"webhook": map[string]any{"enabled": false}, "scheduler": map[string]any{"enabled": false}}); strings.Contains(dp, "zz.io/injection") ||
		strings.Contains(dp, "kubectl zz gpu") || !strings.Contains(dp, "zz.io/gpu-node=true") {
		t.Errorf("NOTES.txt of the device plugin alone:\n%s", dp)
	}
}

// renderOn renders the chart's templates with vals for a cluster of caps.
func renderOn(t *testing.T, ch *chart.Chart, caps *common.Capabilities, vals map[string]any) map[string]string {
	t.Helper()
	files, err := renderRelease(ch, common.ReleaseOptions{Name: "zz", Namespace: "default", IsInstall: true, Revision: 1}, caps, vals)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// renderRelease renders the chart's templates with vals for the release
// opts on a cluster of caps.
func renderRelease(ch *chart.Chart, opts common.ReleaseOptions, caps *common.Capabilities, vals map[string]any) (map[string]string, error) {
	top, err := util.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, top)
}

// TestChartWithoutMutatingAdmissionPolicies: on a cluster that serves no
// admissionregistration.k8s.io/v1 MutatingAdmissionPolicy (before
// Kubernetes 1.36) the chart leaves zz-ephemeral-void and its binding out,
// which the apiserver would refuse as an unknown kind (failing the whole
// install), keeps every ValidatingAdmissionPolicy, and its notes say how to
// debug there; where it is served the policy is in.
func TestChartWithoutMutatingAdmissionPolicies(t *testing.T) {
	ch, err := LoadChart(filepath.Join(root, "manifests/helm/zz"))
	if err != nil {
		t.Fatal(err)
	}
	const debugNote = "kubectl debug -it <pod> --image=<image> --env NVIDIA_VISIBLE_DEVICES=void"
	served := *common.DefaultCapabilities
	served.APIVersions = append(slices.Clone(served.APIVersions), ServedKinds...)
	old := *common.DefaultCapabilities // group versions alone, as helm template offline
	old.KubeVersion = common.KubeVersion{Version: "v1.35.4"}
	for _, tc := range []struct {
		name string
		caps *common.Capabilities
		want bool // the MutatingAdmissionPolicy and its binding rendered
	}{
		{"served", &served, true},
		{"not served", &old, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := renderOn(t, ch, tc.caps, nil)
			policies := files["zz/templates/policies.yaml"]
			for _, kind := range []string{"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"} {
				if got := strings.Contains(policies, "\nkind: "+kind+"\n"); got != tc.want {
					t.Errorf("kind %s rendered %v, want %v", kind, got, tc.want)
				}
			}
			if !strings.Contains(policies, "name: zz-ephemeral-containers\n") {
				t.Errorf("the ValidatingAdmissionPolicy zz-ephemeral-containers is not rendered:\n%s", policies)
			}
			if got := strings.Contains(files["zz/templates/NOTES.txt"], debugNote); got == tc.want {
				t.Errorf("NOTES.txt says %q: %v, want %v", debugNote, got, !tc.want)
			}
		})
	}
}

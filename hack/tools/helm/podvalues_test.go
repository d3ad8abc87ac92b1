package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
)

// podTemplates are the chart's pod templates: every one takes the values
// an admin sets for all zz pods (registry, pull secrets).
var podTemplates = []struct{ kind, name string }{
	{"Deployment", "zz-scheduler"},
	{"Deployment", "zz-webhook"},
	{"DaemonSet", "zz-device-plugin"},
	{"Job", "zz-webhook-certgen"}, // the post-install hook
	{"CronJob", "zz-webhook-certgen"},
}

// podTemplate returns the pod template (metadata and spec) of a workload.
func podTemplate(t *testing.T, o map[string]any) map[string]any {
	t.Helper()
	spec := o["spec"].(map[string]any)
	if jt, ok := spec["jobTemplate"].(map[string]any); ok {
		spec = jt["spec"].(map[string]any)
	}
	return spec["template"].(map[string]any)
}

func podImages(t *testing.T, o map[string]any) []any {
	t.Helper()
	var out []any
	for _, c := range podSpec(t, o)["containers"].([]any) {
		out = append(out, c.(map[string]any)["image"])
	}
	return out
}

// TestChartPodValues: the values the admin audit found missing, as the
// charts beside zz (kube-prometheus-stack, cert-manager, ingress-nginx, HAMi,
// the GPU Operator) name them: global.imageRegistry and
// global.imagePullSecrets on every zz pod, the certgen hook's included;
// per-component podLabels and podAnnotations; topologySpreadConstraints and
// strategy for the Deployments, updateStrategy for the device plugin;
// securityContexts; the certgen Job's deadline. Each value lands where it
// should, and its default renders what the kustomize overlays install
// (TestChartEqualsKustomize).
func TestChartPodValues(t *testing.T) {
	chart := filepath.Join(root, "manifests/helm/zz")

	t.Run("global.imageRegistry and global.imagePullSecrets", func(t *testing.T) {
		objs := chartObjects(t, chart, map[string]any{
			"global": map[string]any{"imageRegistry": "mirror.example:5000/proxy", "imagePullSecrets": []any{map[string]any{"name": "global-cred"}},
				"storageClass": "an umbrella chart's own global"},
			"imagePullSecrets": []any{map[string]any{"name": "regcred"}},
			"images":           map[string]any{"devicePlugin": map[string]any{"repository": "zzcloud/zz-device-plugin"}},
		})
		want := map[string][]any{
			"zz-scheduler":       {"mirror.example:5000/proxy/kube-scheduler:v1.37.2", "mirror.example:5000/proxy/zzcloud/zz-extender:v0.1.0"},
			"zz-webhook":         {"mirror.example:5000/proxy/zzcloud/zz-webhook:v0.1.0"},
			"zz-device-plugin":   {"mirror.example:5000/proxy/zzcloud/zz-device-plugin:v0.1.0"}, // a Docker Hub name: no registry to replace
			"zz-webhook-certgen": {"mirror.example:5000/proxy/zzcloud/zz-webhook:v0.1.0"},
		}
		for _, p := range podTemplates {
			o := find(t, objs, p.kind, p.name)
			if diff := cmp.Diff(want[p.name], podImages(t, o)); diff != "" {
				t.Errorf("%s %s images (-want +got):\n%s", p.kind, p.name, diff)
			}
			if diff := cmp.Diff([]any{map[string]any{"name": "global-cred"}, map[string]any{"name": "regcred"}}, podSpec(t, o)["imagePullSecrets"]); diff != "" {
				t.Errorf("%s %s imagePullSecrets (-want +got):\n%s", p.kind, p.name, diff)
			}
		}
		// A Secret in both lists is listed once.
		both := chartObjects(t, chart, map[string]any{"global": map[string]any{"imagePullSecrets": []any{map[string]any{"name": "regcred"}}},
			"imagePullSecrets": []any{map[string]any{"name": "regcred"}}})
		if got := podSpec(t, find(t, both, "Deployment", "zz-webhook"))["imagePullSecrets"]; !cmp.Equal(got, []any{map[string]any{"name": "regcred"}}) {
			t.Errorf("regcred in global.imagePullSecrets and imagePullSecrets: %v", got)
		}
		// Empty, the images are as images.* say.
		def := chartObjects(t, chart, nil)
		if got := podImages(t, find(t, def, "Job", "zz-webhook-certgen")); !cmp.Equal(got, []any{"ghcr.io/zzcloud/zz-webhook:v0.1.0"}) {
			t.Errorf("certgen image with no global.imageRegistry: %v", got)
		}
	})

	t.Run("podLabels and podAnnotations", func(t *testing.T) {
		objs := chartObjects(t, chart, map[string]any{
			"scheduler":    map[string]any{"podLabels": map[string]any{"team": "sched"}, "podAnnotations": map[string]any{"a": "sched"}},
			"webhook":      map[string]any{"podLabels": map[string]any{"team": "hook"}, "podAnnotations": map[string]any{"a": "hook"}},
			"devicePlugin": map[string]any{"podLabels": map[string]any{"team": "gpu"}, "podAnnotations": map[string]any{"a": "gpu"}},
			"certificates": map[string]any{"certgen": map[string]any{"podLabels": map[string]any{"team": "certs"}, "podAnnotations": map[string]any{"a": "certs"}}},
		})
		for _, p := range []struct{ kind, name, value string }{
			{"Deployment", "zz-scheduler", "sched"}, {"Deployment", "zz-webhook", "hook"}, {"DaemonSet", "zz-device-plugin", "gpu"},
			{"Job", "zz-webhook-certgen", "certs"}, {"CronJob", "zz-webhook-certgen", "certs"},
		} {
			meta := podTemplate(t, find(t, objs, p.kind, p.name))["metadata"].(map[string]any)
			wantLabels := map[string]any{"app.kubernetes.io/name": p.name, "app.kubernetes.io/part-of": "zz", "team": p.value}
			if diff := cmp.Diff(wantLabels, meta["labels"]); diff != "" {
				t.Errorf("%s %s pod labels (-want +got):\n%s", p.kind, p.name, diff)
			}
			if diff := cmp.Diff(map[string]any{"a": p.value}, meta["annotations"]); diff != "" {
				t.Errorf("%s %s pod annotations (-want +got):\n%s", p.kind, p.name, diff)
			}
		}
	})

	t.Run("topologySpreadConstraints", func(t *testing.T) {
		zone := map[string]any{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
		own := map[string]any{"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
			"labelSelector": map[string]any{"matchExpressions": []any{map[string]any{"key": "tier", "operator": "Exists"}}}}
		objs := chartObjects(t, chart, map[string]any{
			"scheduler": map[string]any{"topologySpreadConstraints": []any{zone}},
			"webhook":   map[string]any{"topologySpreadConstraints": []any{zone, own}},
		})
		for _, name := range []string{"zz-scheduler", "zz-webhook"} {
			got := podSpec(t, find(t, objs, "Deployment", name))["topologySpreadConstraints"].([]any)
			want := map[string]any{"maxSkew": float64(1), "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
				"labelSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": name}}}
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Errorf("%s: a constraint without a labelSelector (-want +got):\n%s", name, diff)
			}
		}
		got := podSpec(t, find(t, objs, "Deployment", "zz-webhook"))["topologySpreadConstraints"].([]any)
		if len(got) != 2 || !cmp.Equal(got[1].(map[string]any)["labelSelector"], own["labelSelector"]) {
			t.Errorf("webhook: the admin's labelSelector is not kept as given: %v", got)
		}
	})

	t.Run("strategy and updateStrategy", func(t *testing.T) {
		objs := chartObjects(t, chart, map[string]any{
			"scheduler":    map[string]any{"strategy": map[string]any{"type": "Recreate", "rollingUpdate": map[string]any{"maxSurge": 1}}},
			"webhook":      map[string]any{"strategy": map[string]any{"rollingUpdate": map[string]any{"maxSurge": 1, "maxUnavailable": 0}}},
			"devicePlugin": map[string]any{"updateStrategy": map[string]any{"type": "OnDelete"}},
		})
		for _, tc := range []struct {
			kind, name, field string
			want              any
		}{
			// Recreate takes no rollingUpdate (the API refuses one).
			{"Deployment", "zz-scheduler", "strategy", map[string]any{"type": "Recreate"}},
			{"Deployment", "zz-webhook", "strategy", map[string]any{"rollingUpdate": map[string]any{"maxSurge": float64(1), "maxUnavailable": float64(0)}}},
			// OnDelete drops the default's rollingUpdate, which Helm merged in.
			{"DaemonSet", "zz-device-plugin", "updateStrategy", map[string]any{"type": "OnDelete"}},
		} {
			if diff := cmp.Diff(tc.want, find(t, objs, tc.kind, tc.name)["spec"].(map[string]any)[tc.field]); diff != "" {
				t.Errorf("%s %s %s (-want +got):\n%s", tc.kind, tc.name, tc.field, diff)
			}
		}
		more := chartObjects(t, chart, map[string]any{"devicePlugin": map[string]any{"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"maxUnavailable": "20%"}}}})
		if diff := cmp.Diff(map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxUnavailable": "20%"}},
			find(t, more, "DaemonSet", "zz-device-plugin")["spec"].(map[string]any)["updateStrategy"]); diff != "" {
			t.Errorf("device plugin maxUnavailable 20%% (-want +got):\n%s", diff)
		}
	})

	t.Run("securityContexts", func(t *testing.T) {
		objs := chartObjects(t, chart, map[string]any{
			"scheduler": map[string]any{"podSecurityContext": map[string]any{"fsGroup": 2000}, "containerSecurityContext": map[string]any{"runAsUser": 1001}},
			"webhook": map[string]any{"podSecurityContext": map[string]any{"runAsUser": 1002, "seccompProfile": map[string]any{"type": "Localhost", "localhostProfile": "zz.json"}},
				"containerSecurityContext": map[string]any{"capabilities": map[string]any{"add": []any{"NET_BIND_SERVICE"}}}},
			"certificates": map[string]any{"certgen": map[string]any{"podSecurityContext": map[string]any{"runAsGroup": 1003},
				"containerSecurityContext": map[string]any{"readOnlyRootFilesystem": false}}},
		})
		hardened := func(extra map[string]any) map[string]any {
			c := map[string]any{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": map[string]any{"drop": []any{"ALL"}}}
			for k, v := range extra {
				c[k] = v
			}
			return c
		}
		nonRoot := func(extra map[string]any) map[string]any {
			p := map[string]any{"runAsNonRoot": true, "runAsUser": float64(65532), "runAsGroup": float64(65532), "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
			for k, v := range extra {
				p[k] = v
			}
			return p
		}
		for _, tc := range []struct {
			kind, name string
			pod        map[string]any
			containers []map[string]any
		}{
			{"Deployment", "zz-scheduler", nonRoot(map[string]any{"fsGroup": float64(2000)}),
				[]map[string]any{hardened(map[string]any{"runAsUser": float64(1001)}), hardened(map[string]any{"runAsUser": float64(1001)})}},
			{"Deployment", "zz-webhook", nonRoot(map[string]any{"runAsUser": float64(1002), "seccompProfile": map[string]any{"type": "Localhost", "localhostProfile": "zz.json"}}),
				[]map[string]any{hardened(map[string]any{"capabilities": map[string]any{"drop": []any{"ALL"}, "add": []any{"NET_BIND_SERVICE"}}})}},
			{"Job", "zz-webhook-certgen", nonRoot(map[string]any{"runAsGroup": float64(1003)}), []map[string]any{hardened(map[string]any{"readOnlyRootFilesystem": false})}},
			{"CronJob", "zz-webhook-certgen", nonRoot(map[string]any{"runAsGroup": float64(1003)}), []map[string]any{hardened(map[string]any{"readOnlyRootFilesystem": false})}},
		} {
			spec := podSpec(t, find(t, objs, tc.kind, tc.name))
			if diff := cmp.Diff(tc.pod, spec["securityContext"]); diff != "" {
				t.Errorf("%s %s pod securityContext (-want +got):\n%s", tc.kind, tc.name, diff)
			}
			cs := spec["containers"].([]any)
			if len(cs) != len(tc.containers) {
				t.Fatalf("%s %s: %d containers", tc.kind, tc.name, len(cs))
			}
			for i, want := range tc.containers {
				if diff := cmp.Diff(want, cs[i].(map[string]any)["securityContext"]); diff != "" {
					t.Errorf("%s %s container %v securityContext (-want +got):\n%s", tc.kind, tc.name, cs[i].(map[string]any)["name"], diff)
				}
			}
		}
	})

	t.Run("certgen deadline and retries", func(t *testing.T) {
		objs := chartObjects(t, chart, map[string]any{"certificates": map[string]any{"certgen": map[string]any{"activeDeadlineSeconds": 90, "backoffLimit": 2}}})
		job := find(t, objs, "Job", "zz-webhook-certgen")["spec"].(map[string]any)
		cron := find(t, objs, "CronJob", "zz-webhook-certgen")["spec"].(map[string]any)["jobTemplate"].(map[string]any)["spec"].(map[string]any)
		for what, spec := range map[string]map[string]any{"hook Job": job, "CronJob's Job": cron} {
			if spec["activeDeadlineSeconds"] != float64(90) || spec["backoffLimit"] != float64(2) {
				t.Errorf("%s: activeDeadlineSeconds %v, backoffLimit %v; want 90 and 2", what, spec["activeDeadlineSeconds"], spec["backoffLimit"])
			}
		}
		// By default too: an unschedulable certgen held helm upgrade for
		// its whole --timeout, saying only "Job in progress" (an admin's audit).
		def := find(t, chartObjects(t, chart, nil), "Job", "zz-webhook-certgen")["spec"].(map[string]any)
		if d, _ := def["activeDeadlineSeconds"].(float64); d <= 0 || d >= 300 {
			t.Errorf("default certgen activeDeadlineSeconds %v: want one under helm's default --timeout (300s)", def["activeDeadlineSeconds"])
		}
	})
}

// TestChartPodValuesRefused: the schema refuses, with the value's path, what
// would weaken the servers' hardening below the restricted Pod Security
// Standard that zz-system enforces (the apiserver would refuse their pods
// later, with helm install already "deployed"), take over a selector label,
// or break a spread constraint, a strategy or the registry.
func TestChartPodValuesRefused(t *testing.T) {
	ch, err := LoadChart(filepath.Join(root, "manifests/helm/zz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vals map[string]any
		want string
	}{
		{map[string]any{"webhook": map[string]any{"podSecurityContext": map[string]any{"runAsUser": 0}}}, "/webhook/podSecurityContext/runAsUser"},
		{map[string]any{"webhook": map[string]any{"podSecurityContext": map[string]any{"runAsNonRoot": false}}}, "/webhook/podSecurityContext/runAsNonRoot"},
		{map[string]any{"webhook": map[string]any{"podSecurityContext": map[string]any{"runAsNonRoot": nil}}}, "'runAsNonRoot'"},
		{map[string]any{"scheduler": map[string]any{"podSecurityContext": map[string]any{"seccompProfile": map[string]any{"type": "Unconfined"}}}}, "/scheduler/podSecurityContext/seccompProfile/type"},
		{map[string]any{"webhook": map[string]any{"containerSecurityContext": map[string]any{"privileged": true}}}, "/webhook/containerSecurityContext/privileged"},
		// The baseline standard forbids an SELinux user or role (a review).
		{map[string]any{"webhook": map[string]any{"podSecurityContext": map[string]any{"seLinuxOptions": map[string]any{"type": "container_t", "user": "system_u"}}}}, "/webhook/podSecurityContext/seLinuxOptions"},
		{map[string]any{"scheduler": map[string]any{"containerSecurityContext": map[string]any{"seLinuxOptions": map[string]any{"role": "system_r"}}}}, "/scheduler/containerSecurityContext/seLinuxOptions"},
		{map[string]any{"webhook": map[string]any{"containerSecurityContext": map[string]any{"allowPrivilegeEscalation": true}}}, "/webhook/containerSecurityContext/allowPrivilegeEscalation"},
		{map[string]any{"scheduler": map[string]any{"containerSecurityContext": map[string]any{"runAsUser": 0}}}, "/scheduler/containerSecurityContext/runAsUser"},
		{map[string]any{"scheduler": map[string]any{"containerSecurityContext": map[string]any{"capabilities": map[string]any{"add": []any{"SYS_ADMIN"}}}}}, "/scheduler/containerSecurityContext/capabilities/add"},
		{map[string]any{"webhook": map[string]any{"containerSecurityContext": map[string]any{"capabilities": map[string]any{"drop": []any{"NET_RAW"}}}}}, "/webhook/containerSecurityContext/capabilities/drop"},
		{map[string]any{"certificates": map[string]any{"certgen": map[string]any{"containerSecurityContext": map[string]any{"privileged": true}}}}, "/certificates/certgen/containerSecurityContext/privileged"},
		{map[string]any{"certificates": map[string]any{"certgen": map[string]any{"podSecurityContext": map[string]any{"runAsUser": 0}}}}, "/certificates/certgen/podSecurityContext/runAsUser"},
		{map[string]any{"webhook": map[string]any{"podLabels": map[string]any{"app.kubernetes.io/name": "mine"}}}, "webhook.podLabels: app.kubernetes.io/name is the chart's own pod label"},
		{map[string]any{"devicePlugin": map[string]any{"podLabels": map[string]any{"tier": 1}}}, "/devicePlugin/podLabels/tier"},
		{map[string]any{"scheduler": map[string]any{"topologySpreadConstraints": []any{map[string]any{"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}}}}, "/scheduler/topologySpreadConstraints/0"},
		{map[string]any{"webhook": map[string]any{"strategy": map[string]any{"type": "OnDelete"}}}, "/webhook/strategy/type"},
		{map[string]any{"devicePlugin": map[string]any{"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"maxSurge": 1}}}}, "/devicePlugin/updateStrategy/rollingUpdate"},
		{map[string]any{"devicePlugin": map[string]any{"updateStrategy": map[string]any{"rollingUpdate": map[string]any{"maxUnavailable": 0}}}}, "/devicePlugin/updateStrategy/rollingUpdate/maxUnavailable"},
		{map[string]any{"global": map[string]any{"imageRegistry": "https://mirror.example"}}, "/global/imageRegistry"},
		{map[string]any{"global": map[string]any{"imagePullSecrets": []any{"regcred"}}}, "/global/imagePullSecrets/0"},
		{map[string]any{"certificates": map[string]any{"certgen": map[string]any{"activeDeadlineSeconds": 0}}}, "/certificates/certgen/activeDeadlineSeconds"},
		{map[string]any{"certificates": map[string]any{"certgen": map[string]any{"backoffLimit": -1}}}, "/certificates/certgen/backoffLimit"},
	} {
		if _, err := RenderChart(ch, tc.vals); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %v: %v; want them refused at %s", tc.vals, err, tc.want)
		}
	}
}

// TestChartNotesWarnWeakened: what the schema lets through but an admin
// should hear about after install: a writable root filesystem, and the
// webhook's Recreate strategy (no replica serves during a rollout, and with
// failurePolicy Fail no opted-in pod is created meanwhile).
func TestChartNotesWarnWeakened(t *testing.T) {
	ch, err := LoadChart(filepath.Join(root, "manifests/helm/zz"))
	if err != nil {
		t.Fatal(err)
	}
	notes := func(vals map[string]any) string {
		t.Helper()
		return renderOn(t, ch, common.DefaultCapabilities, vals)["zz/templates/NOTES.txt"]
	}
	const rootFS, recreate = "readOnlyRootFilesystem is false", "webhook.strategy.type is Recreate"
	if n := notes(nil); strings.Contains(n, rootFS) || strings.Contains(n, recreate) {
		t.Errorf("NOTES.txt of the defaults warns:\n%s", n)
	}
	writable := notes(map[string]any{"webhook": map[string]any{"containerSecurityContext": map[string]any{"readOnlyRootFilesystem": false}},
		"certificates": map[string]any{"certgen": map[string]any{"containerSecurityContext": map[string]any{"readOnlyRootFilesystem": false}}}})
	if !strings.Contains(writable, "WARNING: containerSecurityContext.readOnlyRootFilesystem is false for webhook, certificates.certgen:") {
		t.Errorf("NOTES.txt with writable root filesystems:\n%s", writable)
	}
	if n := notes(map[string]any{"webhook": map[string]any{"strategy": map[string]any{"type": "Recreate"}}}); !strings.Contains(n, "WARNING: webhook.strategy.type is Recreate") {
		t.Errorf("NOTES.txt with the webhook's Recreate strategy:\n%s", n)
	}
	// A part not installed is not warned about.
	if n := notes(map[string]any{"webhook": map[string]any{"enabled": false, "strategy": map[string]any{"type": "Recreate"},
		"containerSecurityContext": map[string]any{"readOnlyRootFilesystem": false}}}); strings.Contains(n, rootFS) || strings.Contains(n, recreate) {
		t.Errorf("NOTES.txt warns of a webhook not installed:\n%s", n)
	}
}

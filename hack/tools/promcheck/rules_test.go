package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
	"sigs.k8s.io/yaml"
)

// The alert cases of an SRE audit, on synthetic scrapes: each alert's
// expression from manifests/components/monitoring is evaluated over its
// "for" as Prometheus would, and must fire for exactly the series named.
// (TestMonitoring in e2e evaluates every rule against real scrapes.)

const rulesFile = "../../../manifests/components/monitoring/prometheusrule.yaml"

func readRules(t *testing.T) map[string]rule {
	t.Helper()
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(raw, &rf); err != nil {
		t.Fatal(err)
	}
	out := map[string]rule{}
	for _, g := range rf.Spec.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r
		}
	}
	return out
}

// series renders one target's scrape body.
func series(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// target builds a scrape of job's pod on node at second at.
func target(job, pod, node string, at float64, body string) Scrape {
	ns, _, _ := strings.Cut(job, "/")
	tl := map[string]string{"job": job, "namespace": ns, "pod": pod, "instance": pod + ":health"}
	if node != "" {
		tl["node"] = node
	}
	return Scrape{Target: tl, HonorLabels: strings.HasPrefix(job, "zz-device-plugin/"), At: at, Body: body}
}

// firing evaluates alert over scrapes (each target's last one repeated for
// hold) and returns the label sets it fires for at the end.
func firing(t *testing.T, alert string, scrapes []Scrape, hold time.Duration) []string {
	t.Helper()
	r, ok := readRules(t)[alert]
	if !ok {
		t.Fatalf("no alert %s in %s", alert, rulesFile)
	}
	opts := tsdb.DefaultOptions()
	opts.OutOfOrderTimeWindow = int64(24 * time.Hour / time.Millisecond)
	db, err := tsdb.Open(filepath.Join(t.TempDir(), "db"), nil, nil, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	last, err := load(db, scrapes, time.Unix(1_800_000_000, 0), hold)
	if err != nil {
		t.Fatal(err)
	}
	end := last.Add(hold)
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	eval := func(expr string, at time.Time) (promql.Vector, error) {
		q, err := eng.NewInstantQuery(context.Background(), db, nil, expr, at)
		if err != nil {
			return nil, err
		}
		defer q.Close()
		res := q.Exec(context.Background())
		if res.Err != nil {
			return nil, res.Err
		}
		v, _ := res.Value.(promql.Vector)
		return v, nil
	}
	d, err := model.ParseDuration(r.For)
	if err != nil && r.For != "" {
		t.Fatal(err)
	}
	v, err := holds(eval, r.Expr, end.Add(-time.Duration(d)), end)
	if err != nil {
		t.Fatalf("%s: %v", alert, err)
	}
	var out []string
	for _, s := range v {
		out = append(out, s.Metric.String())
	}
	slices.Sort(out)
	return out
}

func check(t *testing.T, alert string, scrapes []Scrape, hold time.Duration, want ...string) {
	t.Helper()
	got := firing(t, alert, scrapes, hold)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s fires for %q, want %q", alert, got, want)
	}
}

const (
	webhookJob   = "zz-system/zz-webhook"
	extenderJob  = "zz-system/zz-extender"
	dpJob        = "zz-device-plugin/zz-device-plugin"
	longHold     = 35 * time.Minute
	noLabels     = "{}"
	webhookReady = "zz_webhook_ready"
)

// TestWebhookDown: up but unready on every replica (no valid policy: out
// of the Service's endpoints, so every opted-in pod is refused) fires; one
// ready replica is enough to be silent; no target at all fires.
func TestWebhookDown(t *testing.T) {
	webhook := func(pod string, ready, valid int) Scrape {
		return target(webhookJob, pod, "", 0, series(
			fmt.Sprintf("%s %d", webhookReady, ready),
			fmt.Sprintf("zz_webhook_policy_last_update_valid %d", valid),
			`zz_webhook_admissions_total{result="error"} 0`))
	}
	check(t, "ZZWebhookDown", []Scrape{webhook("w-0", 0, 0), webhook("w-1", 0, 0)}, longHold, noLabels)
	check(t, "ZZWebhookDown", []Scrape{webhook("w-0", 0, 0), webhook("w-1", 1, 0)}, longHold)
	check(t, "ZZWebhookDown", []Scrape{target(extenderJob, "s-0", "", 0, series("zz_extender_ready 1"))}, longHold, `{job="zz-system/zz-webhook"}`)
	// Every replica's scrape failing.
	failed := target(webhookJob, "w-0", "", 0, "")
	failed.Down = true
	check(t, "ZZWebhookDown", []Scrape{failed}, longHold, noLabels)
	// The latest policy refused: warned before a restart makes it an outage.
	check(t, "ZZWebhookPolicyRefused", []Scrape{webhook("w-0", 1, 0), webhook("w-1", 1, 0)}, longHold, noLabels)
	check(t, "ZZWebhookPolicyRefused", []Scrape{webhook("w-0", 1, 1), webhook("w-1", 1, 1)}, longHold)
}

// TestExtenderDown: an extender up whose caches never sync (every verb 503)
// fires, as a missing one does. Only the leader's kube-scheduler calls an
// extender (its own): the standby's idle, ready one kept the alert silent
// while the leader's crash-looped (an SRE audit), so with
// zz_extender_leading the leader's alone counts; without it (an extender
// that cannot read the Lease), any ready one does.
func TestExtenderDown(t *testing.T) {
	ext := func(pod string, ready, leading int) Scrape {
		body := fmt.Sprintf("zz_extender_ready %d", ready)
		if leading >= 0 {
			body += fmt.Sprintf("\nzz_extender_leading %d", leading)
		}
		return target(extenderJob, pod, "", 0, series(body))
	}
	crashing := target(extenderJob, "s-1", "", 0, "")
	crashing.Down = true
	check(t, "ZZExtenderDown", []Scrape{ext("s-0", 0, -1)}, longHold, noLabels)
	check(t, "ZZExtenderDown", []Scrape{ext("s-0", 0, -1), ext("s-1", 1, -1)}, longHold)
	// The leader's extender ready: silent, whatever the standby's state.
	check(t, "ZZExtenderDown", []Scrape{ext("s-0", 1, 0), ext("s-1", 1, 1)}, longHold)
	check(t, "ZZExtenderDown", []Scrape{ext("s-0", 0, 0), ext("s-1", 1, 1)}, longHold)
	// The leader's extender crash-looping (its scrape fails) or unready,
	// the standby's ready: GPU pods all fail, and it fires.
	check(t, "ZZExtenderDown", []Scrape{ext("s-0", 1, 0), crashing}, longHold, noLabels)
	check(t, "ZZExtenderDown", []Scrape{ext("s-0", 1, 0), ext("s-1", 0, 1)}, longHold, noLabels)
}

// TestExtenderErrors: a pod's invalid request refused on every retry
// (result="invalid") is no extender error; the extender's own errors are,
// and so are the calls kube-scheduler gave up on before the answer
// (result="timeout": a paused or throttled extender, which counted them ok).
func TestExtenderErrors(t *testing.T) {
	stream := func(okPer, invalidPer, errorPer, timeoutPer int) []Scrape {
		var out []Scrape
		for i := range 41 { // 20 minutes, every 30 s
			out = append(out, target(extenderJob, "s-0", "", float64(30*i), series(
				"zz_extender_ready 1",
				fmt.Sprintf(`zz_extender_requests_total{result="ok",verb="filter"} %d`, okPer*i),
				fmt.Sprintf(`zz_extender_requests_total{result="invalid",verb="filter"} %d`, invalidPer*i),
				fmt.Sprintf(`zz_extender_requests_total{result="error",verb="filter"} %d`, errorPer*i),
				fmt.Sprintf(`zz_extender_requests_total{result="timeout",verb="filter"} %d`, timeoutPer*i))))
		}
		return out
	}
	check(t, "ZZExtenderErrors", stream(10, 1, 0, 0), 0)
	check(t, "ZZExtenderErrors", stream(10, 0, 1, 0), 0, `{verb="filter"}`)
	check(t, "ZZExtenderErrors", stream(10, 0, 0, 1), 0, `{verb="filter"}`)
}

// TestExtenderSlow: a verb whose p99 passes half of kube-scheduler's
// timeout for it fires for that verb alone: 1.5 s is slow for the GPU
// filter (2 s), not for bind (10 s); 300 ms is slow for balance (500 ms).
func TestExtenderSlow(t *testing.T) {
	stream := func(slow map[string]string) []Scrape {
		var out []Scrape
		for i := range 41 { // 20 minutes, every 30 s
			var lines []string
			for _, verb := range []string{"filter", "bind", "prioritize_balance"} {
				// 10 calls a scrape interval, all in the bucket slow names
				// (le), the rest fast.
				le := "0.0016"
				if v, ok := slow[verb]; ok {
					le = v
				}
				for _, b := range []string{"0.0016", "0.2048", "0.4096", "1.6384", "3.2768", "13.1072", "+Inf"} {
					n := 0
					if b == le || bucketAbove(b, le) {
						n = 10 * i
					}
					lines = append(lines, fmt.Sprintf(`zz_extender_request_duration_seconds_bucket{verb=%q,le=%q} %d`, verb, b, n))
				}
			}
			out = append(out, target(extenderJob, "s-0", "", float64(30*i), series(lines...)))
		}
		return out
	}
	check(t, "ZZExtenderSlow", stream(nil), 0)
	check(t, "ZZExtenderSlow", stream(map[string]string{"filter": "1.6384", "bind": "1.6384"}), 0, `{verb="filter"}`)
	check(t, "ZZExtenderSlow", stream(map[string]string{"prioritize_balance": "0.4096", "bind": "13.1072"}), 0, `{verb="bind"}`, `{verb="prioritize_balance"}`)
}

// bucketAbove reports whether bucket b's bound is above le's.
func bucketAbove(b, le string) bool {
	if b == "+Inf" {
		return true
	}
	if le == "+Inf" {
		return false
	}
	var x, y float64
	fmt.Sscan(b, &x)
	fmt.Sscan(le, &y)
	return x > y
}

// TestDevicePluginStuck: a plugin stuck before registering serves the
// gauge at 0 from its start: Unregistered fires for its node.
func TestDevicePluginStuck(t *testing.T) {
	check(t, "ZZDevicePluginUnregistered", []Scrape{target(dpJob, "dp-a", "n1", 0, series("zz_device_plugin_registered 0"))}, longHold,
		`{__name__="zz_device_plugin_registered", instance="dp-a:health", job="zz-device-plugin/zz-device-plugin", namespace="zz-device-plugin", node="n1", pod="dp-a"}`)
}

// TestDevicePluginMissing: a GPU node the extender knows whose plugin pod
// was evicted (its target gone: no up series left) fires; a node whose
// plugin runs, or whose plugin target is down (ZZDevicePluginDown's), does
// not.
func TestDevicePluginMissing(t *testing.T) {
	ext := target(extenderJob, "s-0", "", 0, series(
		"zz_extender_ready 1",
		`zz_gpu_memory_capacity_bytes{card="0",model="A100",node="n1",uuid="GPU-1"} 4.294967296e+10`,
		`zz_gpu_memory_capacity_bytes{card="0",model="A100",node="n2",uuid="GPU-2"} 4.294967296e+10`,
		`zz_gpu_memory_capacity_bytes{card="1",model="A100",node="n2",uuid="GPU-3"} 4.294967296e+10`,
		`zz_gpu_memory_capacity_bytes{card="0",model="A100",node="n3",uuid="GPU-4"} 4.294967296e+10`))
	dp := func(node string) Scrape {
		return target(dpJob, "dp-"+node, node, 0, series("zz_device_plugin_registered 1"))
	}
	// n3's plugin target is down: up 0, no samples (ZZDevicePluginDown).
	down := target(dpJob, "dp-n3", "n3", 0, "")
	down.Down = true
	check(t, "ZZDevicePluginMissing", []Scrape{ext, dp("n1"), down}, longHold, `{node="n2"}`)
	check(t, "ZZDevicePluginDown", []Scrape{ext, dp("n1"), down}, longHold,
		`{__name__="up", instance="dp-n3:health", job="zz-device-plugin/zz-device-plugin", namespace="zz-device-plugin", node="n3", pod="dp-n3"}`)
}

// TestWebhookUnreachable: the apiserver failing to call the webhook (a
// caBundle that does not verify its certificate, a NetworkPolicy, a
// timeout) refuses every pod of the opted-in namespaces while the webhook
// itself is up, ready and counts no error, since no review reaches it: an
// SRE audit broke the caBundle and nothing fired. The apiserver's own
// count of failed calls fires it; a webhook that denies pods (its answer,
// not a failed call) or another webhook's failures do not.
func TestWebhookUnreachable(t *testing.T) {
	stream := func(zzFailed, zzDenied, otherFailed int) []Scrape {
		var out []Scrape
		for i := range 41 { // 20 minutes, every 30 s
			out = append(out, target(webhookJob, "w-0", "", float64(30*i), series(
				webhookReady+" 1", `zz_webhook_admissions_total{result="error"} 0`)))
			api := target("apiserver", "kube-apiserver", "", float64(30*i), series(
				fmt.Sprintf(`apiserver_admission_webhook_request_total{code="200",name="pods.zz.io",operation="CREATE",rejected="false",type="admit"} %d`, 10*i),
				fmt.Sprintf(`apiserver_admission_webhook_request_total{code="403",name="pods.zz.io",operation="CREATE",rejected="true",type="admit"} %d`, zzDenied*i),
				fmt.Sprintf(`apiserver_admission_webhook_request_total{code="500",name="pods.zz.io",operation="CREATE",rejected="true",type="admit"} %d`, zzFailed*i),
				fmt.Sprintf(`apiserver_admission_webhook_rejection_count{error_type="no_error",name="pods.zz.io",operation="CREATE",rejection_code="403",type="admit"} %d`, zzDenied*i),
				fmt.Sprintf(`apiserver_admission_webhook_rejection_count{error_type="calling_webhook_error",name="pods.zz.io",operation="CREATE",rejection_code="500",type="admit"} %d`, zzFailed*i),
				fmt.Sprintf(`apiserver_admission_webhook_rejection_count{error_type="calling_webhook_error",name="validate.kyverno.svc",operation="CREATE",rejection_code="500",type="admit"} %d`, otherFailed*i)))
			api.Target["namespace"] = "default"
			out = append(out, api)
		}
		return out
	}
	check(t, "ZZWebhookUnreachable", stream(10, 0, 0), 0, noLabels)
	check(t, "ZZWebhookUnreachable", stream(0, 0, 0), 0)
	check(t, "ZZWebhookUnreachable", stream(0, 10, 0), 0)
	check(t, "ZZWebhookUnreachable", stream(0, 0, 10), 0)
	// Every pod refused, none served: the webhook is up and ready all along.
	check(t, "ZZWebhookDown", stream(10, 0, 0), 0)
	check(t, "ZZWebhookErrors", stream(10, 0, 0), 0)
}

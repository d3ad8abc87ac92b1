package specfrom

import (
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// TestHealthTimeoutFrom: probe timeouts other than kubectl zz's become
// spec.healthTimeout (the longest, said when they differ); kubectl zz's
// own carry nothing, and none is a "timings" note. A shorter one is
// carried too: healthTimeout 1s and 2s came back as kubectl zz's 2 s and
// 3 s (a review), and the kubelet's untuned 1 s is what runs.
func TestHealthTimeoutFrom(t *testing.T) {
	ready, live := appspec.ProbeTimings("")
	probe := func(timeout int32) *corev1.Probe {
		if timeout < 0 {
			return nil
		}
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(8080)}}, TimeoutSeconds: timeout}
	}
	for _, tc := range []struct {
		name                 string
		ready, live, startup int32 // -1: no such probe; 0: the kubelet's default, 1 s
		want                 string
		note                 string // said, besides no other timeout note
	}{
		{name: "kubectl zz's own", ready: ready.Timeout, live: live.Timeout, startup: ready.Timeout},
		{name: "kubectl zz's own, no startup probe", ready: ready.Timeout, live: live.Timeout, startup: -1},
		{name: "the kubelet's defaults", ready: 0, live: 0, startup: -1, want: "1s"},
		{name: "healthTimeout 1s", ready: 1, live: 1, startup: 1, want: "1s"},
		{name: "healthTimeout 2s", ready: 2, live: 2, startup: -1, want: "2s"},
		{name: "a slow endpoint, all alike", ready: 5, live: 5, startup: 5, want: "5s"},
		{name: "liveness alone longer", ready: 1, live: 10, startup: -1, want: "10s", note: "container web: probe timeouts from 1s to 10s; spec.healthTimeout 10s applies to each"},
		{name: "over the bound", ready: 90, live: -1, startup: -1, note: "container web: a probe timeout of 90s; spec.healthTimeout is at most 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := corev1.Container{Name: "web", Image: "shop:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: probe(tc.ready), LivenessProbe: probe(tc.live), StartupProbe: probe(tc.startup)}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "shop"}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}}}
			got, notes := Spec("shop", Live{Deployment: d})
			if got.Spec.HealthTimeout != tc.want {
				t.Errorf("healthTimeout %q, want %q", got.Spec.HealthTimeout, tc.want)
			}
			for _, n := range notes {
				if strings.Contains(n, "timeout") && n != tc.note {
					t.Errorf("note %q", n)
				}
			}
			if tc.note != "" && !slices.Contains(notes, tc.note) {
				t.Errorf("notes %q, want %q", notes, tc.note)
			}
		})
	}
}

// TestHealthTimeoutRoundTrip: the java golden's spec.healthTimeout comes
// back from what kubectl zz renders for it.
func TestHealthTimeoutRoundTrip(t *testing.T) {
	data, err := os.ReadFile("../render/testdata/java.zz.yaml")
	if err != nil {
		t.Fatal(err)
	}
	app, err := appspec.Load("java.zz.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	var l Live
	for _, o := range render.Render(app, render.Options{Namespace: "ns"}) {
		if d, ok := o.(*appsv1.Deployment); ok {
			l.Deployment = d
		}
	}
	got, _ := Spec("orders", l)
	if got.Spec.HealthTimeout != app.Spec.HealthTimeout || app.Spec.HealthTimeout == "" {
		t.Errorf("healthTimeout %q, want %q", got.Spec.HealthTimeout, app.Spec.HealthTimeout)
	}
}

// TestHealthCommandFrom: an exec readiness (or liveness) probe of the app
// container becomes spec.healthCommand, on a worker too, which had its
// probes dropped unsaid; the type comes from the port's name or an
// Ingress. A liveness or startup probe that checks otherwise is said, as a
// worker's probe on a port it does not declare is.
func TestHealthCommandFrom(t *testing.T) {
	ready, live := appspec.ProbeTimings("")
	exec := func(cmd ...string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}, PeriodSeconds: ready.Period, TimeoutSeconds: ready.Timeout}
	}
	livenessOf := func(p *corev1.Probe) *corev1.Probe {
		l := *p
		l.PeriodSeconds, l.TimeoutSeconds, l.InitialDelaySeconds = live.Period, live.Timeout, 30
		return &l
	}
	httpGet := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(8080)}}, PeriodSeconds: ready.Period, TimeoutSeconds: ready.Timeout}
	check := exec("/app/healthcheck", "--max-age=60s")
	http := []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	for _, tc := range []struct {
		name                 string
		ports                []corev1.ContainerPort
		java, ingress        bool
		ready, live, startup *corev1.Probe
		wantType             appspec.Type
		want                 []string // healthCommand
		wantPath             string
		note                 string // the one probe note, if any
	}{
		{name: "worker, readiness and liveness", ready: check, live: livenessOf(check), wantType: appspec.TypeWorker, want: check.Exec.Command},
		{name: "worker, readiness alone", ready: check, wantType: appspec.TypeWorker, want: check.Exec.Command},
		{name: "worker, liveness alone", live: livenessOf(check), wantType: appspec.TypeWorker, want: check.Exec.Command},
		{name: "worker, liveness runs another command", ready: check, live: livenessOf(exec("/app/alive")), wantType: appspec.TypeWorker, want: check.Exec.Command,
			note: `container app: liveness probe exec ["/app/alive"]; the spec's healthCommand ["/app/healthcheck" "--max-age=60s"] serves the liveness probe too`},
		{name: "worker, an HTTP probe on a port it does not declare", ready: httpGet, wantType: appspec.TypeWorker,
			note: "container app: its readiness probe http-get /health on port 8080; a worker has no port to check: its check is spec.healthCommand, a command"},
		{name: "port http: web", ports: http, ready: check, live: livenessOf(check), wantType: appspec.TypeWeb, want: check.Exec.Command},
		{name: "port http, the JVM's options: java", ports: http, java: true, ready: check, live: livenessOf(check), wantType: appspec.TypeJava, want: check.Exec.Command},
		{name: "another port: rpc", ports: []corev1.ContainerPort{{Name: "rpc", ContainerPort: 5432}}, ready: check, wantType: appspec.TypeRPC, want: check.Exec.Command},
		{name: "another port and an Ingress: web", ports: []corev1.ContainerPort{{Name: "rpc", ContainerPort: 8080}}, ingress: true, ready: check, wantType: appspec.TypeWeb, want: check.Exec.Command},
		{name: "HTTP readiness, exec liveness", ports: http, ready: httpGet, live: livenessOf(check), wantType: appspec.TypeWeb, wantPath: "/health",
			note: `container app: liveness probe exec ["/app/healthcheck" "--max-age=60s"]; the spec's healthPath /health serves the liveness probe too`},
		{name: "exec readiness, HTTP liveness", ports: http, ready: check, live: livenessOf(httpGet), wantType: appspec.TypeWeb, want: check.Exec.Command,
			note: `container app: liveness probe http-get /health on port 8080; the spec's healthCommand ["/app/healthcheck" "--max-age=60s"] serves the liveness probe too`},
		{name: "exec startup of the same command", ready: check, live: livenessOf(check), startup: &corev1.Probe{ProbeHandler: check.ProbeHandler, PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 24},
			wantType: appspec.TypeWorker, want: check.Exec.Command},
		{name: "exec startup of another command", ports: http, ready: httpGet, startup: &corev1.Probe{ProbeHandler: exec("/app/started").ProbeHandler, PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 24},
			wantType: appspec.TypeWeb, wantPath: "/health",
			note: `container app: startup probe exec ["/app/started"]; the spec's healthPath /health serves the startup probe too`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := corev1.Container{Name: "app", Image: "shop:1", Ports: tc.ports, ReadinessProbe: tc.ready, LivenessProbe: tc.live, StartupProbe: tc.startup}
			if tc.java {
				c.Env = []corev1.EnvVar{{Name: "JAVA_TOOL_OPTIONS", Value: "-Xmx1g"}}
			}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "shop"}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}}}
			l := Live{Deployment: d}
			if tc.ingress {
				l.Ingress = &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example.com",
					IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/"}}}}}}}}
			}
			got, notes := Spec("shop", l)
			s := got.Spec
			if s.Type != tc.wantType || !slices.Equal(s.HealthCommand, tc.want) || s.HealthPath != tc.wantPath || s.HealthCheck != "" {
				t.Errorf("type %s, healthCommand %q, healthPath %q, healthCheck %q; want %s, %q, %q", s.Type, s.HealthCommand, s.HealthPath, s.HealthCheck, tc.wantType, tc.want, tc.wantPath)
			}
			for _, n := range notes {
				if strings.Contains(n, "probe") && !strings.Contains(n, "timings") && n != tc.note {
					t.Errorf("note %q", n)
				}
			}
			if tc.note != "" && !slices.Contains(notes, tc.note) {
				t.Errorf("notes %q, want %q", notes, tc.note)
			}
			check := got.Clone()
			check.Default()
			if errs := check.Validate("the spec"); len(errs) > 0 {
				t.Errorf("the spec is refused: %v", errs)
			}
		})
	}
	// A worker's preStop command is carried as any app's, probes or not
	// (it was dropped with the worker's probes).
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "shop"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop:1",
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/app/drain"}}}}}}}}}}
	if got, _ := Spec("shop", Live{Deployment: d}); got.Spec.Type != appspec.TypeWorker || !slices.Equal(got.Spec.PreStop, []string{"/app/drain"}) {
		t.Errorf("worker: type %s, preStop %q; want worker, [/app/drain]", got.Spec.Type, got.Spec.PreStop)
	}
}

package specfrom

import (
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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

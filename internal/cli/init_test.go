package cli

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zzcloud/zz/internal/appspec"
)

// TestInit: init --from reads a Deployment and finds what belongs to it
// (the Service of its name among those selecting its pods, the Ingress to
// that Service, the HPA scaling it, a PDB selecting its pods) and prints a
// spec deploy -f takes, what it cannot say on stderr.
func TestInit(t *testing.T) {
	pods := map[string]string{"app": "web"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns-a"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: pods},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: pods}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "reg/web:1.0", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}},
		}}}},
	}}
	svc := func(name string, sel map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-a"}, Spec: corev1.ServiceSpec{Selector: sel,
			Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080)}}}}
	}
	a := fakeClient(d, svc("other", map[string]string{"app": "other"}), svc("web-headless", pods), svc("web", pods),
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns-a"}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}}}}}}}}}},
		&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web-hpa", Namespace: "ns-a"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MaxReplicas: 4}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns-a"}, Spec: policyv1.PodDisruptionBudgetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: pods}}},
	)
	zz := withFakeClusters(t, a, fakeClient())
	out, errOut, err := zz("init", "--from", "deployment/web", "--context", "a", "--name", "shop")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	app, err := appspec.Load("zz.yaml", []byte(out))
	if err != nil {
		t.Fatalf("the printed spec does not load: %v\n%s", err, out)
	}
	if s := app.Spec; app.Name != "shop" || s.HealthPath != "/healthz" || s.Ingress == nil || s.Ingress.Host != "web.example.com" || s.HPA == nil || s.HPA.Max != 4 || !s.PDB {
		t.Errorf("spec:\n%s", out)
	}
	for _, want := range []string{"warning: not carried over: deployment web selects its pods by app=web, kubectl zz by zz.io/app=shop",
		"review it, then: kubectl zz deploy -f zz.yaml -n ns-a --adopt --diff"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, tt := range []struct{ args, want string }{
		{"--from deployment/nope", "no deployment nope in namespace ns-a"},
		{"--from service/web", `--from "service/web": give the Deployment to read, e.g. --from deployment/shop`},
	} {
		if _, _, err := zz(append([]string{"init", "--context", "a"}, strings.Fields(tt.args)...)...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("init %s: %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestInitValidatesFirst: -o and --name are refused before the cluster is
// read (no request, no warning), in the words of the other commands and of
// deploy; -o name, which has no name to print for a spec file, is neither
// taken nor offered.
func TestInitValidatesFirst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "bad -o", args: []string{"-o", "bogus"}, wantErr: `--output "bogus" is not supported; use one of: json, yaml,`},
		{name: "-o name", args: []string{"-o", "name"}, wantErr: `--output "name" is not supported; use one of: json, yaml,`},
		{name: "-o wide", args: []string{"-o", "wide"}, wantErr: `--output "wide" is not supported`},
		{name: "bad --name", args: []string{"--name", "Bad!"}, wantErr: `--name: "Bad!" is not a valid app name; use lower-case letters, digits and '-', starting with a letter (e.g. shop-api)`},
		{name: "long --name", args: []string{"--name", strings.Repeat("a", 41)}, wantErr: `is 41 characters; use at most 40`},
		{name: "-o json is fine", args: []string{"-o", "json"}, wantErr: "no deployment nope in namespace ns-a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient()
			zz := withFakeClusters(t, c, fakeClient())
			out, errOut, err := zz(append([]string{"init", "--from", "deployment/nope"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "name") && strings.Contains(tc.wantErr, "not supported") && strings.Contains(err.Error()[strings.Index(err.Error(), "use one of"):], "name") {
				t.Errorf("-o name offered: %v", err)
			}
			if out != "" || strings.Contains(errOut, "warning") || strings.Contains(errOut, "review it") {
				t.Errorf("stdout %q, stderr %q", out, errOut)
			}
			if n := len(c.Actions()); tc.name != "-o json is fine" && n != 0 {
				t.Errorf("%d requests before the flags were checked: %v", n, c.Actions())
			}
		})
	}
}

// TestInitRefusesABypass: a spec whose Service would reach the app past
// the container the live Service's main port reaches (a proxy the spec
// cannot put in front: a UDP port) is not printed; init fails saying why.
func TestInitRefusesABypass(t *testing.T) {
	pods := map[string]string{"zz.io/app": "dns"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dns", Namespace: "ns-a"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: pods},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: pods}, Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "reg/dns:1.0", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
			{Name: "proxy", Image: "reg/proxy:1.0", Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}},
		}}},
	}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dns", Namespace: "ns-a"}, Spec: corev1.ServiceSpec{Selector: pods,
		Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}}}}
	zz := withFakeClusters(t, fakeClient(d, svc), fakeClient())
	out, _, err := zz("init", "--from", "deployment/dns", "--context", "a")
	if want := "service dns: its main port 53 sends to container proxy, and the spec's Service would send it to the app past proxy"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("init: %v, want %q", err, want)
	}
	if out != "" {
		t.Errorf("a spec was printed:\n%s", out)
	}
}

// TestInitOfAZZApp: init --from of an app kubectl zz deployed points to the
// spec it was deployed from, not to deploy --adopt, which has nothing to
// take over (an app-developer audit).
func TestInitOfAZZApp(t *testing.T) {
	d := fakeDeployment("ns-a", "shop", "shop", "1", 2, 2)
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"zz.io/app": "shop"}}
	zz := withFakeClusters(t, fakeClient(d), fakeClient())
	_, errOut, err := zz("init", "--from", "deployment/shop", "--context", "a")
	if err != nil || !strings.Contains(errOut, "note: deployment shop is app shop, deployed by kubectl zz: kubectl zz history shop -n ns-a --spec prints the spec it was deployed from") ||
		strings.Contains(errOut, "--adopt") {
		t.Errorf("%v\n%s", err, errOut)
	}
}

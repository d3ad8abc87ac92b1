package specfrom

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

func web() Live {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{
				Labels:      map[string]string{"app": "web", "team": "trade", contract.LabelK8sName: "web"},
				Annotations: map[string]string{"prometheus.io/scrape": "true", "kubectl.kubernetes.io/restartedAt": "2026-12-01T00:00:00Z"}},
				Spec: corev1.PodSpec{
					ServiceAccountName: "web-runner",
					NodeSelector:       map[string]string{contract.LabelPool: "general"},
					Containers: []corev1.Container{{
						Name: "web", Image: "registry.local/web:2.3",
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9100}},
						Env: []corev1.EnvVar{{Name: "MODE", Value: "prod"}, {Name: "DB_PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "pw"}}},
							{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}},
						LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/live", Port: intstr.FromInt32(8080)}},
							InitialDelaySeconds: 20},
						Lifecycle:    &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}},
						VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/etc/tls"}, {Name: "cfg", MountPath: "/etc/web"}},
					}},
					InitContainers: []corev1.Container{{Name: "migrate", Image: "registry.local/web:2.3", Command: []string{"/migrate"}, Args: []string{"up"}}},
					Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "web-tls"}}},
						{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-cfg"}}}}},
				}},
		},
	}
	return Live{
		Deployment: d,
		Service: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "lb.example.com/internal": "true"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
		Ingress: &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"web.example.com"}, SecretName: "web-cert"}},
			Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/"}}}}}}}},
		HPA: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To(int32(2)), MaxReplicas: 5}},
		PDB: &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
	}
}

// TestSpec: what a Deployment and the objects around it run becomes the
// spec's fields, and what has no field is said, each once.
func TestSpec(t *testing.T) {
	app, notes := Spec("web", web())
	got, err := yaml.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	// The spec loads as a file deploy -f takes.
	loaded, err := appspec.Load("zz.yaml", got)
	if err != nil {
		t.Fatalf("the spec does not load: %v\n%s", err, got)
	}
	s := loaded.Spec
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"type web, health path /ready", s.Type == appspec.TypeWeb && s.HealthPath == "/ready"},
		{"image and version", s.Image == "registry.local/web:2.3" && s.Version == "2.3"},
		{"cpu the limit, memory", s.CPU == "500m" && s.Memory == "256Mi"},
		{"port and the named extra port", s.Port == 8080 && len(s.Ports) == 1 && s.Ports[0].Name == "metrics" && s.Ports[0].Port == 9100},
		{"env and secretEnv", s.Env["MODE"] == "prod" && s.SecretEnv["DB_PASS"] == appspec.SecretKey{Secret: "db", Key: "pw"}},
		{"secret files", len(s.SecretFiles) == 1 && s.SecretFiles[0].Secret == "web-tls" && s.SecretFiles[0].MountPath == "/etc/tls" && s.SecretFiles[0].Keys == nil},
		{"init command", strings.Join(s.InitCommand, " ") == "/migrate up"},
		{"hpa (the controller's default target: 80% of the request, 40% of the limit), no replicas", s.HPA != nil && s.HPA.Min == 2 && s.HPA.Max == 5 && s.HPA.CPUPercent == 40 && app.Spec.Replicas == nil},
		{"the pod's own labels and annotations, not the selector's nor tools'", len(s.Labels) == 1 && s.Labels["team"] == "trade" && len(s.Annotations) == 1 && s.Annotations["prometheus.io/scrape"] == "true"},
		{"preStop", strings.Join(s.PreStop, " ") == "sleep 5"},
		{"pdb", s.PDB},
		{"pool, service account", s.Pool == "general" && s.ServiceAccount == "web-runner"},
		{"ingress with TLS", s.Ingress != nil && s.Ingress.Host == "web.example.com" && s.Ingress.TLSSecret == "web-cert"},
		{"load balancer, its annotation, not kubectl's", s.Service != nil && s.Service.Type == "LoadBalancer" && len(s.Service.Annotations) == 1 && s.Service.Annotations["lb.example.com/internal"] == "true"},
		{"the Service's port 80 to the container's 8080", s.Service != nil && s.Service.Port == 80},
	} {
		if !c.ok {
			t.Errorf("%s: not carried over:\n%s", c.what, got)
		}
	}
	want := []string{
		"deployment web selects its pods by app=web, kubectl zz by zz.io/app=web",
		"cpu request 250m below its limit 500m",
		"container web is named app here",
		"env NODE: only values and Secret keys",
		"volume cfg: ConfigMap web-cfg at /etc/web could not be read",
		"init container migrate: its own env",
		"horizontalpodautoscaler web: 80% of the cpu request 250m is cpuPercent 40 of spec.cpu 500m (the same 200m a pod)",
		"container web: liveness probe path /live; the spec's healthPath /ready serves the liveness probe too",
		"container web: its probes' timings",
	}
	if len(notes) != len(want) {
		t.Errorf("%d notes, want %d:\n%s", len(notes), len(want), strings.Join(notes, "\n"))
	}
	for _, w := range want {
		found := false
		for _, n := range notes {
			found = found || strings.Contains(n, w)
		}
		if !found {
			t.Errorf("no note %q in:\n%s", w, strings.Join(notes, "\n"))
		}
	}
}

// TestSpecOfANamedTargetPort: a Service's port to the container's port by
// its name (as charts write it) is the spec's service.port, and the port's
// new name is said.
func TestSpecOfANamedTargetPort(t *testing.T) {
	l := web()
	l.Deployment.Spec.Template.Spec.Containers[0].Ports[0].Name = "web"
	l.Service.Spec.Ports[0].TargetPort = intstr.FromString("web")
	app, notes := Spec("web", l)
	if app.Spec.Service == nil || app.Spec.Service.Port != 80 {
		t.Errorf("service %+v; want port 80", app.Spec.Service)
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, "port web (8080) is named http here") }) {
		t.Errorf("the port's new name is not said:\n%s", strings.Join(notes, "\n"))
	}
}

// TestSpecOfAWorkerAndAnRPC: no port is a worker; a gRPC probe an rpc app
// with healthCheck grpc.
func TestSpecOfAWorkerAndAnRPC(t *testing.T) {
	l := web()
	l.Service, l.Ingress, l.HPA = nil, nil, nil
	c := &l.Deployment.Spec.Template.Spec.Containers[0]
	c.Ports, c.ReadinessProbe, c.VolumeMounts = nil, nil, nil
	if app, _ := Spec("web", l); app.Spec.Type != appspec.TypeWorker || app.Spec.HealthPath != "" {
		t.Errorf("no port: type %s, health path %q; want a worker", app.Spec.Type, app.Spec.HealthPath)
	}
	c.Ports = []corev1.ContainerPort{{ContainerPort: 9090}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}}
	if app, _ := Spec("web", l); app.Spec.Type != appspec.TypeRPC || app.Spec.HealthCheck != appspec.HealthCheckGRPC || app.Spec.Port != 9090 {
		t.Errorf("gRPC probe: %+v; want rpc with healthCheck grpc on 9090", app.Spec)
	}
}

// TestSpecOfAnUndeclaredPort: kubectl create deployment without --port
// declares no containerPort, and kubectl expose sends the Service's port to
// the container's by number. The spec was a worker (no port, no Service)
// and the Service went unsaid (an app-developer audit): with the app alone
// in the pod, the port the Service sends to is the app's, said; a Service
// whose port cannot be told (by name) is said not carried.
func TestSpecOfAnUndeclaredPort(t *testing.T) {
	l := web()
	l.Ingress, l.HPA = nil, nil
	l.Deployment.Spec.Template.Spec.InitContainers = nil
	c := &l.Deployment.Spec.Template.Spec.Containers[0]
	c.Ports, c.ReadinessProbe, c.LivenessProbe, c.VolumeMounts = nil, nil, nil, nil
	l.Service.Spec.Type = corev1.ServiceTypeClusterIP
	for _, tt := range []struct {
		name string
		port corev1.ServicePort
	}{{"by number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}}, {"unset targetPort", corev1.ServicePort{Port: 8080}}} {
		t.Run(tt.name, func(t *testing.T) {
			l.Service.Spec.Ports = []corev1.ServicePort{tt.port}
			app, notes := Spec("web", l)
			if app.Spec.Type != appspec.TypeRPC || app.Spec.Port != 8080 {
				t.Errorf("type %s, port %d; want rpc on 8080, the port service web sends to", app.Spec.Type, app.Spec.Port)
			}
			if want := tt.port.Port; want != 8080 && (app.Spec.Service == nil || app.Spec.Service.Port != want) {
				t.Errorf("service %+v; want port %d", app.Spec.Service, want)
			}
			if !slices.ContainsFunc(notes, func(n string) bool {
				return strings.HasPrefix(n, "container web declares no port; service web sends its port") && strings.Contains(n, "spec.port 8080")
			}) {
				t.Errorf("the port taken from the Service is not said:\n%s", strings.Join(notes, "\n"))
			}
			if err := Refusal("web", l); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
	l.Service.Spec.Ports = []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}
	app, notes := Spec("web", l)
	if app.Spec.Type != appspec.TypeWorker || !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, "service web is not carried") }) {
		t.Errorf("a Service by a port name no container declares: type %s, notes:\n%s", app.Spec.Type, strings.Join(notes, "\n"))
	}
}

// TestSpecOfConfigFilesAndHPAMetrics: a ConfigMap mounted whole becomes
// configFiles at its mount path (a second one, or one mounted in part, is
// said); an HPA's CPU utilization target becomes cpuPercent, its other
// metrics and its behavior are said.
func TestSpecOfConfigFilesAndHPAMetrics(t *testing.T) {
	l := web()
	l.ConfigMaps = map[string]*corev1.ConfigMap{"web-cfg": {ObjectMeta: metav1.ObjectMeta{Name: "web-cfg"},
		Data: map[string]string{"app.yaml": "level: info\n", "feature.flags": "beta=true\n"}}}
	pod := &l.Deployment.Spec.Template.Spec
	pod.Volumes[1].ConfigMap.DefaultMode = ptr.To(int32(0o755))
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "more", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "web-more"}}}})
	pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "more", MountPath: "/etc/more"})
	l.HPA.Spec.Metrics = []autoscalingv2.MetricSpec{
		{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(70))}}},
		// As kubectl zz renders it: the app container's CPU.
		{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: corev1.ResourceCPU,
			Container: "web", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(60))}}},
		{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(50))}}},
	}
	l.HPA.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(int32(60))}}
	app, notes := Spec("web", l)
	s := app.Spec
	if len(s.ConfigFiles) != 2 || s.ConfigFiles["app.yaml"] != "level: info\n" || s.ConfigDir != "/etc/web" {
		t.Errorf("config files %v at %q; want web-cfg's two files at /etc/web", s.ConfigFiles, s.ConfigDir)
	}
	if s.HPA == nil || s.HPA.CPUPercent != 30 {
		t.Errorf("hpa %+v; want cpuPercent 30 from the CPU utilization target (60%% of the request, half the limit)", s.HPA)
	}
	for _, w := range []string{
		"volume cfg: ConfigMap web-cfg itself; its files are spec.configFiles, in a ConfigMap kubectl zz makes (web-config-<hash>), and web-cfg stays",
		"volume more: ConfigMap web-more at /etc/more; the spec mounts one ConfigMap of files (spec.configFiles, already /etc/web)",
		"horizontalpodautoscaler web: metric resource memory (utilization); the spec's HPA scales on one CPU utilization target",
		"horizontalpodautoscaler web: its scaling behavior has no field",
		"volume cfg: files of mode 0755; spec.configFiles are 0644",
		"horizontalpodautoscaler web: metric resource cpu (utilization); the spec's HPA scales on one CPU utilization target",
	} {
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, w) }) {
			t.Errorf("no note %q in:\n%s", w, strings.Join(notes, "\n"))
		}
	}
	// What it wrote validates: the config files land where the container read them.
	check := app.Clone()
	check.Default()
	if errs := check.Validate("zz.yaml"); len(errs) > 0 {
		t.Errorf("the spec does not validate: %v", errs)
	}
}

// TestOwnTimingsRoundTrip: a Deployment kubectl zz rendered gives back a
// spec with no note about its probes' timings or its preStop drain (they
// are what the spec renders again); timings or a hook of another's are
// still said.
func TestOwnTimingsRoundTrip(t *testing.T) {
	const timings, hook = "probes' timings", "preStop hook other than a command"
	tests := []struct {
		name, spec string
		edit       func(c *corev1.Container)
		want       []string // the notes among timings and hook said
	}{
		{name: "web", spec: "type: web"},
		{name: "java with a startup timeout", spec: "type: java\n  startupTimeout: 5m"},
		{name: "rpc on gRPC", spec: "type: rpc\n  healthCheck: grpc"},
		{name: "a preStop command", spec: "type: web\n  preStop: [sh, -c, 'sleep 3']"},
		{name: "a health timeout", spec: "type: web\n  healthTimeout: 15s"},
		{name: "java with a health timeout", spec: "type: java\n  healthTimeout: 12s\n  startupTimeout: 5m"},
		{name: "another's liveness delay", spec: "type: web", edit: func(c *corev1.Container) { c.LivenessProbe.InitialDelaySeconds = 90 },
			want: []string{timings}},
		{name: "another's drain", spec: "type: web", edit: func(c *corev1.Container) { c.Lifecycle.PreStop.Sleep.Seconds = 30 },
			want: []string{hook}},
		{name: "an HTTP preStop", spec: "type: web", edit: func(c *corev1.Container) {
			c.Lifecycle.PreStop = &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/drain"}}
		}, want: []string{hook}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := appspec.Load("zz.yaml", []byte("name: shop\nspec:\n  image: a:1\n  "+tt.spec+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			var d *appsv1.Deployment
			for _, o := range render.Render(app, render.Options{Namespace: "ns"}) {
				if dep, ok := o.(*appsv1.Deployment); ok && dep.Name == "shop" {
					d = dep
				}
			}
			if tt.edit != nil {
				tt.edit(&d.Spec.Template.Spec.Containers[0])
			}
			_, notes := Spec("shop", Live{Deployment: d})
			var got []string
			for _, about := range []string{timings, hook} {
				if slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, about) }) {
					got = append(got, about)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("notes about %q, want %q; all notes: %q", got, tt.want, notes)
			}
		})
	}
}

// TestMinReadyFrom: a Deployment's minReadySeconds is carried as
// spec.minReadySeconds; one over an hour is cut to it and said.
func TestMinReadyFrom(t *testing.T) {
	for _, tt := range []struct {
		live, want int32
		note       string
	}{
		{live: 0, want: 0},
		{live: 15, want: 15},
		{live: 3600, want: 3600},
		{live: 7200, want: 3600, note: "minReadySeconds 7200: spec.minReadySeconds is at most 3600 (1h), so it is carried as 3600"},
	} {
		l := web()
		l.Deployment.Spec.MinReadySeconds = tt.live
		app, notes := Spec("web", l)
		if app.Spec.MinReadySeconds != tt.want {
			t.Errorf("minReadySeconds %d: carried as %d, want %d", tt.live, app.Spec.MinReadySeconds, tt.want)
		}
		if got := slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "minReadySeconds") }); got != (tt.note != "") || tt.note != "" && !slices.Contains(notes, tt.note) {
			t.Errorf("minReadySeconds %d: notes %q, want %q", tt.live, notes, tt.note)
		}
	}
}

// TestVersionOnlyWhereNotTheTag: the spec says a version only where it is
// not the image's tag (appspec's default), so a later image change moves
// the version with it; deploy loads the same version either way.
func TestVersionOnlyWhereNotTheTag(t *testing.T) {
	const digest = "sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd"
	for _, tc := range []struct {
		name, image, label string
		want, loaded       string // want: the spec's version as written
	}{
		{"the tag", "registry.local/web:2.3", "", "", "2.3"},
		{"a version label equal to the tag", "registry.local/web:2.3", "2.3", "", "2.3"},
		{"a version label other than the tag", "registry.local/web:2.3", "2.3-hotfix", "2.3-hotfix", "2.3-hotfix"},
		{"a tag and a digest: the tag, not the digest's hex", "registry.local/web:2.3@" + digest, "", "", "2.3"},
		{"a registry port, no tag, a label", "registry.local:5000/web@" + digest, "2.3", "2.3", "2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := web()
			l.Deployment.Spec.Template.Spec.Containers[0].Image = tc.image
			if tc.label != "" {
				l.Deployment.Labels = map[string]string{contract.LabelK8sVersion: tc.label}
			}
			app, _ := Spec("web", l)
			if app.Spec.Version != tc.want {
				t.Errorf("spec.version %q, want %q", app.Spec.Version, tc.want)
			}
			out, err := yaml.Marshal(app)
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := appspec.Load("zz.yaml", out)
			if err != nil {
				t.Fatalf("the spec does not load: %v\n%s", err, out)
			}
			if loaded.Spec.Version != tc.loaded {
				t.Errorf("loaded version %q, want %q", loaded.Spec.Version, tc.loaded)
			}
		})
	}
}

// TestPDBFrom: a budget is pdb: true (maxUnavailable 1); any other bound,
// and an unhealthy pod eviction policy, is said.
func TestPDBFrom(t *testing.T) {
	policy := policyv1.AlwaysAllow
	for _, tc := range []struct {
		name string
		pdb  *policyv1.PodDisruptionBudget
		want string // the note, "" for none
	}{
		{"none", nil, ""},
		{"maxUnavailable 1: as rendered", &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1))}}, ""},
		{"minAvailable 1", &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1))}},
			"poddisruptionbudget web: minAvailable 1; pdb: true is maxUnavailable 1 (one pod of the app down at a time, whatever the replicas)"},
		{"maxUnavailable 25%", &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromString("25%"))}},
			"poddisruptionbudget web: maxUnavailable 25%; pdb: true is maxUnavailable 1"},
		{"an unhealthy pod eviction policy", &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)), UnhealthyPodEvictionPolicy: &policy}},
			"poddisruptionbudget web: unhealthyPodEvictionPolicy AlwaysAllow has no field (the apiserver's default applies)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := web()
			if l.PDB = tc.pdb; tc.pdb != nil {
				tc.pdb.Name = "web"
			}
			app, notes := Spec("web", l)
			if app.Spec.PDB != (tc.pdb != nil) {
				t.Errorf("spec.pdb %v with budget %v", app.Spec.PDB, tc.pdb != nil)
			}
			var said []string
			for _, n := range notes {
				if strings.HasPrefix(n, "poddisruptionbudget") {
					said = append(said, n)
				}
			}
			if got := strings.Join(said, "\n"); got != tc.want {
				t.Errorf("notes %q, want %q", got, tc.want)
			}
		})
	}
}

